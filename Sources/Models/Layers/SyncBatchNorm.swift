import Collectives
import Engine

/// The cross-rank half of SyncBatchNorm (PyTorch's `nn.SyncBatchNorm`): every rank holds the same
/// number of rows `n`, so the global statistics follow from the ranks' own means and biased variances
/// (Chan et al.'s pairwise combination, with equal counts):
///
///     mean = 1/R Σ_r mean_r,    var = 1/R Σ_r [var_r + (mean_r − mean)²]
///
/// which is exact (no E[x²] − E[x]² cancellation). Done in double on an all-gather of `[mean_r; var_r]`
/// (2C floats per rank), so every rank computes bit-identical statistics.
///
/// On a GPU the `[C]` statistics and sums come down to the host, are combined there over MPI and go
/// back up (2C floats each way per layer; NCCL would keep them on the device).
enum SyncBatchNorm {
    /// Replaces the local `mean` and `variance` `[C]` (tensors of `backend`) with the global batch's.
    static func combineStatistics(mean deviceMean: Tensor, variance deviceVariance: Tensor, group: any Communicator,
                                  backend: any Backend) {
        let mean = backend.onHost(deviceMean), variance = backend.onHost(deviceVariance)
        defer {
            backend.upload(mean, to: deviceMean)
            backend.upload(variance, to: deviceVariance)
        }
        let c = mean.count, ranks = group.worldSize
        var local = [Float](repeating: 0, count: 2 * c)
        for j in 0..<c { local[j] = mean[flat: j]; local[c + j] = variance[flat: j] }
        let all = collectiveOrExit { try group.allGather(local) }
        for j in 0..<c {
            var m = 0.0
            for r in 0..<ranks { m += Double(all[r * 2 * c + j]) }
            m /= Double(ranks)
            var v = 0.0
            for r in 0..<ranks {
                let d = Double(all[r * 2 * c + j]) - m
                v += Double(all[r * 2 * c + c + j]) + d * d
            }
            mean[flat: j] = Float(m)
            variance[flat: j] = Float(v / Double(ranks))
        }
    }

    /// Sums the backward's per-channel `Σ dy` and `Σ dy·x̂` over the ranks, into new tensors (the local
    /// sums stay as they are: they are this rank's share of ∂L/∂bias and ∂L/∂weight, which the gradient
    /// all-reduce adds up with everything else). The new tensors are `backend`'s.
    static func globalSums(_ deviceSumGradient: Tensor, _ deviceSumGradientNormalized: Tensor, group: any Communicator,
                           backend: any Backend) -> (sumGradient: Tensor, sumGradientNormalized: Tensor) {
        let sumGradient = backend.onHost(deviceSumGradient)
        let sumGradientNormalized = backend.onHost(deviceSumGradientNormalized)
        let c = sumGradient.count
        var sums = [Double](repeating: 0, count: 2 * c)
        for j in 0..<c { sums[j] = Double(sumGradient[flat: j]); sums[c + j] = Double(sumGradientNormalized[flat: j]) }
        collectiveOrExit { try group.allReduceSum(&sums) }
        return (backend.deviceCopy(Tensor(shape: [c], values: sums[0..<c].map { Float($0) })),
                backend.deviceCopy(Tensor(shape: [c], values: sums[c...].map { Float($0) })))
    }
}
