@testable import CUDARuntime
import Engine
import Models
import GPUEmulation
import XCTest

/// One training step of each method on `CUDABackend` (emulated GPU) against the same step on the CPU:
/// the loss and its terms, the embedding std, the probe's features, every gradient, the BN statistics,
/// then the optimiser step (LARS, or SGD for the supervised baseline) and BYOL's EMA target. The losses
/// run on the host either way (`HostIsland`); everything else runs on the device.
final class MethodsOnGPUTests: XCTestCase {
    let config = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 1)
    /// Batch 8: the heads' batch norms normalise over the batch, and over 4 rows their backward cancels so
    /// much that the two backends' summation orders alone differ by ~2e-4 in BYOL's encoder gradients.
    let shape = [8, 8, 8, 1]

    func make(_ name: String, _ backend: any Backend) -> any SelfSupervisedMethod {
        switch name {
        case "simclr": return SimCLR(encoder: config, projectorHiddenDimension: 16, projectorOutputDimension: 8, seed: 5, backend: backend)
        case "vicreg": return VICReg(encoder: config, projectorHiddenDimension: 16, projectorOutputDimension: 16, seed: 5, backend: backend)
        case "byol": return BYOL(encoder: config, projectorHiddenDimension: 16, projectorOutputDimension: 8,
                                 predictorHiddenDimension: 16, seed: 5, backend: backend)
        default: return Supervised(encoder: config, classCount: 10, seed: 5, backend: backend)
        }
    }

    func testSimCLR() throws { try checkStep("simclr") }
    func testVICReg() throws { try checkStep("vicreg") }
    func testBYOL() throws { try checkStep("byol") }
    func testSupervised() throws { try checkStep("supervised") }

    func checkStep(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let cpu = CPUBackend(threads: 1), gpu = CUDABackend(device: EmulatedGPU())
        let onCPU = make(name, cpu), onGPU = make(name, gpu)
        func assertClose(_ got: [Float], _ expected: [Float], _ what: String, bar: Double = 1e-4) {
            XCTAssertLessThan(EmulatedKernels.relativeError(got, expected), bar, "\(name): \(what)", file: file, line: line)
        }
        let x1 = EmulatedKernels.values(shape.reduce(1, *), seed: 1), x2 = EmulatedKernels.values(shape.reduce(1, *), seed: 2)
        let labels: [Int32] = [1, 7, 3, 3, 0, 9, 2, 5]
        func step(_ method: any SelfSupervisedMethod, _ backend: any Backend, _ upload: ([Float]) -> Tensor) -> MethodStepResult {
            method.store.zeroGradients()
            return name == "supervised" ? method.trainStep(view1: upload(x1), view2: upload(x2), labels: labels)
                : method.trainStep(view1: upload(x1), view2: upload(x2))
        }
        let expected = step(onCPU, cpu) { Tensor(shape: self.shape, values: $0) }
        let got = step(onGPU, gpu) { gpu.tensor(self.shape, $0) }
        XCTAssertEqual(got.loss, expected.loss, accuracy: 1e-5 * abs(expected.loss), "\(name): loss", file: file, line: line)
        XCTAssertEqual(got.terms.map(\.name), expected.terms.map(\.name), file: file, line: line)
        for (a, b) in zip(got.terms, expected.terms) {
            XCTAssertEqual(a.value, b.value, accuracy: 1e-5 * max(abs(b.value), 1e-3), "\(name): \(a.name)", file: file, line: line)
        }
        XCTAssertEqual(got.embeddingStd, expected.embeddingStd, accuracy: 1e-5, "\(name): embedding std", file: file, line: line)
        XCTAssertEqual(got.features.device, .cpu, "the probe's features come back to the host")
        assertClose(got.features.array, expected.features.array, "features")
        // Per tensor, relative to the larger of the tensor's own scale and 1e-3 of the largest gradient: a
        // Linear bias feeding a batch norm has an analytic gradient of 0 (the BN removes the mean), so both
        // backends hold rounding noise there, and relative to itself that noise differs by 100 %.
        let allGradients = onCPU.store.gradients.array, largest = allGradients.map { abs(Double($0)) }.max() ?? 0
        XCTAssertLessThan(EmulatedKernels.relativeError(gpu.download(onGPU.store.gradients), allGradients), 1e-4,
                          "\(name): all gradients", file: file, line: line)
        for info in onCPU.store.parameters {
            let got = gpu.download(onGPU.store.parameter(named: info.name)!.gradient)
            let expected = onCPU.store.parameter(named: info.name)!.gradient.array
            let difference = zip(got, expected).map { abs(Double($0) - Double($1)) }.max() ?? 0
            let scale = max(expected.map { abs(Double($0)) }.max() ?? 0, 1e-3 * largest)
            XCTAssertLessThan(difference / scale, 1e-4, "\(name): gradient of \(info.name)", file: file, line: line)
        }
        assertClose(gpu.download(onGPU.store.bufferValues), onCPU.store.bufferValues.array, "BN running statistics")

        func optimizer(_ method: any SelfSupervisedMethod, _ backend: any Backend) -> any Optimizer {
            name == "supervised" ? SGD(store: method.store, backend: backend, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
                : LARS(store: method.store, backend: backend, learningRate: 0.3, weightDecay: 1e-4)
        }
        optimizer(onCPU, cpu).step(); optimizer(onGPU, gpu).step()
        onCPU.afterOptimizerStep(step: 0, totalSteps: 10); onGPU.afterOptimizerStep(step: 0, totalSteps: 10)
        assertClose(gpu.download(onGPU.store.values), onCPU.store.values.array, "parameters after the optimiser step")
        if let cpuBYOL = onCPU as? BYOL, let gpuBYOL = onGPU as? BYOL {
            assertClose(gpu.download(gpuBYOL.targetStore.values), cpuBYOL.targetStore.values.array, "EMA target")
            assertClose(gpu.download(gpuBYOL.targetStore.bufferValues), cpuBYOL.targetStore.bufferValues.array,
                        "target BN statistics")
        }
    }

    /// `--precision bf16`: a SimCLR and a supervised step with every GEMM on bf16 operands. Against the fp32
    /// CPU only the loss can be held to a tight bar: at this size the gradient is ill-conditioned (measured,
    /// on the CPU alone, 0.4 % noise on one view's pixels moves the whole gradient by 15-43 %, and bf16
    /// rounds every GEMM operand by up to 0.4 %). So the step is compared with an independent bf16: the
    /// same backend in fp32 on a device whose sgemm rounds its operands to bf16 itself. They must agree
    /// to fp32 rounding, which holds only if every GEMM of the step (forward, both backward GEMMs of each
    /// convolution, the heads) went through the bf16 path on all of its operand.
    func testStepsInBF16MatchRoundedOperandsExactly() throws {
        for name in ["simclr", "supervised"] {
            let cpu = CPUBackend(threads: 1)
            let bf16 = CUDABackend(device: EmulatedGPU(), precision: .bf16)
            let rounding = CUDABackend(device: RoundsGEMMOperandsToBF16(), precision: .fp32)
            let x1 = EmulatedKernels.values(shape.reduce(1, *), seed: 1), x2 = EmulatedKernels.values(shape.reduce(1, *), seed: 2)
            let labels: [Int32] = [1, 7, 3, 3, 0, 9, 2, 5]
            func step(_ backend: any Backend, _ upload: ([Float]) -> Tensor) -> (loss: Double, gradients: [Float]) {
                let method = make(name, backend)
                let loss = method.trainStep(view1: upload(x1), view2: upload(x2), labels: labels).loss
                return (loss, backend.onHost(method.store.gradients).array)
            }
            let fp32 = step(cpu) { Tensor(shape: self.shape, values: $0) }
            let got = step(bf16) { bf16.tensor(self.shape, $0) }
            let reference = step(rounding) { rounding.tensor(self.shape, $0) }
            XCTAssertEqual(got.loss, fp32.loss, accuracy: 1e-2 * abs(fp32.loss), "\(name): loss against fp32")
            XCTAssertEqual(got.loss, reference.loss, accuracy: 1e-6 * abs(reference.loss), "\(name): loss")
            XCTAssertLessThan(EmulatedKernels.relativeError(got.gradients, reference.gradients), 1e-4, "\(name): gradients")
            XCTAssertGreaterThan(EmulatedKernels.relativeError(got.gradients, fp32.gradients), 1e-3,
                                 "\(name): the GEMMs did not run in bf16")
        }
    }
}

/// An emulated GPU whose fp32 sgemm rounds both operands to bf16 first (on the host, with the tests' own
/// rounding): an fp32 backend on it computes what `--precision bf16` should, by another route.
final class RoundsGEMMOperandsToBF16: ForwardingGPU, @unchecked Sendable {
    override func bf16GemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UInt64,
                                      lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        throw EmulationError("this device stands for fp32 cuBLAS; the fp32 backend must not call the bf16 GEMM")
    }
    override func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UInt64,
                                   lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        let roundedA = try rounded(a, count: ((transposeA ? m : k) - 1) * lda + (transposeA ? k : m))
        let roundedB = try rounded(b, count: ((transposeB ? k : n) - 1) * ldb + (transposeB ? n : k))
        defer { inner.free(roundedA); inner.free(roundedB) }
        try inner.sgemmColumnMajor(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                   a: roundedA, lda: lda, b: roundedB, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// A new device buffer holding the `count` floats at `address` rounded to bf16 (as floats).
    private func rounded(_ address: UInt64, count: Int) throws -> UInt64 {
        var values = [Float](repeating: 0, count: count)
        try values.withUnsafeMutableBytes { try inner.download(address, to: $0.baseAddress!, bytes: $0.count) }
        values = EmulatedKernels.bf16Representable(values)
        let copy = try inner.allocate(bytes: 4 * count)
        try values.withUnsafeBytes { try inner.upload($0.baseAddress!, to: copy, bytes: $0.count) }
        return copy
    }
}
