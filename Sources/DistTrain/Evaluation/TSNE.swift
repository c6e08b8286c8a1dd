import Engine
#if canImport(Glibc)
import Glibc
#endif

/// t-SNE (van der Maaten & Hinton, JMLR 2008; van der Maaten, JMLR 2014), exact gradient, as
/// scikit-learn's `TSNE(method="exact")` runs it: Student-t similarities in 2-D,
/// q_ij = w_ij / Z with w_ij = 1 / (1 + ‖y_i − y_j‖²) and Z = Σ_{k≠l} w_kl, minimising
/// KL(P‖Q) = Σ_{i≠j} p_ij log(p_ij / q_ij) by gradient descent with momentum and per-coordinate gains
/// (Jacobs 1988): early exaggeration (P × 12) with momentum 0.5 for the first 250 iterations, then
/// momentum 0.8; velocity and gains restart between the two phases, as in scikit-learn.
///
/// The gradient is dC/dy_i = 4 Σ_j (α p_ij − q_ij) w_ij (y_i − y_j) (α the exaggeration), O(N²) per
/// iteration with nothing stored beyond P: one pass per row sums α p_ij w_ij (y_i − y_j) and
/// w_ij² (y_i − y_j) and, over all rows, Z.
///
/// Shapes: P `[N, N]` (the joint probabilities, summing to 1); Y `[N, 2]` row-major.
struct TSNE {
    var earlyExaggeration = 12.0
    /// Iterations with exaggerated P and momentum 0.5 (scikit-learn's _EXPLORATION_MAX_ITER).
    var exaggerationIterations = 250
    /// All iterations, both phases (scikit-learn's max_iter).
    var iterations = 1000
    /// nil: scikit-learn's "auto", max(N / early exaggeration / 4, 50).
    var learningRate: Double?
    var minGain = 0.01
    /// Every this many iterations the KL divergence (with the real P) is recorded in `history`.
    var checkEvery = 50
    var pool = ThreadPool(threadCount: 1)

    /// The embedding and the KL divergence at iteration 0 and every `checkEvery` iterations.
    struct Result {
        var y: [Double]
        var history: [(iteration: Int, kl: Double)]
    }

    /// scikit-learn's `init="pca"`: the first two principal components of `x` (`[N, D]`), scaled so
    /// that the first has standard deviation 1e-4.
    static func pcaInitial(_ x: [Double], count n: Int, dimension d: Int) -> [Double] {
        var y = PCA(x, count: n, dimension: d, components: min(2, d)).transform(x, count: n)
        if d == 1 { y = y.flatMap { [$0, 0] } }
        var sum = 0.0, squares = 0.0
        for i in 0..<n { sum += y[2 * i]; squares += y[2 * i] * y[2 * i] }
        let mean = sum / Double(n)
        let std = (squares / Double(n) - mean * mean).squareRoot()
        return y.map { $0 / max(std, Double.leastNormalMagnitude) * 1e-4 }
    }

    /// scikit-learn's `init="random"`: independent N(0, 1e-4²) coordinates from `seed`.
    static func randomInitial(count n: Int, seed: UInt64) -> [Double] {
        var random = RandomGenerator(seed: seed, 0x7453_4E45)
        return (0..<(n * 2)).map { _ in 1e-4 * random.normal() }
    }

    func learningRate(count: Int) -> Double {
        learningRate ?? max(Double(count) / earlyExaggeration / 4, 50)
    }

    /// Runs the optimisation from `initial` (`[N, 2]`); `report(iteration, kl)` after every check.
    func embed(p: [Double], count n: Int, initial: [Double],
               report: (Int, Double) -> Void = { _, _ in }) -> Result {
        precondition(p.count == n * n && initial.count == n * 2, "P must be [N, N] and Y [N, 2]")
        var y = initial
        var history = [(iteration: 0, kl: TSNE.gradient(p: p, y: y, count: n, exaggeration: 1, wantKL: true, pool: pool).kl)]
        report(0, history[0].kl)
        let rate = learningRate(count: n)
        var iteration = 0
        for (exaggeration, momentum, end) in [(earlyExaggeration, 0.5, min(exaggerationIterations, iterations)),
                                               (1.0, 0.8, iterations)] {
            var update = [Double](repeating: 0, count: n * 2)
            var gains = [Double](repeating: 1, count: n * 2)
            while iteration < end {
                var (gradient, _) = TSNE.gradient(p: p, y: y, count: n, exaggeration: exaggeration, wantKL: false, pool: pool)
                for k in 0..<(n * 2) {
                    gains[k] = update[k] * gradient[k] < 0 ? gains[k] + 0.2 : gains[k] * 0.8
                    gains[k] = max(gains[k], minGain)
                    gradient[k] *= gains[k]
                    update[k] = momentum * update[k] - rate * gradient[k]
                    y[k] += update[k]
                }
                iteration += 1
                if iteration % checkEvery == 0 || iteration == iterations {
                    let kl = TSNE.gradient(p: p, y: y, count: n, exaggeration: 1, wantKL: true, pool: pool).kl
                    history.append((iteration, kl))
                    report(iteration, kl)
                }
            }
        }
        return Result(y: y, history: history)
    }

    /// dC/dY at `y` for P scaled by `exaggeration` α, C = KL(P‖Q) at α = 1 (at α > 1, −α Σ p log w + log Z);
    /// with `wantKL` also Σ αp log(αp / q) (what scikit-learn reports) with its
    /// floors (log of max(p, ε) / max(q, ε)). Rows run on `pool`.
    static func gradient(p: [Double], y: [Double], count n: Int, exaggeration: Double, wantKL: Bool,
                         pool: ThreadPool) -> (gradient: [Double], kl: Double) {
        // Per row i: attraction Σ α p_ij w_ij (y_i − y_j), repulsion Σ w_ij² (y_i − y_j), and the row's
        // Σ w_ij; the gradient needs Z over all rows, so it is assembled after the pass.
        var attraction = [Double](repeating: 0, count: n * 2)
        var repulsion = [Double](repeating: 0, count: n * 2)
        var rowSums = [Double](repeating: 0, count: n)
        p.withUnsafeBufferPointer { ps in
            y.withUnsafeBufferPointer { ys in
                attraction.withUnsafeMutableBufferPointer { attract in
                    repulsion.withUnsafeMutableBufferPointer { repel in
                        rowSums.withUnsafeMutableBufferPointer { sums in
                            let ps = ps.baseAddress!, ys = ys.baseAddress!
                            let attract = attract.baseAddress!, repel = repel.baseAddress!, sums = sums.baseAddress!
                            pool.parallelFor(n, grain: 16) { _, rows in
                                for i in rows {
                                    let yi0 = ys[2 * i], yi1 = ys[2 * i + 1]
                                    var a0 = 0.0, a1 = 0.0, r0 = 0.0, r1 = 0.0, z = 0.0
                                    for j in 0..<n where j != i {
                                        let d0 = yi0 - ys[2 * j], d1 = yi1 - ys[2 * j + 1]
                                        let w = 1 / (1 + d0 * d0 + d1 * d1)
                                        let pw = exaggeration * ps[i * n + j] * w
                                        a0 += pw * d0; a1 += pw * d1
                                        r0 += w * w * d0; r1 += w * w * d1
                                        z += w
                                    }
                                    attract[2 * i] = a0; attract[2 * i + 1] = a1
                                    repel[2 * i] = r0; repel[2 * i + 1] = r1
                                    sums[i] = z
                                }
                            }
                        }
                    }
                }
            }
        }
        var z = 0.0
        for value in rowSums { z += value }
        var gradient = [Double](repeating: 0, count: n * 2)
        for k in 0..<(n * 2) { gradient[k] = 4 * (attraction[k] - repulsion[k] / z) }
        guard wantKL else { return (gradient, .nan) }
        var kl = 0.0
        for i in 0..<n {
            for j in 0..<n where j != i {
                let d0 = y[2 * i] - y[2 * j], d1 = y[2 * i + 1] - y[2 * j + 1]
                let q = max(1 / (1 + d0 * d0 + d1 * d1) / z, TSNEAffinities.floor)
                let pij = exaggeration * p[i * n + j]
                kl += pij * log(max(pij, TSNEAffinities.floor) / q)
            }
        }
        return (gradient, kl)
    }
}
