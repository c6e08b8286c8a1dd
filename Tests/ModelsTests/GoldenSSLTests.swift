import Foundation
import XCTest
@testable import Engine
@testable import Models

/// The self-supervised losses and the LARS / AdamW optimisers against PyTorch, one small case at a time
/// (fixture `Fixtures/ssl_ops.safetensors` from scripts/make_golden_ssl.py: float64 reference stored as
/// float32; scripts/README.md lists the cases). Norm-wise relative error ≤ 1e-5 for every loss value,
/// input gradient and optimiser state; PyTorch's own float32 run lands ≤ 1.8e-7 from the reference.
final class GoldenSSLTests: XCTestCase {
    let tolerance = 1e-5
    let backend = CPUBackend(threads: 2)

    func testNTXent() throws {
        let golden = try GoldenCase("ntxent", fixture: "ssl_ops")
        let loss = NTXentLoss(temperature: try golden.double("temperature"))
        let out = loss.forward(z1: try golden.tensor("z1"), z2: try golden.tensor("z2"), backend: backend)
        try assertScalar(out.loss, golden, "loss")
        assertClose(out.gradZ1, try golden.tensor("grad_z1"), "ntxent grad_z1")
        assertClose(out.gradZ2, try golden.tensor("grad_z2"), "ntxent grad_z2")
        golden.assertEveryTensorRead()
    }

    func testVICReg() throws {
        let golden = try GoldenCase("vicreg", fixture: "ssl_ops")
        let loss = VICRegLoss(invarianceWeight: try golden.double("invariance_weight"),
                              varianceWeight: try golden.double("variance_weight"),
                              covarianceWeight: try golden.double("covariance_weight"),
                              epsilon: try golden.double("epsilon"))
        let out = loss.forward(z1: try golden.tensor("z1"), z2: try golden.tensor("z2"), backend: backend)
        try assertScalar(out.loss, golden, "loss")
        try assertScalar(out.invariance, golden, "invariance")
        try assertScalar(out.variance, golden, "variance")
        try assertScalar(out.covariance, golden, "covariance")
        assertClose(out.gradZ1, try golden.tensor("grad_z1"), "vicreg grad_z1")
        assertClose(out.gradZ2, try golden.tensor("grad_z2"), "vicreg grad_z2")
        golden.assertEveryTensorRead()
    }

    func testBYOLLoss() throws {
        let golden = try GoldenCase("byol", fixture: "ssl_ops")
        let out = BYOLLoss().forward(p1: try golden.tensor("p1"), p2: try golden.tensor("p2"),
                                     target1: try golden.tensor("target1"), target2: try golden.tensor("target2"))
        try assertScalar(out.loss, golden, "loss")
        assertClose(out.gradP1, try golden.tensor("grad_p1"), "byol grad_p1")
        assertClose(out.gradP2, try golden.tensor("grad_p2"), "byol grad_p2")
        golden.assertEveryTensorRead()
    }

    /// solo-learn's symmetric MoCo v2 loss: each view's queries against the other view's keys and that
    /// view's queue, averaged (`MoCoV2.trainStep` calls the loss so, with normalizer 2B each).
    func testMoCoV2Loss() throws {
        let golden = try GoldenCase("mocov2", fixture: "ssl_ops")
        let loss = MoCoLoss(temperature: try golden.double("temperature"))
        let queue = try golden.tensor("queue"), b = try golden.int("B"), d = try golden.int("D"), k = try golden.int("K")
        let queue1 = Tensor(view: queue.storage, offset: 0, shape: [k, d])
        let queue2 = Tensor(view: queue.storage, offset: k * d, shape: [k, d])
        let k1 = MoCoLoss.normalized(try golden.tensor("k1"), backend: backend)
        let k2 = MoCoLoss.normalized(try golden.tensor("k2"), backend: backend)
        let first = loss.forward(queries: try golden.tensor("q1"), normalizedKeys: k2, queue: queue2, normalizer: 2 * b,
                                 backend: backend)
        let second = loss.forward(queries: try golden.tensor("q2"), normalizedKeys: k1, queue: queue1, normalizer: 2 * b,
                                  backend: backend)
        try assertScalar(first.loss + second.loss, golden, "loss")
        assertClose(first.gradQueries, try golden.tensor("grad_q1"), "mocov2 grad_q1")
        assertClose(second.gradQueries, try golden.tensor("grad_q2"), "mocov2 grad_q2")
        golden.assertEveryTensorRead()
    }

    func testBinaryCrossEntropyWithLogits() throws {
        let golden = try GoldenCase("bce_with_logits", fixture: "ssl_ops")
        let logits = try golden.tensor("logits")
        let grad = Tensor(zeros: logits.shape)
        let loss = BinaryCrossEntropyWithLogits().forward(logits: logits, targets: try golden.tensor("targets"),
                                                           gradLogits: grad)
        try assertScalar(loss, golden, "loss")
        assertClose(grad, try golden.tensor("grad_logits"), "bce grad_logits")
        golden.assertEveryTensorRead()
    }

    func testEmbeddingStd() throws {
        let golden = try GoldenCase("embedding_std", fixture: "ssl_ops")
        try assertScalar(EmbeddingStd.of(try golden.tensor("z")), golden, "std")
        golden.assertEveryTensorRead()
    }

    /// Three LARS steps on one tensor of each role, with and without clip_lr. Besides the parameters,
    /// each step's *update* `p_i − p_{i−1}` and the momentum buffer are compared: the parameters are
    /// ~0.5-1 and the updates much smaller, so the update shows a wrong trust ratio or weight-decay term
    /// far more clearly. (The update's floor is the stored parameters' float32 rounding over |update|:
    /// we measure ≤ 1.1e-5 over both optimisers.)
    func testLARS() throws {
        for name in ["lars", "lars_noclip"] {
            let golden = try GoldenCase(name, fixture: "ssl_ops")
            XCTAssertEqual(try golden.bool("exclude_bias_n_norm"), true)
            let store = try optimizerStore(golden)
            let lars = LARS(store: store, backend: backend, learningRate: Float(try golden.double("lr")),
                            momentum: Float(try golden.double("momentum")),
                            weightDecay: Float(try golden.double("weight_decay")),
                            trustCoefficient: Float(try golden.double("eta")), clipLearningRate: try golden.bool("clip_lr"),
                            excludeBiasAndNorm: true, epsilon: Float(try golden.double("eps")))
            try runOptimizer(golden, store: store, state: ["momentum_buffer": lars.velocity]) { lars.step() }
        }
    }

    /// Three AdamW steps, weight decay on every tensor (PyTorch's default) and with biases/BN excluded;
    /// parameters, updates and both moment estimates. (The second moment is what caught 1 − β2 formed
    /// in float: 1.3e-5 off; the parameters alone did not show it.)
    func testAdamW() throws {
        for name in ["adamw", "adamw_exclude"] {
            let golden = try GoldenCase(name, fixture: "ssl_ops")
            let store = try optimizerStore(golden)
            let adamw = AdamW(store: store, backend: backend, learningRate: Float(try golden.double("lr")),
                              beta1: try golden.double("beta1"), beta2: try golden.double("beta2"),
                              epsilon: Float(try golden.double("eps")), weightDecay: Float(try golden.double("weight_decay")),
                              excludeBiasAndNormFromWeightDecay: try golden.bool("exclude"))
            try runOptimizer(golden, store: store,
                             state: ["exp_avg": adamw.firstMoment, "exp_avg_sq": adamw.secondMoment]) { adamw.step() }
            XCTAssertEqual(adamw.stepCount, try golden.int("steps"))
        }
    }

    func testEveryFixtureCaseIsCovered() throws {
        let file = try GoldenCase.file("ssl_ops")
        let listed = try JSONSerialization.jsonObject(with: Data((file.metadata["cases"] ?? "[]").utf8)) as? [String]
        let covered = ["ntxent", "vicreg", "byol", "mocov2", "bce_with_logits", "embedding_std", "lars", "lars_noclip", "adamw",
                       "adamw_exclude"]
        XCTAssertEqual((listed ?? []).sorted(), covered.sorted(), "ssl_ops.safetensors cases vs the cases GoldenSSLTests runs")
    }

    // MARK: Helpers

    /// A store with the case's tensors (PyTorch shapes, element order as stored) and roles, at `param_0`.
    func optimizerStore(_ golden: GoldenCase) throws -> ParameterStore {
        let names: [String] = try golden.value("tensors")
        let roles: [String: String] = try golden.value("roles")
        let store = ParameterStore()
        for name in names {
            let start = try golden.tensor("param_0." + name)
            _ = store.register(name, shape: start.shape, role: ParameterRole(rawValue: roles[name]!)!, initializer: .zeros)
        }
        store.allocate(seed: 0)
        for name in names { store.parameter(named: name)!.value.assign(from: try golden.tensor("param_0." + name)) }
        return store
    }

    /// Runs the case's steps; after each, compares the parameters, their update and the optimiser state
    /// `state` (PyTorch's state name → our flat buffer in the parameters' layout).
    func runOptimizer(_ golden: GoldenCase, store: ParameterStore, state: [String: Tensor], step: () -> Void) throws {
        let names: [String] = try golden.value("tensors")
        var previous = try names.map { try golden.tensor("param_0." + $0).array.map(Double.init) }
        for i in 1...(try golden.int("steps")) {
            for name in names { store.parameter(named: name)!.gradient.assign(from: try golden.tensor("grad_\(i).\(name)")) }
            let before = names.map { store.parameter(named: $0)!.value.array }
            step()
            for (t, name) in names.enumerated() {
                let value = store.parameter(named: name)!.value
                let reference = try golden.tensor("param_\(i).\(name)")
                assertClose(value, reference, "\(golden.name) param_\(i).\(name)")
                let update = zip(value.array, before[t]).map { Float(Double($0) - Double($1)) }
                let referenceUpdate = zip(reference.array, previous[t]).map { Double($0) - $1 }
                // The update's own floor is the parameters' float32 rounding (~6e-8 of |p|) over |update|.
                XCTAssertLessThan(relativeError(update, referenceUpdate), 5e-5, "\(golden.name) update \(i) of \(name)")
                previous[t] = reference.array.map(Double.init)
                let info = store.parameters.first { $0.name == name }!
                for (key, buffer) in state {
                    let ours = Tensor(view: buffer.storage, offset: info.offset, shape: info.shape)
                    assertClose(ours, try golden.tensor("\(key)_\(i).\(name)"), "\(golden.name) \(key)_\(i).\(name)")
                }
            }
        }
        golden.assertEveryTensorRead()
    }

    func assertScalar(_ ours: Double, _ golden: GoldenCase, _ tensor: String,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = Double(try golden.tensor(tensor)[flat: 0])
        XCTAssertLessThan(abs(ours - reference) / max(abs(reference), 1e-30), tolerance,
                          "\(golden.name) \(tensor): \(ours) vs \(reference)", file: file, line: line)
    }

    func assertClose(_ ours: Tensor, _ reference: Tensor, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.shape, reference.shape, "\(what): shape", file: file, line: line)
        guard ours.count == reference.count else { return }
        XCTAssertLessThan(relativeError(ours.array, reference.array.map(Double.init)), tolerance, what, file: file, line: line)
    }
}
