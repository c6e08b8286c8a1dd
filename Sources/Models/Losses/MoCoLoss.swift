import Engine
#if canImport(Glibc)
import Glibc
#endif

/// MoCo's InfoNCE against a queue of negatives (He et al. 2020, "Momentum Contrast for Unsupervised Visual
/// Representation Learning", eq. 1; MoCo v2, Chen et al. 2020, keeps it):
///
///     ℓᵢ = −log( exp(q̂ᵢ·k̂ᵢ/τ) / (exp(q̂ᵢ·k̂ᵢ/τ) + Σⱼ exp(q̂ᵢ·nⱼ/τ)) )
///
/// q̂ᵢ the L2-normalised query of image i (online network, one view), k̂ᵢ the normalised key of the same
/// image (momentum network, the other view; no gradient), nⱼ the K normalised keys of earlier batches in
/// the queue (no gradient). As a cross-entropy over the logits `[q̂ᵢ·k̂ᵢ, q̂ᵢ·n₁, ..., q̂ᵢ·n_K]/τ` with
/// target 0, which is how solo-learn's `mocov2plus_loss_func` writes it.
///
/// `forward` returns `Σᵢ ℓᵢ / normalizer` over the given rows and ∂/∂q through the normalisation, so
/// blocks of rows (ranks, views) add up to a mean over all of them. Negatives and their gradient are GEMMs
/// against the queue; the softmax and the loss are in double.
public struct MoCoLoss: Sendable {
    /// τ: 0.2, MoCo v2's (and solo-learn's `mocov2plus` recipes').
    public var temperature: Double

    public init(temperature: Double = 0.2) {
        precondition(temperature > 0, "MoCo temperature must be positive, got \(temperature)")
        self.temperature = temperature
    }

    public struct Output {
        /// `Σᵢ ℓᵢ / normalizer`.
        public var loss: Double
        /// ∂loss/∂q `[B, D]` (through the L2 normalisation).
        public var gradQueries: Tensor
    }

    /// - Parameters:
    ///   - queries: `[B, D]`, not normalised.
    ///   - normalizedKeys: `[B, D]`, L2-normalised (`normalized(_:backend:)`); row i is query i's positive.
    ///   - queue: `[K, D]` L2-normalised negatives.
    ///   - normalizer: what the sum of the rows' losses is divided by (the number of rows the mean is over).
    public func forward(queries q: Tensor, normalizedKeys keys: Tensor, queue: Tensor, normalizer: Int,
                        backend: any Backend) -> Output {
        precondition(q.rank == 2 && keys.shape == q.shape, "MoCo takes [B, D] queries and keys, got \(q.shape) and \(keys.shape)")
        let b = q.shape[0], d = q.shape[1], k = queue.shape[0]
        precondition(queue.rank == 2 && queue.shape[1] == d, "MoCo's queue must be [K, \(d)], got \(queue.shape)")
        let inverseTemperature = 1 / temperature
        let qHat = Tensor(zeros: [b, d]), norms = Tensor(zeros: [b])
        backend.l2NormalizeRows(input: q, output: qHat, norms: norms)
        // negatives [B, K] = q̂ · queueᵀ / τ; then overwritten in place with ∂loss/∂negatives.
        let negatives = Tensor(zeros: [b, k])
        backend.gemm(transposeA: false, transposeB: true, m: b, n: k, k: d, alpha: Float(inverseTemperature),
                     a: qHat, b: queue, beta: 0, c: negatives)
        let scale = 1 / Double(normalizer)
        // Per row: the loss and ∂/∂positive; the rows are independent, so they are split over the threads.
        var rowLoss = [Double](repeating: 0, count: b), gradPositive = [Double](repeating: 0, count: b)
        rowLoss.withUnsafeMutableBufferPointer { rowLoss in
            gradPositive.withUnsafeMutableBufferPointer { gradPositive in
                nonisolated(unsafe) let (losses, gradients) = (rowLoss.baseAddress!, gradPositive.baseAddress!)
                ThreadPool(threadCount: backend.threadCount).parallelFor(b) { _, rows in
                    for i in rows {
                        let row = negatives.pointer + i * k, qi = qHat.pointer + i * d, ki = keys.pointer + i * d
                        var dot = 0.0
                        for c in 0..<d { dot += Double(qi[c]) * Double(ki[c]) }
                        let positive = dot * inverseTemperature
                        var peak = Float(positive)
                        for j in 0..<k { peak = max(peak, row[j]) }
                        // |logits| ≤ 1/τ, so exp in Float loses nothing the Float probabilities keep; sums in double.
                        var sum = Double(expf(Float(positive) - peak))
                        for j in 0..<k { sum += Double(expf(row[j] - peak)) }
                        let logSum = log(sum) + Double(peak)
                        losses[i] = logSum - positive
                        gradients[i] = (exp(positive - logSum) - 1) * scale
                        let shift = Float(logSum), rowScale = Float(scale)
                        for j in 0..<k { row[j] = expf(row[j] - shift) * rowScale }
                    }
                }
            }
        }
        let total = rowLoss.reduce(0, +)
        // ∂/∂q̂ = (∂/∂positive)ᵢ·k̂ᵢ/τ + (∂/∂negatives) · queue / τ.
        let gradQHat = Tensor(zeros: [b, d])
        backend.gemm(transposeA: false, transposeB: false, m: b, n: d, k: k, alpha: Float(inverseTemperature),
                     a: negatives, b: queue, beta: 0, c: gradQHat)
        for i in 0..<b {
            let g = gradQHat.pointer + i * d, ki = keys.pointer + i * d
            for c in 0..<d { g[c] += Float(gradPositive[i] * inverseTemperature * Double(ki[c])) }
        }
        let gradQueries = Tensor(zeros: [b, d])
        backend.l2NormalizeRowsBackward(gradOutput: gradQHat, output: qHat, norms: norms, gradInput: gradQueries)
        return Output(loss: total * scale, gradQueries: gradQueries)
    }

    /// `x` `[B, D]` with every row L2-normalised (the keys, and what the queue holds).
    public static func normalized(_ x: Tensor, backend: any Backend) -> Tensor {
        let out = Tensor(zeros: x.shape), norms = Tensor(zeros: [x.shape[0]])
        backend.l2NormalizeRows(input: x, output: out, norms: norms)
        return out
    }
}
