import Engine

/// A linear classifier on detached encoder features, with its own parameters and optimiser: the online
/// probe that tracks representation quality during pretraining (as solo-learn's online classifier),
/// and the model of offline linear evaluation.
///
/// Features `[B, F]` → logits `[B, K]`; cross-entropy against class labels, or, for multi-label data
/// (`labelsPerSample == K`, ChestMNIST), binary cross-entropy per label with accuracy counted per label
/// at threshold 0.5. Rows labelled −1 (STL-10's unlabeled images) are left out. Its gradients never
/// reach the encoder and its parameters are never all-reduced (rank 0 owns it).
public final class LinearProbe {
    public let store = ParameterStore()
    public let classifier: Linear
    public let optimizer: SGD
    /// True when every sample carries a 0/1 flag per class.
    public let multiLabel: Bool
    let backend: any Backend
    private var gradLogits: Tensor?

    public init(featureDimension: Int, classCount: Int, multiLabel: Bool = false, learningRate: Float = 0.1,
                momentum: Float = 0.9, weightDecay: Float = 0, seed: UInt64 = 0, backend: any Backend) {
        self.backend = backend
        self.multiLabel = multiLabel
        classifier = Linear("probe", inFeatures: featureDimension, outFeatures: classCount, store: store, backend: backend)
        store.allocate(seed: seed)
        optimizer = SGD(store: store, backend: backend, learningRate: learningRate, momentum: momentum,
                        weightDecay: weightDecay)
    }

    /// One SGD step on a batch (its labelled rows); returns the mean loss and the number of correct
    /// predictions (top-1 per sample, or per label for multi-label data), and how many were scored.
    @discardableResult
    public func trainStep(features: Tensor, labels: [Int32]) -> (loss: Double, correct: Int, scored: Int) {
        guard let (rows, kept) = labelledRows(features, labels) else { return (0, 0, 0) }
        let logits = classifier.forward(rows)
        if gradLogits?.shape != logits.shape { gradLogits = backend.zeros(logits.shape) }
        let loss = classificationLoss(logits: logits, labels: kept, multiLabel: multiLabel, gradLogits: gradLogits!, backend: backend)
        let (correct, scored) = score(logits, kept)
        store.zeroGradients()
        _ = classifier.backward(gradLogits!)
        optimizer.step()
        return (loss, correct, scored)
    }

    /// Correct predictions for `features` and how many were scored (samples, or sample-labels).
    public func correctPredictions(features: Tensor, labels: [Int32]) -> (correct: Int, scored: Int) {
        guard let (rows, kept) = labelledRows(features, labels) else { return (0, 0) }
        return score(classifier.forward(rows), kept)
    }

    private func score(_ logits: Tensor, _ labels: [Int32]) -> (Int, Int) {
        scorePredictions(logits: logits, labels: labels, multiLabel: multiLabel)
    }

    /// The rows whose label is not −1, with their labels; nil when none is labelled.
    private func labelledRows(_ features: Tensor, _ labels: [Int32]) -> (Tensor, [Int32])? {
        let n = features.shape[0], f = features.count / n, k = labels.count / n
        let keep = (0..<n).filter { labels[$0 * k] >= 0 }
        if keep.count == n { return (features, labels) }
        guard !keep.isEmpty else { return nil }
        let rows = Tensor(zeros: [keep.count, f])
        var kept: [Int32] = []
        for (out, row) in keep.enumerated() {
            Tensor(view: rows.storage, offset: out * f, shape: [f])
                .assign(from: Tensor(view: features.storage, offset: features.offset + row * f, shape: [f]))
            kept += labels[(row * k)..<((row + 1) * k)]
        }
        return (rows, kept)
    }
}

/// Correct predictions and how many were scored: top-1 per row for class labels `[N]`, or per entry at
/// threshold 0.5 (logit 0) for multi-label 0/1 flags `[N, K]`.
public func scorePredictions(logits: Tensor, labels: [Int32], multiLabel: Bool) -> (correct: Int, scored: Int) {
    guard multiLabel else { return (countCorrect(logits: logits, labels: labels), labels.count) }
    var correct = 0
    for i in 0..<labels.count where (logits.pointer[i] > 0) == (labels[i] > 0) { correct += 1 }
    return (correct, labels.count)
}

/// Rows of `logits [N, K]` whose largest entry is at the label.
public func countCorrect(logits: Tensor, labels: [Int32]) -> Int {
    let k = logits.shape[1]
    var correct = 0
    for row in 0..<labels.count {
        let r = logits.pointer + row * k
        var best = 0
        for j in 1..<k where r[j] > r[best] { best = j }
        if best == Int(labels[row]) { correct += 1 }
    }
    return correct
}
