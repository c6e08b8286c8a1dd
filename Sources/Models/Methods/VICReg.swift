import Collectives
import Engine

/// VICReg (Bardes, Ponce, LeCun 2022): encoder → expander on both views, `VICRegLoss` (invariance +
/// variance + covariance) between the two views' embeddings.
///
/// The projector ("expander") is solo-learn's and the paper's: `Linear-BN-ReLU-Linear-BN-ReLU-Linear`
/// (`projector.0`, `.1`, `.3`, `.4`, `.6`), 2048-2048-2048 by default. Parameters: the encoder
/// (torchvision names), then `projector.*`, in `store`.
public final class VICReg: SelfSupervisedMethod {
    public let name = "vicreg"
    public var store: ParameterStore { network.store }
    public var encoder: ResNet { network.view1.encoder }
    public var projector: MLPHead { network.view1.projector }
    public let mode: Mode
    public let loss: VICRegLoss
    let network: TwoViewNetwork
    let backend: any Backend
    /// Where the losses run (the host; on the CPU, this backend itself).
    lazy var island = HostIsland(backend)
    /// The loss on the GPU itself (`trainStepOnDevice`).
    lazy var deviceLoss = VICRegOnDevice(loss: loss, backend: backend)
    /// On a GPU the loss runs on the device (default); false runs it on the host (to compare the two).
    public var lossOnDevice = true
    public private(set) var group: any Communicator = LocalCommunicator()
    var faults = DistributedFaults()
    public var lastBackwardStore: ParameterStore { network.twin }
    public var trainingStepFLOPs: Double { network.trainingStepFLOPs }

    public func distribute(over group: any Communicator, syncBatchNorm: Bool, faults: DistributedFaults) {
        self.group = group
        self.faults = faults
        mode.batchNormGroup = syncBatchNorm ? group : nil
    }

    /// `featureDimension → hidden (× projectorHiddenLayers) → projectorOutputDimension`; loss weights
    /// λ (invariance), μ (variance, on the two branches' *average*; solo-learn's sum is μ doubled), ν (covariance).
    public init(encoder config: ResNetConfig, projectorHiddenDimension: Int = 2048, projectorOutputDimension: Int = 2048,
                projectorHiddenLayers: Int = 2, invarianceWeight: Double = 25, varianceWeight: Double = 25,
                covarianceWeight: Double = 1, seed: UInt64 = 0, backend: any Backend) {
        let mode = Mode(training: true)
        self.mode = mode
        self.backend = backend
        loss = VICRegLoss(invarianceWeight: invarianceWeight, varianceWeight: varianceWeight,
                          covarianceWeight: covarianceWeight)
        network = TwoViewNetwork(seed: seed, backend: backend) { store in
            ViewBranch(encoder: ResNet(config, mode: mode, store: store, backend: backend),
                       projector: MLPHead("projector", inputDimension: config.featureDimension,
                                          hiddenDimension: projectorHiddenDimension,
                                          outputDimension: projectorOutputDimension,
                                          hiddenLayers: projectorHiddenLayers, mode: mode, store: store, backend: backend))
        }
    }

    public func trainStep(view1 x1: Tensor, view2 x2: Tensor) -> MethodStepResult {
        precondition(mode.training, "VICReg.trainStep needs training mode")
        if lossOnDevice && backend.device != .cpu && !faults.localGatherBackward { return trainStepOnDevice(view1: x1, view2: x2) }
        let z1 = island.down(network.view1.forward(x1)), z2 = island.down(network.view2.forward(x2))
        let result = loss.forward(z1: z1, z2: z2, group: group,
                                  scope: faults.localGatherBackward ? .localBatchOnly : .globalBatch, backend: island.host)
        // Over the rows the loss already gathered (no second all-gather of the [B, D] embeddings).
        let std = (EmbeddingStd.of(result.globalZ1) + EmbeddingStd.of(result.globalZ2)) / 2
        let features = island.hostCopy(network.view1.features!)
        network.view1.backward(island.up(result.gradZ1))
        network.view2.backward(island.up(result.gradZ2))
        return MethodStepResult(loss: result.loss, terms: result.terms, embeddingStd: std, features: features)
    }

    /// The loss on the device (`VICRegOnDevice`, over the ranks' gathered rows), see
    /// `TwoViewNetwork.trainStep(view1:view2:island:lossOnDevice:)`.
    func trainStepOnDevice(view1 x1: Tensor, view2 x2: Tensor) -> MethodStepResult {
        network.trainStep(view1: x1, view2: x2, island: island) { z1, z2 in
            let result = deviceLoss.forward(z1: z1, z2: z2, group: group)
            return (result.loss, result.terms, result.gradZ1, result.gradZ2, result.globalZ1, result.globalZ2)
        }
    }
}
