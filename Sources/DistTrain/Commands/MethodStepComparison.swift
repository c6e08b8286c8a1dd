import CUDARuntime
import Engine
import Models

/// One training step of each method (SimCLR, VICReg, BYOL, supervised) on a device backend against the
/// same step on the CPU backend: the issue's "a full SimCLR/VICReg/BYOL step's loss and gradients against
/// the CPU's". The same seed builds the same network on both (`ParameterStore.allocate` makes the values
/// on the host and uploads them), both see the same two random views, then every output of the step is
/// compared: the loss and its terms, the embedding std, the probe's features, the gradients (all of them,
/// and the worst tensor), the BN running statistics, the parameters after one optimiser step (LARS, or
/// SGD for the supervised baseline) and BYOL's EMA target. `gpu-check` runs it on the real GPU at both
/// sizes; CI runs the small size on the emulated GPU (`MethodStepComparisonTests`).
///
/// Bars: 1e-4 relative (the fp32 bar), 1e-5 for the loss. fp32 only: against the fp32 CPU a bf16
/// step is too ill-conditioned at these sizes to hold to any useful bar (0.4 % noise on one view's pixels
/// moves the gradient by 15-43 % on the CPU alone, and bf16 rounds every GEMM operand by up to 0.4 %; BYOL's
/// small-size loss moves by 1.2 %). CI checks bf16 steps against an fp32 step on bf16-rounded operands
/// instead (MethodsOnGPUTests), and `gpu-check` holds each bf16 op to 1e-2.
struct MethodStepComparison {
    /// The encoder, heads and batch one comparison trains.
    struct Size {
        let name: String
        let encoder: ResNetConfig
        /// One view, `[B, H, W, C]`.
        let viewShape: [Int]
        let hiddenDimension: Int
        let outputDimension: Int

        /// ResNet-18 at 1/16 width on 8x8 single-channel views, batch 8: small enough for the emulated
        /// GPU. Batch 8 because the heads' batch norms normalise over the batch: over 4 rows their
        /// backward cancels so much that summation order alone moves BYOL's encoder gradients by 2e-4.
        static let small = Size(name: "small", encoder: ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 1),
                                viewShape: [8, 8, 8, 1], hiddenDimension: 16, outputDimension: 16)
        /// The real network: ResNet-18 at full width with the CIFAR stem on 32x32 RGB views, batch 32.
        static let resnet18 = Size(name: "resnet-18 32x32", encoder: ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1, inChannels: 3),
                                   viewShape: [32, 32, 32, 3], hiddenDimension: 512, outputDimension: 128)
    }

    static let methods = ["simclr", "vicreg", "byol", "supervised"]

    let device: any Backend
    let cpu: any Backend
    let size: Size
    private(set) var results: [OpComparison] = []

    /// Runs one step of each of `methods` on `device` and on `cpu`; one result line per compared output,
    /// named "<method> <size>: <output>".
    static func run(on device: any Backend, cpu: any Backend, size: Size, methods: [String] = methods) -> [OpComparison] {
        var comparison = MethodStepComparison(device: device, cpu: cpu, size: size)
        for method in methods { comparison.compareStep(method) }
        return comparison.results
    }

    func make(_ method: String, _ backend: any Backend) -> any SelfSupervisedMethod {
        let hidden = size.hiddenDimension, output = size.outputDimension
        switch method {
        case "simclr": return SimCLR(encoder: size.encoder, projectorHiddenDimension: hidden, projectorOutputDimension: output,
                                     seed: 5, backend: backend)
        case "vicreg": return VICReg(encoder: size.encoder, projectorHiddenDimension: hidden, projectorOutputDimension: output,
                                     seed: 5, backend: backend)
        case "byol": return BYOL(encoder: size.encoder, projectorHiddenDimension: hidden, projectorOutputDimension: output,
                                 predictorHiddenDimension: hidden, seed: 5, backend: backend)
        case "supervised": return Supervised(encoder: size.encoder, classCount: 10, seed: 5, backend: backend)
        default: preconditionFailure("MethodStepComparison has no method '\(method)'")
        }
    }

    func optimizer(_ method: any SelfSupervisedMethod, _ backend: any Backend) -> any Optimizer {
        method.name == "supervised"
            ? SGD(store: method.store, backend: backend, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
            : LARS(store: method.store, backend: backend, learningRate: 0.3, weightDecay: 1e-4)
    }

    mutating func compareStep(_ name: String) {
        let onCPU = make(name, cpu), onDevice = make(name, device)
        let count = size.viewShape.reduce(1, *)
        var random = RandomGenerator(seed: 7, 0x7374_6570)
        let views = (0..<2).map { _ in Tensor(shape: size.viewShape, values: (0..<count).map { _ in Float(random.uniform(-1, 1)) }) }
        let labels = (0..<size.viewShape[0]).map { Int32($0 * 7 % 10) }
        func step(_ method: any SelfSupervisedMethod, _ backend: any Backend) -> MethodStepResult {
            method.store.zeroGradients()
            return method.trainStep(view1: backend.deviceCopy(views[0]), view2: backend.deviceCopy(views[1]), labels: labels)
        }
        let expected = step(onCPU, cpu), got = step(onDevice, device)
        let prefix = "\(name) \(size.name): "
        record(prefix + "loss", got.loss, expected.loss, bar: 1e-5)
        for (a, b) in zip(got.terms, expected.terms) {
            record(prefix + "loss term \(b.name)", a.value, b.value, scale: max(abs(b.value), 1e-3), bar: 1e-5)
        }
        record(prefix + "embedding std", got.embeddingStd, expected.embeddingStd, bar: 1e-4)
        record(prefix + "features", device.onHost(got.features).array, expected.features.array)
        compareGradients(prefix, cpu: onCPU.store, device: onDevice.store)
        record(prefix + "BN running statistics", device.onHost(onDevice.store.bufferValues).array, onCPU.store.bufferValues.array)

        optimizer(onCPU, cpu).step(); optimizer(onDevice, device).step()
        onCPU.afterOptimizerStep(step: 0, totalSteps: 10); onDevice.afterOptimizerStep(step: 0, totalSteps: 10)
        record(prefix + "parameters after the optimiser step", device.onHost(onDevice.store.values).array, onCPU.store.values.array)
        for ((_, cpuStore), (_, deviceStore)) in zip(onCPU.extraStores, onDevice.extraStores) {
            record(prefix + "EMA target", device.onHost(deviceStore.values).array, cpuStore.values.array)
            record(prefix + "target BN statistics", device.onHost(deviceStore.bufferValues).array, cpuStore.bufferValues.array)
        }
    }

    /// All gradients as one vector, then the worst tensor, each relative to the larger of its own scale and
    /// 1e-3 of the largest gradient: a Linear bias feeding a batch norm has an analytic gradient of 0 (the
    /// BN removes the mean), so both backends hold rounding noise there, which differs by 100 % relative to
    /// itself.
    mutating func compareGradients(_ prefix: String, cpu cpuStore: ParameterStore, device deviceStore: ParameterStore) {
        let expectedAll = cpuStore.gradients.array, gotAll = device.onHost(deviceStore.gradients).array
        record(prefix + "gradients", gotAll, expectedAll)
        let largest = Double(expectedAll.map { abs($0) }.max() ?? 0)
        var worst = (name: "", error: -1.0)
        for info in cpuStore.parameters {
            guard let expected = cpuStore.parameter(named: info.name)?.gradient.array,
                  let onDevice = deviceStore.parameter(named: info.name)?.gradient else { continue }
            let got = device.onHost(onDevice).array
            let scale = max(Double(expected.map { abs($0) }.max() ?? 0), 1e-3 * largest)
            let error = Self.relativeError(got, expected, scale: scale)
            if error > worst.error || error.isNaN { worst = (info.name, error) }
        }
        results.append(OpComparison(operation: prefix + "worst gradient tensor (\(worst.name))", relativeError: worst.error, bar: 1e-4))
    }

    mutating func record(_ operation: String, _ got: [Float], _ expected: [Float], bar: Double = 1e-4) {
        let scale = Double(expected.map { abs($0) }.max() ?? 0)
        results.append(OpComparison(operation: operation, relativeError: Self.relativeError(got, expected, scale: scale), bar: bar))
    }

    mutating func record(_ operation: String, _ got: Double, _ expected: Double, scale: Double? = nil, bar: Double) {
        let error = got.isFinite ? abs(got - expected) / max(scale ?? abs(expected), 1e-30) : .infinity
        results.append(OpComparison(operation: operation, relativeError: error, bar: bar))
    }

    /// `‖got − expected‖∞ / scale`; infinity when `got` holds a non-finite value or the counts differ.
    static func relativeError(_ got: [Float], _ expected: [Float], scale: Double) -> Double {
        guard got.count == expected.count, !got.contains(where: { !$0.isFinite }) else { return .infinity }
        let difference = zip(got, expected).map { abs(Double($0) - Double($1)) }.max() ?? 0
        return difference / max(scale, 1e-30)
    }
}
