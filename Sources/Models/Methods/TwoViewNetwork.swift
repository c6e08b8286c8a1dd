import Engine

/// The layers one view passes through: encoder → projector (→ predictor).
final class ViewBranch {
    let encoder: ResNet
    let projector: MLPHead
    let predictor: MLPHead?
    /// Outputs of the last forward (views of the layers' reused buffers, valid until the next forward).
    private(set) var features, projection, prediction: Tensor?

    init(encoder: ResNet, projector: MLPHead, predictor: MLPHead? = nil) {
        self.encoder = encoder; self.projector = projector; self.predictor = predictor
    }

    /// Returns the last head's output: the prediction if there is a predictor, else the projection.
    func forward(_ x: Tensor) -> Tensor {
        let h = encoder.forward(x)
        let z = projector.forward(h)
        features = h; projection = z
        prediction = predictor?.forward(z)
        return prediction ?? z
    }

    /// FLOPs of the last forward's GEMMs in a training step (forward, input and weight gradients).
    var trainingFLOPs: Double {
        encoder.trainingStepFLOPs + projector.trainingFLOPs + (predictor?.trainingFLOPs ?? 0)
    }

    /// Backward from ∂L/∂(last head's output); adds every parameter gradient into the shared flat buffer.
    func backward(_ gradOutput: Tensor) {
        var g = gradOutput
        if let predictor { g = predictor.backward(g) }
        _ = encoder.backward(projector.backward(g))
    }
}

/// An online network built twice over one set of flat buffers, one copy per view.
///
/// Why two copies: our layers cache their activations for backward inside the layer object, and a
/// loss over two views needs both views' forwards before either backward. Running view 2 through the
/// same layer objects would overwrite view 1's caches. Concatenating the views into one 2B batch would
/// change every batch norm's statistics (PyTorch and solo-learn normalise each view's batch on its own),
/// and recomputing view 1's forward before its backward costs a third more compute and updates the BN
/// running statistics a third time. Instead the network is built twice: `view1`'s layers register into
/// `store`, which allocates the flat buffers; `view2`'s identical layers register into a second store
/// that *shares* those buffers (`ParameterStore.allocate(sharing:)`). Both copies read the same weights,
/// accumulate into the same gradient buffer, and update the same BN running statistics in the same order
/// as PyTorch's two forwards (view 1, then view 2); each keeps its own activations. The memory is what
/// autograd holds for two views anyway. A training step is then: forward view 1, forward view 2, loss,
/// backward view 1, backward view 2 (gradients add up in the shared buffer).
final class TwoViewNetwork {
    let store: ParameterStore
    /// View 2's store: it shares `store`'s buffers; its layers run a step's last backward pass.
    let twin: ParameterStore
    let view1, view2: ViewBranch

    /// `build(store)` creates one copy of the layers, registering into `store` (encoder first).
    init(seed: UInt64, backend: any Backend, _ build: (ParameterStore) -> ViewBranch) {
        store = ParameterStore()
        view1 = build(store)
        store.allocate(seed: seed, backend: backend)
        twin = ParameterStore()
        view2 = build(twin)
        twin.allocate(sharing: store)
    }

    /// FLOPs of a training step's GEMMs over both views, at the last forwards' sizes.
    var trainingStepFLOPs: Double { view1.trainingFLOPs + view2.trainingFLOPs }

    /// What a loss computed on the device returns: the loss, its terms, this rank's ∂L/∂z of each view, and
    /// each view's rows the collapse monitor runs over (the global batch: the rows the loss gathered).
    typealias DeviceLoss = (loss: Double, terms: [(name: String, value: Double)], gradZ1: Tensor, gradZ2: Tensor,
                            monitored1: Tensor, monitored2: Tensor)

    /// A step whose loss runs on the device: both forwards, `loss` on the two outputs, then only the
    /// monitored rows (for the collapse monitor) and view 1's features come to the host, before the backward
    /// passes are queued.
    func trainStep(view1 x1: Tensor, view2 x2: Tensor, island: HostIsland,
                   lossOnDevice loss: (Tensor, Tensor) -> DeviceLoss) -> MethodStepResult {
        let z1 = view1.forward(x1), z2 = view2.forward(x2)
        let result = loss(z1, z2)
        let std = (EmbeddingStd.of(island.down(result.monitored1)) + EmbeddingStd.of(island.down(result.monitored2))) / 2
        let features = island.hostCopy(view1.features!)
        view1.backward(result.gradZ1)
        view2.backward(result.gradZ2)
        return MethodStepResult(loss: result.loss, terms: result.terms, embeddingStd: std, features: features)
    }
}
