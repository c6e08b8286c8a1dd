#if canImport(Glibc)
import Glibc
#endif

/// The kind of labels a dataset has, which decides how predictions are scored (MedMNIST's task names).
enum ClassificationTask: String, Sendable {
    /// One class index per sample, more than two classes: softmax scores, argmax accuracy.
    case multiClass = "multi-class"
    /// One class index per sample, two classes: the positive (last) class's softmax score, threshold 0.5.
    case binary
    /// A 0/1 flag per label (ChestMNIST): sigmoid scores, each label its own binary problem.
    case multiLabel = "multi-label"

    /// The task of a dataset with `classCount` classes and `labelsPerSample` labels per sample.
    init(classCount: Int, labelsPerSample: Int) {
        self = labelsPerSample > 1 ? .multiLabel : classCount == 2 ? .binary : .multiClass
    }
}

/// Accuracy and AUC as MedMNIST's evaluator (`medmnist/evaluator.py`, getACC / getAUC) defines them:
///
/// | task | accuracy | AUC |
/// | --- | --- | --- |
/// | multi-class | argmax of the scores (first maximum on ties) equals the label | mean over classes c of AUC(label == c, score[:, c]) (one-vs-rest) |
/// | binary | score[:, 1] > 0.5 (strictly) equals the label | AUC(label, score[:, 1]) |
/// | multi-label | mean over labels of the accuracy of score[:, l] > 0.5 | mean over labels of AUC(label[:, l], score[:, l]) |
///
/// Scores are probabilities: softmax of the logits for single-label tasks, sigmoid for multi-label.
/// AUCs are scikit-learn's (`rocAUC`, ties by average rank).
///
/// A class or label whose test labels hold only one value has no AUC (scikit-learn ≥ 1.6 returns NaN
/// with a warning, older versions raise, and MedMNIST's mean then fails or is NaN). Here its entry in
/// `perLabelAUC` is nil, the mean `auc` is taken over the labels that have one, and `undefinedAUC`
/// names the others so reports can say so. On MedMNIST's own test splits every label has both
/// values, and the numbers equal MedMNIST's.
struct ClassificationMetrics: Sendable {
    let task: ClassificationTask
    /// Samples scored.
    let count: Int
    let accuracy: Double
    /// Mean AUC over the classes/labels where it is defined; nil when it is defined for none.
    let auc: Double?
    /// One AUC per class (multi-class), per label (multi-label), or the single binary AUC.
    let perLabelAUC: [Double?]

    /// Indices into `perLabelAUC` whose AUC is undefined (only one value among the labels).
    var undefinedAUC: [Int] { perLabelAUC.indices.filter { perLabelAUC[$0] == nil } }

    /// Scores `[N, K]` probabilities (row-major) against labels: `[N]` class indices for single-label
    /// tasks (K = class count), `[N, K]` 0/1 flags for multi-label.
    init(task: ClassificationTask, scores: [Double], labels: [Int32], classCount k: Int) {
        precondition(k >= 1 && scores.count % k == 0, "metrics: \(scores.count) scores for \(k) classes")
        let n = scores.count / k
        precondition(labels.count == (task == .multiLabel ? n * k : n),
                     "metrics: \(labels.count) labels for \(n) samples of task \(task.rawValue)")
        self.task = task
        count = n
        switch task {
        case .multiClass:
            var correct = 0
            for i in 0..<n {
                var best = 0
                for c in 1..<k where scores[i * k + c] > scores[i * k + best] { best = c }
                if best == Int(labels[i]) { correct += 1 }
            }
            accuracy = Double(correct) / Double(max(n, 1))
            perLabelAUC = (0..<k).map { c in
                rocAUC(positive: labels.map { Int($0) == c }, scores: (0..<n).map { scores[$0 * k + c] })
            }
        case .binary:
            precondition(k == 2, "binary metrics need two class scores per sample, got \(k)")
            let positive = (0..<n).map { scores[$0 * 2 + 1] }
            let correct = (0..<n).filter { (positive[$0] > 0.5) == (labels[$0] == 1) }.count
            accuracy = Double(correct) / Double(max(n, 1))
            perLabelAUC = [rocAUC(positive: labels.map { $0 == 1 }, scores: positive)]
        case .multiLabel:
            var accuracySum = 0.0
            var aucs: [Double?] = []
            for l in 0..<k {
                let truth = (0..<n).map { labels[$0 * k + l] == 1 }
                let column = (0..<n).map { scores[$0 * k + l] }
                accuracySum += Double((0..<n).filter { (column[$0] > 0.5) == truth[$0] }.count) / Double(max(n, 1))
                aucs.append(rocAUC(positive: truth, scores: column))
            }
            accuracy = accuracySum / Double(k)
            perLabelAUC = aucs
        }
        let defined = perLabelAUC.compactMap { $0 }
        auc = defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count)
    }

    /// Scores `[N, K]` logits: softmax for single-label tasks, sigmoid for multi-label, then `init`.
    init(task: ClassificationTask, logits: [Float], labels: [Int32], classCount k: Int) {
        self.init(task: task, scores: task == .multiLabel ? sigmoid(logits) : softmaxRows(logits, width: k),
                  labels: labels, classCount: k)
    }

    /// "acc 91.23%  AUC 0.9876", plus the labels without an AUC, by name.
    func summary(classNames: [String]) -> String {
        var text = "acc \(fixed(100 * accuracy, 2))%"
        if let auc { text += "  AUC \(fixed(auc, 4))" }
        let missing = undefinedAUC
        if !missing.isEmpty {
            let names = missing.map { task == .binary ? "the positive class" : $0 < classNames.count ? classNames[$0] : "\($0)" }
            text += "  (AUC over \(perLabelAUC.count - missing.count) of \(perLabelAUC.count)"
                + (task == .multiLabel ? " labels" : " classes") + "; undefined for \(names.joined(separator: ", ")): "
                + "only one value among the test labels)"
        }
        return text
    }
}

/// Row-wise softmax of `[N, width]` logits, in double precision.
func softmaxRows(_ logits: [Float], width: Int) -> [Double] {
    var out = [Double](repeating: 0, count: logits.count)
    var row = 0
    while row < logits.count {
        var top = -Double.infinity
        for j in 0..<width { top = max(top, Double(logits[row + j])) }
        var sum = 0.0
        for j in 0..<width { out[row + j] = exp(Double(logits[row + j]) - top); sum += out[row + j] }
        for j in 0..<width { out[row + j] /= sum }
        row += width
    }
    return out
}

/// Elementwise logistic sigmoid, in double precision.
func sigmoid(_ logits: [Float]) -> [Double] {
    logits.map { 1 / (1 + exp(-Double($0))) }
}
