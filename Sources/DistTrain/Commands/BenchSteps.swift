import CUDARuntime
import Engine
import Models

/// The training step `disttrain bench` times, built on one backend with random inputs that stay on the
/// device: `classifier` (a ResNet with a 10-way head, cross-entropy, SGD: the step the CPU benchmarks
/// have always timed) or a method's own step (`simclr`, `vicreg`, `byol`, `mocov2`, `supervised`: two views
/// through encoder and heads, the method's loss, LARS or SGD, BYOL's and MoCo's EMA update), as `train`
/// builds it.
struct BenchedStep {
    /// One line saying what a step does.
    let description: String
    /// The encoder (for `--profile`'s per-convolution table) and one view it takes.
    let encoder: ResNet
    let input: Tensor
    let store: ParameterStore
    /// Views each image passes through per step (2 for the self-supervised methods).
    let viewCount: Int
    /// FLOPs of the last step's GEMMs (2·M·K·N each; forward, input gradient, weight gradient).
    let flops: () -> Double
    /// One training step; on a GPU it ends with a synchronisation, so its time is the device's.
    let run: () -> Void

    static let methods = ["classifier"] + TrainCommand.methods

    /// `method`'s step on `backend` for `batch` images of `size`² px.
    static func make(method: String, config: ResNetConfig, batch: Int, size: Int, backend: any Backend) throws -> BenchedStep {
        method == "classifier"
            ? classifier(config: config, batch: batch, size: size, backend: backend)
            : try methodStep(method, config: config, batch: batch, size: size, backend: backend)
    }

    /// A random `[batch, size, size, channels]` view on `backend` (normal values, as normalised pixels are).
    static func randomView(batch: Int, size: Int, channels: Int, seed: UInt64, backend: any Backend) -> Tensor {
        var random = RandomGenerator(seed: seed)
        let shape = [batch, size, size, channels]
        return backend.deviceCopy(Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float(random.normal()) }))
    }

    /// A ResNet with a 10-way head: forward, cross-entropy, backward, SGD, on one random batch.
    static func classifier(config: ResNetConfig, batch: Int, size: Int, backend: any Backend) -> BenchedStep {
        let store = ParameterStore(), mode = Mode(training: true)
        let net = ResNet(config, classCount: 10, mode: mode, store: store, backend: backend)
        store.allocate(seed: 0, backend: backend)
        let optimizer = SGD(store: store, backend: backend, learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4)
        let input = randomView(batch: batch, size: size, channels: config.inChannels, seed: 1, backend: backend)
        let labels = (0..<batch).map { Int32($0 % 10) }
        var gradLogits: Tensor?
        return BenchedStep(description: "classifier step (10-way head, cross-entropy, SGD)", encoder: net, input: input,
                           store: store, viewCount: 1, flops: { net.trainingStepFLOPs }) {
            let logits = net.forward(input)
            if gradLogits == nil { gradLogits = backend.zeros(logits.shape) }
            _ = backend.softmaxCrossEntropy(logits: logits, labels: labels, gradLogits: gradLogits!)
            store.zeroGradients()
            _ = net.backward(gradLogits!)
            optimizer.step()
            (backend as? CUDABackend)?.synchronize()
        }
    }

    /// The method's training step as `train` runs it (its defaults for heads, loss and optimiser), on two
    /// random views that stay on the device: no loader, no probe, no gradient all-reduce.
    static func methodStep(_ name: String, config: ResNetConfig, batch: Int, size: Int, backend: any Backend) throws -> BenchedStep {
        var options = TrainOptions()
        options.method = name
        let defaults = TrainOptions.defaults(for: name)
        (options.baseLearningRate, options.weightDecay, options.optimizer) = defaults
        options.batchSize = batch
        options.queueSize = max(1, options.queueSize / batch) * batch  // MoCo's queue tiles into whole batches
        let method = try makeMethod(options, encoder: config, classCount: 10, multiLabel: false, backend: backend)
        let optimizer = try makeOptimizer(options, store: method.store, backend: backend)
        let view1 = randomView(batch: batch, size: size, channels: config.inChannels, seed: 1, backend: backend)
        let view2 = randomView(batch: batch, size: size, channels: config.inChannels, seed: 2, backend: backend)
        let labels = (0..<batch).map { Int32($0 % 10) }
        var step = 0
        return BenchedStep(description: "\(name) step (\(method.viewCount) view\(method.viewCount == 1 ? "" : "s"), its heads and loss, "
                                        + "\(defaults.optimizer.uppercased())\(name == "byol" ? ", EMA target" : "")"
                                        + "\(name == "mocov2" ? ", momentum network, \(options.queueSize)-key queues" : ""))",
                           encoder: method.encoder, input: view1, store: method.store, viewCount: method.viewCount,
                           flops: { method.trainingStepFLOPs }) {
            method.store.zeroGradients()
            _ = method.trainStep(view1: view1, view2: view2, labels: labels)
            optimizer.step()
            method.afterOptimizerStep(step: step, totalSteps: 1000)
            step += 1
            (backend as? CUDABackend)?.synchronize()
        }
    }

    /// Seconds of each of `steps` timed steps, after 2 warm-up steps.
    func time(steps: Int) -> [Double] {
        for _ in 0..<2 { run() }
        let clock = ContinuousClock()
        return (0..<steps).map { _ in clock.measure { run() }.seconds }
    }
}
