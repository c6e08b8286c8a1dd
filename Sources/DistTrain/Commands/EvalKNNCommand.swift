/// `disttrain eval knn`: weighted kNN of a frozen encoder's features (the training images vote for
/// the test images); with `--random-init`, the random-encoder baseline.
struct EvalKNNCommand: Command {
    static let name = "knn"
    static let summary = "weighted k-nearest-neighbour accuracy of the frozen encoder's features"
    static let options: [Option] = EvaluationSetup.options + [
        .value("k", default: "200", "neighbours"),
        .value("temperature", default: "0.07", "temperature of the exp(similarity / T) vote weights"),
    ]
    static var help: String {
        helpText(command: "eval knn", summary: summary, usage: "disttrain eval knn (--checkpoint FILE | --random-init) [options]",
                 options: options, details: """
                 Features are the encoder's pooled outputs in evaluation mode, L2-normalised; each test image is
                 classified by the k most similar training images voting with weight exp(similarity / T)
                 (Wu et al. 2018; k 200, T 0.07 as solo-learn). Single-label datasets only.

                 Example (an encoder pretrained on STL-10, its kNN memory STL-10's train split, tested on CIFAR-10):
                   disttrain eval knn --checkpoint runs/stl/checkpoints/last.safetensors --dataset stl10 \\
                       --test-dataset cifar10 --label-map docs/label-maps/cifar10-to-stl10.json
                 """)
    }

    static func run(_ arguments: [String]) throws {
        let parsed = try ParsedArguments(arguments, options: options, command: "eval knn")
        let setup = try EvaluationSetup(parsed)
        guard setup.train.labelsPerSample == 1 else {
            throw UsageError("\(setup.train.name) is multi-label; weighted kNN votes for one class per image (use eval linear)")
        }
        var knn = WeightedKNN()
        knn.k = try parsed.int("k")!
        knn.temperature = try parsed.double("temperature")!
        guard knn.k >= 1, knn.temperature > 0 else { throw UsageError("--k must be at least 1 and --temperature positive") }
        let train = try setup.features(setup.train), test = try setup.testFeatures()
        let votes = knn.votes(train: train.features, trainLabels: train.labels, test: test.features,
                              classCount: setup.train.classCount, backend: setup.backend)
        let metrics = ClassificationMetrics(task: .multiClass, scores: votes, labels: test.labels,
                                            classCount: setup.train.classCount)
        print("knn: \(setup.headline)")
        print("knn (k \(knn.k), T \(knn.temperature)) on \(test.count) test images: top-1 \(fixed(100 * metrics.accuracy, 2))%")
        try setup.record([("knn_acc", metrics.accuracy)], command: "knn")
    }
}
