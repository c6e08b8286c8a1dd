import Engine

/// Batch normalisation over the channels of NHWC input (Ioffe & Szegedy 2015), PyTorch semantics:
/// biased batch variance to normalise, unbiased variance into the running average, momentum 0.1, eps 1e-5.
/// Input and output `[N, H, W, C]` (or `[N, C]`); parameters and statistics `[C]`.
/// With `mode.batchNormGroup` set (more than one rank) it is SyncBatchNorm: statistics and the backward's
/// two sums are those of the global batch (see `SyncBatchNorm`).
public final class BatchNorm2d: Layer {
    public let channels: Int
    public let momentum: Float
    public let epsilon: Float
    /// When set, backward writes ∂L/∂input over the incoming ∂L/∂output (which must have no other reader).
    public var overwritesGradOutput = false
    let mode: Mode
    let backend: any Backend
    let store: ParameterStore
    let weight, bias: ParameterHandle
    let runningMean, runningVariance, batchesTracked: BufferHandle
    /// `[mean; biased variance]` of the batch (`[2, C]`, what SyncBatchNorm gathers) and views of its rows.
    private let statistics, mean, variance: Tensor
    /// The backward's `[Σ dy; Σ dy·x̂]` (`[2, C]`, what SyncBatchNorm sums over the ranks) and views of its rows.
    private let sums, sumGradient, sumGradientNormalized: Tensor
    /// SyncBatchNorm on the device: every rank's `statistics`, `[R, 2, C]`.
    private var gathered: Tensor?
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    /// A device 1 to add to `num_batches_tracked` where the buffer is not in host memory.
    private lazy var one: Tensor = {
        let one = backend.zeros([1])
        backend.fill(one, with: 1)
        return one
    }()

    public init(_ name: String, channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, mode: Mode,
                store: ParameterStore, backend: any Backend) {
        self.channels = channels; self.momentum = momentum; self.epsilon = epsilon
        self.mode = mode; self.store = store; self.backend = backend
        weight = store.register(name + ".weight", shape: [channels], role: .normScale, initializer: .ones)
        bias = store.register(name + ".bias", shape: [channels], role: .normShift, initializer: .zeros)
        runningMean = store.registerBuffer(name + ".running_mean", shape: [channels], initializer: .zeros)
        runningVariance = store.registerBuffer(name + ".running_var", shape: [channels], initializer: .ones)
        batchesTracked = store.registerBuffer(name + ".num_batches_tracked", shape: [], initializer: .zeros)
        statistics = backend.zeros([2, channels])
        (mean, variance) = (statistics.row(0), statistics.row(1))
        sums = backend.zeros([2, channels])
        (sumGradient, sumGradientNormalized) = (sums.row(0), sums.row(1))
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == channels, "batch norm expects \(channels) channels last, got \(x.shape)")
        let y = reuse(&output, x.shape, backend)
        let w = store.value(weight), b = store.value(bias)
        if mode.training {
            let rows = x.count / channels
            precondition(rows > 1, "batch norm in training needs more than one value per channel, got input \(x.shape)")
            backend.batchNormStatistics(input: x, mean: mean, variance: variance)
            let group = mode.synchronizedGroup
            if let group {
                SyncBatchNorm.combineStatistics(statistics, mean: mean, variance: variance, gathered: &gathered,
                                                group: group, backend: backend)
            }
            let globalRows = rows * (group?.worldSize ?? 1)
            backend.batchNormUpdateRunning(mean: mean, variance: variance, count: globalRows, momentum: momentum,
                                           runningMean: store.buffer(runningMean),
                                           runningVariance: store.buffer(runningVariance))
            countBatch()
            backend.batchNormForward(input: x, mean: mean, variance: variance, weight: w, bias: b,
                                     epsilon: epsilon, output: y)
            input = x
        } else {
            backend.batchNormForward(input: x, mean: store.buffer(runningMean), variance: store.buffer(runningVariance),
                                     weight: w, bias: b, epsilon: epsilon, output: y)
            input = nil
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("BatchNorm2d.backward needs a training-mode forward first") }
        backend.batchNormBackwardReduce(gradOutput: dy, input: x, mean: mean, variance: variance, epsilon: epsilon,
                                        sumGradient: sumGradient, sumGradientNormalized: sumGradientNormalized)
        // ∂L/∂weight = Σ dy·x̂ and ∂L/∂bias = Σ dy.
        backend.accumulate(sumGradientNormalized, into: store.gradient(weight), alpha: 1)
        backend.accumulate(sumGradient, into: store.gradient(bias), alpha: 1)
        // dx is an element-wise function of dy and x, so it may overwrite dy.
        let dx = overwritesGradOutput ? dy : reuse(&gradInput, x.shape, backend)
        var rows = x.count / channels
        if let group = mode.synchronizedGroup {
            SyncBatchNorm.globalSums(sums, group: group, backend: backend)  // in place: the local sums are added already
            rows *= group.worldSize
        }
        backend.batchNormBackwardInput(gradOutput: dy, input: x, mean: mean, variance: variance,
                                       weight: store.value(weight), epsilon: epsilon, sumGradient: sumGradient,
                                       sumGradientNormalized: sumGradientNormalized, count: rows, gradInput: dx)
        return dx
    }

    /// `num_batches_tracked += 1` (PyTorch's counter; checkpoints carry it).
    private func countBatch() {
        let counter = store.buffer(batchesTracked)
        if counter.device == .cpu { counter[flat: 0] += 1 } else { backend.accumulate(one, into: counter, alpha: 1) }
    }
}
