import Engine

/// A projector or predictor: `hiddenLayers` × (Linear → BatchNorm → ReLU), then a final Linear.
/// Input `[B, inputDimension]`, output `[B, outputDimension]`; batch norm runs on `[B, hidden]` rows.
///
/// Parameter names follow the `nn.Sequential` indices solo-learn's heads have, under `prefix`:
///
/// | heads | modules | names |
/// | --- | --- | --- |
/// | BYOL projector/predictor (1 hidden layer, BN) | Linear-BN-ReLU-Linear | `.0` Linear, `.1` BN, `.3` Linear |
/// | VICReg projector (2 hidden layers, BN) | Linear-BN-ReLU-Linear-BN-ReLU-Linear | `.0`, `.1`, `.3`, `.4`, `.6` |
/// | SimCLR projector (1 hidden layer, no BN) | Linear-ReLU-Linear | `.0`, `.2` |
///
/// e.g. `projector.0.weight` `[hidden, in]`, `projector.1.weight`/`.bias`/`.running_mean`/`.running_var`,
/// `projector.3.weight` `[out, hidden]` and `projector.3.bias`. Every Linear has a bias (PyTorch's default),
/// initialised as `nn.Linear`: U(−1/√fan_in, 1/√fan_in).
public final class MLPHead: Layer {
    public let inputDimension, hiddenDimension, outputDimension, hiddenLayers: Int
    public let usesBatchNorm: Bool
    let layers: [Layer]
    /// Where the layers' parameters live (told when a layer's gradients are final).
    let store: ParameterStore

    public init(_ prefix: String, inputDimension: Int, hiddenDimension: Int, outputDimension: Int,
                hiddenLayers: Int = 1, batchNorm: Bool = true, mode: Mode, store: ParameterStore,
                backend: any Backend) {
        precondition(hiddenLayers >= 0, "an MLP head needs zero or more hidden layers, got \(hiddenLayers)")
        self.inputDimension = inputDimension; self.hiddenDimension = hiddenDimension
        self.outputDimension = outputDimension; self.hiddenLayers = hiddenLayers; self.usesBatchNorm = batchNorm
        var layers: [Layer] = []
        var index = 0, width = inputDimension
        for _ in 0..<hiddenLayers {
            layers.append(Linear("\(prefix).\(index)", inFeatures: width, outFeatures: hiddenDimension,
                                 store: store, backend: backend))
            index += 1
            if batchNorm {
                let norm = BatchNorm2d("\(prefix).\(index)", channels: hiddenDimension, mode: mode, store: store,
                                       backend: backend)
                // Its ∂L/∂output is the ReLU's in-place gradient buffer, which nothing else reads.
                norm.overwritesGradOutput = true
                layers.append(norm)
                index += 1
            }
            // In place: it overwrites a BN output (BN's backward needs its input) or a Linear output (Linear's
            // backward needs its input), and the following Linear's ∂L/∂input (read by nobody else).
            layers.append(ReLU(inPlace: true, backend: backend))
            index += 1
            width = hiddenDimension
        }
        layers.append(Linear("\(prefix).\(index)", inFeatures: width, outFeatures: outputDimension,
                             store: store, backend: backend))
        self.layers = layers
        self.store = store
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == inputDimension, "MLP head expects [B, \(inputDimension)], got \(x.shape)")
        var h = x
        for layer in layers { h = layer.forward(h) }
        return h
    }

    /// FLOPs of the last forward pass's linear layers.
    public var forwardFLOPs: Double { layers.reduce(0) { $0 + (($1 as? Linear)?.forwardFLOPs ?? 0) } }

    /// FLOPs of the last forward pass's linear layers in a training step (three GEMMs each).
    public var trainingFLOPs: Double { 3 * forwardFLOPs }

    public func backward(_ dy: Tensor) -> Tensor {
        var g = dy
        for layer in layers.reversed() {
            g = layer.backward(g)
            store.layerBackwardFinished()
        }
        return g
    }
}
