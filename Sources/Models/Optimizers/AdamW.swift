import Engine

/// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2) with PyTorch's
/// `torch.optim.AdamW` semantics (amsgrad off), over a model's flat buffers: at step t (from 1)
///
///     p −= lr·wd·p                                       decoupled weight decay
///     m = β1·m + (1 − β1)·g;   v = β2·v + (1 − β2)·g²
///     p −= lr/(1 − β1ᵗ) · m / (sqrt(v)/sqrt(1 − β2ᵗ) + ε)   bias-corrected moments
///
/// PyTorch decays every parameter it is given; `excludeBiasAndNormFromWeightDecay` puts biases and BN
/// scales/shifts in a weight-decay-0 group instead (as a `param_groups` split would).
public final class AdamW: Optimizer {
    public var learningRate: Float
    /// Doubles, as PyTorch's: 1 − β is formed in double (1 − Float(0.999) is 1.3e-5 off 0.001).
    public let beta1, beta2: Double
    public let epsilon, weightDecay: Float
    public let excludeBiasAndNormFromWeightDecay: Bool
    /// Optimiser steps taken so far (the bias corrections use it), kept in a one-element tensor so a
    /// checkpoint saves and restores it with the moments.
    public var stepCount: Int {
        get { Int(stepTensor[flat: 0]) }
        set { stepTensor[flat: 0] = Float(newValue) }
    }
    let stepTensor = Tensor(zeros: [1])
    public var stateTensors: [(name: String, tensor: Tensor)] {
        [("exp_avg", firstMoment), ("exp_avg_sq", secondMoment), ("step", stepTensor)]
    }
    let store: ParameterStore
    let backend: any Backend
    /// First and second moment estimates, same layout as the flat parameters.
    public let firstMoment, secondMoment: Tensor
    /// Contiguous ranges of the flat buffer with their learning-rate multiplier and weight decay (one range
    /// without the exclusion and multipliers).
    let groups: [(range: Range<Int>, multiplier: Float, key: Float)]

    public init(store: ParameterStore, backend: any Backend, learningRate: Float = 1e-3, beta1: Double = 0.9,
                beta2: Double = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 1e-2,
                excludeBiasAndNormFromWeightDecay: Bool = false, multipliers: LearningRateMultipliers = .none) {
        self.store = store; self.backend = backend
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay; self.excludeBiasAndNormFromWeightDecay = excludeBiasAndNormFromWeightDecay
        firstMoment = backend.zeros([store.count]); secondMoment = backend.zeros([store.count])
        groups = multipliers.ranges(of: store) { info in
            excludeBiasAndNormFromWeightDecay && info.role != .weight ? 0 : weightDecay
        }
    }

    /// One update from the gradients currently in the store.
    public func step() {
        stepCount += 1
        for group in groups {
            func view(_ flat: Tensor) -> Tensor {
                Tensor(view: flat.storage, offset: flat.offset + group.range.lowerBound, shape: [group.range.count])
            }
            backend.adamwStep(parameters: view(store.values), gradients: view(store.gradients),
                              firstMoment: view(firstMoment), secondMoment: view(secondMoment),
                              learningRate: learningRate * group.multiplier, beta1: beta1, beta2: beta2,
                              epsilon: epsilon, weightDecay: group.key, step: stepCount)
        }
    }
}
