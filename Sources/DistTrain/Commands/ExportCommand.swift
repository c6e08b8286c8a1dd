import Engine
import Models

/// `disttrain export`: writes a checkpoint's encoder as a torchvision state dict in safetensors.
struct ExportCommand: Command {
    static let name = "export"
    static let summary = "write a checkpoint's encoder as a torchvision ResNet state dict (safetensors)"
    static let options: [Option] = [
        .value("checkpoint", "disttrain checkpoint (or any torchvision-named weights) holding the encoder"),
        .value("out", "safetensors file to write"),
    ] + EncoderArchitecture.options
    static var help: String {
        helpText(command: name, summary: summary, usage: "disttrain export --checkpoint FILE --out FILE", options: options,
                 details: """
                 The file holds exactly the encoder's tensors under torchvision's names (conv1.weight, bn1.running_mean,
                 layer1.0.conv1.weight, ..., num_batches_tracked included; no fc, projector, target, probe or optimiser
                 state), convolution weights in PyTorch's OIHW layout, float32. At width 1 it loads into torchvision with
                 strict=True:
                   import torch, torchvision; from safetensors.torch import load_file
                   m = torchvision.models.resnet18(); m.fc = torch.nn.Identity()
                   # CIFAR stem: m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = torch.nn.Identity()
                   m.load_state_dict(load_file("encoder.safetensors"), strict=True)
                 Example:
                   disttrain export --checkpoint runs/cifar/checkpoints/last.safetensors --out encoder.safetensors
                 """)
    }

    static func run(_ arguments: [String]) throws {
        let parsed = try ParsedArguments(arguments, options: options, command: name)
        let checkpoint = try parsed.require(parsed.string("checkpoint"), "checkpoint")
        let out = try parsed.require(parsed.string("out"), "out")
        let file = try SafetensorsFile(path: checkpoint)
        guard let channels = Int(file.metadata["in_channels"] ?? "") ?? file.entries["conv1.weight"]?.shape[1] else {
            throw FileError(checkpoint, "has no conv1.weight and no in_channels metadata: it holds no ResNet encoder")
        }
        let config = try EncoderArchitecture.resolve(parsed, file: file, inChannels: channels)
        let tensors = try exportEncoder(from: checkpoint, config: config)
        var metadata = ["format": "torchvision-state-dict", "arch": "resnet\(config.depth)", "stem": config.stem.rawValue,
                        "width": String(config.widthMultiplier), "in_channels": String(channels)]
        for key in ["normalize_mean", "normalize_std", "method", "dataset", "epoch", "step"] where file.metadata[key] != nil {
            metadata[key] = file.metadata[key]
        }
        try SafetensorsFile.write(path: out, tensors: tensors, metadata: metadata)
        print("export: \(out): ResNet-\(config.depth) \(config.stem.rawValue) stem, width \(config.widthMultiplier), "
              + "\(channels) input channel(s); \(tensors.count) tensors from \(checkpoint)")
    }
}

/// The encoder of `path` (`config`'s architecture) as torchvision names and PyTorch layout: every
/// parameter and buffer of the encoder, nothing else.
func exportEncoder(from path: String, config: ResNetConfig) throws -> [(name: String, tensor: Tensor)] {
    let store = ParameterStore()
    let encoder = ResNet(config, mode: Mode(training: false), store: store, backend: CPUBackend(threads: 1))
    store.allocate(seed: 0)
    try loadInitialWeights(path: path, into: store, encoder: encoder)
    return TorchStateDict.export(store)
}
