import Engine

/// What `loadInitialWeights` did, for the log line.
public struct InitialWeightsReport: Sendable {
    /// Encoder parameters and buffers set from the file.
    public var loaded = 0
    /// True when conv1's RGB filters were summed into one grayscale input channel.
    public var adaptedToGrayscale = false
    /// Tensors in the file that are not the encoder's (`fc.*`, heads, optimiser state), left unused.
    public var ignored: [String] = []

    public var description: String {
        "\(loaded) encoder tensors" + (adaptedToGrayscale ? ", conv1 summed over RGB for 1-channel input" : "")
            + (ignored.isEmpty ? "" : "; \(ignored.count) other tensors ignored (\(Self.prefixes(ignored)))")
    }

    static func prefixes(_ names: [String]) -> String {
        var seen: [String] = []
        for name in names {
            let head = String(name.split(separator: ".").first ?? "") + ".*"
            if !seen.contains(head) { seen.append(head) }
        }
        return seen.prefix(6).joined(separator: ", ") + (seen.count > 6 ? ", ..." : "")
    }
}

/// Loads torchvision-named encoder weights (a `disttrain export` file, a checkpoint, or a torchvision
/// state dict converted by `scripts/convert_torchvision.py`) into the encoder part of `store`.
///
/// Every parameter and BN running statistic of an encoder with `encoder`'s architecture must be in the
/// file under its torchvision name (`conv1.weight`, `layer1.0.bn1.running_mean`, ...; OIHW conv
/// weights), with the encoder's shape; `num_batches_tracked` is optional (older PyTorch lacks it).
/// `fc.*` (the ImageNet classifier) and other non-encoder tensors are ignored; tensors that look like
/// encoder layers the architecture does not have (`layer3.5.*` into a ResNet-18) are errors.
///
/// **3 → 1 channels.** When the encoder takes 1-channel images (grayscale X-rays) and the file's
/// `conv1.weight` is `[O, 3, k, k]`, the filters are summed over the input-channel axis: a gray image
/// then gives exactly the features the RGB network gives for that image replicated to three channels.
///
/// - Parameters:
///   - store: allocated; holds the encoder under `prefix` (methods put it first, with no prefix).
///   - encoder: the encoder whose parameters to fill (its architecture decides the names).
/// - Throws: `FileError` naming the file and every missing or mismatched tensor (the first ten).
@discardableResult
public func loadInitialWeights(path: String, into store: ParameterStore, encoder: ResNet,
                               prefix: String = "") throws -> InitialWeightsReport {
    let file = try SafetensorsFile(path: path)
    // The encoder's own names and shapes: the same architecture registered into a scratch store.
    let names = ParameterStore()
    _ = ResNet(encoder.config, mode: Mode(training: false), store: names, backend: encoder.conv1.backend)
    var report = InitialWeightsReport()
    var problems: [String] = []
    var assignments: [(target: Tensor, value: Tensor)] = []
    let expected = Set(names.parameters.map(\.name) + names.buffers.map(\.name))
    for info in names.parameters {
        guard file.entries[info.name] != nil else {
            problems.append("missing '\(info.name)' (shape \(info.torchShape))")
            continue
        }
        var tensor = try file.tensor(info.name)
        if info.name == "conv1.weight", info.torchShape[1] == 1, tensor.rank == 4, tensor.shape[1] == 3,
           tensor.shape[0] == info.torchShape[0], Array(tensor.shape[2...]) == Array(info.torchShape[2...]) {
            tensor = sumInputChannels(tensor)
            report.adaptedToGrayscale = true
        }
        guard tensor.shape == info.torchShape else {
            problems.append("'\(info.name)' has shape \(tensor.shape), the encoder needs \(info.torchShape)")
            continue
        }
        let value = info.layout == .convolutionOHWI ? TorchStateDict.fromOIHW(tensor) : tensor
        guard let target = store.parameter(named: prefix + info.name) else {
            preconditionFailure("the store holds no '\(prefix + info.name)': it does not contain this encoder")
        }
        assignments.append((target.value, value))
    }
    for info in names.buffers {
        let optional = info.name.hasSuffix("num_batches_tracked")
        guard file.entries[info.name] != nil else {
            if !optional { problems.append("missing '\(info.name)' (shape \(info.shape))") }
            continue
        }
        let tensor = try file.tensor(info.name)
        guard tensor.count == max(1, info.count), optional || tensor.shape == info.shape else {
            problems.append("'\(info.name)' has shape \(tensor.shape), the encoder needs \(info.shape)")
            continue
        }
        guard let target = store.buffer(named: prefix + info.name) else {
            preconditionFailure("the store holds no buffer '\(prefix + info.name)': it does not contain this encoder")
        }
        assignments.append((target.value, tensor.reshaped(target.value.shape)))
    }
    // Encoder-looking tensors the architecture lacks, grouped by block ("layer3.5.*").
    let layerPattern = ["conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4."]
    var foreign: [(block: String, count: Int)] = []
    for name in file.names where !expected.contains(name) {
        if layerPattern.contains(where: { name.hasPrefix($0) }) {
            let block = name.split(separator: ".").prefix(name.hasPrefix("layer") ? 2 : 1).joined(separator: ".")
            if let last = foreign.indices.last, foreign[last].block == block { foreign[last].count += 1 } else { foreign.append((block, 1)) }
        } else {
            report.ignored.append(name)
        }
    }
    problems += foreign.map { "'\($0.block).*' (\($0.count) tensors) is not part of this encoder" }
    guard problems.isEmpty else {
        let config = encoder.config
        throw FileError(path, "does not fit a ResNet-\(config.depth) (\(config.stem.rawValue) stem, width \(config.widthMultiplier), "
                        + "\(config.inChannels) input channel(s)) in torchvision naming: \(problems.count) problem(s): "
                        + problems.prefix(10).joined(separator: "; ") + (problems.count > 10 ? "; ..." : "")
                        + ". Check --depth, --stem and --width against the weights (torchvision's resnet18 is "
                        + "--depth 18 --stem imagenet --width 1), or convert a .pth with scripts/convert_torchvision.py")
    }
    for (target, value) in assignments { target.assign(from: value) }
    report.loaded = assignments.count
    return report
}

/// `[O, C, KH, KW]` → `[O, 1, KH, KW]`, summing over C (double accumulation).
func sumInputChannels(_ t: Tensor) -> Tensor {
    let (o, c, hw) = (t.shape[0], t.shape[1], t.shape[2] * t.shape[3])
    let out = Tensor(zeros: [o, 1, t.shape[2], t.shape[3]])
    for a in 0..<o {
        for p in 0..<hw {
            var sum = 0.0
            for b in 0..<c { sum += Double(t.pointer[(a * c + b) * hw + p]) }
            out.pointer[a * hw + p] = Float(sum)
        }
    }
    return out
}
