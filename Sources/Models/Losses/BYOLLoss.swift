import Engine

/// BYOL's regression loss (Grill et al. 2020, "Bootstrap Your Own Latent", eq. 2): the online
/// prediction q and the target projection z' of the *other* view, both L2-normalised,
///
///     L(q, z') = ‖q̄ − z̄'‖² = 2 − 2·cos(q, z'),  averaged over the batch,
///     L^BYOL = L(p1, t2) + L(p2, t1)   (the symmetrised loss, sum of the two directions).
///
/// solo-learn computes the same value: `byol_loss_func(p1, z2_momentum) + byol_loss_func(p2, z1_momentum)`,
/// each `2 − 2·mean cos`. So the loss lies in [0, 8]. The targets are constants (stop-gradient): only
/// ∂L/∂p1 and ∂L/∂p2 are returned, `∂/∂p_b = −2/B · (t̂_b − cos_b·p̂_b) / ‖p_b‖`. All in double.
public struct BYOLLoss: Sendable {
    public init() {}

    public struct Output {
        public var loss: Double
        /// ∂L/∂p1, ∂L/∂p2 `[B, D]`.
        public var gradP1, gradP2: Tensor
        public var terms: [(name: String, value: Double)] { [("neg_cos_sim", loss)] }
    }

    /// `p1`, `p2`: online predictions of views 1 and 2; `target1`, `target2`: target projections of views 1 and 2.
    /// `globalBatch`: the batch the mean runs over when the rows are one rank's share of a larger batch
    /// (the loss returned is then this rank's share; the shares sum to the global loss). Default: B.
    public func forward(p1: Tensor, p2: Tensor, target1: Tensor, target2: Tensor, globalBatch: Int? = nil) -> Output {
        precondition(p1.rank == 2 && p1.shape == p2.shape && p1.shape == target1.shape && p1.shape == target2.shape,
                     "BYOL loss: predictions \(p1.shape), \(p2.shape) and targets \(target1.shape), \(target2.shape) must be equal [B, D]")
        let gradP1 = Tensor(zeros: p1.shape), gradP2 = Tensor(zeros: p2.shape)
        let batch = globalBatch ?? p1.shape[0]
        let loss = Self.direction(prediction: p1, target: target2, gradPrediction: gradP1, batch: batch)
            + Self.direction(prediction: p2, target: target1, gradPrediction: gradP2, batch: batch)
        return Output(loss: loss, gradP1: gradP1, gradP2: gradP2)
    }

    /// One direction, `Σ_b (2 − 2·cos(p_b, t_b)) / batch` (the mean when `batch` is the row count);
    /// overwrites `gradPrediction` with its gradient. Norms are clamped at 1e-8 as `F.cosine_similarity` does.
    public static func direction(prediction: Tensor, target: Tensor, gradPrediction: Tensor, batch: Int? = nil) -> Double {
        let rows = prediction.shape[0], d = prediction.count / rows, b = batch ?? rows
        let p = prediction.pointer, t = target.pointer, g = gradPrediction.pointer
        var total = 0.0
        for row in 0..<rows {
            let base = row * d
            var pp = 0.0, tt = 0.0, pt = 0.0
            for j in 0..<d {
                let pv = Double(p[base + j]), tv = Double(t[base + j])
                pp += pv * pv; tt += tv * tv; pt += pv * tv
            }
            let pNorm = max(pp.squareRoot(), 1e-8), tNorm = max(tt.squareRoot(), 1e-8)
            let cosine = pt / (pNorm * tNorm)
            total += 2 - 2 * cosine
            let scale = -2 / Double(b) / pNorm
            for j in 0..<d {
                g[base + j] = Float(scale * (Double(t[base + j]) / tNorm - cosine * Double(p[base + j]) / pNorm))
            }
        }
        return total / Double(b)
    }
}
