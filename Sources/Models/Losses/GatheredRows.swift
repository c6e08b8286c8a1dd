import Collectives
import Engine

/// Every rank's rows of `local` `[B, D]`, in rank order, into `global` `[R·B, D]` (tensors of `backend`):
/// the global batch a device loss needs for its statistics. With NCCL (`group.deviceTensors`) the gather
/// is queued on the device in stream order and nothing waits; otherwise the rows come down to the host, go
/// over MPI and go back up. One rank: a copy.
func gatherRows(_ local: Tensor, into global: Tensor, group: any Communicator, backend: any Backend) {
    precondition(global.count == group.worldSize * local.count,
                 "gathering \(local.shape) from \(group.worldSize) ranks into \(global.shape)")
    if group.worldSize == 1 {
        backend.copy(local, to: global)
    } else if let device = group.deviceTensors, local.device != .cpu {
        collectiveOrExit { try device.allGatherInStreamOrder(local, into: global) }
    } else {
        let rows = backend.onHost(local)
        let all = local.device == .cpu ? global : Tensor(zeros: global.shape)
        collectiveOrExit { try group.allGather(rows, into: all) }
        backend.upload(all, to: global)
    }
}

/// The sum of `value` over `group`'s ranks (a host scalar: a loss share).
func summedOverRanks(_ value: Double, group: any Communicator) -> Double {
    group.worldSize == 1 ? value : collectiveOrExit { try group.allReduceSum(value) }
}
