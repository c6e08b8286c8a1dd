@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// The batch-norm family on the CPU emulator, with the backend's launch shapes, against the CPU backend:
/// 600 rows (three level-1 chunks, the last partial) of 40 channels (two channel blocks, the second
/// partial); in fp32, channel 3 sits at 1000 ± 0.5, where Σx² − (Σx)²/M in fp32 would lose the variance.
/// Each storage type is compared with the CPU on the values it can hold (bf16 rounds channel 3 to 1000).
final class BatchNormKernelTests: XCTestCase {
    let cpu = CPUBackend(threads: 1)
    let rows = 600, channels = 40, epsilon: Float = 1e-5

    func input(_ type: ActivationType) -> [Float] {
        var x = EmulatedKernels.values(rows * channels, seed: 31, -2, 3)
        for row in 0..<rows { x[row * channels + 3] = 1000 + x[row * channels + 3] / 5 }
        return type == .f32 ? x : EmulatedKernels.bf16Representable(x)
    }

    func tensor(_ values: [Float]) -> Tensor { Tensor(shape: [values.count], values: values) }

    /// SyncBatchNorm's combination on the device equals the CPU's (`CPUBackend.combineRanks`, the MPI path) for
    /// three ranks' statistics of 40 channels, and against a hand-worked channel: ranks with means 1, 2, 6
    /// and variances 1, 0, 2 give mean 3 and variance (1 + 0 + 2 + 4 + 1 + 9)/3 = 17/3.
    func testCombiningRanksMatchesTheCPU() throws {
        let emulator = try KernelEmulator.of(batchNormKernels)
        let ranks = 3
        var gathered = EmulatedKernels.values(ranks * 2 * channels, seed: 34, 0, 2)
        for (r, (m, v)) in [(Float(1), Float(1)), (2, 0), (6, 2)].enumerated() {
            gathered[r * 2 * channels] = m
            gathered[r * 2 * channels + channels] = v
        }
        let mean = Tensor(zeros: [channels]), variance = Tensor(zeros: [channels])
        cpu.batchNormCombineRanks(gathered: Tensor(shape: [ranks, 2, channels], values: gathered), mean: mean, variance: variance)
        XCTAssertEqual(mean[flat: 0], 3)
        XCTAssertEqual(variance[flat: 0], 17.0 / 3, accuracy: 1e-6)
        let all = GuardedBuffer("gathered", floats: gathered)
        let means = GuardedBuffer("mean", bytes: channels * 4), variances = GuardedBuffer("variance", bytes: channels * 4)
        try EmulatedKernels.run(emulator, [BatchNormLaunch.combineRanks(gathered: all.address, ranks: ranks, mean: means.address,
                                                                        variance: variances.address, channels: channels)],
                                buffers: [all, means, variances])
        XCTAssertEqual(means.floats(), mean.array)
        XCTAssertEqual(variances.floats(), variance.array)
    }

    func testStatisticsForwardAndFusedReLUMatchTheCPU() throws {
        let emulator = try KernelEmulator.of(batchNormKernels)
        let weight = EmulatedKernels.values(channels, seed: 32, 0.5, 1.5), bias = EmulatedKernels.values(channels, seed: 33)
        for type in ActivationType.allCases {
            let x = input(type)
            let mean = Tensor(zeros: [channels]), variance = Tensor(zeros: [channels]), y = Tensor(zeros: [rows, channels])
            cpu.batchNormStatistics(input: Tensor(shape: [rows, channels], values: x), mean: mean, variance: variance)
            cpu.batchNormForward(input: Tensor(shape: [rows, channels], values: x), mean: mean, variance: variance,
                                 weight: tensor(weight), bias: tensor(bias), epsilon: epsilon, output: y)
            let relu = y.array.map { max($0, 0) }
            if type == .f32 { XCTAssertGreaterThan(variance[flat: 3], 0.001, "the shifted channel's variance must survive") }
            let xs = EmulatedKernels.activations("x", x, type)
            let scratch = GuardedBuffer("scratch", bytes: BatchNormLaunch.scratchCount(rows: rows, channels: channels) * 4)
            let means = GuardedBuffer("mean", bytes: channels * 4), variances = GuardedBuffer("variance", bytes: channels * 4)
            let weights = GuardedBuffer("weight", floats: weight), biases = GuardedBuffer("bias", floats: bias)
            let ys = EmulatedKernels.activations("y", [Float](repeating: 0, count: rows * channels), type)
            let fused = EmulatedKernels.activations("y_relu", [Float](repeating: 0, count: rows * channels), type)
            var launches = BatchNormLaunch.statistics(input: xs.address, rows: rows, channels: channels, scratch: scratch.address,
                                                      mean: means.address, variance: variances.address, type: type)
            for (output, withReLU) in [(ys, false), (fused, true)] {
                launches.append(BatchNormLaunch.forward(input: xs.address, mean: means.address, variance: variances.address,
                                                        weight: weights.address, bias: biases.address, epsilon: epsilon,
                                                        output: output.address, rows: rows, channels: channels,
                                                        relu: withReLU, type: type))
            }
            try EmulatedKernels.run(emulator, launches, buffers: [xs, scratch, means, variances, weights, biases, ys, fused])
            XCTAssertLessThan(EmulatedKernels.relativeError(means.floats(), mean.array), 1e-6, "\(type) mean")
            // Per channel, so the small variances are held to the same relative bar as the large ones.
            for c in 0..<channels {
                XCTAssertEqual(Double(variances.floats()[c]), Double(variance[flat: c]), accuracy: 1e-4 * Double(variance[flat: c]),
                               "\(type) variance of channel \(c)")
            }
            let bar = type == .f32 ? 1e-4 : 1e-2
            XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(ys, type), y.array), bar, "\(type) forward")
            XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(fused, type), relu), bar, "\(type) BN+ReLU")
        }
    }

    /// Backward over `count` = 2·rows (as SyncBN over two ranks would pass), then the running statistics.
    func testBackwardSumsInputGradientAndRunningStatisticsMatchTheCPU() throws {
        let emulator = try KernelEmulator.of(batchNormKernels)
        for type in ActivationType.allCases {
            let x = input(type), dy = EmulatedKernels.bf16Representable(EmulatedKernels.values(rows * channels, seed: 34))
            let weight = EmulatedKernels.values(channels, seed: 35, 0.5, 1.5)
            let mean = Tensor(zeros: [channels]), variance = Tensor(zeros: [channels])
            let xTensor = Tensor(shape: [rows, channels], values: x), dyTensor = Tensor(shape: [rows, channels], values: dy)
            cpu.batchNormStatistics(input: xTensor, mean: mean, variance: variance)
            let sum = Tensor(zeros: [channels]), sumNormalized = Tensor(zeros: [channels]), dx = Tensor(zeros: [rows, channels])
            cpu.batchNormBackwardReduce(gradOutput: dyTensor, input: xTensor, mean: mean, variance: variance, epsilon: epsilon,
                                        sumGradient: sum, sumGradientNormalized: sumNormalized)
            cpu.batchNormBackwardInput(gradOutput: dyTensor, input: xTensor, mean: mean, variance: variance,
                                       weight: tensor(weight), epsilon: epsilon, sumGradient: sum,
                                       sumGradientNormalized: sumNormalized, count: 2 * rows, gradInput: dx)
            let runningStart = EmulatedKernels.values(2 * channels, seed: 36, 0.5, 1)
            let runningMean = tensor(Array(runningStart[..<channels])), runningVariance = tensor(Array(runningStart[channels...]))
            cpu.batchNormUpdateRunning(mean: mean, variance: variance, count: rows, momentum: 0.1,
                                       runningMean: runningMean, runningVariance: runningVariance)
            let xs = EmulatedKernels.activations("x", x, type), dys = EmulatedKernels.activations("dy", dy, type)
            let means = GuardedBuffer("mean", floats: mean.array), variances = GuardedBuffer("variance", floats: variance.array)
            let weights = GuardedBuffer("weight", floats: weight)
            let scratch = GuardedBuffer("scratch", bytes: BatchNormLaunch.scratchCount(rows: rows, channels: channels) * 4)
            let sums = GuardedBuffer("sum_dy", bytes: channels * 4), sumsNormalized = GuardedBuffer("sum_dy_xhat", bytes: channels * 4)
            let dxs = EmulatedKernels.activations("dx", [Float](repeating: 0, count: rows * channels), type)
            let runningMeans = GuardedBuffer("running_mean", floats: Array(runningStart[..<channels]))
            let runningVariances = GuardedBuffer("running_variance", floats: Array(runningStart[channels...]))
            let launches = BatchNormLaunch.backwardReduce(gradOutput: dys.address, input: xs.address, mean: means.address,
                                                          variance: variances.address, epsilon: epsilon, rows: rows,
                                                          channels: channels, scratch: scratch.address,
                                                          sumGradient: sums.address,
                                                          sumGradientNormalized: sumsNormalized.address, type: type)
                + [BatchNormLaunch.backwardInput(gradOutput: dys.address, input: xs.address, mean: means.address,
                                                 variance: variances.address, weight: weights.address, epsilon: epsilon,
                                                 sumGradient: sums.address, sumGradientNormalized: sumsNormalized.address,
                                                 count: 2 * rows, gradInput: dxs.address, rows: rows, channels: channels,
                                                 type: type),
                   BatchNormLaunch.updateRunning(mean: means.address, variance: variances.address, count: rows,
                                                 momentum: 0.1, runningMean: runningMeans.address,
                                                 runningVariance: runningVariances.address, channels: channels)]
            try EmulatedKernels.run(emulator, launches, buffers: [xs, dys, means, variances, weights, scratch, sums,
                                                                  sumsNormalized, dxs, runningMeans, runningVariances])
            XCTAssertLessThan(EmulatedKernels.relativeError(sums.floats(), sum.array), 1e-5, "\(type) Σdy")
            XCTAssertLessThan(EmulatedKernels.relativeError(sumsNormalized.floats(), sumNormalized.array), 1e-4, "\(type) Σdy·x̂")
            XCTAssertLessThan(EmulatedKernels.relativeError(EmulatedKernels.read(dxs, type), dx.array),
                              type == .f32 ? 1e-4 : 1e-2, "\(type) dx")
            XCTAssertLessThan(EmulatedKernels.relativeError(runningMeans.floats(), runningMean.array), 1e-6, "running mean")
            XCTAssertLessThan(EmulatedKernels.relativeError(runningVariances.floats(), runningVariance.array), 1e-6, "running variance")
        }
    }
}
