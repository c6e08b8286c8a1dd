/// The layout LARS needs to update a whole flat buffer in one pass: where each parameter tensor starts,
/// whether it is adapted (trust ratio and weight decay; not biases and batch norms) and its
/// learning-rate multiplier. Built once per optimiser; a backend may keep a device copy in `deviceCopy`.
public final class LARSPlan: @unchecked Sendable {
    /// `tensorCount + 1` element offsets: tensor s is `offsets[s] ..< offsets[s + 1]` (contiguous, in order).
    public let offsets: [Int]
    public let adapted: [Bool]
    public let learningRateScales: [Float]
    public var tensorCount: Int { adapted.count }
    public var largestTensor: Int { zip(offsets.dropFirst(), offsets).map { $0 - $1 }.max() ?? 0 }
    /// Whatever the backend uploaded for this plan (set and read by that backend only).
    public var deviceCopy: AnyObject?

    public init(offsets: [Int], adapted: [Bool], learningRateScales: [Float]) {
        precondition(offsets.count == adapted.count + 1 && adapted.count == learningRateScales.count,
                     "LARSPlan: \(offsets.count) offsets for \(adapted.count) tensors")
        precondition(zip(offsets.dropFirst(), offsets).allSatisfy { $0 >= $1 }, "LARSPlan: offsets must not decrease")
        self.offsets = offsets; self.adapted = adapted; self.learningRateScales = learningRateScales
    }
}

/// A backend that runs a LARS step over every tensor of a flat buffer at once, the trust ratios computed
/// on the device: no per-tensor norm comes back to the host, so nothing synchronises (the GPU).
/// `Models/Optimizers/LARS` uses it where the backend offers it and the per-tensor `larsStep` elsewhere;
/// both compute the same update.
public protocol FusedLARSBackend: Backend {
    func larsStep(parameters: Tensor, gradients: Tensor, momentumBuffer: Tensor, plan: LARSPlan, learningRate: Float,
                  momentum: Float, weightDecay: Float, trustCoefficient: Float, epsilon: Float, clipLearningRate: Bool)
}
