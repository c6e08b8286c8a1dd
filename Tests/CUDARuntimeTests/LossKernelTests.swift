@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// Softmax cross-entropy on the CPU emulator against the CPU backend, for 10 classes (one warp) and 300
/// (several warps, the block reductions), with unlabelled rows (−1) that must get no loss and no gradient.
final class LossKernelTests: XCTestCase {
    let cpu = CPUBackend(threads: 1)

    func testSoftmaxCrossEntropyMatchesTheCPUAndSkipsUnlabelledRows() throws {
        let emulator = try KernelEmulator.of(lossKernels)
        for classes in [10, 300] {
            let rows = 6
            let logits = EmulatedKernels.values(rows * classes, seed: 70 + UInt64(classes), -8, 8)
            let labels: [Int32] = [3, -1, 0, Int32(classes - 1), -1, 7]
            let labelled = labels.indices.filter { labels[$0] >= 0 }
            // The CPU reference sees the labelled rows only; its mean is over them, as grad_scale asks.
            let cpuLogits = labelled.flatMap { logits[($0 * classes)..<(($0 + 1) * classes)] }
            let cpuGradient = Tensor(zeros: [labelled.count, classes])
            let loss = cpu.softmaxCrossEntropy(logits: Tensor(shape: [labelled.count, classes], values: cpuLogits),
                                               labels: labelled.map { labels[$0] }, gradLogits: cpuGradient)
            let logitBuffer = GuardedBuffer("logits", floats: logits), labelBuffer = GuardedBuffer("labels", integers: labels)
            let losses = GuardedBuffer("losses", floats: [Float](repeating: 9, count: rows))
            let gradient = GuardedBuffer("grad", floats: [Float](repeating: 9, count: rows * classes))
            try EmulatedKernels.run(emulator, [LossLaunch.softmaxCrossEntropy(
                logits: logitBuffer.address, labels: labelBuffer.address, losses: losses.address, gradLogits: gradient.address,
                rows: rows, classes: classes, gradScale: 1 / Float(labelled.count))],
                buffers: [logitBuffer, labelBuffer, losses, gradient])
            let mean = losses.floats().map(Double.init).reduce(0, +) / Double(labelled.count)
            XCTAssertEqual(mean, loss, accuracy: 1e-5 * abs(loss), "\(classes) classes: loss")
            let grad = gradient.floats()
            let gotLabelled = labelled.flatMap { grad[($0 * classes)..<(($0 + 1) * classes)] }
            XCTAssertLessThan(EmulatedKernels.relativeError(gotLabelled, cpuGradient.array), 1e-5, "\(classes) classes: gradient")
            for row in labels.indices where labels[row] < 0 {
                XCTAssertEqual(losses.floats()[row], 0, "unlabelled row \(row): loss")
                XCTAssertTrue(grad[(row * classes)..<((row + 1) * classes)].allSatisfy { $0 == 0 }, "unlabelled row \(row): gradient")
            }
        }
    }
}
