import Collectives
import Engine

/// The cross-rank half of SyncBatchNorm (PyTorch's `nn.SyncBatchNorm`): every rank holds the same
/// number of rows `n`, so the global statistics follow from the ranks' own means and biased variances
/// (Chan et al.'s pairwise combination, with equal counts, `Backend.batchNormCombineRanks`):
///
///     mean = 1/R Σ_r mean_r,    var = 1/R Σ_r [var_r + (mean_r − mean)²]
///
/// which is exact (no E[x²] − E[x]² cancellation). Done in double on an all-gather of `[mean_r; var_r]`
/// (2C floats per rank), so every rank computes bit-identical statistics.
///
/// Two paths. Device tensors with `group.deviceTensors` (NCCL): the all-gather and the backward's
/// all-reduce are queued on the GPU in stream order and the combination is a kernel, so a layer costs no
/// host round trip. Otherwise (the CPU, or GPUs without NCCL) the `[2C]` values come down to the host,
/// go over MPI and go back up.
enum SyncBatchNorm {
    /// Replaces this rank's `statistics` `[2, C]` (`[mean; biased variance]`, which `mean` and `variance`
    /// view) with the global batch's. `gathered` is the layer's reusable `[R, 2, C]` buffer (device path).
    static func combineStatistics(_ statistics: Tensor, mean: Tensor, variance: Tensor, gathered: inout Tensor?,
                                  group: any Communicator, backend: any Backend) {
        if let device = group.deviceTensors, statistics.device != .cpu {
            let all = reuse(&gathered, [group.worldSize, 2, mean.count], backend)
            collectiveOrExit { try device.allGatherInStreamOrder(statistics, into: all) }
            backend.batchNormCombineRanks(gathered: all, mean: mean, variance: variance)
            return
        }
        let local = backend.onHost(statistics)
        let all = Tensor(zeros: [group.worldSize, 2, mean.count])
        collectiveOrExit {
            try group.allGather(UnsafeBufferPointer(start: local.pointer, count: local.count),
                                into: UnsafeMutableBufferPointer(start: all.pointer, count: all.count))
        }
        CPUBackend.combineRanks(gathered: all.pointer, ranks: group.worldSize, mean: local.pointer,
                                variance: local.pointer + mean.count, channels: mean.count)
        backend.upload(local, to: statistics)
    }

    /// Sums the backward's per-channel `[Σ dy; Σ dy·x̂]` (`sums`, `[2, C]`) over the ranks, in place. The
    /// caller has already added the local sums to ∂L/∂bias and ∂L/∂weight (this rank's share, which the
    /// gradient all-reduce adds up with everything else). The host path sums in double.
    static func globalSums(_ sums: Tensor, group: any Communicator, backend: any Backend) {
        if let device = group.deviceTensors, sums.device != .cpu {
            collectiveOrExit { try device.allReduceSumInStreamOrder(sums) }
            return
        }
        let local = backend.onHost(sums)
        var doubles = (0..<local.count).map { Double(local.pointer[$0]) }
        collectiveOrExit { try group.allReduceSum(&doubles) }
        for (j, value) in doubles.enumerated() { local.pointer[j] = Float(value) }
        backend.upload(local, to: sums)
    }
}
