import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Binary cross-entropy on logits for multi-label targets (PyTorch's `F.binary_cross_entropy_with_logits`,
/// reduction "mean"): over logits x and targets y in [0, 1], both `[N, K]`,
///
///     L = 1/(N·K) Σ [max(x, 0) − x·y + log(1 + exp(−|x|))],    ∂L/∂x = (σ(x) − y) / (N·K)
///
/// (the stable form of −[y·log σ(x) + (1 − y)·log(1 − σ(x))]). For single-label classes use the backend's
/// `softmaxCrossEntropy`. In double.
public struct BinaryCrossEntropyWithLogits: Sendable {
    public init() {}

    /// The mean loss; overwrites `gradLogits` with ∂L/∂logits.
    public func forward(logits: Tensor, targets: Tensor, gradLogits: Tensor) -> Double {
        precondition(logits.count == targets.count && logits.count == gradLogits.count,
                     "BCE with logits: logits \(logits.shape), targets \(targets.shape), gradient \(gradLogits.shape)")
        let n = logits.count
        let x = logits.pointer, y = targets.pointer, g = gradLogits.pointer
        var total = 0.0
        for i in 0..<n {
            let xi = Double(x[i]), yi = Double(y[i])
            total += max(xi, 0) - xi * yi + log1p(exp(-abs(xi)))
            let sigmoid = xi >= 0 ? 1 / (1 + exp(-xi)) : exp(xi) / (1 + exp(xi))
            g[i] = Float((sigmoid - yi) / Double(n))
        }
        return total / Double(n)
    }
}

/// The classification loss of the supervised baseline, fine-tuning and the online probe: softmax
/// cross-entropy against class indices (`labels` `[N]`), or, for multi-label data, binary
/// cross-entropy per label against 0/1 flags (`labels` `[N, K]`). Returns the mean loss and
/// overwrites `gradLogits` (`[N, K]`, like `logits`) with ∂loss/∂logits.
public func classificationLoss(logits: Tensor, labels: [Int32], multiLabel: Bool, gradLogits: Tensor,
                               backend: any Backend) -> Double {
    guard multiLabel else { return backend.softmaxCrossEntropy(logits: logits, labels: labels, gradLogits: gradLogits) }
    return BinaryCrossEntropyWithLogits().forward(logits: logits, targets: Tensor(shape: logits.shape, values: labels.map(Float.init)),
                                                  gradLogits: gradLogits)
}
