import Engine
import Models

/// `train --init FILE`: starts the method's encoder from torchvision-named weights (`loadInitialWeights`:
/// `fc.*` skipped, conv1 summed over RGB for grayscale data); heads keep their random initialisation.
/// BYOL's target (MoCo's momentum network) then copies the online network, so both start from the same weights. Every rank reads
/// the same file, so the replicas start identical; `log` (rank 0) prints what was loaded.
func loadInitialEncoder(_ path: String, into method: any SelfSupervisedMethod, log: Bool = true) throws {
    let host = method.store.hostCopy()  // the store itself on the CPU
    let report = try loadInitialWeights(path: path, into: host, encoder: method.encoder)
    method.store.upload(from: host)
    (method as? BYOL)?.copyOnlineToTarget()
    (method as? MoCoV2)?.copyOnlineToMomentum()
    if log { printFlushed("init: \(path): \(report.description)") }
}
