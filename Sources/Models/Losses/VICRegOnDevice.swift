import Collectives
import Engine

/// `VICRegLoss` for embeddings that live on a GPU, every step a backend op: the host receives only three
/// sums (the invariance's Σ(z1 − z2)² and each branch's per-row terms). The math of `VICRegLoss.forward`
/// (Bardes et al. 2022, eqs. 1-6) over the global batch of N = R·B rows:
///
///     invariance  Σ(z1 − z2)²/(N·D) (this rank's pairs, summed over ranks), ∂z1 = −∂z2 = λ·2(z1 − z2)/(N·D)
///     per branch  the rows of all ranks (`gatherRows`: in stream order over NCCL), z̄ (column sums ÷ N),
///                 S = (z − z̄)ᵀ(z − z̄) (GEMM), G and the per-row terms (`Backend.covarianceRegularizer`),
///                 ∂z_own += 2/(N − 1)·(z_own − z̄)·G (GEMM over this rank's rows)
///
/// Every rank computes the same statistics, S and G; each writes only its own rows' gradient, so the
/// ranks' parameter gradients sum to the single-process gradient (as in `VICRegLoss`). On
/// `Backend.fullPrecision` (fp32 whatever the precision). The mean is formed in fp32 on the device (in
/// double on the host). Buffers are kept while B, D and the world stay.
final class VICRegOnDevice {
    let loss: VICRegLoss
    let backend: any Backend

    private struct Buffers {
        let batch, columns, ranks: Int
        let difference, gradZ1, gradZ2: Tensor
        /// Each branch's rows of all ranks `[N, D]` (several ranks only).
        let gathered: (z1: Tensor, z2: Tensor)?
        /// One branch's centred rows `[N, D]`.
        let centred: Tensor
        let negativeMean: Tensor
        let scatter, gradient, rowTerms: Tensor
    }
    private var buffers: Buffers?

    init(loss: VICRegLoss, backend: any Backend) {
        self.loss = loss
        self.backend = backend.fullPrecision
    }

    /// The loss of this rank's `z1`, `z2` `[B, D]` (device tensors) over `group`'s global batch (the same on
    /// every rank), ∂L/∂z for this rank's rows, and the gathered rows as `globalZ1`/`globalZ2`.
    func forward(z1: Tensor, z2: Tensor, group: any Communicator = LocalCommunicator()) -> VICRegLoss.Output {
        precondition(z1.rank == 2 && z1.shape == z2.shape, "VICReg takes two [B, D] views, got \(z1.shape) and \(z2.shape)")
        let b = z1.shape[0], d = z1.shape[1], n = b * group.worldSize
        precondition(n >= 2, "VICReg's unbiased variance needs at least 2 images per batch, got \(n)")
        let buffer = buffers(batch: b, columns: d, ranks: group.worldSize)
        // One rank: the statistics are over z1, z2 themselves (no copy).
        if let gathered = buffer.gathered {
            gatherRows(z1, into: gathered.z1, group: group, backend: backend)
            gatherRows(z2, into: gathered.z2, group: group, backend: backend)
        }
        let global1 = buffer.gathered?.z1 ?? z1, global2 = buffer.gathered?.z2 ?? z2
        backend.copy(z1, to: buffer.difference)
        backend.accumulate(z2, into: buffer.difference, alpha: -1)
        let elements = Double(n * d)
        let invariance = summedOverRanks(backend.sumOfSquares(buffer.difference), group: group) / elements
        let scale = Float(loss.invarianceWeight * 2 / elements)
        backend.copy(buffer.difference, to: buffer.gradZ1)
        backend.scale(buffer.gradZ1, by: scale)
        backend.copy(buffer.difference, to: buffer.gradZ2)
        backend.scale(buffer.gradZ2, by: -scale)
        let own = (group.rank * b)..<((group.rank + 1) * b)
        var variance = 0.0, covariance = 0.0
        for (z, grad) in [(global1, buffer.gradZ1), (global2, buffer.gradZ2)] {
            backend.fill(buffer.negativeMean, with: 0)
            backend.accumulateBiasGradient(gradOutput: z, gradBias: buffer.negativeMean)
            backend.scale(buffer.negativeMean, by: -1 / Float(n))
            backend.copy(z, to: buffer.centred)
            backend.addBias(buffer.negativeMean, to: buffer.centred)
            backend.gemm(transposeA: true, transposeB: false, m: d, n: d, k: n, alpha: 1, a: buffer.centred, b: buffer.centred,
                         beta: 0, c: buffer.scatter)
            backend.covarianceRegularizer(scatter: buffer.scatter, count: n, epsilon: loss.epsilon,
                                          varianceWeight: loss.varianceWeight, covarianceWeight: loss.covarianceWeight,
                                          gradient: buffer.gradient, rowTerms: buffer.rowTerms)
            backend.gemm(transposeA: false, transposeB: false, m: b, n: d, k: d, alpha: Float(2 / Double(n - 1)),
                         a: buffer.centred.rows(own), b: buffer.gradient, beta: 1, c: grad)
            let terms = VICRegLoss.branchTerms(rowTerms: backend.onHost(buffer.rowTerms))
            variance += terms.variance / 2
            covariance += terms.covariance
        }
        let total = loss.invarianceWeight * invariance + loss.varianceWeight * variance + loss.covarianceWeight * covariance
        return VICRegLoss.Output(loss: total, invariance: invariance, variance: variance, covariance: covariance,
                                 gradZ1: buffer.gradZ1, gradZ2: buffer.gradZ2, globalZ1: global1, globalZ2: global2)
    }

    private func buffers(batch b: Int, columns d: Int, ranks: Int) -> Buffers {
        if let buffers, buffers.batch == b, buffers.columns == d, buffers.ranks == ranks { return buffers }
        let n = b * ranks
        let made = Buffers(batch: b, columns: d, ranks: ranks, difference: backend.zeros([b, d]), gradZ1: backend.zeros([b, d]),
                           gradZ2: backend.zeros([b, d]),
                           gathered: ranks > 1 ? (backend.zeros([n, d]), backend.zeros([n, d])) : nil,
                           centred: backend.zeros([n, d]), negativeMean: backend.zeros([d]),
                           scatter: backend.zeros([d, d]), gradient: backend.zeros([d, d]), rowTerms: backend.zeros([d, 2]))
        buffers = made
        return made
    }
}
