import Engine

/// `VICRegLoss` for one process whose embeddings live on a GPU, every step a backend op: the host receives
/// only three sums (the invariance's Σ(z1 − z2)² and each branch's per-row terms). The math of
/// `VICRegLoss.forward` with one rank (Bardes et al. 2022, eqs. 1-6):
///
///     invariance  Σ(z1 − z2)²/(B·D), ∂z1 = −∂z2 = λ·2(z1 − z2)/(B·D)
///     per branch  z̄ (column sums ÷ B), S = (z − z̄)ᵀ(z − z̄) (GEMM), G and the per-row terms
///                 (`Backend.covarianceRegularizer`), ∂z += 2/(B − 1)·(z − z̄)·G (GEMM)
///
/// On `Backend.fullPrecision` (fp32 whatever the precision). The mean is formed in fp32 on the device
/// (in double on the host). Buffers are kept while B and D stay.
final class VICRegOnDevice {
    let loss: VICRegLoss
    let backend: any Backend

    private struct Buffers {
        let rows, columns: Int
        let difference, gradZ1, gradZ2, centred: Tensor
        let negativeMean: Tensor
        let scatter, gradient, rowTerms: Tensor
    }
    private var buffers: Buffers?

    init(loss: VICRegLoss, backend: any Backend) {
        self.loss = loss
        self.backend = backend.fullPrecision
    }

    /// The loss of `z1`, `z2` `[B, D]` (device tensors); `globalZ1`/`globalZ2` are `z1`, `z2` themselves.
    func forward(z1: Tensor, z2: Tensor) -> VICRegLoss.Output {
        precondition(z1.rank == 2 && z1.shape == z2.shape, "VICReg takes two [B, D] views, got \(z1.shape) and \(z2.shape)")
        let b = z1.shape[0], d = z1.shape[1]
        precondition(b >= 2, "VICReg's unbiased variance needs at least 2 images per batch, got \(b)")
        let buffer = buffers(rows: b, columns: d)
        backend.copy(z1, to: buffer.difference)
        backend.accumulate(z2, into: buffer.difference, alpha: -1)
        let elements = Double(b * d)
        let invariance = backend.sumOfSquares(buffer.difference) / elements
        let scale = Float(loss.invarianceWeight * 2 / elements)
        backend.copy(buffer.difference, to: buffer.gradZ1)
        backend.scale(buffer.gradZ1, by: scale)
        backend.copy(buffer.difference, to: buffer.gradZ2)
        backend.scale(buffer.gradZ2, by: -scale)
        var variance = 0.0, covariance = 0.0
        for (z, grad) in [(z1, buffer.gradZ1), (z2, buffer.gradZ2)] {
            backend.fill(buffer.negativeMean, with: 0)
            backend.accumulateBiasGradient(gradOutput: z, gradBias: buffer.negativeMean)
            backend.scale(buffer.negativeMean, by: -1 / Float(b))
            backend.copy(z, to: buffer.centred)
            backend.addBias(buffer.negativeMean, to: buffer.centred)
            backend.gemm(transposeA: true, transposeB: false, m: d, n: d, k: b, alpha: 1, a: buffer.centred, b: buffer.centred,
                         beta: 0, c: buffer.scatter)
            backend.covarianceRegularizer(scatter: buffer.scatter, count: b, epsilon: loss.epsilon,
                                          varianceWeight: loss.varianceWeight, covarianceWeight: loss.covarianceWeight,
                                          gradient: buffer.gradient, rowTerms: buffer.rowTerms)
            backend.gemm(transposeA: false, transposeB: false, m: b, n: d, k: d, alpha: Float(2 / Double(b - 1)),
                         a: buffer.centred, b: buffer.gradient, beta: 1, c: grad)
            let terms = backend.onHost(buffer.rowTerms)
            var rowVariance = 0.0, rowCovariance = 0.0
            for row in 0..<d {
                rowVariance += Double(terms.pointer[2 * row])
                rowCovariance += Double(terms.pointer[2 * row + 1])
            }
            variance += rowVariance / Double(d) / 2
            covariance += rowCovariance / Double(d)
        }
        let total = loss.invarianceWeight * invariance + loss.varianceWeight * variance + loss.covarianceWeight * covariance
        return VICRegLoss.Output(loss: total, invariance: invariance, variance: variance, covariance: covariance,
                                 gradZ1: buffer.gradZ1, gradZ2: buffer.gradZ2, globalZ1: z1, globalZ2: z2)
    }

    private func buffers(rows b: Int, columns d: Int) -> Buffers {
        if let buffers, buffers.rows == b, buffers.columns == d { return buffers }
        let made = Buffers(rows: b, columns: d, difference: backend.zeros([b, d]), gradZ1: backend.zeros([b, d]),
                           gradZ2: backend.zeros([b, d]), centred: backend.zeros([b, d]), negativeMean: backend.zeros([d]),
                           scatter: backend.zeros([d, d]), gradient: backend.zeros([d, d]), rowTerms: backend.zeros([d, 2]))
        buffers = made
        return made
    }
}
