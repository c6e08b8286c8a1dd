import Data
import Engine
import Models

/// What `eval knn` and `eval linear` share: the frozen encoder (from a checkpoint or weights file, or
/// at random initialisation), the training dataset (kNN memory, probe training set), its validation
/// split, the test set (of the same dataset or, for out-of-distribution evaluation, another one,
/// through a label map) and feature extraction.
final class EvaluationSetup {
    /// The options both subcommands take.
    static let options: [Option] = [
        .value("checkpoint", "checkpoint, `disttrain export` file or converted torchvision weights (safetensors) of the encoder"),
        .flag("random-init", "evaluate the encoder at random initialisation (the baseline) instead"),
        .value("dataset", default: "fashion-mnist", "labelled training dataset (kNN memory, probe training set): \(supportedDatasetNames.joined(separator: ", "))"),
        .value("data-dir", "folder holding the dataset files"),
        .value("image-size", "MedMNIST+ resolution: 28, 64, 128 or 224"),
        .value("subset", "use the first N training images only"),
        .value("test-dataset", "evaluate on this dataset's test split instead (out of distribution; see --label-map)"),
        .value("test-data-dir", "folder holding --test-dataset's files"),
        .value("test-image-size", "MedMNIST+ resolution of --test-dataset (its images are resized to the training images' size if they differ)"),
        .value("label-map", "JSON object mapping test-dataset classes to training-dataset classes (names or indices); unmapped test images are dropped"),
        .value("run-dir", "record the numbers in this run's results.json for disttrain report (default: the checkpoint's run, when it lies in RUN/checkpoints/)"),
    ] + EncoderArchitecture.options + [
        .value("seed", default: "0", "seed of the random initialisation (and of the held-out validation split)"),
        .value("threads", "CPU threads (default: all cores)"),
    ]

    let backend: CPUBackend
    let mode = Mode(training: false)
    let encoder: ResNet
    let normalization: Normalization
    let train: ImageDataset
    let test: ImageDataset
    let labelMap: LabelMap?
    let seed: UInt64
    /// "ResNet-18 cifar width 0.25 from CKPT" for the report.
    let encoderDescription: String
    private let parsed: ParsedArguments

    init(_ parsed: ParsedArguments) throws {
        self.parsed = parsed
        let checkpoint = parsed.string("checkpoint")
        guard (checkpoint != nil) != parsed.has("random-init") else {
            throw UsageError("give exactly one of --checkpoint FILE and --random-init")
        }
        seed = UInt64(try parsed.int("seed")!)
        backend = CPUBackend(threads: try parsed.int("threads") ?? CPUBackend.defaultThreadCount)
        let imageSize = try parsed.int("image-size")
        let name = parsed.string("dataset")!
        var train = try loadDataset(name: name, split: .train, directory: parsed.string("data-dir"), imageSize: imageSize)
        if let subset = try parsed.int("subset") { train = train.subset(first: subset) }
        self.train = train
        let test = try Self.loadTest(parsed, train: train)
        self.test = test
        labelMap = try parsed.string("label-map").map {
            guard train.labelsPerSample == 1 else { throw UsageError("--label-map applies to single-label datasets; \(train.name) is multi-label") }
            return try LabelMap(path: $0, evaluationClasses: test.classNames, trainingClasses: train.classNames,
                                evaluationName: test.name, trainingName: train.name)
        }
        if labelMap == nil && test.classNames != train.classNames {
            throw UsageError("the classes of \(test.name) (\(test.classNames.prefix(5).joined(separator: ", ")), ...) are not "
                             + "\(train.name)'s (\(train.classNames.prefix(5).joined(separator: ", ")), ...); give --label-map FILE "
                             + "mapping each test class to a training class")
        }
        let file = try checkpoint.map { try SafetensorsFile(path: $0) }
        let config = try EncoderArchitecture.resolve(parsed, file: file, inChannels: train.channels)
        let store = ParameterStore()
        encoder = ResNet(config, mode: mode, store: store, backend: backend)
        store.allocate(seed: seed)
        if let checkpoint {
            let report = try loadInitialWeights(path: checkpoint, into: store, encoder: encoder)
            printFlushed("encoder: \(checkpoint): \(report.description)")
        }
        normalization = EncoderArchitecture.recordedNormalization(file?.metadata ?? [:], channels: train.channels)
            ?? datasetNormalization(train)
        encoderDescription = "ResNet-\(config.depth) \(config.stem.rawValue) width \(config.widthMultiplier) from "
            + (checkpoint ?? "random initialisation (seed \(seed))")
    }

    /// The test split of `--test-dataset` (default `--dataset`), resized to the training images' size.
    private static func loadTest(_ parsed: ParsedArguments, train: ImageDataset) throws -> ImageDataset {
        let trainName = parsed.string("dataset")!
        let name = parsed.string("test-dataset") ?? trainName
        let same = try canonicalDatasetName(name) == canonicalDatasetName(trainName)
        var test = try loadDataset(name: name, split: .test,
                                   directory: parsed.string("test-data-dir") ?? (same ? parsed.string("data-dir") : nil),
                                   imageSize: try parsed.int("test-image-size") ?? (same ? parsed.int("image-size") : nil))
        guard test.channels == train.channels else {
            throw UsageError("\(test.name) has \(test.channels)-channel images but the encoder takes \(train.channels) (\(train.name))")
        }
        guard test.labelsPerSample == train.labelsPerSample else {
            throw UsageError("\(test.name) and \(train.name) label their images differently (multi-label versus one class)")
        }
        if test.height != train.height || test.width != train.width {
            printFlushed("test: \(test.name) images are resized from \(test.height)x\(test.width) to \(train.height)x\(train.width)")
            test = ResizedPixels.resized(test, height: train.height, width: train.width)
        }
        return test
    }

    /// The dataset's own validation split (MedMNIST), or nil when it has none.
    func validationSplit() throws -> ImageDataset? {
        guard try datasetSplits(name: parsed.string("dataset")!).contains(.val) else { return nil }
        return try loadDataset(name: parsed.string("dataset")!, split: .val, directory: parsed.string("data-dir"),
                               imageSize: try parsed.int("image-size"))
    }

    /// Features of `dataset` (no augmentation; `flipped`: every image mirrored), unlabelled rows dropped.
    func features(_ dataset: ImageDataset, flipped: Bool = false) throws -> LabelledFeatures {
        let (features, labels) = try extractFeatures(encoder: encoder, mode: mode, dataset: dataset, normalization: normalization,
                                                     batchSize: 256, backend: backend, horizontalFlip: flipped)
        return LabelledFeatures(features: features, labels: labels, labelsPerSample: dataset.labelsPerSample).labelled()
    }

    /// Features of the test set, with labels in the training dataset's classes (the label map applied,
    /// and the number of dropped images printed).
    func testFeatures() throws -> LabelledFeatures {
        let set = try features(test)
        guard let labelMap else { return set }
        let (kept, dropped) = labelMap.apply(to: set)
        printFlushed("label map: \(kept.count) of \(set.count) \(test.name) images kept; \(dropped) dropped (class not mapped)")
        guard kept.count > 0 else { throw UsageError("--label-map keeps no test image") }
        return kept
    }

    /// Records `values` (keys such as `knn_acc`, `linear_auc`) in the run directory of `--run-dir` or
    /// of the checkpoint. Out of distribution (`--test-dataset` another dataset) each key gets the test
    /// dataset's name (`knn_acc_cifar10`), so it never stands in the report's in-distribution columns.
    func record(_ values: [(String, Double)], command: String) throws {
        let keyed = try Self.resultKeys(values, dataset: parsed.string("dataset")!, testDataset: parsed.string("test-dataset"))
        try ResultsFile.recordEvaluation(keyed, runDirectory: ResultsFile.runDirectory(explicit: parsed.string("run-dir"),
                                                                                       checkpoint: parsed.string("checkpoint")),
                                         command: command)
    }

    /// `values` as they are for a test split of the training dataset, else with `_TESTDATASET` appended
    /// to each key (`knn_acc_cifar10`).
    static func resultKeys(_ values: [(String, Double)], dataset: String, testDataset: String?) throws -> [(String, Double)] {
        let trainName = try canonicalDatasetName(dataset)
        let testName = try testDataset.map(canonicalDatasetName) ?? trainName
        return testName == trainName ? values : values.map { ($0.0 + "_" + testName, $0.1) }
    }

    /// "ResNet-18 ... ; 60000 train / 10000 test images of fashion-mnist/train".
    var headline: String {
        "\(encoderDescription); \(train.count) train images of \(train.name), \(test.count) test images of \(test.name)"
    }
}

/// The encoder architecture of an evaluation or export: the flags, else the checkpoint's metadata,
/// else what the weights' names and shapes say, else ResNet-18, CIFAR stem, width 0.25.
enum EncoderArchitecture {
    /// The flags that override what the weights say.
    static let options: [Option] = [
        .value("depth", "ResNet depth (default: from the checkpoint's metadata or tensor names, else 18)"),
        .value("stem", "cifar or imagenet (default: from the checkpoint, else cifar)"),
        .value("width", "width multiplier (default: from the checkpoint, else 0.25)"),
    ]

    static func resolve(_ parsed: ParsedArguments, file: SafetensorsFile?, inChannels: Int) throws -> ResNetConfig {
        let meta = file?.metadata ?? [:]
        let inferred = file.flatMap(infer)
        let depth = try parsed.int("depth") ?? meta["arch"].flatMap { Int($0.dropFirst(6)) } ?? inferred?.depth ?? 18
        guard [18, 34, 50, 101].contains(depth) else { throw UsageError("--depth must be 18, 34, 50 or 101, got \(depth)") }
        guard let stem = Stem(rawValue: parsed.string("stem") ?? meta["stem"] ?? inferred?.stem.rawValue ?? "cifar") else {
            throw UsageError("--stem must be cifar or imagenet")
        }
        let width = try parsed.double("width") ?? meta["width"].flatMap(Double.init) ?? inferred?.widthMultiplier ?? 0.25
        guard width > 0 else { throw UsageError("--width must be positive") }
        return ResNetConfig(depth: depth, stem: stem, widthMultiplier: width, inChannels: inChannels)
    }

    /// Depth, stem and width read off torchvision-named weights: a bottleneck has `conv3`, ResNet-34/50
    /// have a sixth block in layer3 and ResNet-101 a 23rd; conv1's kernel gives the stem and its
    /// output channels / 64 the width. Nil when the file holds no `conv1.weight`.
    static func infer(_ file: SafetensorsFile) -> ResNetConfig? {
        guard let conv1 = file.entries["conv1.weight"], conv1.shape.count == 4 else { return nil }
        let bottleneck = file.entries["layer1.0.conv3.weight"] != nil
        let depth = file.entries["layer3.22.conv1.weight"] != nil ? 101
            : file.entries["layer3.5.conv1.weight"] != nil ? (bottleneck ? 50 : 34) : 18
        return ResNetConfig(depth: depth, stem: conv1.shape[2] == 7 ? .imagenet : .cifar,
                            widthMultiplier: Double(conv1.shape[0]) / 64, inChannels: conv1.shape[1])
    }

    /// The normalisation a checkpoint records (`normalize_mean`, `normalize_std`), if it fits `channels`.
    static func recordedNormalization(_ meta: [String: String], channels: Int) -> Normalization? {
        guard let mean = meta["normalize_mean"]?.split(separator: ",").compactMap({ Float($0) }),
              let std = meta["normalize_std"]?.split(separator: ",").compactMap({ Float($0) }),
              mean.count == channels, std.count == channels else { return nil }
        return Normalization(mean: mean, std: std)
    }
}
