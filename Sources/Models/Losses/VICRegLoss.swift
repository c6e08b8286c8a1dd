import Collectives
import Engine

/// VICReg (Bardes, Ponce, LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization for
/// Self-Supervised Learning", eqs. 1-6), following the official code (facebookresearch/vicreg,
/// `main_vicreg.py`), on two views' embeddings `z1`, `z2` `[B, D]`:
///
///     invariance  s(Z, Z') = 1/(B·D) Σ_b ‖z_b − z'_b‖²                                    (eq. 5, F.mse_loss)
///     variance    v(Z)     = 1/D Σ_d max(0, 1 − sqrt(Var(z_d) + ε)),  Var unbiased (÷ B−1), ε = 1e-4  (eqs. 1-2)
///     covariance  c(Z)     = 1/D Σ_{i≠j} C(Z)²_ij,  C(Z) = 1/(B−1) Σ_b (z_b − z̄)(z_b − z̄)ᵀ             (eqs. 3-4)
///     L = λ·s(Z, Z') + μ·[v(Z) + v(Z')]/2 + ν·[c(Z) + c(Z')],   λ = μ = 25, ν = 1                     (eq. 6)
///
/// Convention: the variance term is the *average* of the two branches (the official code's
/// `std_loss = mean(relu(1 − std_x))/2 + mean(relu(1 − std_y))/2`); the covariance term is their *sum*
/// (the official code's, and solo-learn's). solo-learn's `variance_loss` *sums* the two branches'
/// variance terms, a factor 2: solo-learn's loss equals this one with `varianceWeight` doubled (50).
/// The `variance` this loss reports is the averaged term, the one multiplied by `varianceWeight`.
///
/// Distributed form: variance and covariance depend on a branch only through its global batch mean and
/// centred scatter `S = Σ_b (z_b − z̄)(z_b − z̄)ᵀ`. `columnSums` then `centredScatter` (around the global
/// mean) produce per-rank partial sums that an all-reduce (double) adds; `regularizer` turns the global S
/// into both terms and G = ∂L/∂C; `addRegularizerGradient` gives each rank its own rows' gradient
/// `2/(N−1)·G·(z_b − z̄)`. `forward` is exactly that sequence with one rank. The invariance term is local
/// to each pair of rows.
public struct VICRegLoss: Sendable {
    public var invarianceWeight: Double
    public var varianceWeight: Double
    public var covarianceWeight: Double
    /// ε inside the square root of the variance term.
    public var epsilon: Double

    public init(invarianceWeight: Double = 25, varianceWeight: Double = 25, covarianceWeight: Double = 1,
                epsilon: Double = 1e-4) {
        self.invarianceWeight = invarianceWeight; self.varianceWeight = varianceWeight
        self.covarianceWeight = covarianceWeight; self.epsilon = epsilon
    }

    public struct Output {
        public var loss: Double
        /// s(Z, Z'), [v(Z) + v(Z')]/2, c(Z) + c(Z'): unweighted.
        public var invariance, variance, covariance: Double
        /// ∂L/∂z1, ∂L/∂z2 `[B, D]`.
        public var gradZ1, gradZ2: Tensor
        /// The rows each branch's statistics were taken over: the global batch `[R·B, D]` in rank order
        /// (z1, z2 themselves on one rank, or with `.localBatchOnly`); the collapse monitor reuses them.
        public var globalZ1, globalZ2: Tensor
        public var terms: [(name: String, value: Double)] {
            [("invariance", invariance), ("variance", variance), ("covariance", covariance)]
        }
    }

    /// One branch's regulariser terms from the global batch statistics.
    public struct BranchRegularizer {
        /// v(Z) and c(Z) of this branch, unweighted.
        public var variance, covariance: Double
        /// G = ∂L/∂C for this branch's covariance matrix C, `D×D` row-major (symmetric): the weighted
        /// variance share on the diagonal, the weighted covariance term off it (formed in double, stored in float).
        public var gradCovariance: Tensor
    }

    /// Where the variance and covariance statistics come from when the batch is spread over ranks.
    public enum StatisticsScope: Sendable {
        /// The all-gathered global batch: the correct distributed loss.
        case globalBatch
        /// Each rank's own rows only (what running the single-process loss under data parallelism gives):
        /// a wrong variant that tests use to prove they catch it.
        case localBatchOnly
    }

    public func forward(z1: Tensor, z2: Tensor, backend: any Backend) -> Output {
        forward(z1: z1, z2: z2, group: LocalCommunicator(), backend: backend)
    }

    /// The loss over the global batch of `group`'s ranks, each holding `B` rows per view; N = R·B.
    ///
    /// Invariance: each rank's pairs, scaled by the global N·D and summed over ranks. Variance and
    /// covariance: every rank all-gathers the branch's rows `[N, D]` and computes the same global mean,
    /// scatter, terms and G = ∂L/∂C; each rank then writes the gradient of its own rows only,
    /// `2/(N−1)·G·(z_b − z̄)` (the gathered backward: the gradient of a gathered row is needed only by its
    /// owner, and every rank has G, so nothing has to be scattered back). The ranks' parameter gradients
    /// sum to the single-process gradient on the global batch; the loss is the same on every rank.
    public func forward(z1: Tensor, z2: Tensor, group: any Communicator, scope: StatisticsScope = .globalBatch,
                        backend: any Backend) -> Output {
        precondition(z1.rank == 2 && z1.shape == z2.shape, "VICReg takes two [B, D] views, got \(z1.shape) and \(z2.shape)")
        let b = z1.shape[0], d = z1.shape[1]
        let gathers = group.worldSize > 1 && scope == .globalBatch
        let n = gathers ? b * group.worldSize : b
        precondition(n >= 2, "VICReg's unbiased variance needs at least 2 images per batch, got \(n)")
        let gradZ1 = Tensor(zeros: z1.shape), gradZ2 = Tensor(zeros: z2.shape)
        let localInvariance = invariance(z1: z1, z2: z2, gradZ1: gradZ1, gradZ2: gradZ2,
                                         globalCount: b * group.worldSize * d)
        var variance = 0.0, covariance = 0.0
        var globalRows: [Tensor] = []
        for (z, grad) in [(z1, gradZ1), (z2, gradZ2)] {
            var rows = z
            if gathers {
                rows = Tensor(zeros: [n, d])
                collectiveOrExit { try group.allGather(z, into: rows) }
            }
            globalRows.append(rows)
            let mean = Self.columnSums(rows).map { $0 / Double(n) }
            let branch = regularizer(scatter: Self.centredScatter(rows, mean: mean, backend: backend), count: n,
                                     backend: backend)
            Self.addRegularizerGradient(branch, z: z, mean: mean, count: n, into: grad, backend: backend)
            variance += branch.variance / 2
            covariance += branch.covariance
        }
        let invariance = collectiveOrExit { try group.allReduceSum(localInvariance) }
        let loss = invarianceWeight * invariance + varianceWeight * variance + covarianceWeight * covariance
        return Output(loss: loss, invariance: invariance, variance: variance, covariance: covariance,
                      gradZ1: gradZ1, gradZ2: gradZ2, globalZ1: globalRows[0], globalZ2: globalRows[1])
    }

    /// This rank's share of s(Z, Z') = Σ (z1 − z2)² / (N·D) over its rows (`globalCount` = N·D, all ranks'
    /// elements; the shares sum to s); overwrites the gradients with λ·∂/∂z1 = λ·2(z1 − z2)/(N·D) and its negation.
    public func invariance(z1: Tensor, z2: Tensor, gradZ1: Tensor, gradZ2: Tensor, globalCount: Int? = nil) -> Double {
        let n = z1.count, total = Double(globalCount ?? n)
        let a = z1.pointer, b = z2.pointer, ga = gradZ1.pointer, gb = gradZ2.pointer
        var sum = 0.0
        let scale = invarianceWeight * 2 / total
        for i in 0..<n {
            let diff = Double(a[i]) - Double(b[i])
            sum += diff * diff
            ga[i] = Float(scale * diff)
            gb[i] = Float(-scale * diff)
        }
        return sum / total
    }

    /// Σ_b z_b, per column, in double.
    public static func columnSums(_ z: Tensor) -> [Double] {
        let b = z.shape[0], d = z.count / b, p = z.pointer
        var sums = [Double](repeating: 0, count: d)
        for row in 0..<b { for j in 0..<d { sums[j] += Double(p[row * d + j]) } }
        return sums
    }

    /// Σ_b (z_b − mean)(z_b − mean)ᵀ over this tensor's rows, `D×D` row-major (a GEMM on the centred rows).
    public static func centredScatter(_ z: Tensor, mean: [Double], backend: any Backend) -> Tensor {
        let b = z.shape[0], d = z.count / b
        let centred = centredRows(z, mean: mean)
        let scatter = Tensor(zeros: [d, d])
        backend.gemm(transposeA: true, transposeB: false, m: d, n: d, k: b, alpha: 1, a: centred, b: centred,
                     beta: 0, c: scatter)
        return scatter
    }

    /// The branch's v(Z), c(Z) and G = ∂(μ·v(Z)/2 + ν·c(Z))/∂C from its global centred scatter `D×D` over
    /// `count` rows (host tensors; `backend` a CPU backend): `C = S/(N−1)`,
    /// `G_dd = −μ/2 · [sᵈ < 1] / (2·D·sᵈ)` with `sᵈ = sqrt(C_dd + ε)`, `G_ij = ν·2·C_ij/D` (i ≠ j), written by
    /// `Backend.covarianceRegularizer` (the op the device loss runs; rows over the backend's threads), whose
    /// per-row terms `branchTerms` adds up.
    public func regularizer(scatter: Tensor, count: Int, backend: any Backend) -> BranchRegularizer {
        let d = scatter.shape.first ?? 0
        precondition(scatter.shape == [d, d], "VICReg: the scatter matrix must be D×D, got \(scatter.shape)")
        precondition(count >= 2, "VICReg's unbiased variance needs at least 2 rows, got \(count)")
        precondition(backend.device == .cpu, "VICRegLoss works on host tensors; on a device use VICRegOnDevice")
        let gradient = Tensor(zeros: [d, d]), rowTerms = Tensor(zeros: [d, 2])
        backend.covarianceRegularizer(scatter: scatter, count: count, epsilon: epsilon, varianceWeight: varianceWeight,
                                      covarianceWeight: covarianceWeight, gradient: gradient, rowTerms: rowTerms)
        let terms = Self.branchTerms(rowTerms: rowTerms)
        return BranchRegularizer(variance: terms.variance, covariance: terms.covariance, gradCovariance: gradient)
    }

    /// v(Z) and c(Z) from `Backend.covarianceRegularizer`'s per-row terms `[D, 2]` (host tensor:
    /// `[relu(1 − s_d), Σ_{j≠d} C_dj²]`), summed in double in row order and divided by D.
    public static func branchTerms(rowTerms: Tensor) -> (variance: Double, covariance: Double) {
        let d = rowTerms.count / 2, terms = rowTerms.pointer
        var variance = 0.0, covariance = 0.0
        for row in 0..<d {
            variance += Double(terms[2 * row])
            covariance += Double(terms[2 * row + 1])
        }
        return (variance / Double(d), covariance / Double(d))
    }

    /// `grad[b] += scale · 2/(N−1) · G·(z_b − mean)` for this tensor's rows, N the global `count`.
    /// (`scale`: the distributed trainer's factor when it averages rather than sums gradients over ranks.)
    public static func addRegularizerGradient(_ branch: BranchRegularizer, z: Tensor, mean: [Double], count: Int,
                                              scale: Double = 1, into grad: Tensor, backend: any Backend) {
        let b = z.shape[0], d = z.count / b
        let centred = centredRows(z, mean: mean)
        backend.gemm(transposeA: false, transposeB: false, m: b, n: d, k: d,
                     alpha: Float(scale * 2 / Double(count - 1)), a: centred, b: branch.gradCovariance, beta: 1, c: grad)
    }

    /// z − mean, rounded to float once (the subtraction in double).
    static func centredRows(_ z: Tensor, mean: [Double]) -> Tensor {
        let b = z.shape[0], d = z.count / b
        precondition(mean.count == d, "VICReg: mean of \(mean.count) columns for \(z.shape)")
        let out = Tensor(zeros: [b, d]), p = z.pointer, q = out.pointer
        for row in 0..<b { for j in 0..<d { q[row * d + j] = Float(Double(p[row * d + j]) - mean[j]) } }
        return out
    }
}
