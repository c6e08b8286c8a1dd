@testable import CUDARuntime
import Engine
import XCTest

/// ReLU and im2col run on the CPU emulator with the backend's launch shapes, against the CPU backend.
final class ElementwiseKernelTests: XCTestCase {
    let cpu = CPUBackend(threads: 1)

    /// fp32 must match exactly; bf16 must equal the CPU result rounded to bf16 (max and a copy are exact).
    func testReLUForwardAndBackwardMatchTheCPU() throws {
        let emulator = try KernelEmulator.of(activationKernels)
        let n = 3 * 256 + 17
        let x = EmulatedKernels.bf16Representable(EmulatedKernels.values(n, seed: 1))
        let dy = EmulatedKernels.bf16Representable(EmulatedKernels.values(n, seed: 2))
        let y = Tensor(zeros: [n]), dx = Tensor(zeros: [n])
        cpu.reluForward(input: Tensor(shape: [n], values: x), output: y)
        cpu.reluBackward(output: y, gradOutput: Tensor(shape: [n], values: dy), gradInput: dx)
        for type in ActivationType.allCases {
            let xs = EmulatedKernels.activations("x", x, type), ys = EmulatedKernels.activations("y", [Float](repeating: 9, count: n), type)
            let dys = EmulatedKernels.activations("dy", dy, type), dxs = EmulatedKernels.activations("dx", [Float](repeating: 9, count: n), type)
            try EmulatedKernels.run(emulator, [
                ActivationLaunch.reluForward(input: xs.address, output: ys.address, count: n, type: type),
                ActivationLaunch.reluBackward(output: ys.address, gradOutput: dys.address, gradInput: dxs.address,
                                              count: n, type: type),
            ], buffers: [xs, ys, dys, dxs])
            XCTAssertEqual(EmulatedKernels.read(ys, type), y.array, "\(type) forward")
            XCTAssertEqual(EmulatedKernels.read(dxs, type), dx.array, "\(type) backward")
        }
    }

    /// The emulated im2col times the OHWI weight viewed as `[Cout, K]` must be the CPU's convolution, for a
    /// padded stride-2 3x3, the ImageNet stem's 7x7/2 and a 1x1.
    func testIm2colTimesTheWeightIsTheCPUConvolution() throws {
        let emulator = try KernelEmulator.of(im2colKernels)
        let geometries = [
            ConvGeometry(batch: 2, height: 7, width: 6, inChannels: 5, outChannels: 4, kernelSize: 3, stride: 2, padding: 1),
            ConvGeometry(batch: 1, height: 12, width: 11, inChannels: 3, outChannels: 8, kernelSize: 7, stride: 2, padding: 3),
            ConvGeometry(batch: 2, height: 4, width: 4, inChannels: 6, outChannels: 3, kernelSize: 1, stride: 1, padding: 0),
        ]
        for (index, g) in geometries.enumerated() {
            let input = EmulatedKernels.bf16Representable(EmulatedKernels.values(g.inputShape.reduce(1, *), seed: 10 + UInt64(index)))
            let weight = EmulatedKernels.values(g.weightShape.reduce(1, *), seed: 20 + UInt64(index))
            let expected = Tensor(zeros: g.outputShape)
            cpu.convolutionForward(input: Tensor(shape: g.inputShape, values: input),
                                   weight: Tensor(shape: g.weightShape, values: weight), output: expected, geometry: g)
            for type in ActivationType.allCases {
                let x = EmulatedKernels.activations("x", input, type)
                let columns = EmulatedKernels.activations("col", [Float](repeating: 7, count: g.outputPixels * g.patchSize), type)
                try EmulatedKernels.run(emulator, [Im2colLaunch.im2col(input: x.address, columns: columns.address,
                                                                       geometry: g, type: type)],
                                        buffers: [x, columns])
                let out = Tensor(zeros: [g.outputPixels, g.outChannels])
                cpu.gemm(transposeA: false, transposeB: true, m: g.outputPixels, n: g.outChannels, k: g.patchSize,
                         alpha: 1, a: Tensor(shape: [g.outputPixels, g.patchSize], values: EmulatedKernels.read(columns, type)),
                         b: Tensor(shape: [g.outChannels, g.patchSize], values: weight), beta: 0, c: out)
                XCTAssertLessThan(EmulatedKernels.relativeError(out.array, expected.array), 1e-5, "geometry \(index), \(type)")
            }
        }
    }
}
