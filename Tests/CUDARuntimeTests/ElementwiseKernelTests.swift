@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// ReLU, arithmetic, bias, the squared norm, pooling, im2col and col2im run on the CPU emulator with the
/// backend's launch shapes, against the CPU backend.
final class ElementwiseKernelTests: XCTestCase {
    let cpu = CPUBackend(threads: 1)
    /// A padded stride-2 3x3 (overlapping windows), the ImageNet stem's 7x7/2, and a 1x1.
    let convolutionGeometries = [
        ConvGeometry(batch: 2, height: 7, width: 6, inChannels: 5, outChannels: 4, kernelSize: 3, stride: 2, padding: 1),
        ConvGeometry(batch: 1, height: 12, width: 11, inChannels: 3, outChannels: 8, kernelSize: 7, stride: 2, padding: 3),
        ConvGeometry(batch: 2, height: 4, width: 4, inChannels: 6, outChannels: 3, kernelSize: 1, stride: 1, padding: 0),
    ]

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

    /// fp32 → bf16 rounds to nearest with ties to even (hand-worked bit patterns), overflows to infinity
    /// and keeps NaN a NaN.
    func testToBF16RoundsToNearestEven() throws {
        let emulator = try KernelEmulator.of(elementwiseKernels)
        let cases: [(Float, UInt16)] = [
            (1, 0x3F80), (-0.0, 0x8000),
            (1 + 0x1p-8, 0x3F80),                 // halfway between 1 and 1 + 2^-7: to the even 1
            (1 + 3 * 0x1p-8, 0x3F82),             // halfway between 1 + 2^-7 and 1 + 2^-6: to the even 1 + 2^-6
            (1 + 0x1p-8 + 0x1p-20, 0x3F81),       // just above halfway: up
            (-(1 + 0x1p-8 - 0x1p-20), 0xBF80),    // just below halfway: down (magnitude)
            (.greatestFiniteMagnitude, 0x7F80),   // rounds past the largest bf16: infinity
            (.infinity, 0x7F80), (-.infinity, 0xFF80), (0x1p-130, 0x0008),  // a subnormal: 2^19 · 2^-149
        ]
        let n = cases.count + 1
        let x = GuardedBuffer("x", floats: cases.map(\.0) + [.nan]), y = GuardedBuffer("y", bytes: 2 * n)
        try EmulatedKernels.run(emulator, [ElementwiseLaunch.toBF16(x.address, into: y.address, count: n)], buffers: [x, y])
        let bits = y.bf16()
        for (index, (value, expected)) in cases.enumerated() {
            XCTAssertEqual(bits[index], expected, "bf16(\(value)): 0x\(String(bits[index], radix: 16))")
        }
        XCTAssertTrue(floatFromBF16(bits[n - 1]).isNaN, "NaN stays NaN")
    }

    /// The emulated im2col times the OHWI weight viewed as `[Cout, K]` must be the CPU's convolution, for a
    /// padded stride-2 3x3, the ImageNet stem's 7x7/2 and a 1x1.
    func testIm2colTimesTheWeightIsTheCPUConvolution() throws {
        let emulator = try KernelEmulator.of(im2colKernels)
        for (index, g) in convolutionGeometries.enumerated() {
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

    /// `im2col_f32_bf16` (a bf16 convolution's GEMM operand) must be fp32 im2col rounded to bf16 bit for bit:
    /// the same gather, then round to nearest even, on inputs that bf16 cannot hold exactly.
    func testIm2colIntoBF16IsTheFP32ColumnsRounded() throws {
        let emulator = try KernelEmulator.of(im2colKernels)
        for (index, g) in convolutionGeometries.enumerated() {
            let input = EmulatedKernels.values(g.inputShape.reduce(1, *), seed: 50 + UInt64(index))
            XCTAssertNotEqual(input, EmulatedKernels.bf16Representable(input), "the inputs need rounding")
            let count = g.outputPixels * g.patchSize
            let x = GuardedBuffer("x", floats: input), columns = GuardedBuffer("col", floats: [Float](repeating: 7, count: count))
            let rounded = GuardedBuffer("col16", bytes: 2 * count)
            try EmulatedKernels.run(emulator, [Im2colLaunch.im2col(input: x.address, columns: columns.address, geometry: g, type: .f32),
                                               Im2colLaunch.im2colRoundedToBF16(input: x.address, columns: rounded.address, geometry: g)],
                                    buffers: [x, columns, rounded])
            XCTAssertEqual(rounded.bf16(), columns.floats().map(bf16Bits), "geometry \(index)")
        }
    }

    /// col2im of `dcol = dy · W` must be the CPU's data gradient (the adjoint of im2col), for the same
    /// three geometries: overlapping stride-2 windows with padding, the 7x7/2 stem, and a 1x1.
    func testCol2imOfTheColumnGradientIsTheCPUDataGradient() throws {
        let emulator = try KernelEmulator.of(im2colKernels)
        for (index, g) in convolutionGeometries.enumerated() {
            let dy = EmulatedKernels.values(g.outputShape.reduce(1, *), seed: 30 + UInt64(index))
            let weight = EmulatedKernels.values(g.weightShape.reduce(1, *), seed: 40 + UInt64(index))
            let expected = Tensor(zeros: g.inputShape)
            cpu.convolutionBackwardData(gradOutput: Tensor(shape: g.outputShape, values: dy),
                                        weight: Tensor(shape: g.weightShape, values: weight), gradInput: expected, geometry: g)
            let columns = Tensor(zeros: [g.outputPixels, g.patchSize])
            cpu.gemm(transposeA: false, transposeB: false, m: g.outputPixels, n: g.patchSize, k: g.outChannels, alpha: 1,
                     a: Tensor(shape: [g.outputPixels, g.outChannels], values: dy),
                     b: Tensor(shape: [g.outChannels, g.patchSize], values: weight), beta: 0, c: columns)
            for type in ActivationType.allCases {
                let col = EmulatedKernels.activations("dcol", columns.array, type)
                let dx = EmulatedKernels.activations("dx", [Float](repeating: 7, count: g.inputShape.reduce(1, *)), type)
                try EmulatedKernels.run(emulator, [Im2colLaunch.col2im(columns: col.address, gradInput: dx.address,
                                                                       geometry: g, type: type)], buffers: [col, dx])
                XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(dx, type), expected.array),
                                  type == .f32 ? 1e-5 : 1e-2, "geometry \(index), \(type)")
            }
        }
    }

    func testArithmeticBiasAndSumOfSquaresMatchTheCPU() throws {
        let emulator = try KernelEmulator.of(elementwiseKernels)
        let rows = 37, channels = 29, n = rows * channels
        let a = EmulatedKernels.bf16Representable(EmulatedKernels.values(n, seed: 81))
        let b = EmulatedKernels.bf16Representable(EmulatedKernels.values(n, seed: 82))
        let bias = EmulatedKernels.values(channels, seed: 83)
        let sum = Tensor(zeros: [n]); cpu.add(Tensor(shape: [n], values: a), Tensor(shape: [n], values: b), output: sum)
        let accumulated = Tensor(shape: [n], values: b)
        cpu.accumulate(Tensor(shape: [n], values: a), into: accumulated, alpha: -0.75)
        cpu.scale(accumulated, by: 1.5)
        let biased = Tensor(shape: [rows, channels], values: a); cpu.addBias(Tensor(shape: [channels], values: bias), to: biased)
        for type in ActivationType.allCases {
            let bar = type == .f32 ? 1e-6 : 1e-2
            let aBuffer = EmulatedKernels.activations("a", a, type), bBuffer = EmulatedKernels.activations("b", b, type)
            let out = EmulatedKernels.activations("out", [Float](repeating: 9, count: n), type)
            let target = EmulatedKernels.activations("target", b, type), withBias = EmulatedKernels.activations("y", a, type)
            let biasBuffer = GuardedBuffer("bias", floats: bias)
            try EmulatedKernels.run(emulator, [
                ElementwiseLaunch.add(aBuffer.address, bBuffer.address, output: out.address, count: n, type: type),
                ElementwiseLaunch.accumulate(aBuffer.address, into: target.address, count: n, alpha: -0.75, type: type),
                ElementwiseLaunch.scale(target.address, count: n, by: 1.5, type: type),
                ElementwiseLaunch.addBias(biasBuffer.address, to: withBias.address, rows: rows, channels: channels, type: type),
            ], buffers: [aBuffer, bBuffer, out, target, withBias, biasBuffer])
            XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(out, type), sum.array), bar, "\(type) add")
            XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(target, type), accumulated.array), bar,
                              "\(type) accumulate and scale")
            XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(withBias, type), biased.array), bar, "\(type) bias")
        }
        // The bias gradient accumulates (starts from a non-zero gradient), fp32 only.
        let start = EmulatedKernels.values(channels, seed: 84)
        let gradBias = Tensor(shape: [channels], values: start)
        cpu.accumulateBiasGradient(gradOutput: Tensor(shape: [rows, channels], values: a), gradBias: gradBias)
        let dy = GuardedBuffer("dy", floats: a), db = GuardedBuffer("db", floats: start)
        // The squared norm over more elements than one pass's 1024 blocks cover, so the grid-stride loop wraps.
        let big = EmulatedKernels.values(1024 * 256 + 4099, seed: 85)
        let x = GuardedBuffer("x", floats: big)
        let scratch = GuardedBuffer("scratch", bytes: ElementwiseLaunch.sumOfSquaresBlocks(count: big.count) * 8)
        let total = GuardedBuffer("total", bytes: 8)
        try EmulatedKernels.run(emulator, [ElementwiseLaunch.biasGradient(gradOutput: dy.address, rows: rows, channels: channels,
                                                                          gradBias: db.address)]
                                + ElementwiseLaunch.sumOfSquares(x.address, count: big.count, scratch: scratch.address,
                                                                 total: total.address),
                                buffers: [dy, db, x, scratch, total])
        XCTAssertLessThan(EmulatedKernels.relativeError(db.floats(), gradBias.array), 1e-6, "bias gradient")
        let expected = cpu.sumOfSquares(Tensor(shape: [big.count], values: big))
        XCTAssertEqual(total.doubles()[0], expected, accuracy: 1e-12 * expected, "sum of squares")
    }

    /// Max pooling with the ImageNet stem's 3x3/2 window and padding 1 (overlapping windows), on values
    /// with many ties (integers 0-3), so the first-maximum rule decides where gradients go; then global
    /// average pooling.
    func testPoolingMatchesTheCPUIncludingTies() throws {
        let emulator = try KernelEmulator.of(poolingKernels)
        let g = PoolGeometry(batch: 2, height: 9, width: 8, channels: 5, kernelSize: 3, stride: 2, padding: 1)
        let inputCount = g.batch * g.height * g.width * g.channels, outputCount = g.outputShape.reduce(1, *)
        let x = EmulatedKernels.values(inputCount, seed: 91, 0, 4).map { $0.rounded(.down) }
        let dy = EmulatedKernels.bf16Representable(EmulatedKernels.values(outputCount, seed: 92))
        let y = Tensor(zeros: g.outputShape), dx = Tensor(zeros: [g.batch, g.height, g.width, g.channels])
        let xTensor = Tensor(shape: [g.batch, g.height, g.width, g.channels], values: x)
        cpu.maxPoolForward(input: xTensor, output: y, geometry: g)
        cpu.maxPoolBackward(input: xTensor, output: y, gradOutput: Tensor(shape: g.outputShape, values: dy), gradInput: dx, geometry: g)
        let pixels = g.height * g.width
        let average = Tensor(zeros: [g.batch, g.channels]), averageGrad = Tensor(zeros: [g.batch, g.height, g.width, g.channels])
        cpu.globalAveragePoolForward(input: xTensor, output: average)
        let dAverage = Array(dy[0..<(g.batch * g.channels)])
        cpu.globalAveragePoolBackward(gradOutput: Tensor(shape: [g.batch, g.channels], values: dAverage), gradInput: averageGrad)
        for type in ActivationType.allCases {
            let bar = type == .f32 ? 1e-6 : 1e-2
            let xs = EmulatedKernels.activations("x", x, type), ys = EmulatedKernels.activations("y", [Float](repeating: 9, count: outputCount), type)
            let dys = EmulatedKernels.activations("dy", dy, type)
            let dxs = EmulatedKernels.activations("dx", [Float](repeating: 9, count: inputCount), type)
            let means = EmulatedKernels.activations("mean", [Float](repeating: 9, count: g.batch * g.channels), type)
            let dMeans = EmulatedKernels.activations("dmean", dAverage, type)
            let dPixels = EmulatedKernels.activations("dpixels", [Float](repeating: 9, count: inputCount), type)
            try EmulatedKernels.run(emulator, [
                PoolingLaunch.maxPoolForward(input: xs.address, output: ys.address, geometry: g, type: type),
                PoolingLaunch.maxPoolBackward(input: xs.address, output: ys.address, gradOutput: dys.address,
                                              gradInput: dxs.address, geometry: g, type: type),
                PoolingLaunch.globalAveragePoolForward(input: xs.address, output: means.address, batch: g.batch,
                                                       pixels: pixels, channels: g.channels, type: type),
                PoolingLaunch.globalAveragePoolBackward(gradOutput: dMeans.address, gradInput: dPixels.address,
                                                        batch: g.batch, pixels: pixels, channels: g.channels, type: type),
            ], buffers: [xs, ys, dys, dxs, means, dMeans, dPixels])
            XCTAssertEqual(EmulatedKernels.read(ys, type), y.array, "\(type) max-pool forward")
            XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(dxs, type), dx.array), bar, "\(type) max-pool backward")
            XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(means, type), average.array), bar, "\(type) average")
            XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(dPixels, type), averageGrad.array), bar,
                              "\(type) average backward")
        }
    }
}
