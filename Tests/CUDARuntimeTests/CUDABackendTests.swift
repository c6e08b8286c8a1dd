@testable import CUDARuntime
import Engine
import XCTest

/// Every `Backend` op of `CUDABackend`, on the emulated GPU (kernels on the CPU emulator, cuBLAS's
/// column-major sgemm as a loop), against the CPU backend on the same inputs. fp32: the bar for
/// GPU against CPU is a relative error below 1e-4; most ops here agree far closer.
final class CUDABackendTests: XCTestCase {
    let cpu = CPUBackend(threads: 1)
    var device: EmulatedGPU!
    var gpu: CUDABackend!

    override func setUp() {
        device = EmulatedGPU()
        gpu = CUDABackend(device: device)
    }

    /// The same values on both backends.
    func pair(_ shape: [Int], seed: UInt64, _ low: Double = -1, _ high: Double = 1) -> (cpu: Tensor, gpu: Tensor) {
        let values = EmulatedKernels.values(shape.reduce(1, *), seed: seed, low, high)
        return (Tensor(shape: shape, values: values), gpu.tensor(shape, values))
    }

    func assertClose(_ got: Tensor, _ expected: Tensor, _ bar: Double = 1e-5, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.shape, expected.shape, what, file: file, line: line)
        let error = EmulatedKernels.relativeError(gpu.download(got), expected.array)
        XCTAssertLessThan(error, bar, what, file: file, line: line)
    }

    func testTensorsLiveOnTheDeviceAndAreFreedWithTheirStorage() throws {
        XCTAssertEqual(gpu.device, .cuda(0))
        let before = device.liveAllocations
        do {
            let t = gpu.tensor([2, 3], [1, 2, 3, 4, 5, 6])
            XCTAssertEqual(t.device, .cuda(0))
            XCTAssertEqual(gpu.download(t), [1, 2, 3, 4, 5, 6])
            let zero = gpu.zeros([4])
            XCTAssertEqual(gpu.download(zero), [0, 0, 0, 0])
            gpu.fill(zero, with: 2.5)
            gpu.copy(Tensor(view: t.storage, offset: 1, shape: [4]), to: zero)  // a view: offset in the address
            XCTAssertEqual(gpu.download(zero), [2, 3, 4, 5])
            XCTAssertEqual(device.liveAllocations, before + 2)
        }
        XCTAssertEqual(device.liveAllocations, before, "releasing the tensors frees their device memory")
    }

    /// All four transpose combinations and beta 0 / 1, with m, n, k all different.
    func testGEMMMatchesTheCPUForEveryTransposeAndBeta() {
        let m = 5, n = 7, k = 3
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                for beta: Float in [0, 1] {
                    let a = pair(transposeA ? [k, m] : [m, k], seed: 1), b = pair(transposeB ? [n, k] : [k, n], seed: 2)
                    let c = pair([m, n], seed: 3)
                    cpu.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5, a: a.cpu, b: b.cpu,
                             beta: beta, c: c.cpu)
                    gpu.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5, a: a.gpu, b: b.gpu,
                             beta: beta, c: c.gpu)
                    assertClose(c.gpu, c.cpu, 1e-6, "transposeA \(transposeA), transposeB \(transposeB), beta \(beta)")
                }
            }
        }
    }

    /// Forward, data gradient and (accumulated) weight gradient for a padded 3x3/2, the 7x7/2 stem and a 1x1.
    func testConvolutionForwardAndBothGradientsMatchTheCPU() {
        let geometries = [
            ConvGeometry(batch: 2, height: 7, width: 6, inChannels: 5, outChannels: 4, kernelSize: 3, stride: 2, padding: 1),
            ConvGeometry(batch: 1, height: 12, width: 11, inChannels: 3, outChannels: 8, kernelSize: 7, stride: 2, padding: 3),
            ConvGeometry(batch: 2, height: 4, width: 4, inChannels: 6, outChannels: 3, kernelSize: 1, stride: 1, padding: 0),
        ]
        for (index, g) in geometries.enumerated() {
            let seed = UInt64(10 * index)
            let x = pair(g.inputShape, seed: seed + 1), w = pair(g.weightShape, seed: seed + 2)
            let dy = pair(g.outputShape, seed: seed + 3), dw = pair(g.weightShape, seed: seed + 4)
            let y = (cpu: Tensor(zeros: g.outputShape), gpu: gpu.zeros(g.outputShape))
            let dx = (cpu: Tensor(zeros: g.inputShape), gpu: gpu.zeros(g.inputShape))
            cpu.convolutionForward(input: x.cpu, weight: w.cpu, output: y.cpu, geometry: g)
            gpu.convolutionForward(input: x.gpu, weight: w.gpu, output: y.gpu, geometry: g)
            cpu.convolutionBackwardData(gradOutput: dy.cpu, weight: w.cpu, gradInput: dx.cpu, geometry: g)
            gpu.convolutionBackwardData(gradOutput: dy.gpu, weight: w.gpu, gradInput: dx.gpu, geometry: g)
            cpu.convolutionBackwardWeight(input: x.cpu, gradOutput: dy.cpu, gradWeight: dw.cpu, geometry: g)
            gpu.convolutionBackwardWeight(input: x.gpu, gradOutput: dy.gpu, gradWeight: dw.gpu, geometry: g)
            assertClose(y.gpu, y.cpu, 1e-5, "geometry \(index): forward")
            assertClose(dx.gpu, dx.cpu, 1e-5, "geometry \(index): data gradient")
            assertClose(dw.gpu, dw.cpu, 1e-5, "geometry \(index): weight gradient")
        }
    }

    func testBatchNormOpsMatchTheCPU() {
        let rows = 300, channels = 20
        let x = pair([rows, channels], seed: 21, -2, 3), dy = pair([rows, channels], seed: 22)
        let weight = pair([channels], seed: 23, 0.5, 1.5), bias = pair([channels], seed: 24)
        func perChannel() -> (cpu: Tensor, gpu: Tensor) { (Tensor(zeros: [channels]), gpu.zeros([channels])) }
        let mean = perChannel(), variance = perChannel(), sum = perChannel(), sumNormalized = perChannel()
        let y = (cpu: Tensor(zeros: [rows, channels]), gpu: gpu.zeros([rows, channels]))
        let dx = (cpu: Tensor(zeros: [rows, channels]), gpu: gpu.zeros([rows, channels]))
        let runningMean = pair([channels], seed: 25), runningVariance = pair([channels], seed: 26, 0.5, 1)
        cpu.batchNormStatistics(input: x.cpu, mean: mean.cpu, variance: variance.cpu)
        gpu.batchNormStatistics(input: x.gpu, mean: mean.gpu, variance: variance.gpu)
        cpu.batchNormForward(input: x.cpu, mean: mean.cpu, variance: variance.cpu, weight: weight.cpu, bias: bias.cpu,
                             epsilon: 1e-5, output: y.cpu)
        gpu.batchNormForward(input: x.gpu, mean: mean.gpu, variance: variance.gpu, weight: weight.gpu, bias: bias.gpu,
                             epsilon: 1e-5, output: y.gpu)
        cpu.batchNormBackwardReduce(gradOutput: dy.cpu, input: x.cpu, mean: mean.cpu, variance: variance.cpu, epsilon: 1e-5,
                                    sumGradient: sum.cpu, sumGradientNormalized: sumNormalized.cpu)
        gpu.batchNormBackwardReduce(gradOutput: dy.gpu, input: x.gpu, mean: mean.gpu, variance: variance.gpu, epsilon: 1e-5,
                                    sumGradient: sum.gpu, sumGradientNormalized: sumNormalized.gpu)
        cpu.batchNormBackwardInput(gradOutput: dy.cpu, input: x.cpu, mean: mean.cpu, variance: variance.cpu, weight: weight.cpu,
                                   epsilon: 1e-5, sumGradient: sum.cpu, sumGradientNormalized: sumNormalized.cpu, count: rows,
                                   gradInput: dx.cpu)
        gpu.batchNormBackwardInput(gradOutput: dy.gpu, input: x.gpu, mean: mean.gpu, variance: variance.gpu, weight: weight.gpu,
                                   epsilon: 1e-5, sumGradient: sum.gpu, sumGradientNormalized: sumNormalized.gpu, count: rows,
                                   gradInput: dx.gpu)
        cpu.batchNormUpdateRunning(mean: mean.cpu, variance: variance.cpu, count: rows, momentum: 0.1,
                                   runningMean: runningMean.cpu, runningVariance: runningVariance.cpu)
        gpu.batchNormUpdateRunning(mean: mean.gpu, variance: variance.gpu, count: rows, momentum: 0.1,
                                   runningMean: runningMean.gpu, runningVariance: runningVariance.gpu)
        for (got, expected, name) in [(mean, mean, "mean"), (variance, variance, "variance"), (y, y, "forward"),
                                      (sum, sum, "Σdy"), (sumNormalized, sumNormalized, "Σdy·x̂"), (dx, dx, "dx"),
                                      (runningMean, runningMean, "running mean"), (runningVariance, runningVariance, "running variance")] {
            assertClose(got.gpu, expected.cpu, 1e-5, name)
        }
    }

    func testElementwisePoolingAndLinearOpsMatchTheCPU() {
        let n = 2, h = 6, w = 5, c = 7
        let x = pair([n, h, w, c], seed: 31), other = pair([n, h, w, c], seed: 32)
        func like(_ shape: [Int]) -> (cpu: Tensor, gpu: Tensor) { (Tensor(zeros: shape), gpu.zeros(shape)) }
        let relu = like(x.cpu.shape), reluGrad = like(x.cpu.shape), sum = like(x.cpu.shape)
        cpu.reluForward(input: x.cpu, output: relu.cpu); gpu.reluForward(input: x.gpu, output: relu.gpu)
        cpu.reluBackward(output: relu.cpu, gradOutput: other.cpu, gradInput: reluGrad.cpu)
        gpu.reluBackward(output: relu.gpu, gradOutput: other.gpu, gradInput: reluGrad.gpu)
        cpu.add(x.cpu, other.cpu, output: sum.cpu); gpu.add(x.gpu, other.gpu, output: sum.gpu)
        cpu.accumulate(x.cpu, into: other.cpu, alpha: 0.3); gpu.accumulate(x.gpu, into: other.gpu, alpha: 0.3)
        cpu.scale(other.cpu, by: -2); gpu.scale(other.gpu, by: -2)
        for (got, expected, name) in [(relu, relu, "relu"), (reluGrad, reluGrad, "relu backward"), (sum, sum, "add"),
                                      (other, other, "accumulate and scale")] {
            assertClose(got.gpu, expected.cpu, 1e-6, name)
        }
        XCTAssertEqual(gpu.sumOfSquares(x.gpu), cpu.sumOfSquares(x.cpu), accuracy: 1e-9, "sum of squares")

        let pool = PoolGeometry(batch: n, height: h, width: w, channels: c, kernelSize: 3, stride: 2, padding: 1)
        let pooled = like(pool.outputShape), poolGrad = like(x.cpu.shape), dPooled = pair(pool.outputShape, seed: 33)
        cpu.maxPoolForward(input: x.cpu, output: pooled.cpu, geometry: pool)
        gpu.maxPoolForward(input: x.gpu, output: pooled.gpu, geometry: pool)
        cpu.maxPoolBackward(input: x.cpu, output: pooled.cpu, gradOutput: dPooled.cpu, gradInput: poolGrad.cpu, geometry: pool)
        gpu.maxPoolBackward(input: x.gpu, output: pooled.gpu, gradOutput: dPooled.gpu, gradInput: poolGrad.gpu, geometry: pool)
        let average = like([n, c]), averageGrad = like(x.cpu.shape), dAverage = pair([n, c], seed: 34)
        cpu.globalAveragePoolForward(input: x.cpu, output: average.cpu); gpu.globalAveragePoolForward(input: x.gpu, output: average.gpu)
        cpu.globalAveragePoolBackward(gradOutput: dAverage.cpu, gradInput: averageGrad.cpu)
        gpu.globalAveragePoolBackward(gradOutput: dAverage.gpu, gradInput: averageGrad.gpu)
        let bias = pair([c], seed: 35), biasGrad = pair([c], seed: 36)
        cpu.addBias(bias.cpu, to: x.cpu); gpu.addBias(bias.gpu, to: x.gpu)
        cpu.accumulateBiasGradient(gradOutput: x.cpu, gradBias: biasGrad.cpu)
        gpu.accumulateBiasGradient(gradOutput: x.gpu, gradBias: biasGrad.gpu)
        for (got, expected, name) in [(pooled, pooled, "max pool"), (poolGrad, poolGrad, "max pool backward"),
                                      (average, average, "average pool"), (averageGrad, averageGrad, "average pool backward"),
                                      (x, x, "add bias"), (biasGrad, biasGrad, "bias gradient")] {
            assertClose(got.gpu, expected.cpu, 1e-6, name)
        }
    }

    func testCrossEntropyAndOptimiserStepsMatchTheCPU() {
        let logits = pair([6, 10], seed: 41, -5, 5), labels: [Int32] = [3, 0, 9, 9, 4, 1]
        let grad = (cpu: Tensor(zeros: [6, 10]), gpu: gpu.zeros([6, 10]))
        let loss = cpu.softmaxCrossEntropy(logits: logits.cpu, labels: labels, gradLogits: grad.cpu)
        XCTAssertEqual(gpu.softmaxCrossEntropy(logits: logits.gpu, labels: labels, gradLogits: grad.gpu), loss, accuracy: 1e-6 * loss)
        assertClose(grad.gpu, grad.cpu, 1e-6, "cross-entropy gradient")

        let count = 500
        let p = pair([count], seed: 42), g = pair([count], seed: 43, -0.1, 0.1)
        let velocity = (cpu: Tensor(zeros: [count]), gpu: gpu.zeros([count]))
        let larsVelocity = (cpu: Tensor(zeros: [count]), gpu: gpu.zeros([count]))
        let m = (cpu: Tensor(zeros: [count]), gpu: gpu.zeros([count])), v = (cpu: Tensor(zeros: [count]), gpu: gpu.zeros([count]))
        for step in 1...2 {
            for backend in [cpu as any Backend, gpu as any Backend] {
                let (pt, gt) = backend === cpu ? (p.cpu, g.cpu) : (p.gpu, g.gpu)
                backend.sgdStep(parameters: pt, gradients: gt, momentumBuffer: backend === cpu ? velocity.cpu : velocity.gpu,
                                learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: step == 2)
                backend.larsStep(parameters: pt, gradients: gt, momentumBuffer: backend === cpu ? larsVelocity.cpu : larsVelocity.gpu,
                                 learningRate: 0.3, momentum: 0.9, weightDecay: 1e-5, trustRatio: 0.37)
                backend.adamwStep(parameters: pt, gradients: gt, firstMoment: backend === cpu ? m.cpu : m.gpu,
                                  secondMoment: backend === cpu ? v.cpu : v.gpu, learningRate: 1e-3, beta1: 0.9,
                                  beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01, step: step)
            }
        }
        for (got, expected, name) in [(p, p, "parameters"), (velocity, velocity, "SGD momentum"),
                                      (larsVelocity, larsVelocity, "LARS momentum"), (m, m, "AdamW m"), (v, v, "AdamW v")] {
            assertClose(got.gpu, expected.cpu, 1e-6, name)
        }
    }
}
