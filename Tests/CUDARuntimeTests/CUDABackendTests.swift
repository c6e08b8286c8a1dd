@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// `CUDABackend` on the emulated GPU (kernels on the CPU emulator, cuBLAS's column-major sgemm as an
/// independent loop): its memory, and `BackendComparison` (every op against the CPU backend, what
/// `disttrain gpu-check` runs on a real GPU) passing, and failing when the device is wrong.
final class CUDABackendTests: XCTestCase {
    func testTensorsLiveOnTheDeviceAndAreFreedWithTheirStorage() throws {
        let device = EmulatedGPU(), gpu = CUDABackend(device: device)
        XCTAssertEqual(gpu.device, .cuda(0))
        let before = device.liveAllocations
        do {
            let t = gpu.tensor([2, 3], [1, 2, 3, 4, 5, 6])
            XCTAssertEqual(t.device, .cuda(0))
            XCTAssertEqual(gpu.download(t), [1, 2, 3, 4, 5, 6])
            let zero = gpu.zeros([4])
            XCTAssertEqual(gpu.download(zero), [0, 0, 0, 0])
            gpu.fill(zero, with: 2.5)
            XCTAssertEqual(gpu.download(zero), [2.5, 2.5, 2.5, 2.5])
            gpu.copy(Tensor(view: t.storage, offset: 1, shape: [4]), to: zero)  // a view: its offset is in the address
            XCTAssertEqual(gpu.download(zero), [2, 3, 4, 5])
            XCTAssertEqual(device.liveAllocations, before + 2)
        }
        XCTAssertEqual(device.liveAllocations, before, "releasing the tensors frees their device memory")
    }

    func testEveryOpMatchesTheCPUBackend() throws {
        let results = BackendComparison.run(on: CUDABackend(device: EmulatedGPU()))
        XCTAssertEqual(results.count, 46, results.map(\.operation).joined(separator: "\n"))
        for result in results { XCTAssertTrue(result.passed, "\(result)") }
    }

    /// `--precision bf16`: every op still within the comparison's bars (1e-2 for the GEMM-based ones).
    func testEveryOpMatchesTheCPUBackendInBF16() throws {
        let results = BackendComparison.run(on: CUDABackend(device: EmulatedGPU(), precision: .bf16))
        XCTAssertEqual(results.count, 46)
        for result in results { XCTAssertTrue(result.passed, "\(result)") }
        let gemms = results.filter { $0.operation.hasPrefix("gemm") || $0.operation.hasPrefix("conv") }
        XCTAssertEqual(gemms.count, 20)
        XCTAssertTrue(gemms.allSatisfy { $0.bar == 1e-2 }, "\(gemms)")
        XCTAssertTrue(results.filter { !gemms.map(\.operation).contains($0.operation) }.allSatisfy { $0.bar <= 1e-4 })
    }

    /// A bf16 GEMM multiplies its operands rounded to bf16 and sums in fp32: against the CPU on the rounded
    /// operands it agrees to fp32 rounding; against the CPU on the fp32 operands it differs by bf16's
    /// rounding (≈ 2^-9 relative per operand), so it did round. Every transpose, and beta 1 (accumulation).
    func testBF16GEMMMultipliesRoundedOperandsInFP32() throws {
        let cpu = CPUBackend(threads: 1), gpu = CUDABackend(device: EmulatedGPU(), precision: .bf16)
        let m = 6, n = 5, k = 40
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                for beta: Float in [0, 1] {
                    let a = EmulatedKernels.values(m * k, seed: 11), b = EmulatedKernels.values(k * n, seed: 12)
                    let c = EmulatedKernels.values(m * n, seed: 13)
                    func cpuGEMM(_ a: [Float], _ b: [Float]) -> [Float] {
                        let out = Tensor(shape: [m, n], values: c)
                        cpu.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5,
                                 a: Tensor(shape: transposeA ? [k, m] : [m, k], values: a),
                                 b: Tensor(shape: transposeB ? [n, k] : [k, n], values: b), beta: beta, c: out)
                        return out.array
                    }
                    let out = gpu.tensor([m, n], c)
                    gpu.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5,
                             a: gpu.tensor(transposeA ? [k, m] : [m, k], a), b: gpu.tensor(transposeB ? [n, k] : [k, n], b),
                             beta: beta, c: out)
                    let got = gpu.download(out), what = "transposeA \(transposeA) transposeB \(transposeB) beta \(beta)"
                    let rounded = cpuGEMM(EmulatedKernels.bf16Representable(a), EmulatedKernels.bf16Representable(b))
                    XCTAssertLessThan(EmulatedKernels.relativeError(got, rounded), 1e-6, what)
                    let exact = EmulatedKernels.relativeError(got, cpuGEMM(a, b))
                    XCTAssertLessThan(exact, 1e-2, what)
                    XCTAssertGreaterThan(exact, 1e-5, "\(what): the operands were not rounded to bf16")
                }
            }
        }
    }

    /// A bf16 convolution (forward, data gradient, and the weight gradient with beta 1) multiplies its inputs
    /// rounded to bf16 once and sums in fp32: the CPU's convolution on rounded operands agrees to fp32
    /// rounding, for a padded 3x3/2 and the 7x7/2 stem (columns gathered straight into bf16), a 1x1 (the
    /// input itself), and stride-1 3x3 and 5x5 kernels with every padding, whose data gradient is the
    /// forward convolution of dy with the flipped, channel-swapped weight (no fp32 columns, no col2im).
    func testBF16ConvolutionsMultiplyRoundedOperands() throws {
        let cpu = CPUBackend(threads: 1), device = EmulatedGPU(), gpu = CUDABackend(device: device, precision: .bf16)
        let geometries = [
            ConvGeometry(batch: 2, height: 7, width: 6, inChannels: 5, outChannels: 4, kernelSize: 3, stride: 2, padding: 1),
            ConvGeometry(batch: 1, height: 12, width: 11, inChannels: 3, outChannels: 8, kernelSize: 7, stride: 2, padding: 3),
            ConvGeometry(batch: 2, height: 4, width: 4, inChannels: 6, outChannels: 3, kernelSize: 1, stride: 1, padding: 0),
            ConvGeometry(batch: 2, height: 5, width: 7, inChannels: 4, outChannels: 6, kernelSize: 3, stride: 1, padding: 1),
            ConvGeometry(batch: 1, height: 6, width: 5, inChannels: 3, outChannels: 2, kernelSize: 3, stride: 1, padding: 0),
            ConvGeometry(batch: 1, height: 6, width: 8, inChannels: 2, outChannels: 5, kernelSize: 5, stride: 1, padding: 2),
            ConvGeometry(batch: 1, height: 7, width: 6, inChannels: 3, outChannels: 4, kernelSize: 5, stride: 1, padding: 1),
        ]
        for (index, g) in geometries.enumerated() {
            let seed = UInt64(60 + 4 * index)
            let x = EmulatedKernels.values(g.inputShape.reduce(1, *), seed: seed)
            let w = EmulatedKernels.values(g.weightShape.reduce(1, *), seed: seed + 1)
            let dy = EmulatedKernels.values(g.outputShape.reduce(1, *), seed: seed + 2)
            let dw0 = EmulatedKernels.values(g.weightShape.reduce(1, *), seed: seed + 3)
            func cpuConvolution(_ x: [Float], _ w: [Float], _ dy: [Float]) -> (out: [Float], dx: [Float], dw: [Float]) {
                let out = Tensor(zeros: g.outputShape), dx = Tensor(zeros: g.inputShape), dw = Tensor(shape: g.weightShape, values: dw0)
                let weight = Tensor(shape: g.weightShape, values: w), gradOutput = Tensor(shape: g.outputShape, values: dy)
                cpu.convolutionForward(input: Tensor(shape: g.inputShape, values: x), weight: weight, output: out, geometry: g)
                cpu.convolutionBackwardData(gradOutput: gradOutput, weight: weight, gradInput: dx, geometry: g)
                cpu.convolutionBackwardWeight(input: Tensor(shape: g.inputShape, values: x), gradOutput: gradOutput,
                                              gradWeight: dw, geometry: g)
                return (out.array, dx.array, dw.array)
            }
            let launchesBefore = device.launches.count
            let out = gpu.zeros(g.outputShape), dx = gpu.zeros(g.inputShape), dw = gpu.tensor(g.weightShape, dw0)
            let weight = gpu.tensor(g.weightShape, w), gradOutput = gpu.tensor(g.outputShape, dy)
            gpu.convolutionForward(input: gpu.tensor(g.inputShape, x), weight: weight, output: out, geometry: g)
            gpu.convolutionBackwardData(gradOutput: gradOutput, weight: weight, gradInput: dx, geometry: g)
            gpu.convolutionBackwardWeight(input: gpu.tensor(g.inputShape, x), gradOutput: gradOutput, gradWeight: dw, geometry: g)
            let rounded = cpuConvolution(EmulatedKernels.bf16Representable(x), EmulatedKernels.bf16Representable(w),
                                         EmulatedKernels.bf16Representable(dy))
            let exact = cpuConvolution(x, w, dy)
            XCTAssertLessThan(EmulatedKernels.relativeError(gpu.download(out), rounded.out), 1e-6, "geometry \(index) forward")
            XCTAssertLessThan(EmulatedKernels.relativeError(gpu.download(dx), rounded.dx), 1e-6, "geometry \(index) data gradient")
            XCTAssertLessThan(EmulatedKernels.relativeError(gpu.download(dw), rounded.dw), 1e-6, "geometry \(index) weight gradient")
            XCTAssertGreaterThan(EmulatedKernels.relativeError(gpu.download(out), exact.out), 1e-5, "geometry \(index): not rounded")
            XCTAssertGreaterThan(EmulatedKernels.relativeError(gpu.download(dx), exact.dx), 1e-5, "geometry \(index): dx not rounded")
            let kernels = Set(device.launches[launchesBefore...].map(\.kernel))
            if g.stride == 1 && !g.isPointwise {
                XCTAssertEqual(g.dataGradientAsConvolution?.outputShape, g.inputShape, "geometry \(index)")
                XCTAssertTrue(kernels.contains("transposed_conv_weight_bf16"), "geometry \(index): \(kernels.sorted())")
                XCTAssertFalse(kernels.contains("col2im_f32"), "geometry \(index): no fp32 columns: \(kernels.sorted())")
            }
        }
        // The columns went straight into bf16: no fp32 columns written and then rounded.
        let kernels = Set(device.launches.map(\.kernel))
        XCTAssertTrue(kernels.contains("im2col_f32_bf16"), "\(kernels.sorted())")
        XCTAssertFalse(kernels.contains("im2col_f32"), "\(kernels.sorted())")
    }

    /// A device whose sgemm ignores the transpose flags: the comparison must catch it in every GEMM with a
    /// transpose and in the convolutions (forward uses Wᵀ, the weight gradient dyᵀ).
    func testTheComparisonFailsOnAWrongDevice() throws {
        let results = BackendComparison.run(on: CUDABackend(device: IgnoresTransposes()))
        let failed = Set(results.filter { !$0.passed }.map(\.operation))
        XCTAssertTrue(failed.contains("gemm transposeA true transposeB false beta 0.0"), "\(failed.sorted())")
        XCTAssertTrue(failed.contains("conv 3x3/2 pad 1 forward"), "\(failed.sorted())")
        XCTAssertTrue(failed.contains("conv 3x3/2 pad 1 weight gradient (accumulated)"), "\(failed.sorted())")
        XCTAssertFalse(failed.contains("gemm transposeA false transposeB false beta 0.0"), "no transpose: unaffected")
        XCTAssertFalse(failed.contains("BN forward"), "ops without a GEMM are unaffected")
    }
}

/// An emulated GPU with a planted bug: its sgemm treats every operand as untransposed.
final class IgnoresTransposes: ForwardingGPU, @unchecked Sendable {
    override func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UInt64,
                                   lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        // Leading dimensions of untransposed operands of the same shapes, so the loop stays inside the buffers.
        try inner.sgemmColumnMajor(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: alpha, a: a,
                                   lda: m, b: b, ldb: k, beta: beta, c: c, ldc: ldc)
    }
    override func bf16GemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UInt64,
                                      lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        try inner.bf16GemmColumnMajor(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: alpha, a: a,
                                      lda: m, b: b, ldb: k, beta: beta, c: c, ldc: ldc)
    }
}
