@testable import DistTrain
import Engine
import Foundation
import Models
import XCTest

/// `bench --method`: each method's real step runs and counts its GEMM FLOPs the way PyTorch's hooks do.
final class BenchStepTests: XCTestCase {
    /// ResNet-18 at full width on 8x8 single-channel views (cheap enough for a debug build), batch 2.
    let config = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1, inChannels: 1)

    /// SimCLR's step at this size counts 868 810 752 FLOPs in `scripts/bench_pytorch_cpu.py --method simclr
    /// --channels 1 --image-size 8 --batch-size 2` (forward hooks on torchvision's ResNet-18 and the
    /// projector, times two views): the same convolutions, linear layers and GEMMs per layer.
    func testSimCLRStepCountsTheFLOPsPyTorchCounts() throws {
        let benched = try BenchedStep.make(method: "simclr", config: config, batch: 2, size: 8, backend: CPUBackend(threads: 1))
        benched.run()
        XCTAssertEqual(benched.flops(), 868_810_752)
        XCTAssertEqual(benched.viewCount, 2)
        XCTAssertEqual(benched.description, "simclr step (2 views, its heads and loss, LARS)")
    }

    /// BYOL adds its target's forward passes (one GEMM per layer, both views) to the online step; the
    /// supervised step is the classifier's.
    func testBYOLCountsItsTargetsForwardPasses() throws {
        let cpu = CPUBackend(threads: 1)
        let small = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 1)
        let byol = try BenchedStep.make(method: "byol", config: small, batch: 2, size: 8, backend: cpu)
        byol.run()
        let encoder = byol.encoder, b = 2.0
        // Hand count: the encoder's convolutions at 3 GEMMs (the stem conv 2), heads 32→4096→256 and 256→4096→256.
        let convForward = encoder.convolutions.reduce(0.0) { $0 + $1.geometry!.forwardFLOPs }
        let stem = encoder.convolutions[0].geometry!.forwardFLOPs
        let projector = 2 * b * (32 * 4096 + 4096 * 256), predictor = 2 * b * (256 * 4096 + 4096 * 256)
        let online = 2 * (3 * convForward - stem + 3 * projector + 3 * predictor)
        let target = 2 * (convForward + projector)
        XCTAssertEqual(byol.flops(), online + target, accuracy: 1)
        XCTAssertEqual(byol.description, "byol step (2 views, its heads and loss, LARS, EMA target)")

        let supervised = try BenchedStep.make(method: "supervised", config: small, batch: 2, size: 8, backend: cpu)
        let classifier = BenchedStep.classifier(config: small, batch: 2, size: 8, backend: cpu)
        supervised.run(); classifier.run()
        XCTAssertEqual(supervised.flops(), classifier.flops())
        XCTAssertEqual(supervised.viewCount, 1)
    }

    /// Every method's step changes the parameters (the optimiser ran) and keeps them finite.
    func testEveryMethodStepTrains() throws {
        let small = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 1)
        for method in BenchedStep.methods {
            let benched = try BenchedStep.make(method: method, config: small, batch: 4, size: 8, backend: CPUBackend(threads: 1))
            let before = benched.store.values.array
            XCTAssertEqual(benched.time(steps: 1).count, 1, method)
            let after = benched.store.values.array
            XCTAssertNotEqual(before, after, "\(method): the optimiser moved the parameters")
            XCTAssertTrue(after.allSatisfy(\.isFinite), method)
        }
    }

    /// `--profile`'s last line splits the step into the encoder's share (its profiled forward + backward
    /// times the views) and the rest.
    func testStepBreakdownSplitsTheStepIntoEncoderAndRest() {
        XCTAssertEqual(BenchCommand.stepBreakdown(median: 0.1, encoderSeconds: 0.04, views: 2),
                       "  step 100.0 ms: encoder forward+backward x 2 views 80.0 ms (80 %), the rest 20.0 ms "
                       + "(heads, loss, optimiser, EMA target)")
        XCTAssertEqual(BenchCommand.stepBreakdown(median: 0.05, encoderSeconds: 0.045, views: 1),
                       "  step 50.0 ms: encoder forward+backward 45.0 ms (90 %), the rest 5.0 ms (head, loss, optimiser)")
    }

    func testBenchMethodOnTheCommandLine() throws {
        let binary = try DistTrainBinary.locate()
        let tiny = ["bench", "--width", "0.125", "--batch-size", "4", "--image-size", "8", "--steps", "1",
                    "--threads", "1", "--sgemm-size", "32"]
        let result = try runProcess(binary, tiny + ["--method", "vicreg"], environment: cleanEnvironment(), timeout: 300)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.standardOutput.contains("timed       vicreg step (2 views, its heads and loss, LARS)\n"), result.standardOutput)
        XCTAssertTrue(result.standardOutput.contains(" images/s (2 views each, "), result.standardOutput)
        // MoCo v2 with a batch that does not divide the default queue: the bench rounds the queue to whole batches.
        let moco = try runProcess(binary, tiny.map { $0 == "4" ? "6" : $0 } + ["--method", "mocov2"], environment: cleanEnvironment(),
                                  timeout: 300)
        XCTAssertEqual(moco.status, 0, moco.output)
        XCTAssertTrue(moco.standardOutput.contains("timed       mocov2 step (2 views, its heads and loss, SGD, momentum network, "
                                                   + "65532-key queues)\n"), moco.standardOutput)
        let wrong = try runProcess(binary, tiny + ["--method", "moco"], environment: cleanEnvironment(), timeout: 60)
        XCTAssertEqual(wrong.status, 2, wrong.output)
        XCTAssertTrue(wrong.standardError.contains("--method must be one of classifier, simclr, vicreg, byol, mocov2, supervised, got 'moco'"),
                      wrong.standardError)
    }
}
