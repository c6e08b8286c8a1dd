import Data
import Engine
import Models

/// How `disttrain finetune` trains: optimiser, the two learning rates and their schedule, augmentation.
struct FineTuneSettings {
    var epochs = 10
    var batchSize = 256
    /// "sgd" (PyTorch's, with momentum) or "adamw".
    var optimizer = "sgd"
    var headLearningRate = 0.1
    var encoderLearningRate = 0.01
    var momentum = 0.9
    /// SGD: L2 added to the gradient; AdamW: decoupled. The same for encoder and head.
    var weightDecay = 1e-4
    /// Linear warm-up from 0, in epochs (fractions allowed), then cosine to 0; per optimiser step.
    var warmupEpochs = 0.5
    /// Random crop after zero-padding by this many pixels (0: none), as the supervised baseline trains.
    var cropPadding = 2
    var randomFlip = true
    var seed: UInt64 = 0
}

/// What one epoch of fine-tuning measured.
struct FineTuneEpoch {
    let epoch: Int
    let trainLoss: Double
    /// Fraction of training predictions right (per label for multi-label data), in training mode.
    let trainAccuracy: Double
    let validation: ClassificationMetrics?
    let test: ClassificationMetrics
    let seconds: Double
}

/// The fine-tuning loop of `disttrain finetune`, in one process: an encoder and a linear head
/// (`FineTuneModel`), each with its own optimiser and warm-up + cosine schedule (`--lr-encoder`,
/// `--lr-head`), trained on labelled images with the supervised baseline's crop-and-flip batches;
/// after every epoch the validation (if the dataset has one) and test splits are scored with MedMNIST's
/// metrics. The reported epoch is the best on validation (accuracy; mean AUC for multi-label data),
/// else the last: the test split never chooses.
final class FineTuner {
    let model: FineTuneModel
    let settings: FineTuneSettings
    let stepsPerEpoch: Int
    let headSchedule: WarmupCosineSchedule
    let encoderSchedule: WarmupCosineSchedule
    let headOptimizer: any Optimizer
    /// Nil when the encoder is frozen: nothing may update it.
    let encoderOptimizer: (any Optimizer)?
    let backend: any Backend

    /// - Parameter trainCount: training images; with `settings.batchSize` it fixes the steps per epoch
    ///   (drop-last) and so the schedules' length.
    init(model: FineTuneModel, settings: FineTuneSettings, trainCount: Int, backend: any Backend) throws {
        guard trainCount >= settings.batchSize else {
            throw UsageError("\(trainCount) training images are fewer than one batch of \(settings.batchSize); lower --batch-size")
        }
        self.model = model
        self.settings = settings
        self.backend = backend
        stepsPerEpoch = trainCount / settings.batchSize
        let total = stepsPerEpoch * settings.epochs
        let warmup = Int((settings.warmupEpochs * Double(stepsPerEpoch)).rounded())
        headSchedule = WarmupCosineSchedule(baseLearningRate: settings.headLearningRate, warmupSteps: warmup, totalSteps: total)
        encoderSchedule = WarmupCosineSchedule(baseLearningRate: settings.encoderLearningRate, warmupSteps: warmup, totalSteps: total)
        headOptimizer = try Self.optimizer(settings, store: model.headStore, learningRate: settings.headLearningRate, backend: backend)
        encoderOptimizer = model.frozenEncoder ? nil
            : try Self.optimizer(settings, store: model.encoderStore, learningRate: settings.encoderLearningRate, backend: backend)
    }

    static let optimizers = ["sgd", "adamw"]

    private static func optimizer(_ settings: FineTuneSettings, store: ParameterStore, learningRate: Double,
                                  backend: any Backend) throws -> any Optimizer {
        switch settings.optimizer {
        case "sgd":
            return SGD(store: store, backend: backend, learningRate: Float(learningRate), momentum: Float(settings.momentum),
                       weightDecay: Float(settings.weightDecay))
        case "adamw":
            return AdamW(store: store, backend: backend, learningRate: Float(learningRate), weightDecay: Float(settings.weightDecay))
        default:
            throw UsageError("unknown --optimizer '\(settings.optimizer)'; choose \(optimizers.joined(separator: " or "))")
        }
    }

    /// One optimiser step (0-based `step` of the whole run) on a batch: both learning rates from their
    /// schedules, gradients zeroed, forward and backward, then each optimiser updates its own store.
    @discardableResult
    func trainStep(images: Tensor, labels: [Int32], step: Int) -> (loss: Double, correct: Int, scored: Int) {
        headOptimizer.learningRate = Float(headSchedule.learningRate(atStep: step))
        encoderOptimizer?.learningRate = Float(encoderSchedule.learningRate(atStep: step))
        model.headStore.zeroGradients()
        model.encoderStore.zeroGradients()
        let result = model.trainStep(images: images, labels: labels)
        headOptimizer.step()
        encoderOptimizer?.step()
        return result
    }

    /// Trains `settings.epochs` epochs on `train`, scoring `validation` and `test` after each; `log`
    /// gets a progress line now and then and one line per epoch.
    func run(train: ImageDataset, validation: ImageDataset?, test: ImageDataset, normalization: Normalization,
             log: (String) -> Void) throws -> [FineTuneEpoch] {
        let sampler = try ShardedSampler(datasetCount: train.count, globalBatchSize: settings.batchSize, rank: 0,
                                         worldSize: 1, seed: settings.seed)
        let assembler = try BatchAssembler(dataset: train, normalization: normalization, randomFlip: settings.randomFlip,
                                           randomCropPadding: settings.cropPadding, seed: settings.seed)
        let batch = backend.zeros([settings.batchSize, train.height, train.width, train.channels])
        var epochs: [FineTuneEpoch] = []
        var step = 0
        let clock = ContinuousClock()
        for epoch in 0..<settings.epochs {
            let start = clock.now
            var lossSum = 0.0, correct = 0, scored = 0
            for (index, indices) in sampler.batches(epoch: epoch).enumerated() {
                let labels = assembler.assemble(indices: indices, epoch: epoch, into: batch)
                let result = trainStep(images: batch, labels: labels, step: step)
                guard result.loss.isFinite else {
                    throw TrainingError("fine-tuning loss is \(result.loss) at step \(step + 1) (epoch \(epoch + 1)); "
                                        + "lower --lr-encoder / --lr-head")
                }
                lossSum += result.loss; correct += result.correct; scored += result.scored
                step += 1
                if (index + 1) % 10 == 0 {
                    let rate = Double((index + 1) * settings.batchSize) / (clock.now - start).seconds
                    log("  epoch \(epoch + 1)/\(settings.epochs) step \(index + 1)/\(stepsPerEpoch) loss \(fixed(lossSum / Double(index + 1), 4))"
                        + "  \(fixed(rate, 0)) img/s")
                }
            }
            let record = FineTuneEpoch(epoch: epoch + 1, trainLoss: lossSum / Double(stepsPerEpoch),
                                       trainAccuracy: Double(correct) / Double(max(scored, 1)),
                                       validation: try validation.map { try evaluate($0, normalization: normalization) },
                                       test: try evaluate(test, normalization: normalization),
                                       seconds: (clock.now - start).seconds)
            epochs.append(record)
            log("epoch \(record.epoch)/\(settings.epochs): train loss \(fixed(record.trainLoss, 4)) acc \(fixed(100 * record.trainAccuracy, 2))%"
                + (record.validation.map { " | val \($0.summary(classNames: train.classNames))" } ?? "")
                + " | test \(record.test.summary(classNames: train.classNames)) | \(fixed(record.seconds, 1)) s")
        }
        return epochs
    }

    /// MedMNIST's metrics of the model's evaluation-mode predictions on every image of `dataset`: the
    /// encoder's features as `eval` extracts them (running BN statistics), then the head on all rows.
    func evaluate(_ dataset: ImageDataset, normalization: Normalization, batchSize: Int = 256) throws -> ClassificationMetrics {
        let (features, labels) = try extractFeatures(encoder: model.encoder, mode: model.mode, dataset: dataset,
                                                     normalization: normalization, batchSize: batchSize, backend: backend)
        let logits = model.head.forward(features).array
        return ClassificationMetrics(task: ClassificationTask(classCount: dataset.classCount, labelsPerSample: dataset.labelsPerSample),
                                     logits: logits, labels: labels, classCount: dataset.classCount)
    }

    /// The epoch to report: best validation accuracy (mean AUC for multi-label data; the earlier on
    /// ties), or the last epoch when there is no validation split.
    static func chosenEpoch(_ epochs: [FineTuneEpoch]) -> FineTuneEpoch {
        func score(_ metrics: ClassificationMetrics) -> Double {
            metrics.task == .multiLabel ? metrics.auc ?? metrics.accuracy : metrics.accuracy
        }
        guard epochs.first?.validation != nil else { return epochs[epochs.count - 1] }
        return epochs.dropFirst().reduce(epochs[0]) { best, next in score(next.validation!) > score(best.validation!) ? next : best }
    }
}
