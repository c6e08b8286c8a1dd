import Collectives
import Engine

/// MoCo v2 (Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning"; MoCo: He et al. 2020)
/// in solo-learn's symmetric form (`mocov2plus`): the online network (encoder → projector) embeds each view
/// as queries; a momentum network (an EMA of encoder and projector) embeds each view as keys; each query's
/// positive is the key of the other view of its image and its negatives are a queue of keys from earlier
/// batches (`MoCoLoss`). Loss: `(ℓ(q1, k2, queue₂) + ℓ(q2, k1, queue₁)) / 2`, each a mean over the global
/// batch, with one queue per view; after the step the batch's normalised keys of every rank are enqueued
/// in place of the oldest (`queue₁` takes k1, `queue₂` k2).
///
/// Projector as MoCo v2's and solo-learn's: `Linear-ReLU-Linear` (`projector.0`, `projector.2`, no batch
/// norm), featureDimension → 2048 → 256 by default. The momentum network (`momentumStore`, the online
/// names, saved under "momentum.") starts as a copy of the online one and follows it after every optimiser
/// step with BYOL's cosine schedule from `tauBase` to 1 (`BYOL.tau`; solo-learn's `MomentumUpdater`); it
/// runs forward only, in training mode. The queues start as normalised Gaussian rows from the seed (as
/// `F.normalize(torch.randn(...))`) and ride in checkpoints under "queue." with their write position, so a
/// resumed run continues with the same negatives.
///
/// Distributed: each rank's queries meet their own keys and the same queues, so the loss needs no gather
/// until the enqueue, which all-gathers the keys and writes rank r's i-th key to the batch's row i·R + r:
/// the sampler deals the global batch round-robin (`ShardedSampler`), so every rank then holds exactly the
/// queues one process with the whole batch would. The momentum network's batch norms synchronise with the
/// online ones' (`syncBatchNorm`), as solo-learn converts the whole model.
public final class MoCoV2: SelfSupervisedMethod {
    public let name = "mocov2"
    public var store: ParameterStore { network.store }
    public var encoder: ResNet { network.view1.encoder }
    public var projector: MLPHead { network.view1.projector }
    public let mode: Mode
    public let loss: MoCoLoss
    public let tauBase: Double
    /// τ of the last momentum update (τbase before the first).
    public private(set) var tau: Double
    /// The momentum network's parameters (checkpoints save it under "momentum.").
    public let momentumStore: ParameterStore
    public let momentumEncoder: ResNet
    public let momentumProjector: MLPHead
    /// The two queues, `keys` `[2, K, D]` (one per view), and `pointer`, the row the next batch's keys go
    /// to; host memory, whatever the backend (the loss runs on the host). Checkpoints save it under "queue.".
    public let queueStore: ParameterStore
    let keysHandle, pointerHandle: BufferHandle
    public let queueSize: Int
    public var extraStores: [(prefix: String, store: ParameterStore)] {
        [("momentum.", momentumStore), ("queue.", queueStore)]
    }
    let momentumMode = Mode(training: true)
    let network: TwoViewNetwork
    let backend: any Backend
    /// Where the loss runs (the host; on the CPU, this backend itself).
    lazy var island = HostIsland(backend)
    public private(set) var group: any Communicator = LocalCommunicator()
    public var lastBackwardStore: ParameterStore { network.twin }
    /// The online network's training step plus the momentum network's two forward passes (the loss's
    /// GEMMs against the queue are not counted, as no method's loss is).
    public var trainingStepFLOPs: Double {
        network.trainingStepFLOPs + 2 * (momentumEncoder.forwardFLOPs + momentumProjector.forwardFLOPs)
    }

    public func distribute(over group: any Communicator, syncBatchNorm: Bool, faults: DistributedFaults) {
        self.group = group
        mode.batchNormGroup = syncBatchNorm ? group : nil
        momentumMode.batchNormGroup = syncBatchNorm ? group : nil
    }

    /// `queueSize` keys per view (a multiple of the global batch, so the batches tile the queue).
    public init(encoder config: ResNetConfig, temperature: Double = 0.2, projectorHiddenDimension: Int = 2048,
                projectorOutputDimension: Int = 256, queueSize: Int = 65536, tauBase: Double = 0.99, seed: UInt64 = 0,
                backend: any Backend) {
        precondition((0...1).contains(tauBase), "MoCo's τbase must lie in [0, 1], got \(tauBase)")
        precondition(queueSize >= 1, "MoCo's queue needs at least one key, got \(queueSize)")
        let mode = Mode(training: true)
        self.mode = mode
        self.backend = backend
        self.tauBase = tauBase
        self.queueSize = queueSize
        tau = tauBase
        loss = MoCoLoss(temperature: temperature)
        func projector(_ store: ParameterStore, _ mode: Mode) -> MLPHead {
            MLPHead("projector", inputDimension: config.featureDimension, hiddenDimension: projectorHiddenDimension,
                    outputDimension: projectorOutputDimension, batchNorm: false, mode: mode, store: store, backend: backend)
        }
        network = TwoViewNetwork(seed: seed, backend: backend) { store in
            ViewBranch(encoder: ResNet(config, mode: mode, store: store, backend: backend), projector: projector(store, mode))
        }
        momentumStore = ParameterStore()
        momentumEncoder = ResNet(config, mode: momentumMode, store: momentumStore, backend: backend)
        momentumProjector = projector(momentumStore, momentumMode)
        momentumStore.allocate(seed: seed, backend: backend)
        precondition(momentumStore.parameters.map(\.name) == network.store.parameters.map(\.name),
                     "MoCo: the momentum network must have the online network's layout")
        backend.copy(network.store.values, to: momentumStore.values)
        queueStore = ParameterStore()
        keysHandle = queueStore.registerBuffer("keys", shape: [2, queueSize, projectorOutputDimension], initializer: .zeros)
        pointerHandle = queueStore.registerBuffer("pointer", shape: [1], initializer: .zeros)
        queueStore.allocate(seed: seed)
        let keys = queueStore.buffer(keysHandle)
        var random = RandomGenerator(seed: seed, 0x4D6F_436F)  // "MoCo"
        for i in 0..<keys.count { keys.pointer[i] = Float(random.normal()) }
        let rows = keys.reshaped([2 * queueSize, projectorOutputDimension])
        rows.assign(from: MoCoLoss.normalized(rows, backend: island.host))
    }

    /// Sets the momentum network's parameters to the online network's (done at creation; call it again
    /// after loading online weights from elsewhere, e.g. a pretrained encoder).
    public func copyOnlineToMomentum() { backend.copy(store.values, to: momentumStore.values) }

    /// The queue of view `view` (0 or 1), `[K, D]`.
    public func queue(_ view: Int) -> Tensor {
        let keys = queueStore.buffer(keysHandle), d = keys.shape[2]
        return Tensor(view: keys.storage, offset: keys.offset + view * queueSize * d, shape: [queueSize, d])
    }

    /// The row of the queues the next batch's keys are written to.
    public var queuePointer: Int { Int(queueStore.buffer(pointerHandle).pointer[0]) }

    public func trainStep(view1 x1: Tensor, view2 x2: Tensor) -> MethodStepResult {
        precondition(mode.training, "MoCo.trainStep needs training mode")
        let q1 = island.down(network.view1.forward(x1)), q2 = island.down(network.view2.forward(x2))
        let host = island.host
        // The momentum network's output buffer is reused by its second forward: normalise each key at once.
        let k1 = MoCoLoss.normalized(island.down(momentumForward(x1)), backend: host)
        let k2 = MoCoLoss.normalized(island.down(momentumForward(x2)), backend: host)
        let globalBatch = q1.shape[0] * group.worldSize
        let first = loss.forward(queries: q1, normalizedKeys: k2, queue: queue(1), normalizer: 2 * globalBatch, backend: host)
        let second = loss.forward(queries: q2, normalizedKeys: k1, queue: queue(0), normalizer: 2 * globalBatch, backend: host)
        let total = collectiveOrExit { try group.allReduceSum(first.loss + second.loss) }
        let std = (EmbeddingStd.of(q1, group: group) + EmbeddingStd.of(q2, group: group)) / 2
        let features = island.hostCopy(network.view1.features!)
        network.view1.backward(island.up(first.gradQueries))
        network.view2.backward(island.up(second.gradQueries))
        enqueue(k1, k2)
        return MethodStepResult(loss: total, terms: [("info_nce", total)], embeddingStd: std, features: features)
    }

    /// Writes every rank's normalised keys `[B, D]` over the oldest rows of each view's queue, in the global
    /// batch's order: rank r's key i is the batch's image i·R + r (R ranks).
    func enqueue(_ k1: Tensor, _ k2: Tensor) {
        let b = k1.shape[0], d = k1.shape[1], ranks = group.worldSize, n = b * ranks
        precondition(queueSize % n == 0, "MoCo's queue of \(queueSize) keys is not a multiple of the global batch \(n)")
        let start = queuePointer
        for (view, keys) in [k1, k2].enumerated() {
            let rows = Tensor(view: queue(view).storage, offset: queue(view).offset + start * d, shape: [n, d])
            if ranks == 1 {
                rows.assign(from: keys)
                continue
            }
            let gathered = Tensor(zeros: [n, d])  // rank r's keys at rows r·B..<(r + 1)·B
            collectiveOrExit { try group.allGather(keys, into: gathered) }
            for r in 0..<ranks {
                for i in 0..<b { rows.row(i * ranks + r).assign(from: gathered.row(r * b + i)) }
            }
        }
        queueStore.buffer(pointerHandle).pointer[0] = Float((start + n) % queueSize)
    }

    /// The momentum projection of `x` (training-mode BN, no backward).
    func momentumForward(_ x: Tensor) -> Tensor { momentumProjector.forward(momentumEncoder.forward(x)) }

    public func afterOptimizerStep(step: Int, totalSteps: Int) {
        updateMomentumNetwork(tau: BYOL.tau(step: step, totalSteps: totalSteps, base: tauBase))
    }

    /// `θm ← τ·θm + (1 − τ)·θ` over the flat buffers.
    public func updateMomentumNetwork(tau: Double) {
        self.tau = tau
        backend.scale(momentumStore.values, by: Float(tau))
        backend.accumulate(store.values, into: momentumStore.values, alpha: Float(1 - tau))
    }
}
