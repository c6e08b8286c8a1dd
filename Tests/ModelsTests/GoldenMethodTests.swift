import Foundation
import XCTest
@testable import Engine
@testable import Models

/// One training step of each self-supervised method against PyTorch (fixtures `ssl_<method>.safetensors`
/// from scripts/make_golden_ssl.py, computed in float64): a width-1/16 ResNet-18 (CIFAR stem) and narrow
/// heads, two views of 4 images 16x16x3, forwarded per view as solo-learn does. Compared: the loss and
/// its terms, the collapse monitor, view 1's features, every parameter gradient, the BN running statistics
/// after the two forwards and, for BYOL, the target network after a LARS step and the EMA update, for MoCo
/// v2 the queues after the step's keys went in and the momentum network's BN statistics: each within
/// max(1e-4, 2 × PyTorch's own float32 error) norm-wise.
///
/// Gradients that are exactly zero in exact arithmetic (a bias followed by batch norm, VICReg's last bias:
/// the fixture lists them) have no meaningful relative error; they are bounded by 1e-5 of their weight's
/// gradient instead.
final class GoldenMethodTests: XCTestCase {
    let backend = CPUBackend(threads: 2)

    func testSimCLRStep() throws {
        let golden = try GoldenResNetTests.fixture("ssl_simclr")
        let heads = try Heads(golden)
        let method = SimCLR(encoder: try encoderConfig(golden), temperature: Double(golden.metadata["temperature"]!)!,
                            projectorHiddenDimension: heads.projector.hidden, projectorOutputDimension: heads.projector.output,
                            projectorBatchNorm: heads.projector.batchNorm, backend: backend)
        XCTAssertEqual(heads.projector.hiddenLayers, 1)
        try checkStep(method, golden)
    }

    func testVICRegStep() throws {
        let golden = try GoldenResNetTests.fixture("ssl_vicreg")
        let heads = try Heads(golden)
        XCTAssertTrue(heads.projector.batchNorm)
        let meta = golden.metadata
        let method = VICReg(encoder: try encoderConfig(golden), projectorHiddenDimension: heads.projector.hidden,
                            projectorOutputDimension: heads.projector.output,
                            projectorHiddenLayers: heads.projector.hiddenLayers,
                            invarianceWeight: Double(meta["invariance_weight"]!)!,
                            varianceWeight: Double(meta["variance_weight"]!)!,
                            covarianceWeight: Double(meta["covariance_weight"]!)!, backend: backend)
        try checkStep(method, golden)
    }

    func testBYOLStepLARSAndTargetUpdate() throws {
        let golden = try GoldenResNetTests.fixture("ssl_byol")
        let heads = try Heads(golden)
        let predictor = try XCTUnwrap(heads.predictor)
        XCTAssertEqual(predictor.output, heads.projector.output)
        let meta = golden.metadata
        let method = BYOL(encoder: try encoderConfig(golden), projectorHiddenDimension: heads.projector.hidden,
                          projectorOutputDimension: heads.projector.output, predictorHiddenDimension: predictor.hidden,
                          tauBase: Double(meta["tau_base"]!)!, backend: backend)
        let tolerance = try checkStep(method, golden)

        // The step the fixture took: LARS on every online parameter, then the EMA for step k of K.
        let lars = LARS(store: method.store, backend: backend, learningRate: Float(meta["lars_lr"]!)!,
                        momentum: Float(meta["lars_momentum"]!)!, weightDecay: Float(meta["lars_weight_decay"]!)!,
                        trustCoefficient: Float(meta["lars_eta"]!)!, clipLearningRate: meta["lars_clip_lr"] == "True")
        lars.step()
        method.afterOptimizerStep(step: Int(meta["step"]!)!, totalSteps: Int(meta["total_steps"]!)!)
        XCTAssertEqual(method.tau, Double(meta["tau"]!)!, accuracy: 1e-12)
        let zeroGradients = try JSONSerialization.jsonObject(with: Data(meta["zero_gradient_tensors"]!.utf8)) as! [String]
        for info in method.targetStore.parameters {
            let ours = torchLayout(method.targetStore.parameter(named: info.name)!.value, info)
            let reference = try golden.tensor("target." + info.name)
            assertClose(ours, reference, "target.\(info.name)", tolerance)
            // The target moved by (1 − τ) × the online LARS step: compare that change on its own (except
            // where the gradient, hence the plain-SGD step of an excluded bias, vanishes).
            if zeroGradients.contains("grad." + info.name) { continue }
            let before = try golden.tensor(info.name).array
            let change = zip(ours.array, before).map { Float(Double($0) - Double($1)) }
            let referenceChange = zip(reference.array, before).map { Double($0) - Double($1) }
            XCTAssertLessThan(relativeError(change, referenceChange), tolerance, "target change of \(info.name)")
        }
        for info in method.targetStore.buffers where !info.name.hasSuffix("num_batches_tracked") {
            assertClose(method.targetStore.buffer(named: info.name)!.value, try golden.tensor("target_running." + info.name),
                        "target_running.\(info.name)", tolerance)
        }
    }

    // MARK: Helpers

    /// Loads the fixture's parameters, runs `trainStep` and compares everything but the optimiser step.
    /// Returns the tolerance used.
    @discardableResult
    /// The fixture's queues (an input: a queue of 8 keys per view, two batches) go into ours before the step.
    func testMoCoV2StepAndEnqueue() throws {
        let golden = try GoldenResNetTests.fixture("ssl_mocov2")
        let heads = try Heads(golden)
        XCTAssertFalse(heads.projector.batchNorm)
        let queueSize = Int(golden.metadata["queue_size"]!)!
        let method = MoCoV2(encoder: try encoderConfig(golden), temperature: Double(golden.metadata["temperature"]!)!,
                            projectorHiddenDimension: heads.projector.hidden, projectorOutputDimension: heads.projector.output,
                            queueSize: queueSize, backend: backend)
        method.queueStore.buffer(named: "keys")!.value.assign(from: try golden.tensor("queue"))
        let tolerance = try checkStep(method, golden)
        assertClose(method.queueStore.buffer(named: "keys")!.value, try golden.tensor("queue_after"), "mocov2 queues after", tolerance)
        XCTAssertEqual(method.queuePointer, 4)
        for info in method.momentumStore.buffers where !info.name.hasSuffix("num_batches_tracked") {
            assertClose(method.momentumStore.buffer(named: info.name)!.value, try golden.tensor("target_running." + info.name),
                        "momentum running.\(info.name)", tolerance)
        }
    }

    func checkStep(_ method: SelfSupervisedMethod, _ golden: SafetensorsFile,
                   file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        let meta = golden.metadata, name = meta["method"]!
        XCTAssertEqual(method.name, name)
        let tolerance = max(1e-4, 2 * (Double(meta["torch_f32_max_rel_error"] ?? "0") ?? 0))
        let store = method.store
        try TorchStateDict.load(store, from: golden)
        (method as? BYOL)?.copyOnlineToTarget()
        (method as? MoCoV2)?.copyOnlineToMomentum()
        // Every tensor of the fixture's model is one of ours, and the reverse.
        let fixtureParameters = Set(golden.names.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) })
        XCTAssertEqual(Set(store.parameters.map(\.name)), fixtureParameters, "\(name): parameter names", file: file, line: line)

        store.zeroGradients()
        let result = method.trainStep(view1: try golden.tensor("view1"), view2: try golden.tensor("view2"))
        assertScalar(result.loss, try golden.tensor("loss"), "\(name) loss", tolerance)
        XCTAssertEqual(Set(result.terms.map(\.name)),
                       Set(golden.names.filter { $0.hasPrefix("term.") }.map { String($0.dropFirst(5)) }), "\(name) terms")
        for term in result.terms {
            assertScalar(term.value, try golden.tensor("term." + term.name), "\(name) term \(term.name)", tolerance)
        }
        assertScalar(result.embeddingStd, try golden.tensor("z_std"), "\(name) z_std", tolerance)
        assertClose(result.features, try golden.tensor("features"), "\(name) features", tolerance)

        let zeroGradients = try JSONSerialization.jsonObject(with: Data(meta["zero_gradient_tensors"]!.utf8)) as! [String]
        for info in store.parameters {
            let ours = torchLayout(store.parameter(named: info.name)!.gradient, info)
            if zeroGradients.contains("grad." + info.name) {
                let weightName = String(info.name.dropLast("bias".count)) + "weight"
                let weightGradient = try golden.tensor("grad." + weightName).array.map { abs($0) }.max()!
                let worst = ours.array.map { abs($0) }.max()!
                XCTAssertLessThan(worst, 1e-5 * weightGradient, "\(name) grad.\(info.name) should vanish", file: file, line: line)
            } else {
                assertClose(ours, try golden.tensor("grad." + info.name), "\(name) grad.\(info.name)", tolerance)
            }
        }
        for info in store.buffers {
            let value = store.buffer(named: info.name)!.value
            if info.name.hasSuffix("num_batches_tracked") {
                XCTAssertEqual(value[flat: 0], 2, "\(name) \(info.name): one update per view")
            } else {
                assertClose(value, try golden.tensor("running." + info.name), "\(name) running.\(info.name)", tolerance)
            }
        }
        return tolerance
    }

    func encoderConfig(_ golden: SafetensorsFile) throws -> ResNetConfig {
        let meta = golden.metadata
        XCTAssertEqual(meta["arch"], "resnet18")
        return ResNetConfig(depth: 18, stem: Stem(rawValue: meta["stem"]!)!, widthMultiplier: Double(meta["width"]!)!,
                            inChannels: Int(meta["in_channels"]!)!)
    }

    /// The fixture's head specs, e.g. `["linear", 32, "bn", "relu", 16, 8]`.
    struct Heads {
        struct Spec { var input, hidden, output, hiddenLayers: Int; var batchNorm: Bool }
        var projector: Spec
        var predictor: Spec?

        init(_ golden: SafetensorsFile) throws {
            let object = try JSONSerialization.jsonObject(with: Data(golden.metadata["heads"]!.utf8)) as! [String: [Any]]
            func spec(_ items: [Any]) -> Spec {
                let dims = items.compactMap { $0 as? Int }
                return Spec(input: dims[0], hidden: dims[1], output: dims.last!, hiddenLayers: dims.count - 2,
                            batchNorm: items.contains { ($0 as? String) == "bn" })
            }
            projector = spec(object["projector"]!)
            predictor = object["predictor"].map(spec)
        }
    }

    func torchLayout(_ t: Tensor, _ info: ParameterInfo) -> Tensor {
        info.layout == .convolutionOHWI ? TorchStateDict.toOIHW(t) : t
    }

    func assertScalar(_ ours: Double, _ reference: Tensor, _ what: String, _ tolerance: Double) {
        let value = Double(reference[flat: 0])
        XCTAssertLessThan(abs(ours - value) / max(abs(value), 1e-30), tolerance, "\(what): \(ours) vs \(value)")
    }

    func assertClose(_ ours: Tensor, _ reference: Tensor, _ what: String, _ tolerance: Double) {
        XCTAssertEqual(ours.count, reference.count, "\(what): shape \(ours.shape) vs \(reference.shape)")
        guard ours.count == reference.count else { return }
        XCTAssertLessThan(relativeError(ours.array, reference.array.map(Double.init)), tolerance, what)
    }
}
