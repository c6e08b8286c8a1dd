import Engine
import Foundation
import XCTest
@testable import DistTrain

/// The offline probe's classifier against scikit-learn's LogisticRegression (`scripts/make_golden_probe.py`),
/// its gradient against finite differences, and L-BFGS on its own.
final class LogisticRegressionTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let name: String
            let multilabel: Bool
            let classes: Int
            let features: Int
            let weight_decay: Double
            let train_x: [Double], train_y: [Int], test_x: [Double], test_y: [Int]
            let weight: [Double], bias: [Double], test_prob: [Double]
        }
        let cases: [Case]
    }

    func tensor(_ values: [Double], columns: Int) -> Tensor {
        Tensor(shape: [values.count / columns, columns], values: values.map { Float($0) })
    }

    /// Standardise, fit by L-BFGS, predict: the weights and the test probabilities equal sklearn's optimum.
    /// The solver stops at a gradient of 1e-6 and the objective's products are float GEMMs, so the
    /// weights sit within about (gradient)/λ of the optimum; measured: 7e-6 (λ 1e-2) and 7e-5 (λ 1e-4) of
    /// the largest weight. Tolerances 3e-5 and 5e-4.
    func testMatchesScikitLearnLogisticRegression() throws {
        let fixture = try loadJSONFixture("probe", as: Fixture.self)
        XCTAssertEqual(fixture.cases.count, 3)
        let backend = CPUBackend(threads: 2)
        for c in fixture.cases {
            let train = tensor(c.train_x, columns: c.features), test = tensor(c.test_x, columns: c.features)
            let standardizer = FeatureStandardizer(fitting: train)
            var solver = LBFGS()
            solver.maxIterations = 5000
            let (classifier, result) = LinearClassifier.fit(features: standardizer.apply(train), labels: c.train_y.map { Int32($0) },
                                                            classCount: c.classes, multiLabel: c.multilabel,
                                                            weightDecay: c.weight_decay, solver: solver, backend: backend)
            XCTAssertTrue(result.converged, "\(c.name): \(result.reason) after \(result.iterations) iterations")
            let scale = c.weight.map(abs).max()!
            let tolerance = c.weight_decay >= 1e-2 ? 3e-5 : 5e-4
            for (ours, theirs) in zip(classifier.weight, c.weight) {
                XCTAssertEqual(ours, theirs, accuracy: tolerance * scale, c.name)
            }
            let logits = classifier.logits(standardizer.apply(test), backend: backend)
            let probabilities = c.multilabel ? sigmoid(logits) : softmaxRows(logits, width: c.classes)
            for (ours, theirs) in zip(probabilities, c.test_prob) { XCTAssertEqual(ours, theirs, accuracy: tolerance, c.name) }
            if c.multilabel {  // binary models: the intercepts are identified too
                for (ours, theirs) in zip(classifier.bias, c.bias) { XCTAssertEqual(ours, theirs, accuracy: tolerance * scale, c.name) }
            }
        }
    }

    /// The analytic gradient against central differences of the objective, both losses, with decay.
    func testGradientMatchesFiniteDifferences() {
        var random = RandomGenerator(seed: 3)
        let n = 9, f = 4, k = 3
        let x = Tensor(shape: [n, f], values: (0..<(n * f)).map { _ in Float(random.normal()) })
        for multiLabel in [false, true] {
            let labels: [Int32] = multiLabel ? (0..<(n * k)).map { _ in Int32(random.integer(below: 2)) }
                                             : (0..<n).map { _ in Int32(random.integer(below: k)) }
            let objective = LogisticObjective(features: x, labels: labels, classCount: k, multiLabel: multiLabel,
                                              weightDecay: 0.3, backend: CPUBackend(threads: 1))
            let point = (0..<(k * (f + 1))).map { _ in random.normal() }
            var gradient = point, scratch = point
            _ = objective.evaluate(point, gradient: &gradient)
            for i in point.indices {
                var plus = point, minus = point
                plus[i] += 1e-3
                minus[i] -= 1e-3
                let numeric = (objective.evaluate(plus, gradient: &scratch) - objective.evaluate(minus, gradient: &scratch)) / 2e-3
                XCTAssertEqual(gradient[i], numeric, accuracy: 1e-4 * max(1, abs(numeric)), "multiLabel \(multiLabel), parameter \(i)")
            }
        }
    }

    /// L-BFGS alone: the Rosenbrock valley's minimum (1, 1) from (−1.2, 1), the classic hard start.
    func testLBFGSMinimisesRosenbrock() {
        var solver = LBFGS()
        solver.gradientTolerance = 1e-10
        let result = solver.minimize([-1.2, 1]) { x, g in
            let a = 1 - x[0], b = x[1] - x[0] * x[0]
            g[0] = -2 * a - 400 * x[0] * b
            g[1] = 200 * b
            return a * a + 100 * b * b
        }
        XCTAssertTrue(result.converged, result.reason)
        XCTAssertEqual(result.x[0], 1, accuracy: 1e-6)
        XCTAssertEqual(result.x[1], 1, accuracy: 1e-6)
        XCTAssertLessThan(result.iterations, 100)
    }

    func testStandardizerCentresAndScalesLikeStandardScaler() {
        let x = Tensor(shape: [4, 2], values: [1, 5, 3, 5, 5, 5, 7, 5])
        let s = FeatureStandardizer(fitting: x)
        XCTAssertEqual(s.mean, [4, 5])
        XCTAssertEqual(s.std[0], 5.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(s.std[1], 1)  // constant column: only centred
        XCTAssertEqual(s.apply(x).array.enumerated().filter { $0.offset % 2 == 1 }.map(\.element), [0, 0, 0, 0])
    }
}
