import Collectives
import Data
import Engine
import Models

/// `disttrain finetune`: the whole encoder plus a linear head trained on labels (`FineTuner`), from a
/// checkpoint, torchvision-named weights or random initialisation (the supervised baseline);
/// `--freeze-encoder` trains the head alone (linear probing through the same path).
struct FineTuneCommand: Command {
    static let name = "finetune"
    static let summary = "fine-tune the encoder with a linear head on labels (or --freeze-encoder: linear probing)"
    static let options: [Option] = [
        .value("checkpoint", "a disttrain training checkpoint (or `disttrain export` file) to start the encoder from"),
        .value("init", "torchvision-named weights (scripts/convert_torchvision.py) to start the encoder from"),
        .flag("random-init", "start from random initialisation: the supervised baseline"),
        .flag("freeze-encoder", "train the head only; the encoder stays in evaluation mode and unchanged (linear probing)"),
        .value("dataset", default: "fashion-mnist", "labelled dataset: \(supportedDatasetNames.joined(separator: ", "))"),
        .value("data-dir", "folder holding the dataset files"),
        .value("image-size", "MedMNIST+ resolution: 28, 64, 128 or 224"),
        .value("subset", "train on the first N training images only"),
        .value("epochs", default: "10", "passes over the training images"),
        .value("batch-size", default: "256", "images per optimiser step"),
        .value("optimizer", default: "sgd", "sgd (with momentum) or adamw, one instance each for encoder and head"),
        .value("lr-head", default: "0.1", "peak learning rate of the linear head (not scaled by the batch size)"),
        .value("lr-encoder", default: "0.01", "peak learning rate of the encoder (not scaled by the batch size)"),
        .value("momentum", default: "0.9", "SGD momentum"),
        .value("weight-decay", default: "1e-4", "weight decay of encoder and head (SGD: L2 in the gradient; AdamW: decoupled)"),
        .value("warmup-epochs", default: "0.5", "linear warm-up from 0 before the cosine, in epochs (fractions allowed)"),
        .value("crop-padding", default: "2", "random crop after zero-padding by this many pixels (0: no crop)"),
        .flag("no-flip", "no random horizontal flips"),
        .value("run-dir", "record finetune_acc / finetune_auc in this run's results.json (default: the checkpoint's run)"),
    ] + EncoderArchitecture.options + [
        .value("seed", default: "0", "seed of the head's (and a random encoder's) initialisation, shuffling and augmentation"),
        .value("threads", "CPU threads (default: all cores)"),
    ]

    static var help: String {
        helpText(command: "finetune", summary: summary,
                 usage: "disttrain finetune (--checkpoint FILE | --init FILE | --random-init) [options]", options: options, details: """
                 Runs in one process (no mpirun). The encoder and a new linear head (fc) each have their own optimiser
                 and learning rate; both follow a linear warm-up and a cosine to 0, per step. The loss is softmax
                 cross-entropy, or binary cross-entropy per label for multi-label data (ChestMNIST); batches are
                 randomly cropped (--crop-padding) and flipped. After every epoch the validation split (MedMNIST's
                 own) and the test split are scored with MedMNIST's metrics (accuracy and AUC); the epoch reported is
                 the best on validation (accuracy; mean AUC for multi-label data), or the last when the dataset has
                 no validation split. The test split never chooses.

                 --freeze-encoder: the encoder runs in evaluation mode (running BN statistics) and gets no gradient,
                 so its weights and statistics stay bit for bit as loaded; only the head trains (finetune_frozen_acc).

                 Example (a SimCLR encoder; then the supervised baseline from random initialisation):
                   disttrain finetune --checkpoint runs/simclr/checkpoints/last.safetensors --epochs 2
                   disttrain finetune --random-init --epochs 2 --run-dir runs/supervised-baseline
                 """)
    }

    static func run(_ arguments: [String]) throws {
        let parsed = try ParsedArguments(arguments, options: options, command: "finetune")
        let sources = [parsed.string("checkpoint"), parsed.string("init")].compactMap { $0 }
        guard sources.count + (parsed.has("random-init") ? 1 : 0) == 1 else {
            throw UsageError("give exactly one of --checkpoint FILE, --init FILE and --random-init")
        }
        let settings = try parseSettings(parsed)
        let ranks = Topology.fromProcessEnvironment().worldSize
        guard ranks == 1 else {
            throw UsageError("finetune runs in one process; started as \(ranks) ranks it would train \(ranks) copies. Run it without mpirun/srun")
        }
        let freeze = parsed.has("freeze-encoder")
        let backend = CPUBackend(threads: try parsed.int("threads") ?? CPUBackend.defaultThreadCount)
        let name = parsed.string("dataset")!, directory = parsed.string("data-dir"), imageSize = try parsed.int("image-size")
        var train = try loadDataset(name: name, split: .train, directory: directory, imageSize: imageSize)
        if let subset = try parsed.int("subset") { train = train.subset(first: subset) }
        guard !train.labels.contains(where: { $0 < 0 }) else {
            throw UsageError("\(train.name) holds unlabelled images (label -1); fine-tuning needs every training image labelled")
        }
        let validation = try datasetSplits(name: name).contains(.val)
            ? try loadDataset(name: name, split: .val, directory: directory, imageSize: imageSize) : nil
        let test = try loadDataset(name: name, split: .test, directory: directory, imageSize: imageSize)

        let weights = sources.first
        let file = try weights.map { try SafetensorsFile(path: $0) }
        let config = try EncoderArchitecture.resolve(parsed, file: file, inChannels: train.channels)
        let model = FineTuneModel(encoder: config, classCount: train.classCount, multiLabel: train.labelsPerSample > 1,
                                  frozenEncoder: freeze, seed: settings.seed, backend: backend)
        if let weights {
            let report = try loadInitialWeights(path: weights, into: model.encoderStore, encoder: model.encoder)
            printFlushed("encoder: \(weights): \(report.description)")
        }
        let normalization = EncoderArchitecture.recordedNormalization(file?.metadata ?? [:], channels: train.channels)
            ?? datasetNormalization(train)
        let tuner = try FineTuner(model: model, settings: settings, trainCount: train.count, backend: backend)
        printFlushed("finetune: ResNet-\(config.depth) \(config.stem.rawValue) width \(config.widthMultiplier) from "
                     + (weights ?? "random initialisation (seed \(settings.seed))") + (freeze ? ", encoder frozen" : "")
                     + "; \(train.count) train" + (validation.map { ", \($0.count) validation" } ?? "") + ", \(test.count) test images of \(name)")
        printFlushed("finetune: \(settings.optimizer), lr head \(settings.headLearningRate)"
                     + (freeze ? "" : ", encoder \(settings.encoderLearningRate)")
                     + ", batch \(settings.batchSize), \(tuner.stepsPerEpoch) steps/epoch, \(settings.epochs) epochs, \(backend.threadCount) threads")
        let clock = ContinuousClock(), start = clock.now
        let epochs = try tuner.run(train: train, validation: validation, test: test, normalization: normalization,
                                   log: { printFlushed($0) })
        let chosen = FineTuner.chosenEpoch(epochs)
        let why = validation == nil ? "the last; no validation split to choose on" : "the best on validation"
        printFlushed("finetune: test \(chosen.test.summary(classNames: train.classNames)) at epoch \(chosen.epoch) (\(why)); "
                     + "\(duration((clock.now - start).seconds)) in all")
        let prefix = freeze ? "finetune_frozen" : "finetune"
        var values = [("\(prefix)_acc", chosen.test.accuracy), ("\(prefix)_epochs", Double(settings.epochs)),
                      ("\(prefix)_chosen_epoch", Double(chosen.epoch))]
        if let auc = chosen.test.auc { values.append(("\(prefix)_auc", auc)) }
        try ResultsFile.recordEvaluation(values, runDirectory: ResultsFile.runDirectory(explicit: parsed.string("run-dir"),
                                                                                        checkpoint: parsed.string("checkpoint")),
                                         command: "finetune")
    }

    static func parseSettings(_ parsed: ParsedArguments) throws -> FineTuneSettings {
        var s = FineTuneSettings()
        s.epochs = try parsed.int("epochs")!
        s.batchSize = try parsed.int("batch-size")!
        s.optimizer = parsed.string("optimizer")!
        s.headLearningRate = try parsed.double("lr-head")!
        s.encoderLearningRate = try parsed.double("lr-encoder")!
        s.momentum = try parsed.double("momentum")!
        s.weightDecay = try parsed.double("weight-decay")!
        s.warmupEpochs = try parsed.double("warmup-epochs")!
        s.cropPadding = try parsed.int("crop-padding")!
        s.randomFlip = !parsed.has("no-flip")
        s.seed = UInt64(try parsed.int("seed")!)
        guard s.epochs >= 1, s.batchSize >= 1 else { throw UsageError("--epochs and --batch-size must be at least 1") }
        guard s.headLearningRate >= 0, s.encoderLearningRate >= 0, s.weightDecay >= 0, s.momentum >= 0, s.cropPadding >= 0 else {
            throw UsageError("--lr-head, --lr-encoder, --weight-decay, --momentum and --crop-padding must not be negative")
        }
        guard s.warmupEpochs >= 0, s.warmupEpochs < Double(s.epochs) else {
            throw UsageError("--warmup-epochs must be at least 0 and less than --epochs (\(s.epochs)), got \(s.warmupEpochs)")
        }
        guard FineTuner.optimizers.contains(s.optimizer) else {
            throw UsageError("unknown --optimizer '\(s.optimizer)'; choose \(FineTuner.optimizers.joined(separator: " or "))")
        }
        return s
    }
}
