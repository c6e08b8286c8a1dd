import Engine
#if canImport(Glibc)
import Glibc
#endif

// Letters: N samples, F features, K classes (or labels, for multi-label data).

/// A linear classifier on frozen features, `logits = x·Wᵀ + b`: multinomial logistic regression
/// (softmax cross-entropy) for single-label data, one logistic regression per label (binary
/// cross-entropy) for multi-label data. Trained to convergence by full-batch L-BFGS on the objective
///
///     (1/N) Σᵢ loss(W xᵢ + b, yᵢ) + (λ/2)‖W‖²        (the bias is not decayed)
///
/// where `loss` is the cross-entropy over classes, or the sum over labels of each label's BCE. This is
/// scikit-learn's `LogisticRegression(C = 1/(N·λ))` (lbfgs, intercept not penalised): multinomial, or
/// one binary model per label.
struct LinearClassifier {
    let featureCount: Int
    let classCount: Int
    let multiLabel: Bool
    /// `[K, F]`.
    var weight: [Double]
    /// `[K]`.
    var bias: [Double]

    /// Logits `[N, K]` of `features` `[N, F]` (already standardised as the classifier was trained).
    func logits(_ features: Tensor, backend: any Backend) -> [Float] {
        let n = features.shape[0]
        let w = Tensor(shape: [classCount, featureCount], values: weight.map { Float($0) })
        let out = Tensor(zeros: [n, classCount])
        backend.gemm(transposeA: false, transposeB: true, m: n, n: classCount, k: featureCount, alpha: 1,
                     a: features, b: w, beta: 0, c: out)
        var result = out.array
        for i in 0..<n { for c in 0..<classCount { result[i * classCount + c] += Float(bias[c]) } }
        return result
    }

    /// Fits on `features` `[N, F]` with `labels` (`[N]` class indices, or `[N, K]` 0/1 flags), from zero.
    static func fit(features: Tensor, labels: [Int32], classCount: Int, multiLabel: Bool, weightDecay: Double,
                    solver: LBFGS, backend: any Backend) -> (classifier: LinearClassifier, result: LBFGS.Result) {
        let objective = LogisticObjective(features: features, labels: labels, classCount: classCount,
                                          multiLabel: multiLabel, weightDecay: weightDecay, backend: backend)
        let f = features.shape[1]
        let result = solver.minimize([Double](repeating: 0, count: classCount * (f + 1))) { objective.evaluate($0, gradient: &$1) }
        let classifier = LinearClassifier(featureCount: f, classCount: classCount, multiLabel: multiLabel,
                                          weight: Array(result.x[0..<(classCount * f)]),
                                          bias: Array(result.x[(classCount * f)...]))
        return (classifier, result)
    }
}

/// The probe's objective and its gradient, over parameters `[W (K·F), b (K)]`. The two products with
/// the features run as float GEMMs; everything per sample (softmax, losses, sums) is in double.
final class LogisticObjective {
    let features: Tensor
    let labels: [Int32]
    let classCount: Int
    let multiLabel: Bool
    let weightDecay: Double
    let backend: any Backend
    private let logits: Tensor
    private let gradLogits: Tensor
    private let weight: Tensor
    private let gradWeight: Tensor

    init(features: Tensor, labels: [Int32], classCount: Int, multiLabel: Bool, weightDecay: Double,
         backend: any Backend) {
        let n = features.shape[0], f = features.shape[1]
        precondition(labels.count == (multiLabel ? n * classCount : n), "\(labels.count) labels for \(n) samples")
        self.features = features
        self.labels = labels
        self.classCount = classCount
        self.multiLabel = multiLabel
        self.weightDecay = weightDecay
        self.backend = backend
        logits = Tensor(zeros: [n, classCount])
        gradLogits = Tensor(zeros: [n, classCount])
        weight = Tensor(zeros: [classCount, f])
        gradWeight = Tensor(zeros: [classCount, f])
    }

    /// The objective at `x`; writes its gradient into `gradient`.
    func evaluate(_ x: [Double], gradient: inout [Double]) -> Double {
        let n = features.shape[0], f = features.shape[1], k = classCount
        for i in 0..<(k * f) { weight.pointer[i] = Float(x[i]) }
        backend.gemm(transposeA: false, transposeB: true, m: n, n: k, k: f, alpha: 1, a: features, b: weight,
                     beta: 0, c: logits)
        var loss = 0.0
        var gradBias = [Double](repeating: 0, count: k)
        let z = logits.pointer, dz = gradLogits.pointer
        let scale = 1 / Double(n)
        var row = [Double](repeating: 0, count: k)
        for i in 0..<n {
            for c in 0..<k { row[c] = Double(z[i * k + c]) + x[k * f + c] }
            if multiLabel {
                for c in 0..<k {
                    let t = Double(labels[i * k + c]), v = row[c]
                    loss += max(v, 0) - v * t + log1p(exp(-abs(v)))
                    let g = (1 / (1 + exp(-v)) - t) * scale
                    dz[i * k + c] = Float(g)
                    gradBias[c] += g
                }
            } else {
                let top = row.max()!
                var sum = 0.0
                for c in 0..<k { row[c] = exp(row[c] - top); sum += row[c] }
                let y = Int(labels[i])
                loss += log(sum) - log(row[y])
                for c in 0..<k {
                    let g = (row[c] / sum - (c == y ? 1 : 0)) * scale
                    dz[i * k + c] = Float(g)
                    gradBias[c] += g
                }
            }
        }
        backend.gemm(transposeA: true, transposeB: false, m: k, n: f, k: n, alpha: 1, a: gradLogits, b: features,
                     beta: 0, c: gradWeight)
        var decay = 0.0
        for i in 0..<(k * f) {
            decay += x[i] * x[i]
            gradient[i] = Double(gradWeight.pointer[i]) + weightDecay * x[i]
        }
        for c in 0..<k { gradient[k * f + c] = gradBias[c] }
        return loss * scale + 0.5 * weightDecay * decay
    }
}

/// Per-feature standardisation `(x − mean) / std`, with the mean and (population) std of the data it
/// was fitted on, as scikit-learn's `StandardScaler`; a constant feature (std 0) is only centred.
struct FeatureStandardizer {
    let mean: [Double]
    let std: [Double]

    /// Mean and std of each column of `features` `[N, F]`, in double.
    init(fitting features: Tensor) {
        let n = features.shape[0], f = features.shape[1]
        var mean = [Double](repeating: 0, count: f), squares = [Double](repeating: 0, count: f)
        for i in 0..<n { for j in 0..<f { mean[j] += Double(features.pointer[i * f + j]) } }
        for j in 0..<f { mean[j] /= Double(max(n, 1)) }
        for i in 0..<n {
            for j in 0..<f { let d = Double(features.pointer[i * f + j]) - mean[j]; squares[j] += d * d }
        }
        self.mean = mean
        std = squares.map { let s = ($0 / Double(max(n, 1))).squareRoot(); return s > 0 ? s : 1 }
    }

    /// A standardised copy of `features` `[N, F]`.
    func apply(_ features: Tensor) -> Tensor {
        let n = features.shape[0], f = features.shape[1]
        precondition(f == mean.count, "standardiser fitted on \(mean.count) features, got \(f)")
        let out = Tensor(zeros: features.shape)
        for i in 0..<n {
            for j in 0..<f { out.pointer[i * f + j] = Float((Double(features.pointer[i * f + j]) - mean[j]) / std[j]) }
        }
        return out
    }
}
