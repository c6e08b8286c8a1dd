import Collectives
import Engine

/// A network piece with an explicit forward and backward (no autograd tape).
///
/// `forward` caches what `backward` needs; `backward` takes ∂L/∂output, *adds* the parameter
/// gradients into the model's flat gradient buffer and returns ∂L/∂input. Layers built to save memory
/// (in-place ReLU, BN with `overwritesGradOutput`) may overwrite their input or ∂L/∂output; the block
/// that wires them decides where that is safe.
public protocol Layer: AnyObject {
    func forward(_ input: Tensor) -> Tensor
    func backward(_ gradOutput: Tensor) -> Tensor
}

/// Whether batch norm uses batch statistics (training) or running averages (evaluation), and over
/// which ranks the batch statistics are taken.
public final class Mode {
    public var training: Bool
    /// SyncBatchNorm: when set to a communicator of more than one rank, training-mode batch norm
    /// normalises with the statistics of the *global* batch (every rank's rows) and reduces its two
    /// backward sums over the ranks too. Nil: each process normalises its own batch.
    public var batchNormGroup: (any Communicator)?

    public init(training: Bool = true, batchNormGroup: (any Communicator)? = nil) {
        self.training = training
        self.batchNormGroup = batchNormGroup
    }

    /// The group when batch norm must synchronise (more than one rank), else nil.
    var synchronizedGroup: (any Communicator)? {
        guard let group = batchNormGroup, group.worldSize > 1 else { return nil }
        return group
    }
}

/// Returns `cached` when it already has `shape`, else a new zero tensor (activation buffers are reused
/// from step to step so a training loop does not page-fault fresh memory every step).
@inline(__always)
func reuse(_ cached: inout Tensor?, _ shape: [Int], _ backend: any Backend) -> Tensor {
    if let tensor = cached, tensor.shape == shape { return tensor }
    let tensor = backend.zeros(shape)
    cached = tensor
    return tensor
}

/// A zero-element tensor returned by layers asked not to compute an input gradient.
let noGradient = Tensor(zeros: [0])
