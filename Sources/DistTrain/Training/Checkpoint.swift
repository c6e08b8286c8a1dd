import Engine
import Models
#if canImport(Glibc)
import Glibc
#endif

/// One piece of the training state: a parameter store (values and BN buffers) under a name prefix,
/// with the optimiser that updates it.
struct CheckpointPart {
    /// "" for the trained network (torchvision names: `conv1.weight`, `projector.0.weight`, ...),
    /// "target." for BYOL's EMA network, "probe." for the online probe.
    let prefix: String
    let store: ParameterStore
    let optimizer: (any Optimizer)?
}

/// The whole training state in one safetensors file: every part's parameters and buffers in PyTorch
/// layout (an encoder loads into torchvision with `load_state_dict(strict=False)`), every optimiser's
/// state as `<prefix>optimizer.<name>` flat tensors, and the position (epoch, step) in the metadata.
/// Augmentation and sampling randomness is a pure function of (seed, epoch, index), so the position is
/// all the RNG state a resumed run needs. Written atomically (temporary file, fsync, rename).
enum Checkpoint {
    static let format = "disttrain-checkpoint-1"

    /// `pauseHalfway`: seconds to sleep with half the temporary file written (the `slow-checkpoint` fault).
    static func save(path: String, parts: [CheckpointPart], epoch: Int, step: Int,
                     metadata: [String: String] = [:], pauseHalfway: Double? = nil) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        for part in parts {  // a store on a GPU is read through a host copy
            tensors += TorchStateDict.export(part.store.hostCopy(), prefix: part.prefix)
            for (name, tensor) in part.optimizer?.stateTensors ?? [] {
                tensors.append((part.prefix + "optimizer." + name, part.store.deviceBackend?.onHost(tensor) ?? tensor))
            }
        }
        var meta = metadata
        meta["format"] = format
        meta["epoch"] = String(epoch)
        meta["step"] = String(step)
        try SafetensorsFile.write(path: path, tensors: tensors, metadata: meta, halfway: pauseHalfway.map { seconds in
            { printFlushed("checkpoint: pausing \(seconds) s half-way through \(path)"); usleep(UInt32(seconds * 1e6)) }
        })
    }

    /// Restores every part from `path`; returns (epoch, step, metadata). Names and shapes must match.
    static func restore(path: String, parts: [CheckpointPart]) throws -> (epoch: Int, step: Int, metadata: [String: String]) {
        let file = try SafetensorsFile(path: path)
        guard file.metadata["format"] == format, let epoch = Int(file.metadata["epoch"] ?? ""),
              let step = Int(file.metadata["step"] ?? "") else {
            throw FileError(path, "is not a disttrain training checkpoint (metadata format \(file.metadata["format"] ?? "missing"); "
                            + "expected \(format) with epoch and step); to start from plain weights use --init")
        }
        for part in parts {
            let host = part.store.hostCopy()  // the store itself on the CPU
            try TorchStateDict.load(host, from: file, name: { part.prefix + $0 })
            part.store.upload(from: host)
            for info in part.store.buffers {
                guard file.entries[part.prefix + info.name] != nil else {
                    throw FileError(path, "has no buffer '\(part.prefix + info.name)'; the checkpoint is from another model")
                }
            }
            for (name, tensor) in part.optimizer?.stateTensors ?? [] {
                let stored = try file.tensor(part.prefix + "optimizer." + name)
                guard stored.count == tensor.count else {
                    throw FileError(path, "optimizer state '\(part.prefix)optimizer.\(name)' has \(stored.count) values, the run needs \(tensor.count)")
                }
                if let device = part.store.deviceBackend { device.upload(stored, to: tensor) } else {
                    tensor.assign(from: stored.reshaped(tensor.shape))
                }
            }
        }
        return (epoch, step, file.metadata)
    }
}
