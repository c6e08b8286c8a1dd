import Collectives
import Engine

/// What one training step of a method reports.
public struct MethodStepResult {
    /// The total loss the gradients are of.
    public var loss: Double
    /// Named terms of the loss (e.g. "invariance", "variance", "covariance" for VICReg), for metrics.
    public var terms: [(name: String, value: Double)]
    /// Standard deviation of the L2-normalised embeddings, averaged over dimensions: the collapse
    /// monitor (≈ 1/sqrt(D) when healthy, → 0 when collapsed).
    public var embeddingStd: Double
    /// Encoder features of the first view, `[B, F]`, detached: the online probe trains on them.
    public var features: Tensor

    public init(loss: Double, terms: [(name: String, value: Double)], embeddingStd: Double, features: Tensor) {
        self.loss = loss; self.terms = terms; self.embeddingStd = embeddingStd; self.features = features
    }
}

/// A pretraining method: an encoder, its heads and its loss. The trainer owns the data, the optimiser
/// and the schedule; a method turns two augmented views of a batch into gradients.
///
/// Every trainable parameter (encoder, projector, predictor) lives in `store`; targets that are not
/// trained by gradients (BYOL's EMA network) live outside it.
public protocol SelfSupervisedMethod: AnyObject {
    /// "simclr", "vicreg", "byol", ...
    var name: String { get }
    /// The trainable parameters: encoder first (its names are torchvision's), then the heads.
    var store: ParameterStore { get }
    /// The encoder (ResNet without classifier).
    var encoder: ResNet { get }
    /// Training (batch statistics) or evaluation mode for every batch norm of the method.
    var mode: Mode { get }

    /// Views per image the method trains on: 2 for the self-supervised methods, 1 for supervised.
    var viewCount: Int { get }

    /// Forward and backward on two views `[B, H, W, C]` of the same B images; *adds* gradients to
    /// `store.gradients` (the caller zeroes them).
    func trainStep(view1: Tensor, view2: Tensor) -> MethodStepResult

    /// The same with the batch's labels, for methods that use them (supervised); `view2` is unused
    /// when `viewCount` is 1.
    func trainStep(view1: Tensor, view2: Tensor, labels: [Int32]) -> MethodStepResult

    /// Parameter sets outside `store` that a checkpoint must hold, with their name prefix
    /// (BYOL's EMA target: "target.").
    var extraStores: [(prefix: String, store: ParameterStore)] { get }

    /// FLOPs of the last training step's GEMMs (convolutions and linear layers: forward, input gradient,
    /// weight gradient; 2·M·K·N each), at its batch size: what `disttrain bench --method` divides by time.
    var trainingStepFLOPs: Double { get }

    /// Called after every optimiser step (BYOL and MoCo update their EMA target here).
    /// `step` counts optimiser steps from 0; `totalSteps` is the run's length.
    func afterOptimizerStep(step: Int, totalSteps: Int)

    /// The ranks the global batch is spread over (a `LocalCommunicator` until `distribute` is called).
    var group: any Communicator { get }

    /// Spreads the method over `group`'s ranks, each holding an equal share of the global batch: losses and
    /// their gradients become those of the global batch (each rank's parameter gradients are its share;
    /// summed over the ranks they are the single-process gradient), and with `syncBatchNorm` every batch
    /// norm normalises over the global batch. `faults` selects known-wrong variants for tests.
    func distribute(over group: any Communicator, syncBatchNorm: Bool, faults: DistributedFaults)

    /// The store whose layers run the *last* backward pass of a step: gradients become final there, in
    /// reverse offset order, so that is where the gradient all-reduce listens (`onGradientsFinal`).
    var lastBackwardStore: ParameterStore { get }
}

/// Known-wrong distributed variants, selectable so tests can show that the equivalence tests catch them.
public struct DistributedFaults: Sendable, Equatable {
    /// NT-Xent keeps only its own slice of the gathered keys' gradient; VICReg takes its variance and
    /// covariance over the local batch only.
    public var localGatherBackward = false

    public init(localGatherBackward: Bool = false) { self.localGatherBackward = localGatherBackward }
}

extension SelfSupervisedMethod {
    public var viewCount: Int { 2 }
    public var extraStores: [(prefix: String, store: ParameterStore)] { [] }
    public func afterOptimizerStep(step: Int, totalSteps: Int) {}
    public var lastBackwardStore: ParameterStore { store }
    public func trainStep(view1: Tensor, view2: Tensor, labels: [Int32]) -> MethodStepResult {
        trainStep(view1: view1, view2: view2)
    }
}
