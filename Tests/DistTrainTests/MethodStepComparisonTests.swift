import CUDARuntime
@testable import DistTrain
import Engine
import GPUEmulation
import XCTest

/// `gpu-check`'s training-step comparison on the emulated GPU: one step of each method against the CPU
/// (what MethodsOnGPUTests did by hand before it moved into the product), and that it fails when the device
/// computes a gradient wrongly.
final class MethodStepComparisonTests: XCTestCase {
    func testEveryMethodsStepOnTheEmulatedGPUMatchesTheCPU() throws {
        let results = MethodStepComparison.run(on: CUDABackend(device: EmulatedGPU()), cpu: CPUBackend(threads: 1), size: .small)
        for result in results { XCTAssertTrue(result.passed, "\(result)") }
        let names = results.map(\.operation)
        for method in MethodStepComparison.methods {
            for output in ["loss", "features", "gradients", "BN running statistics", "parameters after the optimiser step"] {
                XCTAssertTrue(names.contains("\(method) small: \(output)"), "\(method): \(output) is compared")
            }
        }
        XCTAssertTrue(names.contains("vicreg small: loss term covariance"))
        XCTAssertTrue(names.contains("byol small: EMA target"))
        XCTAssertTrue(names.contains("byol small: target BN statistics"))
        XCTAssertFalse(names.contains("simclr small: EMA target"), "only BYOL has a target network")
        for output in ["momentum network", "momentum BN statistics", "queues after the enqueue"] {
            XCTAssertTrue(names.contains("mocov2 small: \(output)"), output)
        }
    }

    /// A device whose GEMM ignores beta 1 (overwrites instead of accumulating): a convolution's weight gradient
    /// then keeps only the second view's share. The forward is right, so the loss matches; the gradients must
    /// not. The supervised baseline sees one view, so its step is right even on this device.
    func testAWeightGradientThatDoesNotAccumulateFails() throws {
        let results = MethodStepComparison.run(on: CUDABackend(device: OverwritesInsteadOfAccumulating()), cpu: CPUBackend(threads: 1),
                                               size: .small, methods: ["simclr", "supervised"])
        func result(_ name: String) throws -> OpComparison { try XCTUnwrap(results.first { $0.operation == name }, name) }
        XCTAssertTrue(try result("simclr small: loss").passed)
        XCTAssertFalse(try result("simclr small: gradients").passed)
        XCTAssertFalse(try result("simclr small: parameters after the optimiser step").passed)
        XCTAssertTrue(try results.first { $0.operation.hasPrefix("simclr small: worst gradient tensor") }.map { !$0.passed } ?? false)
        for result in results where result.operation.hasPrefix("supervised") { XCTAssertTrue(result.passed, "\(result)") }
    }

    /// ResNet-18's full size holds gradients to 10x the CPU's own thread-count spread; the same rule at the
    /// small size (where that spread is tiny) passes a right device and fails a wrong one.
    func testTheSpreadBarPassesARightDeviceAndFailsAWrongOne() throws {
        let small = MethodStepComparison.Size.small
        let size = MethodStepComparison.Size(name: "small", encoder: small.encoder, viewShape: small.viewShape,
                                             hiddenDimension: small.hiddenDimension, outputDimension: small.outputDimension,
                                             gradientsAgainstCPUSpread: true)
        let right = MethodStepComparison.run(on: CUDABackend(device: EmulatedGPU()), cpu: CPUBackend(threads: 1), size: size,
                                             methods: ["simclr"])
        for result in right { XCTAssertTrue(result.passed, "\(result)") }
        let gradients = try XCTUnwrap(right.first { $0.operation.hasPrefix("simclr small: gradients") })
        XCTAssertTrue(gradients.operation.hasSuffix("[bar: 10x the CPU's own spread at 2 against 1 threads]"), gradients.operation)
        let wrong = MethodStepComparison.run(on: CUDABackend(device: OverwritesInsteadOfAccumulating()), cpu: CPUBackend(threads: 1),
                                             size: size, methods: ["simclr"])
        XCTAssertFalse(try XCTUnwrap(wrong.first { $0.operation.hasPrefix("simclr small: gradients") }).passed)
        XCTAssertTrue(MethodStepComparison.Size.resnet18.gradientsAgainstCPUSpread)
        XCTAssertFalse(MethodStepComparison.Size.small.gradientsAgainstCPUSpread)
    }

    func testTheCommandsHelpNamesTheStepsAndTheirOptOut() {
        XCTAssertTrue(GPUCheckCommand.help.contains("--no-steps"))
        XCTAssertTrue(GPUCheckCommand.help.contains("training step of SimCLR, VICReg, BYOL"))
    }
}

/// An emulated GPU whose GEMM treats beta 1 as beta 0.
final class OverwritesInsteadOfAccumulating: ForwardingGPU, @unchecked Sendable {
    override func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UInt64,
                                   lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        try inner.sgemmColumnMajor(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                   a: a, lda: lda, b: b, ldb: ldb, beta: 0, c: c, ldc: ldc)
    }
}
