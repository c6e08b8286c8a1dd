import Engine
import Foundation
import XCTest
@testable import DistTrain

/// Accuracy and AUC against MedMNIST's evaluator run by scikit-learn (`scripts/make_golden_metrics.py`).
final class MetricsTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let name: String
            let task: String
            let count: Int
            let classes: Int
            let scores: [Double]
            let labels: [Int]
            let accuracy: Double
            let auc_medmnist: Double?
            let auc_defined_mean: Double?
            let per_label_auc: [Double?]
        }
        let sklearn: String
        let cases: [Case]
    }

    /// Every case (ties, exact 0.5 scores, a class absent from the labels, all-0 and all-1 labels):
    /// accuracy, every per-label AUC and the mean equal sklearn's to rounding.
    func testMatchesMedMNISTEvaluatorWithScikitLearn() throws {
        let fixture = try loadJSONFixture("metrics", as: Fixture.self)
        XCTAssertEqual(fixture.cases.count, 6)
        for c in fixture.cases {
            let task = try XCTUnwrap(ClassificationTask(rawValue: c.task), c.task)
            let metrics = ClassificationMetrics(task: task, scores: c.scores, labels: c.labels.map { Int32($0) },
                                                classCount: c.classes)
            XCTAssertEqual(metrics.count, c.count, c.name)
            XCTAssertEqual(metrics.accuracy, c.accuracy, accuracy: 1e-12, c.name)
            XCTAssertEqual(metrics.perLabelAUC.count, c.per_label_auc.count, c.name)
            for (ours, theirs) in zip(metrics.perLabelAUC, c.per_label_auc) {
                XCTAssertEqual(ours == nil, theirs == nil, "\(c.name): defined AUC differs: \(metrics.perLabelAUC)")
                if let ours, let theirs { XCTAssertEqual(ours, theirs, accuracy: 1e-12, c.name) }
            }
            XCTAssertEqual(metrics.auc == nil, c.auc_defined_mean == nil, c.name)
            if let auc = metrics.auc, let want = c.auc_defined_mean { XCTAssertEqual(auc, want, accuracy: 1e-12, c.name) }
            // Where MedMNIST's mean exists (every label defined), it is the same number.
            if let want = c.auc_medmnist { XCTAssertEqual(try XCTUnwrap(metrics.auc), want, accuracy: 1e-12, c.name) }
        }
    }

    /// The rank formula against counting every positive/negative pair (ties 1/2), on heavily tied scores.
    func testROCAUCEqualsPairCounting() {
        var random = RandomGenerator(seed: 11)
        for trial in 0..<20 {
            let n = 5 + trial * 7
            let scores = (0..<n).map { _ in Double(random.integer(below: 6)) / 5 }
            let positive = (0..<n).map { _ in random.integer(below: 3) == 0 }
            var wins = 0.0, pairs = 0.0
            for i in 0..<n where positive[i] {
                for j in 0..<n where !positive[j] {
                    pairs += 1
                    wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0
                }
            }
            let auc = rocAUC(positive: positive, scores: scores)
            if pairs == 0 { XCTAssertNil(auc); continue }
            XCTAssertEqual(try XCTUnwrap(auc), wins / pairs, accuracy: 1e-12, "trial \(trial)")
        }
        XCTAssertEqual(rocAUC(positive: [false, true, false, true], scores: [0.1, 0.9, 0.2, 0.8]), 1)
        XCTAssertEqual(rocAUC(positive: [false, true], scores: [0.3, 0.3]), 0.5)
        XCTAssertNil(rocAUC(positive: [true, true], scores: [0.1, 0.2]))
    }

    /// Logits go through softmax (single-label) or sigmoid (multi-label) before scoring.
    func testLogitsAreTurnedIntoProbabilities() {
        // Binary: logits (0, 0) give p = 0.5, not > 0.5, so class 0 is predicted; (0, 1e-3) predicts 1.
        let binary = ClassificationMetrics(task: .binary, logits: [0, 0, 0, 1e-3], labels: [0, 1], classCount: 2)
        XCTAssertEqual(binary.accuracy, 1)
        // Multi-label: logit 0 is sigmoid 0.5, predicted negative.
        let multi = ClassificationMetrics(task: .multiLabel, logits: [0, 2, -1, 3], labels: [0, 1, 1, 1], classCount: 2)
        XCTAssertEqual(multi.accuracy, (1.0 + 0.5) / 2)
        XCTAssertEqual(softmaxRows([1000, 1000, 0, 0], width: 2), [0.5, 0.5, 0.5, 0.5])
    }

    func testSummaryNamesLabelsWithoutAUC() {
        let metrics = ClassificationMetrics(task: .multiLabel, scores: [0.9, 0.2, 0.1, 0.7, 0.6, 0.3],
                                            labels: [1, 0, 0, 0, 1, 0], classCount: 2)
        XCTAssertEqual(metrics.undefinedAUC, [1])
        let text = metrics.summary(classNames: ["effusion", "hernia"])
        XCTAssertTrue(text.contains("AUC over 1 of 2 labels; undefined for hernia"), text)
        XCTAssertEqual(ClassificationTask(classCount: 2, labelsPerSample: 1), .binary)
        XCTAssertEqual(ClassificationTask(classCount: 14, labelsPerSample: 14), .multiLabel)
        XCTAssertEqual(ClassificationTask(classCount: 10, labelsPerSample: 1), .multiClass)
    }
}
