import Collectives
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"): an online network (encoder → projector →
/// predictor) regresses the target network's projection of the other view (`BYOLLoss`); the target
/// (encoder → projector, same architecture) is an exponential moving average of the online one.
///
/// Heads as solo-learn's: projector and predictor `Linear-BN-ReLU-Linear` (`projector.0/.1/.3`,
/// `predictor.0/.1/.3`), featureDimension → 4096 → 256 and 256 → 4096 → 256 by default.
///
/// Target network: its own `targetStore` (encoder + projector, the online names) and layers, initialised
/// as a copy of the online parameters. It runs forward only, in training mode (batch statistics, as
/// solo-learn's momentum backbone), on both views. After every optimiser step (`afterOptimizerStep`)
/// `θt ← τ·θt + (1 − τ)·θo` over the flat parameter buffers (the online store holds encoder and
/// projector first, in the target's layout, so this is one loop over a prefix), with the cosine schedule
/// `τ = 1 − (1 − τbase)·(cos(πk/K) + 1)/2` (BYOL section 3.2 / appendix; solo-learn's `MomentumUpdater`
/// with final τ 1), k the optimiser step just taken (from 0) and K the run's total.
/// BN running statistics are *not* averaged or copied, as in solo-learn (which averages `parameters()`
/// only): the target's own training-mode forwards update its running statistics.
public final class BYOL: SelfSupervisedMethod {
    public let name = "byol"
    public var store: ParameterStore { network.store }
    public var encoder: ResNet { network.view1.encoder }
    public var projector: MLPHead { network.view1.projector }
    public var predictor: MLPHead { network.view1.predictor! }
    public let mode: Mode
    public let tauBase: Double
    /// τ of the last target update (τbase before the first).
    public private(set) var tau: Double
    /// The target network's parameters and BN statistics (checkpoints save it).
    public let targetStore: ParameterStore
    /// The EMA target rides in checkpoints under "target.".
    public var extraStores: [(prefix: String, store: ParameterStore)] { [("target.", targetStore)] }
    public let targetEncoder: ResNet
    public let targetProjector: MLPHead
    public let loss = BYOLLoss()
    let targetMode = Mode(training: true)
    let network: TwoViewNetwork
    let backend: any Backend
    /// Where the losses run (the host; on the CPU, this backend itself).
    lazy var island = HostIsland(backend)
    /// The loss on the GPU itself (`trainStepOnDevice`).
    lazy var deviceLoss = BYOLOnDevice(backend: backend)
    /// On a GPU the loss runs on the device (default); false runs it on the host (to compare the two).
    public var lossOnDevice = true
    public private(set) var group: any Communicator = LocalCommunicator()
    public var lastBackwardStore: ParameterStore { network.twin }
    /// The online network's training step plus the target's two forward passes.
    public var trainingStepFLOPs: Double {
        network.trainingStepFLOPs + 2 * (targetEncoder.forwardFLOPs + targetProjector.forwardFLOPs)
    }

    /// The target network's batch norms synchronise too (solo-learn converts the whole model, momentum
    /// backbone included, to SyncBatchNorm). The EMA update needs no communication: every rank applies
    /// the same update to the same parameters (`Trainer` checks that with a checksum).
    public func distribute(over group: any Communicator, syncBatchNorm: Bool, faults: DistributedFaults) {
        self.group = group
        mode.batchNormGroup = syncBatchNorm ? group : nil
        targetMode.batchNormGroup = syncBatchNorm ? group : nil
    }

    public init(encoder config: ResNetConfig, projectorHiddenDimension: Int = 4096, projectorOutputDimension: Int = 256,
                predictorHiddenDimension: Int = 4096, tauBase: Double = 0.99, seed: UInt64 = 0, backend: any Backend) {
        precondition((0...1).contains(tauBase), "BYOL's τbase must lie in [0, 1], got \(tauBase)")
        let mode = Mode(training: true)
        self.mode = mode
        self.backend = backend
        self.tauBase = tauBase
        tau = tauBase
        func projector(_ store: ParameterStore, _ mode: Mode) -> MLPHead {
            MLPHead("projector", inputDimension: config.featureDimension, hiddenDimension: projectorHiddenDimension,
                    outputDimension: projectorOutputDimension, mode: mode, store: store, backend: backend)
        }
        network = TwoViewNetwork(seed: seed, backend: backend) { store in
            ViewBranch(encoder: ResNet(config, mode: mode, store: store, backend: backend),
                       projector: projector(store, mode),
                       predictor: MLPHead("predictor", inputDimension: projectorOutputDimension,
                                          hiddenDimension: predictorHiddenDimension,
                                          outputDimension: projectorOutputDimension, mode: mode, store: store,
                                          backend: backend))
        }
        targetStore = ParameterStore()
        targetEncoder = ResNet(config, mode: targetMode, store: targetStore, backend: backend)
        targetProjector = projector(targetStore, targetMode)
        targetStore.allocate(seed: seed, backend: backend)
        let online = network.store.parameters
        for (index, info) in targetStore.parameters.enumerated() {
            precondition(online[index].name == info.name && online[index].offset == info.offset,
                         "BYOL: the online store must hold the encoder and projector first, in the target's layout")
        }
        copyOnlineToTarget()
    }

    /// Sets the target's parameters to the online encoder's and projector's (done at creation; call it
    /// again after loading online weights from elsewhere, e.g. a pretrained encoder).
    public func copyOnlineToTarget() {
        backend.copy(onlinePrefix, to: targetStore.values)
    }

    /// The online encoder + projector parameters: the first `targetStore.count` values of `store`.
    var onlinePrefix: Tensor { Tensor(view: store.values.storage, offset: store.values.offset, shape: [targetStore.count]) }

    /// τ after optimiser step `step` (from 0) of `totalSteps`.
    public static func tau(step: Int, totalSteps: Int, base: Double) -> Double {
        let progress = Double(step) / Double(max(totalSteps, 1))
        return 1 - (1 - base) * (cos(Double.pi * progress) + 1) / 2
    }

    public func trainStep(view1 x1: Tensor, view2 x2: Tensor) -> MethodStepResult {
        precondition(mode.training, "BYOL.trainStep needs training mode")
        if lossOnDevice && backend.device != .cpu { return trainStepOnDevice(view1: x1, view2: x2) }
        let p1 = island.down(network.view1.forward(x1)), p2 = island.down(network.view2.forward(x2))
        // The target's output buffer is reused by its second forward: keep a copy of view 1's.
        let target1 = island.hostCopy(targetForward(x1)), target2 = island.down(targetForward(x2))
        let share = loss.forward(p1: p1, p2: p2, target1: target1, target2: target2,
                                 globalBatch: p1.shape[0] * group.worldSize)
        let result = BYOLLoss.Output(loss: collectiveOrExit { try group.allReduceSum(share.loss) },
                                     gradP1: share.gradP1, gradP2: share.gradP2)
        let std = (EmbeddingStd.of(island.down(network.view1.projection!), group: group)
                   + EmbeddingStd.of(island.down(network.view2.projection!), group: group)) / 2
        let features = island.hostCopy(network.view1.features!)
        network.view1.backward(island.up(result.gradP1))
        network.view2.backward(island.up(result.gradP2))
        return MethodStepResult(loss: result.loss, terms: result.terms, embeddingStd: std, features: features)
    }

    /// The loss on the device (`BYOLOnDevice`): only the loss share, the projections (collapse monitor,
    /// gathered on the device from every rank) and view 1's features come to the host. Several ranks add
    /// their loss shares on the host.
    func trainStepOnDevice(view1 x1: Tensor, view2 x2: Tensor) -> MethodStepResult {
        let p1 = network.view1.forward(x1), p2 = network.view2.forward(x2)
        // The target's output buffer is reused by its second forward: each is kept as soon as it is made.
        deviceLoss.setTarget(targetForward(x1), ofView: 1)
        deviceLoss.setTarget(targetForward(x2), ofView: 2)
        let share = deviceLoss.forward(p1: p1, p2: p2, globalBatch: p1.shape[0] * group.worldSize)
        let result = BYOLLoss.Output(loss: summedOverRanks(share.loss, group: group), gradP1: share.gradP1, gradP2: share.gradP2)
        let std = (EmbeddingStd.of(island.down(monitoredRows(network.view1.projection!, slot: 0)))
                   + EmbeddingStd.of(island.down(monitoredRows(network.view2.projection!, slot: 1)))) / 2
        let features = island.hostCopy(network.view1.features!)
        network.view1.backward(result.gradP1)
        network.view2.backward(result.gradP2)
        return MethodStepResult(loss: result.loss, terms: result.terms, embeddingStd: std, features: features)
    }

    /// Each view's projections of all ranks `[N, D]` (the collapse monitor's rows), reused while the shape stays.
    private var monitored: [Tensor] = []

    /// `projection` `[B, D]` gathered from every rank on the device (`gatherRows`: over NCCL in stream order
    /// when joined) into view `slot`'s buffer; the projection itself on one rank.
    func monitoredRows(_ projection: Tensor, slot: Int) -> Tensor {
        guard group.worldSize > 1 else { return projection }
        let shape = [projection.shape[0] * group.worldSize, projection.shape[1]]
        if monitored.count != 2 || monitored[slot].shape != shape {
            monitored = [backend.zeros(shape), backend.zeros(shape)]
        }
        gatherRows(projection, into: monitored[slot], group: group, backend: backend.fullPrecision)
        return monitored[slot]
    }

    /// The target projection of `x` (training-mode BN, no backward).
    func targetForward(_ x: Tensor) -> Tensor { targetProjector.forward(targetEncoder.forward(x)) }

    public func afterOptimizerStep(step: Int, totalSteps: Int) {
        updateTarget(tau: Self.tau(step: step, totalSteps: totalSteps, base: tauBase))
    }

    /// `θt ← τ·θt + (1 − τ)·θo` over the flat buffers.
    public func updateTarget(tau: Double) {
        self.tau = tau
        let target = targetStore.values
        backend.scale(target, by: Float(tau))
        backend.accumulate(onlinePrefix, into: target, alpha: Float(1 - tau))
    }
}
