import CUDARuntime
import Collectives
import Data
import Engine
import Models

/// `disttrain train`: pretrains an encoder with a self-supervised method (or the supervised baseline),
/// with an online linear probe, metrics, checkpoints and resume.
struct TrainCommand: Command {
    static let name = "train"
    static let summary = "pretrain a ResNet encoder (SimCLR, VICReg, BYOL, MoCo v2) or train the supervised baseline"
    static let methods = ["simclr", "vicreg", "byol", "mocov2", "supervised"]
    static let optimizers = ["lars", "sgd", "adamw"]
    static let options: [Option] = [
        .value("config", "JSON file of options (keys are these option names); flags given here override it"),
        deviceOption,
        precisionOption,
        gpuCollectivesOption,
        .value("method", default: "simclr", "training method: \(methods.joined(separator: ", "))"),
        .value("dataset", default: "fashion-mnist", "dataset: \(supportedDatasetNames.joined(separator: ", "))"),
        .value("data-dir", "folder holding the dataset files (default: the dataset's standard folder)"),
        .value("image-size", "MedMNIST+ resolution: 28, 64, 128 or 224 (chooses chestmnist_224.npz etc.)"),
        .value("epochs", default: "5", "passes over the training set"),
        .value("batch-size", default: "256", "GLOBAL batch size (images per optimiser step over all ranks)"),
        .value("optimizer", "optimizer: \(optimizers.joined(separator: ", ")) (default: per method, see below)"),
        .value("lr", "base learning rate, scaled by batch-size/256 (default: per method, see below)"),
        .value("momentum", default: "0.9", "momentum of SGD and LARS"),
        .value("weight-decay", "weight decay (default: per method, see below)"),
        .value("eta", default: "0.02", "LARS trust coefficient"),
        .flag("no-clip-lr", "LARS: do not clip the adaptive learning rate at the global one"),
        .value("warmup-epochs", "linear warm-up before cosine annealing, in epochs (default: 10 % of the run, at most 10)"),
        .value("warmup-start-lr", default: "0", "learning rate at the start of the warm-up"),
        .value("min-lr", default: "0", "learning rate at the end of the cosine"),
        .value("depth", default: "18", "ResNet depth: 18 or 50"),
        .value("stem", default: "cifar", "cifar (3x3 conv, no max-pool; for 28-64 px) or imagenet (7x7/2 + max-pool)"),
        .value("width", default: "0.25", "width multiplier of the stage widths 64-128-256-512"),
        .value("augment", "augmentation preset (\(AugmentationPreset.builtInNames.joined(separator: ", "))) or a JSON file; default: per dataset and method"),
        .value("workers", default: "1", "loader threads preparing the next batches"),
        .value("crop-padding", default: "2", "supervised default augmentation: random crop after zero-padding by this many pixels"),
        .flag("no-flip", "supervised default augmentation: no random horizontal flips"),
        .value("temperature", default: "0.2", "SimCLR: NT-Xent temperature; MoCo v2: InfoNCE temperature"),
        .flag("proj-bn", "SimCLR: batch norm after the projector's hidden layer (default: solo-learn's Linear-ReLU-Linear)"),
        .value("sim-coeff", default: "25", "VICReg: invariance weight"),
        .value("std-coeff", default: "25", "VICReg: variance weight (official convention: averaged over the two branches)"),
        .value("cov-coeff", default: "1", "VICReg: covariance weight"),
        .value("tau-base", default: "0.99", "BYOL, MoCo v2: EMA momentum at the start (cosine schedule to 1)"),
        .value("queue-size", default: "65536", "MoCo v2: negative keys per view in the queue (a multiple of --batch-size)"),
        .value("proj-hidden-dim", "projector hidden width (default: per method)"),
        .value("proj-output-dim", "projector output width (default: per method)"),
        .value("pred-hidden-dim", "BYOL: predictor hidden width (default 4096)"),
        .value("pred-lr-scale", default: "1", "BYOL: the predictor's learning rate over the schedule's (Tian et al. 2021: a faster predictor)"),
        .value("proj-lr-scale", default: "1", "SimCLR, VICReg, BYOL, MoCo v2: the projector's learning rate over the schedule's"),
        .flag("no-probe", "do not train the online linear probe"),
        .value("probe-dataset", "a second labelled dataset for the online probe (default: the training set's labels)"),
        .value("probe-data-dir", "folder of --probe-dataset's files"),
        .value("normalize", default: "preset", "preset (the preset's constants, else the dataset's), dataset, or auto (measured on the training images)"),
        .value("probe-lr", default: "0.1", "learning rate of the online probe's SGD"),
        .flag("no-knn", "skip the weighted kNN evaluation at the end"),
        .value("threads", "CPU threads per rank (default: the node's cores divided among its ranks)"),
        .flag("no-sync-bn", "several ranks: each rank's batch norms use its own share of the batch (default: SyncBN)"),
        .flag("no-overlap", "several ranks: all-reduce the gradients after backward instead of during it (MPI on CPUs, NCCL on GPUs)"),
        .value("bucket-mb", default: "4", "several ranks: gradient all-reduce bucket size in MiB"),
        .value("sync-check-every", default: "100", "several ranks: compare the replicas' parameters every N steps (0: never)"),
        .value("collective-timeout", default: "1800", "several ranks: seconds without progress before a rank gives up on its peers"),
        .value("seed", default: "0", "seed for initialisation, shuffling and augmentation"),
        .value("subset", "train on the first N training images only"),
        .value("max-steps", "stop after this many optimiser steps (the schedule still spans --epochs)"),
        .value("run-dir", "folder for config.json, metrics.jsonl and checkpoints/"),
        .value("resume", "auto (RUN_DIR/checkpoints/last.safetensors if present) or a checkpoint path"),
        .value("init", "start the encoder from torchvision-named weights (safetensors: disttrain export, scripts/convert_torchvision.py); fc.* skipped, RGB conv1 summed for 1-channel data"),
    ]
    static var help: String {
        let defaults = methods.map { method -> String in
            let d = TrainOptions.defaults(for: method)
            return "  \(method): --optimizer \(d.optimizer) --lr \(d.lr) --weight-decay \(d.weightDecay)"
        }.joined(separator: "\n")
        return helpText(command: name, summary: summary, usage: "disttrain train [options]", options: options, details: """
                 Defaults per method (solo-learn's CIFAR configurations; lr is scaled by batch-size/256):
                 \(defaults)

                 Example (supervised baseline, about 2 minutes per epoch on 2 cores):
                   disttrain train --method supervised --dataset fashion-mnist --epochs 3 --batch-size 128 --run-dir runs/fmnist
                 Fashion-MNIST is read from /usr/share/datasets/fashion-mnist (Debian: dataset-fashion-mnist).
                 The run directory gets config.json (usable with --config), metrics.jsonl and checkpoints/last.safetensors.
                 """)
    }

    static func run(_ arguments: [String]) throws {
        StopSignals.catchEarlyRequests()  // a SIGUSR1 during start-up stops at the first step instead of killing the rank
        let parsed = try ParsedArguments(try ConfigFile.expand(arguments), options: options, command: name)
        let topology = Topology.fromProcessEnvironment()
        let options = try resolve(parsed, topology: topology)
        let device = try deviceBackend(parsed, topology: topology)
        let communicator = try Distributed.start(topology: topology)
        let collectives = try deviceCollectiveCalls(gpuCollectivesRequest(parsed), backend: device, communicator: communicator)
        // Every rank builds its trainer (datasets, model, resume) on its own; then they agree, so a rank
        // that fails (a missing file) stops everyone with its message instead of leaving them waiting.
        var trainer: Trainer?
        var failure: (any Error)?
        do { trainer = try Trainer(options: options, communicator: communicator, device: device, deviceCollectives: collectives) } catch { failure = error }
        if let failure, communicator.worldSize == 1 { throw failure }
        _ = try RankAgreement.agree(communicator, failure: failure, stopRequested: false, context: "while starting")
        // On an error the process exits without MPI_Finalize, which could wait for a rank that is gone.
        do {
            try trainer!.fit()
        } catch let stopped as TrainingStopped {
            try communicator.finalize()  // stopped together and cleanly: finish MPI before exiting 75
            throw stopped
        }
        try communicator.finalize()
    }

    static func resolve(_ parsed: ParsedArguments, topology: Topology = .single) throws -> TrainOptions {
        var o = TrainOptions()
        o.method = parsed.string("method")!
        guard methods.contains(o.method) else {
            throw UsageError("--method \(o.method) is not available; choose one of \(methods.joined(separator: ", "))")
        }
        let defaults = TrainOptions.defaults(for: o.method)
        o.dataset = parsed.string("dataset")!
        o.dataDirectory = parsed.string("data-dir")
        o.imageSize = try parsed.int("image-size")
        o.epochs = try parsed.int("epochs")!
        o.batchSize = try parsed.int("batch-size")!
        o.optimizer = parsed.string("optimizer") ?? defaults.optimizer
        o.baseLearningRate = try parsed.double("lr") ?? defaults.lr
        o.momentum = try parsed.double("momentum")!
        o.weightDecay = try parsed.double("weight-decay") ?? defaults.weightDecay
        o.lars = (try parsed.double("eta")!, !parsed.has("no-clip-lr"))
        o.warmupEpochs = try parsed.double("warmup-epochs")
        o.warmupStartLearningRate = try parsed.double("warmup-start-lr")!
        o.minLearningRate = try parsed.double("min-lr")!
        o.depth = try parsed.int("depth")!
        o.width = try parsed.double("width")!
        o.randomCropPadding = try parsed.int("crop-padding")!
        o.augment = parsed.string("augment")
        o.workers = try parsed.int("workers")!
        guard o.workers >= 1 else { throw UsageError("--workers must be at least 1") }
        o.randomFlip = !parsed.has("no-flip")
        o.temperature = try parsed.double("temperature")!
        o.simclrProjectorBatchNorm = parsed.has("proj-bn")
        o.tauBase = try parsed.double("tau-base")!
        o.queueSize = try parsed.int("queue-size")!
        guard (0...1).contains(o.tauBase) else { throw UsageError("--tau-base must lie in [0, 1], got \(o.tauBase)") }
        o.vicregWeights = (try parsed.double("sim-coeff")!, try parsed.double("std-coeff")!, try parsed.double("cov-coeff")!)
        o.projectorHiddenDimension = try parsed.int("proj-hidden-dim")
        o.projectorOutputDimension = try parsed.int("proj-output-dim")
        o.predictorHiddenDimension = try parsed.int("pred-hidden-dim")
        o.predictorLearningRateScale = try parsed.double("pred-lr-scale")!
        guard o.predictorLearningRateScale > 0, o.predictorLearningRateScale.isFinite else {
            throw UsageError("--pred-lr-scale must be a positive number, got \(o.predictorLearningRateScale)")
        }
        guard o.predictorLearningRateScale == 1 || o.method == "byol" else {
            throw UsageError("--pred-lr-scale applies to BYOL's predictor; --method \(o.method) has none")
        }
        o.projectorLearningRateScale = try parsed.double("proj-lr-scale")!
        guard o.projectorLearningRateScale > 0, o.projectorLearningRateScale.isFinite else {
            throw UsageError("--proj-lr-scale must be a positive number, got \(o.projectorLearningRateScale)")
        }
        guard o.projectorLearningRateScale == 1 || o.method != "supervised" else {
            throw UsageError("--proj-lr-scale applies to a projector; --method supervised has none")
        }
        o.probe = !parsed.has("no-probe")
        o.probeDataset = parsed.string("probe-dataset")
        o.probeDataDirectory = parsed.string("probe-data-dir")
        o.normalize = parsed.string("normalize")!
        guard ["preset", "dataset", "auto"].contains(o.normalize) else {
            throw UsageError("--normalize must be preset, dataset or auto, got '\(o.normalize)'")
        }
        o.probeLearningRate = try parsed.double("probe-lr")!
        o.knn = !parsed.has("no-knn")
        o.device = try deviceRequest(parsed).rawValue
        o.precision = try precisionRequest(parsed).rawValue
        o.gpuCollectives = try gpuCollectivesRequest(parsed).rawValue
        o.threads = try parsed.int("threads") ?? max(1, CPUBackend.defaultThreadCount / topology.localSize)
        o.syncBatchNorm = !parsed.has("no-sync-bn")
        o.overlapGradientSync = !parsed.has("no-overlap")
        o.bucketMegabytes = try parsed.double("bucket-mb")!
        o.syncCheckEvery = try parsed.int("sync-check-every")!
        o.collectiveTimeout = try parsed.double("collective-timeout")!
        guard o.bucketMegabytes > 0, o.syncCheckEvery >= 0, o.collectiveTimeout > 0 else {
            throw UsageError("--bucket-mb and --collective-timeout must be positive and --sync-check-every non-negative")
        }
        o.seed = UInt64(try parsed.int("seed")!)
        o.subset = try parsed.int("subset")
        o.maxSteps = try parsed.int("max-steps")
        o.runDirectory = parsed.string("run-dir")
        o.resume = parsed.string("resume")
        o.initWeights = parsed.string("init")
        guard let stem = Stem(rawValue: parsed.string("stem")!) else { throw UsageError("--stem must be cifar or imagenet") }
        o.stem = stem
        guard [18, 34, 50, 101].contains(o.depth) else { throw UsageError("--depth must be 18, 34, 50 or 101, got \(o.depth)") }
        guard o.epochs >= 1 else { throw UsageError("--epochs must be at least 1") }
        guard o.batchSize >= 2 else { throw UsageError("--batch-size must be at least 2 (batch norm needs 2 images)") }
        guard optimizers.contains(o.optimizer) else {
            throw UsageError("--optimizer \(o.optimizer) is not available; choose one of \(optimizers.joined(separator: ", "))")
        }
        guard o.width > 0, o.baseLearningRate > 0, o.threads >= 1, o.randomCropPadding >= 0, o.temperature > 0 else {
            throw UsageError("--width, --lr, --threads and --temperature must be positive and --crop-padding non-negative")
        }
        if let subset = o.subset, subset < o.batchSize { throw UsageError("--subset \(subset) is smaller than --batch-size \(o.batchSize)") }
        if o.method == "mocov2" {
            guard o.queueSize >= o.batchSize, o.queueSize % o.batchSize == 0 else {
                throw UsageError("--queue-size \(o.queueSize) must be a multiple of --batch-size \(o.batchSize): each step "
                                 + "replaces the oldest batch of keys (e.g. --queue-size \(max(1, o.queueSize / o.batchSize) * o.batchSize))")
            }
        }
        if let maxSteps = o.maxSteps, maxSteps < 1 { throw UsageError("--max-steps must be at least 1") }
        return o
    }
}
