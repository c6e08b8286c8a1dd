/// Limited-memory BFGS (Nocedal & Wright 2006, algorithm 7.4: the two-loop recursion) with a
/// backtracking line search on the Armijo condition, for smooth convex objectives such as the linear
/// probe's. Curvature pairs with sᵀy ≤ 1e-10·|s||y| are skipped, which keeps the inverse-Hessian
/// estimate positive definite without a Wolfe line search.
struct LBFGS {
    /// Correction pairs kept (scipy's default is 10).
    var history = 10
    var maxIterations = 1000
    /// Converged when the largest gradient component is at most this.
    var gradientTolerance = 1e-6
    /// Also converged when an iteration lowers f by less than this times max(|f|, 1) (scipy's `ftol`).
    var relativeDecreaseTolerance = 1e-12

    struct Result {
        var x: [Double]
        var value: Double
        var iterations: Int
        /// True when a tolerance was met, false when `maxIterations` ran out or no step lowered f
        /// (the objective's rounding floor).
        var converged: Bool
        var reason: String
    }

    /// Minimises `f` from `x0`. `f(x, &gradient)` returns f(x) and writes ∇f(x) into `gradient`.
    func minimize(_ x0: [Double], _ f: ([Double], inout [Double]) -> Double) -> Result {
        let n = x0.count
        var x = x0, g = [Double](repeating: 0, count: n)
        var value = f(x, &g)
        var s: [[Double]] = [], y: [[Double]] = [], rho: [Double] = []
        var newX = x, newG = g
        for iteration in 0..<maxIterations {
            if maxAbs(g) <= gradientTolerance {
                return Result(x: x, value: value, iterations: iteration, converged: true, reason: "gradient below tolerance")
            }
            // Direction d = −H·g by the two-loop recursion.
            var q = g
            var alpha = [Double](repeating: 0, count: s.count)
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                alpha[i] = rho[i] * dot(s[i], q)
                for j in 0..<n { q[j] -= alpha[i] * y[i][j] }
            }
            // H₀ = γI with γ = sᵀy / yᵀy of the newest pair; before any pair, a first step of length ≤ 1.
            let gamma = s.isEmpty ? min(1, 1 / max(norm(g), 1e-300)) : dot(s[s.count - 1], y[y.count - 1]) / dot(y[y.count - 1], y[y.count - 1])
            for j in 0..<n { q[j] *= gamma }
            for i in 0..<s.count {
                let beta = rho[i] * dot(y[i], q)
                for j in 0..<n { q[j] += s[i][j] * (alpha[i] - beta) }
            }
            var direction = q.map { -$0 }
            var slope = dot(g, direction)
            if slope >= 0 {  // not a descent direction (rounding): restart from steepest descent
                s.removeAll(); y.removeAll(); rho.removeAll()
                direction = g.map { -$0 * min(1, 1 / max(norm(g), 1e-300)) }
                slope = dot(g, direction)
            }
            // Backtracking: the first step t with f(x + t·d) ≤ f(x) + 1e-4·t·slope.
            var step = 1.0, accepted = false, newValue = value
            for _ in 0..<40 {
                for j in 0..<n { newX[j] = x[j] + step * direction[j] }
                newValue = f(newX, &newG)
                if newValue.isFinite && newValue <= value + 1e-4 * step * slope { accepted = true; break }
                step *= 0.5
            }
            guard accepted else {
                return Result(x: x, value: value, iterations: iteration, converged: false,
                              reason: "line search found no lower value (rounding floor)")
            }
            var sk = [Double](repeating: 0, count: n), yk = [Double](repeating: 0, count: n)
            for j in 0..<n { sk[j] = newX[j] - x[j]; yk[j] = newG[j] - g[j] }
            let curvature = dot(sk, yk)
            if curvature > 1e-10 * norm(sk) * norm(yk) {
                if s.count == history { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
                s.append(sk); y.append(yk); rho.append(1 / curvature)
            }
            let decrease = value - newValue
            swap(&x, &newX); swap(&g, &newG)
            value = newValue
            if decrease <= relativeDecreaseTolerance * max(abs(value), 1) {
                return Result(x: x, value: value, iterations: iteration + 1, converged: true,
                              reason: "relative decrease below tolerance")
            }
        }
        return Result(x: x, value: value, iterations: maxIterations, converged: false, reason: "iteration limit")
    }

    private func dot(_ a: [Double], _ b: [Double]) -> Double {
        var sum = 0.0
        for i in a.indices { sum += a[i] * b[i] }
        return sum
    }

    private func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }

    private func maxAbs(_ a: [Double]) -> Double { a.reduce(0) { max($0, abs($1)) } }
}
