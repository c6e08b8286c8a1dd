import Collectives
import Engine

/// The supervised baseline: the same encoder with a linear classifier (`fc`, torchvision's name)
/// trained by cross-entropy on the labels, or by binary cross-entropy per label for multi-label data
/// (ChestMNIST's 14 findings). One view per image.
public final class Supervised: SelfSupervisedMethod {
    public let name = "supervised"
    public let store = ParameterStore()
    public let mode = Mode(training: true)
    public let encoder: ResNet
    public let classifier: Linear
    public var viewCount: Int { 1 }
    /// True when labels are 0/1 flags per class (`[B, K]`) rather than one class per image.
    public let multiLabel: Bool
    let backend: any Backend
    /// Where the losses run (the host; on the CPU, this backend itself).
    lazy var island = HostIsland(backend)
    private var gradLogits: Tensor?
    public private(set) var group: any Communicator = LocalCommunicator()
    public var trainingStepFLOPs: Double { encoder.trainingStepFLOPs + classifier.trainingFLOPs }

    public func distribute(over group: any Communicator, syncBatchNorm: Bool, faults: DistributedFaults) {
        self.group = group
        mode.batchNormGroup = syncBatchNorm ? group : nil
    }

    public init(encoder config: ResNetConfig, classCount: Int, multiLabel: Bool = false, seed: UInt64, backend: any Backend) {
        self.backend = backend
        self.multiLabel = multiLabel
        encoder = ResNet(config, mode: mode, store: store, backend: backend)
        classifier = Linear("fc", inFeatures: config.featureDimension, outFeatures: classCount, store: store, backend: backend)
        store.allocate(seed: seed, backend: backend)
    }

    public func trainStep(view1: Tensor, view2: Tensor) -> MethodStepResult {
        preconditionFailure("the supervised method needs labels: call trainStep(view1:view2:labels:)")
    }

    public func trainStep(view1: Tensor, view2: Tensor, labels: [Int32]) -> MethodStepResult {
        let features = encoder.forward(view1)
        let logits = island.down(classifier.forward(features))
        if gradLogits?.shape != logits.shape { gradLogits = island.host.zeros(logits.shape) }
        let loss = classificationLoss(logits: logits, labels: labels, multiLabel: multiLabel, gradLogits: gradLogits!,
                                      backend: island.host)
        // The global batch's mean loss: each rank's local mean weighs 1/R (equal local batches).
        let ranks = group.worldSize
        if ranks > 1 { island.host.scale(gradLogits!, by: 1 / Float(ranks)) }
        let scored = scorePredictions(logits: logits, labels: labels, multiLabel: multiLabel)
        var sums = [loss / Double(ranks), Double(scored.correct), Double(scored.scored)]
        collectiveOrExit { try group.allReduceSum(&sums) }
        let accuracy = sums[1] / max(sums[2], 1)
        let detached = island.hostCopy(features)
        let gradFeatures = classifier.backward(island.up(gradLogits!))
        store.layerBackwardFinished()  // fc's gradients are final: the all-reduce may start on them
        _ = encoder.backward(gradFeatures)
        return MethodStepResult(loss: sums[0], terms: [("train_acc", accuracy)], embeddingStd: 0, features: detached)
    }

    /// Logits for evaluation (the caller sets `mode.training`).
    public func logits(_ images: Tensor) -> Tensor { classifier.forward(encoder.forward(images)) }
}
