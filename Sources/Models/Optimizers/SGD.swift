import Engine

/// Stochastic gradient descent with momentum and L2 weight decay, PyTorch's `torch.optim.SGD` semantics
/// (dampening 0), over a model's flat parameter buffer.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    public let nesterov: Bool
    let store: ParameterStore
    let backend: any Backend
    /// Momentum buffer, same layout as the flat parameters.
    public let velocity: Tensor
    /// Contiguous ranges of the flat buffers and their learning-rate multiplier (one range without multipliers).
    let ranges: [(range: Range<Int>, multiplier: Float)]

    public init(store: ParameterStore, backend: any Backend, learningRate: Float, momentum: Float = 0.9,
                weightDecay: Float = 0, nesterov: Bool = false, multipliers: LearningRateMultipliers = .none) {
        self.store = store; self.backend = backend
        self.learningRate = learningRate; self.momentum = momentum
        self.weightDecay = weightDecay; self.nesterov = nesterov
        velocity = backend.zeros([store.count])
        ranges = multipliers == .none ? [(0..<store.count, 1)]
            : multipliers.ranges(of: store) { _ in true }.map { ($0.range, $0.multiplier) }
    }

    public var stateTensors: [(name: String, tensor: Tensor)] { [("momentum", velocity)] }

    /// One update from the gradients currently in the store.
    public func step() {
        for (range, multiplier) in ranges {
            func view(_ flat: Tensor) -> Tensor {
                Tensor(view: flat.storage, offset: flat.offset + range.lowerBound, shape: [range.count])
            }
            backend.sgdStep(parameters: view(store.values), gradients: view(store.gradients),
                            momentumBuffer: view(velocity), learningRate: learningRate * multiplier,
                            momentum: momentum, weightDecay: weightDecay, nesterov: nesterov)
        }
    }
}
