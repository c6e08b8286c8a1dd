import Collectives
import Engine

/// SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations"):
/// encoder → projector on both views, NT-Xent between the two views' projections.
///
/// The projector follows solo-learn's (`Linear-ReLU-Linear`, no batch norm: `projector.0`, `projector.2`);
/// `projectorBatchNorm: true` gives the SimCLR paper's head with BN (`projector.0`, `.1`, `.3`).
/// Parameters: the encoder (torchvision names), then `projector.*`, in `store`.
public final class SimCLR: SelfSupervisedMethod {
    public let name = "simclr"
    public var store: ParameterStore { network.store }
    public var encoder: ResNet { network.view1.encoder }
    public var projector: MLPHead { network.view1.projector }
    public let mode: Mode
    public let loss: NTXentLoss
    let network: TwoViewNetwork
    let backend: any Backend
    /// Where the losses run (the host; on the CPU, this backend itself).
    lazy var island = HostIsland(backend)
    /// The loss on the GPU itself (`trainStepOnDevice`).
    lazy var deviceLoss = NTXentOnDevice(temperature: loss.temperature, backend: backend)
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

    /// `featureDimension → projectorHiddenDimension → projectorOutputDimension`; 512 → 2048 → 256 for a
    /// width-1 ResNet-18. `seed` initialises every parameter.
    public init(encoder config: ResNetConfig, temperature: Double = 0.2, projectorHiddenDimension: Int = 2048,
                projectorOutputDimension: Int = 256, projectorBatchNorm: Bool = false, seed: UInt64 = 0,
                backend: any Backend) {
        let mode = Mode(training: true)
        self.mode = mode
        self.backend = backend
        loss = NTXentLoss(temperature: temperature)
        network = TwoViewNetwork(seed: seed, backend: backend) { store in
            ViewBranch(encoder: ResNet(config, mode: mode, store: store, backend: backend),
                       projector: MLPHead("projector", inputDimension: config.featureDimension,
                                          hiddenDimension: projectorHiddenDimension,
                                          outputDimension: projectorOutputDimension, batchNorm: projectorBatchNorm,
                                          mode: mode, store: store, backend: backend))
        }
    }

    public func trainStep(view1 x1: Tensor, view2 x2: Tensor) -> MethodStepResult {
        precondition(mode.training, "SimCLR.trainStep needs training mode")
        if lossOnDevice && backend.device != .cpu && !faults.localGatherBackward { return trainStepOnDevice(view1: x1, view2: x2) }
        let z1 = island.down(network.view1.forward(x1)), z2 = island.down(network.view2.forward(x2))
        let result = loss.forward(z1: z1, z2: z2, group: group,
                                  gatherBackward: faults.localGatherBackward ? .localSliceOnly : .reduceScatter,
                                  backend: island.host)
        let std = (EmbeddingStd.of(z1, group: group) + EmbeddingStd.of(z2, group: group)) / 2
        let features = island.hostCopy(network.view1.features!)
        network.view1.backward(island.up(result.gradZ1))
        network.view2.backward(island.up(result.gradZ2))
        return MethodStepResult(loss: result.loss, terms: result.terms, embeddingStd: std, features: features)
    }

    /// The loss on the device (`NTXentOnDevice`, over the ranks' gathered rows), see
    /// `TwoViewNetwork.trainStep(view1:view2:island:lossOnDevice:)`.
    func trainStepOnDevice(view1 x1: Tensor, view2 x2: Tensor) -> MethodStepResult {
        network.trainStep(view1: x1, view2: x2, island: island) { z1, z2 in
            let result = deviceLoss.forward(z1: z1, z2: z2, group: group)
            let rows = deviceLoss.globalRows!
            return (result.loss, result.terms, result.gradZ1, result.gradZ2, rows.z1, rows.z2)
        }
    }
}
