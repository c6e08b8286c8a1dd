import XCTest
@testable import Engine
@testable import Models

/// `LearningRateMultipliers` in SGD, LARS and AdamW: a parameter with multiplier m takes exactly the step
/// the same optimiser takes at m × the rate, and every other parameter the step at the rate itself.
final class LearningRateMultiplierTests: XCTestCase {
    let backend = CPUBackend(threads: 2)
    let multipliers = LearningRateMultipliers([("predictor.", 10)])

    /// Encoder and projector first, then the predictor, as BYOL's store; weights and biases in each.
    func makeStore() -> ParameterStore {
        let store = ParameterStore()
        for (name, shape, role) in [("encoder.weight", [6, 4], ParameterRole.weight), ("encoder.bias", [6], .bias),
                                    ("projector.0.weight", [3, 6], .weight), ("predictor.0.weight", [5, 3], .weight),
                                    ("predictor.0.bias", [5], .bias)] {
            _ = store.register(name, shape: shape, role: role, initializer: .uniform(bound: 0.5))
        }
        store.allocate(seed: 3)
        return store
    }

    /// Runs two steps of the optimiser `make` builds (the same gradients each time, different per element).
    func twoSteps(_ make: (ParameterStore) -> any Optimizer) -> ParameterStore {
        let store = makeStore()
        let optimizer = make(store)
        for step in 0..<2 {
            for i in 0..<store.count { store.gradients[flat: i] = Float((i * 7 + step) % 11) * 0.03 - 0.15 }
            optimizer.step()
        }
        return store
    }

    /// The store with multipliers must equal the slow store off the predictor and the fast one on it.
    func assertMultiplied(_ multiplied: ParameterStore, slow: ParameterStore, fast: ParameterStore,
                          file: StaticString = #filePath, line: UInt = #line) {
        for info in multiplied.parameters {
            let range = info.offset..<(info.offset + info.count)
            let got = Array(multiplied.values.array[range])
            let expected = Array((info.name.hasPrefix("predictor.") ? fast : slow).values.array[range])
            XCTAssertEqual(got, expected, info.name, file: file, line: line)
        }
        let predictor = multiplied.parameter(named: "predictor.0.weight")!.info
        let range = predictor.offset..<(predictor.offset + predictor.count)
        XCTAssertNotEqual(Array(multiplied.values.array[range]), Array(slow.values.array[range]),
                          "the multiplier must change the predictor's step", file: file, line: line)
    }

    func testSGDStepsThePredictorAtTheMultipliedRate() {
        func sgd(_ lr: Float, _ m: LearningRateMultipliers) -> (ParameterStore) -> any Optimizer {
            { SGD(store: $0, backend: self.backend, learningRate: lr, momentum: 0.9, weightDecay: 1e-3, multipliers: m) }
        }
        assertMultiplied(twoSteps(sgd(0.05, multipliers)), slow: twoSteps(sgd(0.05, .none)), fast: twoSteps(sgd(0.5, .none)))
    }

    /// LARS clips its trust ratio with each tensor's own rate (`min(r/lr, 1)`), so the fast tensors clip
    /// against 10× the rate, as solo-learn's LARS does with a parameter group's `lr`.
    func testLARSStepsAndClipsThePredictorAtTheMultipliedRate() {
        func lars(_ lr: Float, _ m: LearningRateMultipliers) -> (ParameterStore) -> any Optimizer {
            { LARS(store: $0, backend: self.backend, learningRate: lr, weightDecay: 1e-4, multipliers: m) }
        }
        assertMultiplied(twoSteps(lars(0.3, multipliers)), slow: twoSteps(lars(0.3, .none)), fast: twoSteps(lars(3, .none)))
    }

    func testAdamWStepsThePredictorAtTheMultipliedRate() {
        func adamw(_ lr: Float, _ m: LearningRateMultipliers) -> (ParameterStore) -> any Optimizer {
            { AdamW(store: $0, backend: self.backend, learningRate: lr, weightDecay: 0.05,
                    excludeBiasAndNormFromWeightDecay: true, multipliers: m) }
        }
        assertMultiplied(twoSteps(adamw(1e-3, multipliers)), slow: twoSteps(adamw(1e-3, .none)),
                         fast: twoSteps(adamw(1e-2, .none)))
    }

    /// Neighbouring tensors with equal settings merge into one range; a change of either setting cuts.
    func testRangesMergeNeighboursWithEqualSettings() {
        let store = makeStore()
        let byMultiplier = multipliers.ranges(of: store) { _ in 0 }
        XCTAssertEqual(byMultiplier.map(\.range), [0..<48, 48..<68])
        XCTAssertEqual(byMultiplier.map(\.multiplier), [1, 10])
        let byRoleToo = multipliers.ranges(of: store) { $0.role }
        XCTAssertEqual(byRoleToo.map(\.range), [0..<24, 24..<30, 30..<48, 48..<63, 63..<68])
        XCTAssertEqual(LearningRateMultipliers.none.multiplier(for: "predictor.0.weight"), 1)
        XCTAssertEqual(multipliers.multiplier(for: "projector.0.weight"), 1)
    }
}
