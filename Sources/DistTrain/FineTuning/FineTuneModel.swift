import Engine
import Models

/// A ResNet encoder with a linear classification head, each in its own `ParameterStore`, so each gets
/// its own optimiser and learning rate (`--lr-encoder`, `--lr-head`) with no per-parameter bookkeeping:
/// the encoder's flat buffers hold exactly its parameters under torchvision's names (what
/// `loadInitialWeights` fills), the head's hold `fc.weight` and `fc.bias`.
///
/// Letters: B batch, H, W, C image, F feature width, K classes (or labels, for multi-label data).
///
/// Frozen (`--freeze-encoder`, linear probing through the same path): the encoder runs in evaluation
/// mode (running BN statistics, which therefore never change) and gets no backward pass, so neither its
/// parameters nor its statistics can move; only the head trains.
final class FineTuneModel {
    let encoderStore = ParameterStore()
    let headStore = ParameterStore()
    /// The encoder's batch-norm mode: training while fine-tuning, evaluation when frozen or evaluating.
    let mode: Mode
    let encoder: ResNet
    let head: Linear
    /// True: labels are 0/1 flags per class (`[B, K]`) and the loss is BCE per label; else softmax CE.
    let multiLabel: Bool
    let frozenEncoder: Bool
    let backend: any Backend
    private var gradLogits: Tensor?

    /// Builds the encoder and head with parameters initialised from `seed` (the encoder as torchvision
    /// initialises a ResNet, the head as PyTorch's `nn.Linear`); load weights into `encoderStore` after.
    init(encoder config: ResNetConfig, classCount: Int, multiLabel: Bool, frozenEncoder: Bool, seed: UInt64,
         backend: any Backend) {
        self.backend = backend
        self.multiLabel = multiLabel
        self.frozenEncoder = frozenEncoder
        mode = Mode(training: !frozenEncoder)
        encoder = ResNet(config, mode: mode, store: encoderStore, backend: backend)
        encoderStore.allocate(seed: seed)
        head = Linear("fc", inFeatures: config.featureDimension, outFeatures: classCount, store: headStore, backend: backend)
        headStore.allocate(seed: seed)
    }

    /// Forward and backward on one batch `[B, H, W, C]` with its labels (`[B]` classes or `[B, K]`
    /// flags): *adds* gradients to the head's store and, unless frozen, the encoder's (the caller
    /// zeroes them). Returns the mean loss and how many predictions were right of how many scored.
    func trainStep(images: Tensor, labels: [Int32]) -> (loss: Double, correct: Int, scored: Int) {
        let features = encoder.forward(images)
        let logits = head.forward(features)
        if gradLogits?.shape != logits.shape { gradLogits = backend.zeros(logits.shape) }
        let loss = classificationLoss(logits: logits, labels: labels, multiLabel: multiLabel, gradLogits: gradLogits!, backend: backend)
        let scored = scorePredictions(logits: logits, labels: labels, multiLabel: multiLabel)
        let gradFeatures = head.backward(gradLogits!)
        if !frozenEncoder { _ = encoder.backward(gradFeatures) }
        return (loss, scored.correct, scored.scored)
    }
}
