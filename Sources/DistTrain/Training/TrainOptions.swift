import Engine
import Models

/// Every option of `disttrain train`, resolved (defaults filled in per method).
struct TrainOptions {
    var method = "simclr"
    var dataset = "fashion-mnist"
    var dataDirectory: String?
    /// MedMNIST+ resolution (28, 64, 128, 224); nil for datasets with one size.
    var imageSize: Int?
    var epochs = 5
    var batchSize = 256
    var optimizer = "lars"
    /// Base learning rate; the optimiser uses `baseLearningRate × batchSize / 256`.
    var baseLearningRate = 0.4
    var momentum = 0.9
    var weightDecay = 1e-4
    var lars = (eta: 0.02, clipLR: true)
    var warmupEpochs: Double?
    var warmupStartLearningRate = 0.0
    var minLearningRate = 0.0
    var depth = 18
    var stem = Stem.cifar
    var width = 0.25
    var threads = CPUBackend.defaultThreadCount
    /// `--device` and `--precision` as asked (the backend itself is built by `deviceBackend`).
    var device = "cpu"
    var precision = "fp32"
    /// `--gpu-collectives` as asked (`deviceCollectiveCalls` resolves it).
    var gpuCollectives = "auto"
    var seed: UInt64 = 0
    var subset: Int?
    var maxSteps: Int?
    var runDirectory: String?
    var resume: String?
    /// `--init`: torchvision-named weights the encoder starts from (a resumed checkpoint overrides them).
    var initWeights: String?
    var probe = true
    /// A second labelled dataset for the online probe (e.g. PneumoniaMNIST while pretraining on ChestMNIST).
    var probeDataset: String?
    var probeDataDirectory: String?
    /// "preset" (the preset's constants, else the dataset's), "dataset" (the dataset's known constants)
    /// or "auto" (mean and std measured on the training images, as `disttrain data stats` prints them).
    var normalize = "preset"
    var probeLearningRate = 0.1
    var knn = true
    /// Augmentation preset name or JSON file; nil picks one per dataset and method (`defaultPreset`).
    var augment: String?
    /// Loader threads that augment the next batches while the current one trains.
    var workers = 1
    var randomCropPadding = 2
    var randomFlip = true
    // Method hyper-parameters.
    var temperature = 0.2
    /// SimCLR's projector with a BN after its hidden layer (SimCLR v2 style) instead of solo-learn's Linear-ReLU-Linear.
    var simclrProjectorBatchNorm = false
    var projectorHiddenDimension: Int?
    var projectorOutputDimension: Int?
    var predictorHiddenDimension: Int?
    /// BYOL: the predictor's learning rate as a multiple of the scheduled one.
    var predictorLearningRateScale = 1.0
    /// The projector's learning rate as a multiple of the scheduled one.
    var projectorLearningRateScale = 1.0
    var tauBase = 0.99
    var queueSize = 65536
    var vicregWeights = (invariance: 25.0, variance: 25.0, covariance: 1.0)
    // Distributed training (ignored by a single process).
    /// SyncBatchNorm over all ranks (`--no-sync-bn` turns it off: each rank normalises its own share).
    var syncBatchNorm = true
    /// All-reduce gradient buckets during backward on a communication thread (`--no-overlap`: after backward).
    var overlapGradientSync = true
    /// Gradient bucket size in MiB.
    var bucketMegabytes = 4.0
    /// Compare the replicas' parameters (and BYOL's EMA target) every this many steps; 0 never.
    var syncCheckEvery = 100
    /// Seconds without progress after which a rank gives up on its peers.
    var collectiveTimeout = 1800.0

    /// The augmentation preset a method uses on a dataset when `--augment` is not given: solo-learn's
    /// symmetric set for SimCLR and its asymmetric pair for BYOL and VICReg on CIFAR, the ImageNet sets
    /// on STL-10, the chest X-ray set on MedMNIST, the small grayscale set on (Fashion-)MNIST.
    func defaultPreset(datasetName: String) -> String {
        let name = datasetName.lowercased()
        if name.contains("cifar") { return method == "simclr" ? "cifar-symmetric" : "cifar" }
        if name.contains("stl") { return method == "simclr" ? "imagenet-symmetric" : "imagenet" }
        if name.contains("chest") || name.contains("pneumonia") { return "cxr" }
        return "fashion-mnist"
    }

    /// Learning rate after linear scaling with the global batch (Goyal et al. 2017).
    var learningRate: Double { baseLearningRate * Double(batchSize) / 256 }

    /// solo-learn's CIFAR defaults per method (lr, weight decay, optimiser).
    static func defaults(for method: String) -> (lr: Double, weightDecay: Double, optimizer: String) {
        switch method {
        case "simclr": return (0.4, 1e-4, "lars")
        case "vicreg": return (0.3, 1e-4, "lars")
        case "byol": return (1.0, 1e-5, "lars")
        case "mocov2": return (0.3, 1e-4, "sgd")
        default: return (0.2, 5e-4, "sgd")
        }
    }

    /// The options as written to `config.json`: the command's own flag names, so `--config` repeats the run.
    var record: [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [
            ("method", .string(method)), ("dataset", .string(dataset)), ("epochs", .integer(epochs)),
            ("batch-size", .integer(batchSize)), ("optimizer", .string(optimizer)), ("lr", .number(baseLearningRate)),
            ("momentum", .number(momentum)), ("weight-decay", .number(weightDecay)),
            ("eta", .number(lars.eta)), ("warmup-start-lr", .number(warmupStartLearningRate)),
            ("min-lr", .number(minLearningRate)), ("depth", .integer(depth)), ("stem", .string(stem.rawValue)),
            ("width", .number(width)), ("threads", .integer(threads)), ("seed", .integer(Int(seed))),
            ("probe-lr", .number(probeLearningRate)), ("workers", .integer(workers)),
            ("crop-padding", .integer(randomCropPadding)), ("temperature", .number(temperature)),
            ("tau-base", .number(tauBase)), ("queue-size", .integer(queueSize)),
            ("pred-lr-scale", .number(predictorLearningRateScale)),
            ("proj-lr-scale", .number(projectorLearningRateScale)), ("device", .string(device)),
            ("precision", .string(precision)), ("gpu-collectives", .string(gpuCollectives)),
        ]
        if let augment { fields.append(("augment", .string(augment))) }
        fields.append(("normalize", .string(normalize)))
        if let probeDataset { fields.append(("probe-dataset", .string(probeDataset))) }
        if let probeDataDirectory { fields.append(("probe-data-dir", .string(probeDataDirectory))) }
        if let warmupEpochs { fields.append(("warmup-epochs", .number(warmupEpochs))) }
        if let dataDirectory { fields.append(("data-dir", .string(dataDirectory))) }
        if let initWeights { fields.append(("init", .string(initWeights))) }
        if let imageSize { fields.append(("image-size", .integer(imageSize))) }
        if let subset { fields.append(("subset", .integer(subset))) }
        if let maxSteps { fields.append(("max-steps", .integer(maxSteps))) }
        if !lars.clipLR { fields.append(("no-clip-lr", .bool(true))) }
        if !randomFlip { fields.append(("no-flip", .bool(true))) }
        if !probe { fields.append(("no-probe", .bool(true))) }
        if simclrProjectorBatchNorm { fields.append(("proj-bn", .bool(true))) }
        if !knn { fields.append(("no-knn", .bool(true))) }
        if !syncBatchNorm { fields.append(("no-sync-bn", .bool(true))) }
        if !overlapGradientSync { fields.append(("no-overlap", .bool(true))) }
        fields += [("bucket-mb", .number(bucketMegabytes)), ("sync-check-every", .integer(syncCheckEvery)),
                   ("collective-timeout", .number(collectiveTimeout))]
        for (name, value) in [("proj-hidden-dim", projectorHiddenDimension), ("proj-output-dim", projectorOutputDimension),
                              ("pred-hidden-dim", predictorHiddenDimension)] {
            if let value { fields.append((name, .integer(value))) }
        }
        return fields
    }
}
