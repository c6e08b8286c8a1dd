import Collectives
import Engine

/// `NTXentLoss` for embeddings that live on a GPU, every step a backend op: no host round trip but the loss
/// value itself. The math of `NTXentLoss.forward` (Chen et al. 2020, eq. 1) over the global batch:
///
///     Z = [Z1; Z2] (2N rows: each view's rows of all ranks),  ẑ = normalise(Z)
///     S = ẑẑᵀ/τ with S_ii = −∞,  L = mean over the 2N rows of CE(S_i, other view of the same image)
///     ∂ẑ = (G + Gᵀ)·ẑ/τ with G = ∂L/∂S (the cross-entropy's gradient), then back through the normalisation
///
/// Several ranks: each view's rows are all-gathered (`gatherRows`: in stream order over NCCL) and every
/// rank computes the same global loss and ∂L/∂ẑ for all 2N rows, then takes its own rows' gradient.
/// Nothing is scattered back, and the ranks' parameter gradients sum to the single-process gradient on
/// the global batch (as `NTXentLoss`'s reduce-scatter gives). The repeated work is three 2N×2N×D GEMMs,
/// small next to a ResNet step (2N = 2048, D = 256: 3 GFLOP per rank).
///
/// All in fp32 on `Backend.fullPrecision` (a bf16 backend's GEMMs would round the embeddings); the softmax
/// is fp32 on a GPU where the host loss sums in double (MethodStepComparison holds the two to 1e-5).
/// Buffers are kept while B, D and the world stay, so a step allocates nothing.
final class NTXentOnDevice {
    let temperature: Double
    let backend: any Backend

    private struct Buffers {
        let batch, columns, ranks: Int
        /// `[Z1; Z2]` over all ranks `[2N, D]`, N = ranks·batch.
        let z, normalized, norms, logits, gradLogits, gradNormalized: Tensor
        /// This rank's ∂L/∂z1, ∂L/∂z2 `[B, D]`.
        let gradZ1, gradZ2: Tensor
        /// Row i's positive: the other view of its image.
        let positives: [Int32]
    }
    private var buffers: Buffers?

    init(temperature: Double, backend: any Backend) {
        self.temperature = temperature
        self.backend = backend.fullPrecision
    }

    /// The loss of this rank's `z1`, `z2` `[B, D]` over `group`'s global batch (the same on every rank) and
    /// ∂L/∂z for this rank's rows.
    func forward(z1: Tensor, z2: Tensor, group: any Communicator = LocalCommunicator()) -> NTXentLoss.Output {
        precondition(z1.rank == 2 && z1.shape == z2.shape, "NT-Xent takes two [B, D] views, got \(z1.shape) and \(z2.shape)")
        let b = z1.shape[0], d = z1.shape[1], ranks = group.worldSize, n = ranks * b
        precondition(n >= 2, "NT-Xent needs at least 2 images per batch (one has no negatives), got \(n)")
        let buffer = buffers(batch: b, columns: d, ranks: ranks)
        gatherRows(z1, into: buffer.z.rows(0..<n), group: group, backend: backend)
        gatherRows(z2, into: buffer.z.rows(n..<(2 * n)), group: group, backend: backend)
        backend.l2NormalizeRows(input: buffer.z, output: buffer.normalized, norms: buffer.norms)
        let inverseTemperature = Float(1 / temperature)
        backend.gemm(transposeA: false, transposeB: true, m: 2 * n, n: 2 * n, k: d, alpha: inverseTemperature,
                     a: buffer.normalized, b: buffer.normalized, beta: 0, c: buffer.logits)
        backend.fillDiagonal(buffer.logits, with: -.infinity)
        let loss = backend.softmaxCrossEntropy(logits: buffer.logits, labels: buffer.positives, gradLogits: buffer.gradLogits)
        // S = ẑẑᵀ/τ is symmetric in ẑ: ∂ẑ = (G·ẑ + Gᵀ·ẑ)/τ.
        backend.gemm(transposeA: false, transposeB: false, m: 2 * n, n: d, k: 2 * n, alpha: inverseTemperature,
                     a: buffer.gradLogits, b: buffer.normalized, beta: 0, c: buffer.gradNormalized)
        backend.gemm(transposeA: true, transposeB: false, m: 2 * n, n: d, k: 2 * n, alpha: inverseTemperature,
                     a: buffer.gradLogits, b: buffer.normalized, beta: 1, c: buffer.gradNormalized)
        // Back through the normalisation for this rank's rows only: view v's rows start at v·N + rank·B.
        for (view, gradZ) in [buffer.gradZ1, buffer.gradZ2].enumerated() {
            let own = (view * n + group.rank * b)..<(view * n + (group.rank + 1) * b)
            backend.l2NormalizeRowsBackward(gradOutput: buffer.gradNormalized.rows(own),
                                            output: buffer.normalized.rows(own),
                                            norms: buffer.norms.rows(own), gradInput: gradZ)
        }
        return NTXentLoss.Output(loss: loss, gradZ1: buffer.gradZ1, gradZ2: buffer.gradZ2)
    }

    /// Each view's gathered rows `[N, D]` (the last forward's, not normalised): the collapse monitor's input.
    var globalRows: (z1: Tensor, z2: Tensor)? {
        buffers.map { ($0.z.rows(0..<($0.ranks * $0.batch)), $0.z.rows(($0.ranks * $0.batch)..<(2 * $0.ranks * $0.batch))) }
    }

    private func buffers(batch b: Int, columns d: Int, ranks: Int) -> Buffers {
        if let buffers, buffers.batch == b, buffers.columns == d, buffers.ranks == ranks { return buffers }
        let n = ranks * b
        let made = Buffers(batch: b, columns: d, ranks: ranks, z: backend.zeros([2 * n, d]),
                           normalized: backend.zeros([2 * n, d]), norms: backend.zeros([2 * n]),
                           logits: backend.zeros([2 * n, 2 * n]), gradLogits: backend.zeros([2 * n, 2 * n]),
                           gradNormalized: backend.zeros([2 * n, d]), gradZ1: backend.zeros([b, d]),
                           gradZ2: backend.zeros([b, d]), positives: (0..<(2 * n)).map { Int32(($0 + n) % (2 * n)) })
        buffers = made
        return made
    }
}
