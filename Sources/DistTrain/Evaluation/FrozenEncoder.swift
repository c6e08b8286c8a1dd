import Data
import Engine
import Models

/// An encoder for evaluation: a ResNet with its weights from a checkpoint (or at random
/// initialisation, the baseline), the architecture read from the checkpoint's metadata unless given,
/// in evaluation mode, with the input normalisation it was trained with.
struct FrozenEncoder {
    let encoder: ResNet
    let mode: Mode
    let normalization: Normalization
    /// "ResNet-18 cifar width 0.25 from runs/x/checkpoints/last.safetensors", for output.
    let description: String

    /// Architecture overrides (nil: the checkpoint's metadata, else ResNet-18, CIFAR stem, width 0.25).
    struct Overrides {
        var depth: Int?
        var stem: String?
        var width: Double?
    }

    /// Loads `checkpoint` (nil: random initialisation from `seed`) for images like those of `dataset`.
    init(checkpoint: String?, seed: UInt64, overrides: Overrides, dataset: ImageDataset, backend: any Backend) throws {
        let file = try checkpoint.map { try SafetensorsFile(path: $0) }
        let meta = file?.metadata ?? [:]
        let depth = overrides.depth ?? Int((meta["arch"] ?? "resnet18").dropFirst(6)) ?? 18
        let stemName = overrides.stem ?? meta["stem"] ?? "cifar"
        guard let stem = Stem(rawValue: stemName) else { throw UsageError("--stem must be cifar or imagenet, got '\(stemName)'") }
        let width = overrides.width ?? Double(meta["width"] ?? "") ?? 0.25
        if let channels = meta["in_channels"].flatMap({ Int($0) }), channels != dataset.channels {
            throw UsageError("\(checkpoint!) was trained on \(channels)-channel images; \(dataset.name) has \(dataset.channels)")
        }
        let store = ParameterStore()
        mode = Mode(training: false)
        encoder = ResNet(ResNetConfig(depth: depth, stem: stem, widthMultiplier: width, inChannels: dataset.channels),
                         mode: mode, store: store, backend: backend)
        store.allocate(seed: seed)
        if let file { try TorchStateDict.load(store, from: file) }
        let mean = meta["normalize_mean"]?.split(separator: ",").compactMap { Float($0) }
        let std = meta["normalize_std"]?.split(separator: ",").compactMap { Float($0) }
        if let mean, let std, mean.count == dataset.channels, std.count == dataset.channels {
            normalization = Normalization(mean: mean, std: std)
        } else {
            normalization = datasetNormalization(dataset)
        }
        description = "ResNet-\(depth) \(stem.rawValue) width \(width) from "
            + (checkpoint ?? "random initialisation (seed \(seed))")
    }

    /// `[N, F]` pooled features of every image of `dataset`, with its labels.
    func features(of dataset: ImageDataset, backend: any Backend) throws -> (features: Tensor, labels: [Int32]) {
        try extractFeatures(encoder: encoder, mode: mode, dataset: dataset, normalization: normalization,
                            batchSize: 256, backend: backend)
    }
}
