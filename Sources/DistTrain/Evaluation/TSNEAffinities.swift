import Engine
#if canImport(Glibc)
import Glibc
#endif

/// t-SNE's input similarities (van der Maaten & Hinton 2008, section 2): for each point i a Gaussian
/// over the others, p_{j|i} ∝ exp(-β_i ‖x_i − x_j‖²), with β_i found by binary search so that the
/// row's perplexity 2^H(P_i) equals the requested one; then the joint p_ij = (p_{j|i} + p_{i|j}) / 2N.
///
/// The search is scikit-learn's `_binary_search_perplexity` (β from 1, doubled or halved until
/// bracketed, then bisected; |H − log perplexity| ≤ 1e-5 nats, at most 100 steps), computed on
/// distances shifted by the row's nearest one, which leaves p unchanged and keeps exp from underflowing
/// on high-dimensional features.
///
/// Shapes: X `[N, D]` row-major; P `[N, N]` row-major, zero diagonal.
enum TSNEAffinities {
    /// |entropy − log(perplexity)| at which the search stops (scikit-learn's PERPLEXITY_TOLERANCE).
    static let entropyTolerance = 1e-5
    /// scikit-learn's floor for joint probabilities (MACHINE_EPSILON).
    static let floor = Double.ulpOfOne

    /// Row i of the conditional P: p_{j|i} for all j (p_{i|i} = 0) from squared distances `row`;
    /// returns the row's entropy in nats and the number of search steps.
    @discardableResult
    static func conditionalRow(squaredDistances row: UnsafePointer<Double>, count: Int, skipping i: Int,
                               perplexity: Double, into p: UnsafeMutablePointer<Double>) -> (entropy: Double, steps: Int) {
        let desired = log(perplexity)
        var nearest = Double.infinity
        for j in 0..<count where j != i { nearest = min(nearest, row[j]) }
        var beta = 1.0, betaMin = -Double.infinity, betaMax = Double.infinity
        var entropy = 0.0, steps = 0
        while steps < 100 {
            steps += 1
            var sum = 0.0
            for j in 0..<count {
                p[j] = j == i ? 0 : exp(-(row[j] - nearest) * beta)
                sum += p[j]
            }
            var weighted = 0.0  // Σ_j (d_ij − d_min) p_{j|i}
            for j in 0..<count {
                p[j] /= sum
                if j != i { weighted += (row[j] - nearest) * p[j] }
            }
            entropy = log(sum) + beta * weighted
            let difference = entropy - desired
            if abs(difference) <= entropyTolerance { break }
            if difference > 0 {
                betaMin = beta
                beta = betaMax == .infinity ? beta * 2 : (beta + betaMax) / 2
            } else {
                betaMax = beta
                beta = betaMin == -.infinity ? beta / 2 : (beta + betaMin) / 2
            }
        }
        return (entropy, steps)
    }

    /// The conditional P `[N, N]` of `x` (`[N, D]`), each row calibrated to `perplexity`; rows on `pool`.
    static func conditional(_ x: [Double], count n: Int, dimension d: Int, perplexity: Double,
                            pool: ThreadPool = ThreadPool(threadCount: 1)) -> [Double] {
        precondition(x.count == n * d && n >= 2, "t-SNE needs at least 2 points of \(d) values")
        var p = [Double](repeating: 0, count: n * n)
        x.withUnsafeBufferPointer { xs in
            p.withUnsafeMutableBufferPointer { ps in
                let xs = xs.baseAddress!, ps = ps.baseAddress!
                pool.parallelFor(n, grain: 8) { _, rows in
                    var distances = [Double](repeating: 0, count: n)
                    distances.withUnsafeMutableBufferPointer { buffer in
                        let row = buffer.baseAddress!
                        for i in rows {
                            for j in 0..<n {
                                var sum = 0.0
                                for k in 0..<d {
                                    let delta = xs[i * d + k] - xs[j * d + k]
                                    sum += delta * delta
                                }
                                row[j] = sum
                            }
                            conditionalRow(squaredDistances: row, count: n, skipping: i, perplexity: perplexity,
                                           into: ps + i * n)
                        }
                    }
                }
            }
        }
        return p
    }

    /// The joint P from a conditional one, in place: p_ij = max((p_{j|i} + p_{i|j}) / Σ, ε) off the
    /// diagonal, so Σ_ij p_ij = 1 (scikit-learn's `_joint_probabilities`).
    static func symmetrize(_ p: inout [Double], count n: Int) {
        var total = 0.0
        for value in p { total += value }
        let scale = 1 / max(2 * total, floor)
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) {
                let joint = max((p[i * n + j] + p[j * n + i]) * scale, floor)
                p[i * n + j] = joint
                p[j * n + i] = joint
            }
        }
    }

    /// The joint P of `x`: `conditional` then `symmetrize`.
    static func joint(_ x: [Double], count n: Int, dimension d: Int, perplexity: Double,
                      pool: ThreadPool = ThreadPool(threadCount: 1)) -> [Double] {
        var p = conditional(x, count: n, dimension: d, perplexity: perplexity, pool: pool)
        symmetrize(&p, count: n)
        return p
    }
}
