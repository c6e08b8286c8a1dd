import Engine

/// `NTXentLoss` for one process whose embeddings live on a GPU, every step a backend op: no host round
/// trip but the loss value itself. The math of `NTXentLoss.forward` with one rank (Chen et al. 2020, eq. 1):
///
///     ẑ = normalise([z1; z2]) (2B rows),  S = ẑẑᵀ/τ with S_ii = −∞,  L = mean over rows of CE(S_i, other view)
///     ∂ẑ = (G + Gᵀ)·ẑ/τ with G = ∂L/∂S (the cross-entropy's gradient), then back through the normalisation
///
/// All in fp32 on `Backend.fullPrecision` (a bf16 backend's GEMMs would round the embeddings); the softmax
/// is fp32 on a GPU where the host loss sums in double (MethodStepComparison holds the two to 1e-5).
/// Buffers are kept while B and D stay, so a step allocates nothing.
final class NTXentOnDevice {
    let temperature: Double
    let backend: any Backend

    private struct Buffers {
        let rows, columns: Int
        let z, normalized, norms, logits, gradLogits, gradNormalized, gradZ: Tensor
        /// Row i's positive: the other view of its image.
        let positives: [Int32]
    }
    private var buffers: Buffers?

    init(temperature: Double, backend: any Backend) {
        self.temperature = temperature
        self.backend = backend.fullPrecision
    }

    func forward(z1: Tensor, z2: Tensor) -> NTXentLoss.Output {
        precondition(z1.rank == 2 && z1.shape == z2.shape, "NT-Xent takes two [B, D] views, got \(z1.shape) and \(z2.shape)")
        let b = z1.shape[0], d = z1.shape[1], n = 2 * b
        let buffer = buffers(rows: n, columns: d)
        backend.copy(z1, to: rowsView(buffer.z, 0..<b))
        backend.copy(z2, to: rowsView(buffer.z, b..<n))
        backend.l2NormalizeRows(input: buffer.z, output: buffer.normalized, norms: buffer.norms)
        let inverseTemperature = Float(1 / temperature)
        backend.gemm(transposeA: false, transposeB: true, m: n, n: n, k: d, alpha: inverseTemperature,
                     a: buffer.normalized, b: buffer.normalized, beta: 0, c: buffer.logits)
        backend.fillDiagonal(buffer.logits, with: -.infinity)
        let loss = backend.softmaxCrossEntropy(logits: buffer.logits, labels: buffer.positives, gradLogits: buffer.gradLogits)
        // S = ẑẑᵀ/τ is symmetric in ẑ: ∂ẑ = (G·ẑ + Gᵀ·ẑ)/τ.
        backend.gemm(transposeA: false, transposeB: false, m: n, n: d, k: n, alpha: inverseTemperature,
                     a: buffer.gradLogits, b: buffer.normalized, beta: 0, c: buffer.gradNormalized)
        backend.gemm(transposeA: true, transposeB: false, m: n, n: d, k: n, alpha: inverseTemperature,
                     a: buffer.gradLogits, b: buffer.normalized, beta: 1, c: buffer.gradNormalized)
        backend.l2NormalizeRowsBackward(gradOutput: buffer.gradNormalized, output: buffer.normalized, norms: buffer.norms,
                                        gradInput: buffer.gradZ)
        return NTXentLoss.Output(loss: loss, gradZ1: rowsView(buffer.gradZ, 0..<b), gradZ2: rowsView(buffer.gradZ, b..<n))
    }

    private func buffers(rows n: Int, columns d: Int) -> Buffers {
        if let buffers, buffers.rows == n, buffers.columns == d { return buffers }
        let b = n / 2
        let made = Buffers(rows: n, columns: d, z: backend.zeros([n, d]), normalized: backend.zeros([n, d]),
                           norms: backend.zeros([n]), logits: backend.zeros([n, n]), gradLogits: backend.zeros([n, n]),
                           gradNormalized: backend.zeros([n, d]), gradZ: backend.zeros([n, d]),
                           positives: (0..<n).map { Int32(($0 + b) % n) })
        buffers = made
        return made
    }
}
