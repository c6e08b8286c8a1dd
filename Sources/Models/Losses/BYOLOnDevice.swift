import Engine

/// `BYOLLoss` for predictions and targets that live on a GPU, every step a backend op: the host receives
/// only Σ‖p̂ − t̂‖². With unit rows, ‖p̂ − t̂‖² = 2 − 2·cos(p, t) (Grill et al. 2020, eq. 2), so
///
///     P = [p1; p2], T = [t2; t1] (each prediction beside the other view's target), both row-normalised,
///     L = Σ_rows ‖P̂ − T̂‖² / B_global,   ∂L/∂P̂ = 2(P̂ − T̂)/B_global, then back through the normalisation
///
/// which gives `BYOLLoss`'s gradient −2/B·(t̂ − cos·p̂)/‖p‖ (the part of ∂L/∂P̂ along p̂ is removed by the
/// normalisation's backward). Each row is its own term: several ranks need no gathered rows, only the
/// sum of their loss shares (the caller's). Targets are constants (stop-gradient). Norms are clamped at
/// 1e-12 (`F.normalize`) where `BYOLLoss` clamps at 1e-8 (`F.cosine_similarity`): the same for any row
/// longer than 1e-8. On `Backend.fullPrecision`; buffers are kept while B and D stay.
final class BYOLOnDevice {
    let backend: any Backend

    private struct Buffers {
        let batch, columns: Int
        /// `[p̂1; p̂2]` and `[t̂2; t̂1]`, normalised straight from the heads' outputs, and their norms.
        let predictions, targets, predictionNorms, targetNorms: Tensor
        let difference, gradPredictions: Tensor
    }
    private var buffers: Buffers?

    init(backend: any Backend) {
        self.backend = backend.fullPrecision
    }

    /// Normalises view `view`'s (1 or 2) target projection `[B, D]` into place beside the other view's
    /// prediction. Call it for both views before `forward`; the target network may then reuse its buffer.
    func setTarget(_ target: Tensor, ofView view: Int) {
        precondition(view == 1 || view == 2, "BYOL has views 1 and 2, not \(view)")
        precondition(target.rank == 2, "BYOL's target projection must be [B, D], got \(target.shape)")
        let b = target.shape[0], buffer = buffers(batch: b, columns: target.shape[1])
        // t2 pairs with p1 (rows 0..<B), t1 with p2 (rows B..<2B).
        let rows = view == 2 ? 0..<b : b..<(2 * b)
        backend.l2NormalizeRows(input: target, output: buffer.targets.rows(rows), norms: buffer.targetNorms.rows(rows))
    }

    /// This rank's share of the loss, `Σ_its rows ‖p̂ − t̂‖² / globalBatch` (the shares sum to the loss), and
    /// ∂/∂p1, ∂/∂p2 `[B, D]`. `globalBatch`: the images of all ranks (B on one rank).
    func forward(p1: Tensor, p2: Tensor, globalBatch: Int) -> BYOLLoss.Output {
        precondition(p1.rank == 2 && p1.shape == p2.shape, "BYOL takes two [B, D] predictions, got \(p1.shape) and \(p2.shape)")
        let b = p1.shape[0], buffer = buffers(batch: b, columns: p1.shape[1])
        for (rows, p) in [(0..<b, p1), (b..<(2 * b), p2)] {
            backend.l2NormalizeRows(input: p, output: buffer.predictions.rows(rows), norms: buffer.predictionNorms.rows(rows))
        }
        backend.copy(buffer.predictions, to: buffer.difference)
        backend.accumulate(buffer.targets, into: buffer.difference, alpha: -1)
        let loss = backend.sumOfSquares(buffer.difference) / Double(globalBatch)
        backend.scale(buffer.difference, by: Float(2 / Double(globalBatch)))
        backend.l2NormalizeRowsBackward(gradOutput: buffer.difference, output: buffer.predictions,
                                        norms: buffer.predictionNorms, gradInput: buffer.gradPredictions)
        return BYOLLoss.Output(loss: loss, gradP1: buffer.gradPredictions.rows(0..<b),
                               gradP2: buffer.gradPredictions.rows(b..<(2 * b)))
    }

    private func buffers(batch b: Int, columns d: Int) -> Buffers {
        if let buffers, buffers.batch == b, buffers.columns == d { return buffers }
        func rows() -> Tensor { backend.zeros([2 * b, d]) }
        let made = Buffers(batch: b, columns: d, predictions: rows(), targets: rows(), predictionNorms: backend.zeros([2 * b]),
                           targetNorms: backend.zeros([2 * b]), difference: rows(), gradPredictions: rows())
        buffers = made
        return made
    }
}
