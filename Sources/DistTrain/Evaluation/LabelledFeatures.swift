import Engine

/// Frozen-encoder features with their labels: `features` `[N, F]`, `labels` `[N, K]` (K =
/// `labelsPerSample`: 1 for a class index, -1 meaning unlabelled; the class count for 0/1 flags).
struct LabelledFeatures {
    let features: Tensor
    let labels: [Int32]
    let labelsPerSample: Int

    var count: Int { features.shape[0] }
    var featureCount: Int { features.shape[1] }

    /// The rows at `indices`, in that order.
    func rows(_ indices: [Int]) -> LabelledFeatures {
        let f = featureCount, k = labelsPerSample
        let out = Tensor(zeros: [indices.count, f])
        var labels: [Int32] = []
        labels.reserveCapacity(indices.count * k)
        for (slot, index) in indices.enumerated() {
            (out.pointer + slot * f).update(from: features.pointer + index * f, count: f)
            labels += self.labels[(index * k)..<((index + 1) * k)]
        }
        return LabelledFeatures(features: out, labels: labels, labelsPerSample: k)
    }

    /// The rows that have a label (single-label data marks unlabelled rows with -1).
    func labelled() -> LabelledFeatures {
        labelsPerSample > 1 || !labels.contains(-1) ? self : rows(labels.indices.filter { labels[$0] >= 0 })
    }

    /// `parts` one after another (same feature width and label layout).
    static func concatenated(_ parts: [LabelledFeatures]) -> LabelledFeatures {
        let f = parts[0].featureCount
        precondition(parts.allSatisfy { $0.featureCount == f && $0.labelsPerSample == parts[0].labelsPerSample },
                     "concatenating feature sets of different shapes")
        let out = Tensor(zeros: [parts.reduce(0) { $0 + $1.count }, f])
        var offset = 0
        for part in parts {
            (out.pointer + offset).update(from: part.features.pointer, count: part.count * f)
            offset += part.count * f
        }
        return LabelledFeatures(features: out, labels: parts.flatMap(\.labels), labelsPerSample: parts[0].labelsPerSample)
    }
}
