import Engine

/// LARS: layer-wise adaptive rate scaling (You, Gitman, Ginsburg 2017, "Large Batch Training of
/// Convolutional Networks", eq. 6) as solo-learn implements it (`solo/utils/lars.py`, from PyTorch
/// Lightning Bolts; the optimiser of the SimCLR and BYOL recipes), over a model's flat buffers.
///
/// Per parameter tensor p with gradient g (norms in double over the tensor's slice of the flat buffer):
///
///     if p is adapted and ‖p‖ ≠ 0 and ‖g‖ ≠ 0:
///         r = η·‖p‖ / (‖g‖ + wd·‖p‖ + ε)              the local ("trust") learning rate
///         r = min(r / lr, 1)                         if clipLearningRate
///         d = r·(g + wd·p)
///     else:
///         d = g                                     (no weight decay either)
///     v = momentum·v + d;   p −= lr·v               (PyTorch's momentum, dampening 0; v starts at 0)
///
/// With `excludeBiasAndNorm` (solo-learn's `exclude_bias_n_norm_lars`, which tests `p.ndim == 1`),
/// biases and batch-norm scales and shifts (roles `.bias`, `.normScale`, `.normShift`: exactly the 1-D
/// tensors of our networks) are neither adapted nor decayed: plain momentum SGD.
public final class LARS: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    /// η.
    public let trustCoefficient: Float
    public let clipLearningRate: Bool
    public let excludeBiasAndNorm: Bool
    public let epsilon: Float
    public let multipliers: LearningRateMultipliers
    let store: ParameterStore
    let backend: any Backend
    /// Momentum buffer, same layout as the flat parameters (a checkpoint saves it).
    public let velocity: Tensor

    public init(store: ParameterStore, backend: any Backend, learningRate: Float, momentum: Float = 0.9,
                weightDecay: Float = 0, trustCoefficient: Float = 0.02, clipLearningRate: Bool = true,
                excludeBiasAndNorm: Bool = true, epsilon: Float = 1e-8, multipliers: LearningRateMultipliers = .none) {
        self.store = store; self.backend = backend
        self.learningRate = learningRate; self.momentum = momentum; self.weightDecay = weightDecay
        self.trustCoefficient = trustCoefficient; self.clipLearningRate = clipLearningRate
        self.excludeBiasAndNorm = excludeBiasAndNorm; self.epsilon = epsilon; self.multipliers = multipliers
        velocity = backend.zeros([store.count])
    }

    /// Whether a tensor of this role gets the trust ratio and weight decay.
    public func isAdapted(_ role: ParameterRole) -> Bool { !excludeBiasAndNorm || role == .weight }

    /// The (trust ratio, weight decay) LARS applies to one tensor, from its current value and gradient.
    public func scaling(for info: ParameterInfo) -> (trustRatio: Float, weightDecay: Float) {
        guard isAdapted(info.role) else { return (1, 0) }
        let p = view(store.values, info), g = view(store.gradients, info)
        let pNorm = backend.sumOfSquares(p).squareRoot(), gNorm = backend.sumOfSquares(g).squareRoot()
        guard pNorm != 0 && gNorm != 0 else { return (1, 0) }
        var ratio = Double(trustCoefficient) * pNorm / (gNorm + pNorm * Double(weightDecay) + Double(epsilon))
        if clipLearningRate { ratio = min(ratio / Double(learningRate(for: info)), 1) }
        return (Float(ratio), weightDecay)
    }

    /// The tensor's learning rate: the scheduled one times its multiplier (solo-learn's LARS clips with its
    /// parameter group's own rate, which is this).
    public func learningRate(for info: ParameterInfo) -> Float { learningRate * multipliers.multiplier(for: info.name) }

    public var stateTensors: [(name: String, tensor: Tensor)] { [("momentum", velocity)] }

    /// The store's tensors for a backend that updates them all at once (built on first use).
    private lazy var plan = LARSPlan(offsets: store.parameters.map(\.offset) + [store.count],
                                     adapted: store.parameters.map { isAdapted($0.role) },
                                     learningRateScales: store.parameters.map { multipliers.multiplier(for: $0.name) })

    /// One update from the gradients currently in the store: in one pass where the backend can (a GPU:
    /// the trust ratios stay on the device), else tensor by tensor with the ratios formed here.
    public func step() {
        if let fused = backend as? any FusedLARSBackend, storeIsContiguous {
            fused.larsStep(parameters: store.values, gradients: store.gradients, momentumBuffer: velocity, plan: plan,
                           learningRate: learningRate, momentum: momentum, weightDecay: weightDecay,
                           trustCoefficient: trustCoefficient, epsilon: epsilon, clipLearningRate: clipLearningRate)
            return
        }
        for info in store.parameters {
            let (ratio, decay) = scaling(for: info)
            backend.larsStep(parameters: view(store.values, info), gradients: view(store.gradients, info),
                             momentumBuffer: view(velocity, info), learningRate: learningRate(for: info), momentum: momentum,
                             weightDecay: decay, trustRatio: ratio)
        }
    }

    /// Whether the tensors tile the flat buffer in order without gaps (what a `LARSPlan` describes).
    private var storeIsContiguous: Bool {
        zip(store.parameters, store.parameters.dropFirst()).allSatisfy { $0.offset + $0.count == $1.offset }
            && (store.parameters.last.map { $0.offset + $0.count == store.count } ?? true)
    }

    private func view(_ flat: Tensor, _ info: ParameterInfo) -> Tensor {
        Tensor(view: flat.storage, offset: flat.offset + info.offset, shape: [info.count])
    }
}
