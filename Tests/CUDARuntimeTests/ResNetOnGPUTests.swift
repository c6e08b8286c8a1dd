@testable import CUDARuntime
import Engine
import Models
import GPUEmulation
import XCTest

/// A whole ResNet training step on `CUDABackend` (emulated GPU) against the same step on the CPU backend:
/// the same seed gives the same network on both; then logits, loss, the input gradient, every parameter
/// gradient, the BN running statistics, one SGD step and eval-mode logits must agree within the issue's
/// 1e-4 (relative, per tensor). The emulated GPU's addresses cannot be dereferenced on the host, so this
/// also proves the layers never read device memory from the host.
final class ResNetOnGPUTests: XCTestCase {
    func testResNet18CifarStemStepMatchesTheCPU() throws {
        try checkStep(ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 1), input: [4, 8, 8, 1])
    }

    /// 36x36 inputs leave layer4 2x2 maps, so its batch norms see 16 values per channel. With 20x20 inputs
    /// and batch 2 they see 2 (x̂ = ±1), where the backward's cancellation lifts the two backends' different
    /// summation orders to 7e-4 in layer4's gradients: conditioning, not a bug (GoldenResNetTests meets
    /// the same in PyTorch's own fp32 on the narrow ResNet-50's 2x2 maps).
    func testResNet18ImageNetStemStepMatchesTheCPU() throws {
        try checkStep(ResNetConfig(depth: 18, stem: .imagenet, widthMultiplier: 1.0 / 16, inChannels: 3), input: [4, 36, 36, 3])
    }

    func checkStep(_ config: ResNetConfig, input shape: [Int], file: StaticString = #filePath, line: UInt = #line) throws {
        let cpu = CPUBackend(threads: 1), gpu = CUDABackend(device: EmulatedGPU())
        func build(_ backend: any Backend) -> (ResNet, ParameterStore, Mode) {
            let store = ParameterStore(), mode = Mode(training: true)
            let net = ResNet(config, classCount: 10, mode: mode, store: store, backend: backend)
            net.computesInputGradient = true
            store.allocate(seed: 3, backend: backend)
            return (net, store, mode)
        }
        let (cpuNet, cpuStore, cpuMode) = build(cpu), (gpuNet, gpuStore, gpuMode) = build(gpu)
        XCTAssertEqual(gpuStore.values.device, .cuda(0))
        XCTAssertEqual(gpu.download(gpuStore.values), cpuStore.values.array, "the same seed, the same network", file: file, line: line)

        func assertClose(_ got: Tensor, _ expected: Tensor, _ what: String) {
            let error = EmulatedKernels.relativeError(gpu.download(got), expected.array)
            XCTAssertLessThan(error, 1e-4, what, file: file, line: line)
        }
        let values = EmulatedKernels.values(shape.reduce(1, *), seed: 9)
        let labels: [Int32] = (0..<shape[0]).map { Int32($0 * 3 % 10) }
        let cpuLogits = cpuNet.forward(Tensor(shape: shape, values: values))
        let gpuLogits = gpuNet.forward(gpu.tensor(shape, values))
        assertClose(gpuLogits, cpuLogits, "logits")
        let cpuGrad = cpu.zeros(cpuLogits.shape), gpuGrad = gpu.zeros(gpuLogits.shape)
        let loss = cpu.softmaxCrossEntropy(logits: cpuLogits, labels: labels, gradLogits: cpuGrad)
        XCTAssertEqual(gpu.softmaxCrossEntropy(logits: gpuLogits, labels: labels, gradLogits: gpuGrad), loss,
                       accuracy: 1e-5 * loss, "loss", file: file, line: line)
        cpuStore.zeroGradients(); gpuStore.zeroGradients()
        assertClose(gpuNet.backward(gpuGrad), cpuNet.backward(cpuGrad), "input gradient")
        for info in cpuStore.parameters {
            assertClose(gpuStore.parameter(named: info.name)!.gradient, cpuStore.parameter(named: info.name)!.gradient,
                        "gradient of \(info.name)")
        }
        for info in cpuStore.buffers {
            assertClose(gpuStore.buffer(named: info.name)!.value, cpuStore.buffer(named: info.name)!.value, info.name)
        }
        SGD(store: cpuStore, backend: cpu, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4).step()
        SGD(store: gpuStore, backend: gpu, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4).step()
        assertClose(gpuStore.values, cpuStore.values, "parameters after one SGD step")
        cpuMode.training = false; gpuMode.training = false
        assertClose(gpuNet.forward(gpu.tensor(shape, values)), cpuNet.forward(Tensor(shape: shape, values: values)),
                    "eval-mode logits")
    }
}
