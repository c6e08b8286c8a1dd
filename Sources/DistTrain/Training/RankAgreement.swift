import Collectives
import Engine
import Models

/// How the ranks agree, once per step, on whether to go on: a failure on any rank (a batch that cannot be
/// loaded, a fault) or a stop request (SIGUSR1) on any rank stops every rank at the same step, so none is
/// left waiting in a collective the others will never reach.
enum RankAgreement {
    /// One all-reduce (max) of `2 + rank` for a failure, 1 for a stop request, 0 otherwise. On a failure,
    /// the failing rank's message is broadcast and every rank throws the same `TrainingError`.
    /// Returns whether to stop (a stop request anywhere).
    static func agree(_ communicator: any Communicator, failure: (any Error)?, stopRequested: Bool,
                      context: String) throws -> Bool {
        let code = failure != nil ? 2 + Double(communicator.rank) : (stopRequested ? 1 : 0)
        let worst = communicator.worldSize > 1 ? try communicator.allReduceMax(code) : code
        if worst >= 2 {
            let failing = Int(worst) - 2
            let text = try broadcastText(failure.map { "\($0)" } ?? "", from: failing, communicator)
            let origin = communicator.worldSize > 1 ? "rank \(failing) failed \(context): " : ""
            throw TrainingError(origin + text + (communicator.worldSize > 1 ? " (every rank stopped)" : ""))
        }
        return worst == 1
    }

    /// `text` of rank `root` on every rank (at most 4 KiB of UTF-8).
    static func broadcastText(_ text: String, from root: Int, _ communicator: any Communicator) throws -> String {
        var bytes = [UInt8](repeating: 0, count: 4096)
        if communicator.rank == root {
            let utf8 = Array(text.utf8.prefix(bytes.count - 1))
            bytes.replaceSubrange(0..<utf8.count, with: utf8)
        }
        try bytes.withUnsafeMutableBytes { try communicator.broadcastBytes($0, root: root) }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// Checks that every rank holds the same parameters (and BYOL's EMA target): each store's values and
/// buffers are hashed bit for bit (FNV-1a over the 32-bit words), the hashes all-gathered and compared
/// with rank 0's. A differing store is re-broadcast from rank 0. Returns a warning per differing store.
enum ReplicaCheck {
    static func run(_ stores: [(name: String, store: ParameterStore)], communicator: any Communicator,
                    step: Int) throws -> [String] {
        var warnings: [String] = []
        for (name, deviceStore) in stores {
            let store = deviceStore.hostCopy()  // the store itself on the CPU
            let hash = fingerprint([store.values, store.bufferValues])
            // Four 16-bit pieces: each is exact in a Float.
            let pieces = (0..<4).map { Float((hash >> (16 * UInt64($0))) & 0xFFFF) }
            let all = try communicator.allGather(pieces)
            let differing = (1..<communicator.worldSize).filter { Array(all[(4 * $0)..<(4 * $0 + 4)]) != Array(all[0..<4]) }
            guard !differing.isEmpty else { continue }
            try communicator.broadcast(store.values, root: 0)
            try communicator.broadcast(store.bufferValues, root: 0)
            deviceStore.upload(from: store)
            warnings.append("warning: step \(step): the \(name) on rank(s) \(differing.map(String.init).joined(separator: ", ")) "
                            + "differed from rank 0's; re-broadcast from rank 0")
        }
        return warnings
    }

    /// FNV-1a over the bit patterns of every element.
    static func fingerprint(_ tensors: [Tensor]) -> UInt64 {
        var hash = FNV1a()
        for tensor in tensors {
            let p = tensor.pointer
            for i in 0..<tensor.count { hash.combine(UInt64(p[i].bitPattern)) }
        }
        return hash.value
    }
}
