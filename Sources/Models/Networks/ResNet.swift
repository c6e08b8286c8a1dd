import Engine

/// Which first layers a ResNet uses.
public enum Stem: String, Sendable, CaseIterable {
    /// 7x7 stride-2 conv + 3x3 stride-2 max-pool (torchvision; inputs of 96 px and up).
    case imagenet
    /// 3x3 stride-1 conv, no max-pool (CIFAR-style; inputs of 28-64 px).
    case cifar
}

/// Architecture of a ResNet encoder.
public struct ResNetConfig: Sendable, Equatable {
    public var depth: Int
    public var stem: Stem
    /// Multiplies every stage width (64, 128, 256, 512): 0.25 gives a small CPU model.
    public var widthMultiplier: Double
    public var inChannels: Int

    public init(depth: Int = 18, stem: Stem = .cifar, widthMultiplier: Double = 1, inChannels: Int = 3) {
        self.depth = depth; self.stem = stem; self.widthMultiplier = widthMultiplier; self.inChannels = inChannels
    }

    /// Blocks per stage.
    public var stageDepths: [Int] {
        switch depth {
        case 18: return [2, 2, 2, 2]
        case 34, 50: return [3, 4, 6, 3]
        case 101: return [3, 4, 23, 3]
        default: preconditionFailure("unsupported ResNet depth \(depth): use 18, 34, 50 or 101")
        }
    }

    public var usesBottleneck: Bool { depth >= 50 }
    /// Width of stage `i` (0-based) before the bottleneck expansion: int(64·2^i·multiplier), as torch's int().
    public func stageWidth(_ i: Int) -> Int { max(1, Int(Double(64 << i) * widthMultiplier)) }
    /// Width of the feature vector the encoder returns.
    public var featureDimension: Int { stageWidth(3) * (usesBottleneck ? Bottleneck.expansion : BasicBlock.expansion) }
}

/// ResNet (He et al. 2016) with torchvision's parameter names, on NHWC input.
///
/// With `classCount` it ends in `fc` (torchvision's classifier); without, it is an encoder that
/// returns the `[N, featureDimension]` pooled features, as SSL methods use it.
public final class ResNet: Layer {
    public let config: ResNetConfig
    public let mode: Mode
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let relu: ReLU
    let maxPool: MaxPool2d?
    let blocks: [any ResidualBlock]
    let pool: GlobalAveragePool
    public let fc: Linear?
    /// Where the layers' parameters live (told when a block's gradients are final).
    let store: ParameterStore

    public init(_ config: ResNetConfig, classCount: Int? = nil, prefix: String = "", mode: Mode,
                store: ParameterStore, backend: any Backend) {
        self.config = config
        self.mode = mode
        let stemWidth = config.stageWidth(0)
        if config.stem == .imagenet {
            conv1 = Conv2d(prefix + "conv1", inChannels: config.inChannels, outChannels: stemWidth, kernelSize: 7,
                           stride: 2, padding: 3, store: store, backend: backend)
        } else {
            conv1 = Conv2d(prefix + "conv1", inChannels: config.inChannels, outChannels: stemWidth, kernelSize: 3,
                           stride: 1, padding: 1, store: store, backend: backend)
        }
        self.store = store
        conv1.computesInputGradient = false
        bn1 = BatchNorm2d(prefix + "bn1", channels: stemWidth, mode: mode, store: store, backend: backend)
        relu = ReLU(inPlace: true, backend: backend)
        bn1.overwritesGradOutput = true
        maxPool = config.stem == .imagenet ? MaxPool2d(kernelSize: 3, stride: 2, padding: 1, backend: backend) : nil
        var blocks: [any ResidualBlock] = []
        var inChannels = stemWidth
        for (stage, count) in config.stageDepths.enumerated() {
            let width = config.stageWidth(stage)
            for index in 0..<count {
                let name = "\(prefix)layer\(stage + 1).\(index)"
                let stride = (stage > 0 && index == 0) ? 2 : 1
                if config.usesBottleneck {
                    blocks.append(Bottleneck(name, inChannels: inChannels, channels: width, stride: stride, mode: mode,
                                             store: store, backend: backend))
                    inChannels = width * Bottleneck.expansion
                } else {
                    blocks.append(BasicBlock(name, inChannels: inChannels, channels: width, stride: stride, mode: mode,
                                             store: store, backend: backend))
                    inChannels = width
                }
            }
        }
        self.blocks = blocks
        pool = GlobalAveragePool(backend: backend)
        fc = classCount.map { Linear(prefix + "fc", inFeatures: inChannels, outFeatures: $0, store: store, backend: backend) }
    }

    /// Every convolution, in forward order.
    public var convolutions: [Conv2d] { [conv1] + blocks.flatMap { $0.convolutions } }

    /// FLOPs of one training step at the last forward's input size (convolutions and classifier).
    public var trainingStepFLOPs: Double {
        convolutions.reduce(0) { $0 + $1.trainingFLOPs } + (fc?.trainingFLOPs ?? 0)
    }

    /// FLOPs of the last forward pass alone (convolutions and classifier): what a forward-only network
    /// such as BYOL's EMA target costs.
    public var forwardFLOPs: Double {
        convolutions.reduce(0) { $0 + ($1.geometry?.forwardFLOPs ?? 0) } + (fc?.forwardFLOPs ?? 0)
    }

    /// Whether `backward` returns ∂L/∂input (off by default: nothing upstream needs it).
    public var computesInputGradient: Bool {
        get { conv1.computesInputGradient }
        set { conv1.computesInputGradient = newValue }
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == config.inChannels,
                     "ResNet expects NHWC images with \(config.inChannels) channels, got \(x.shape)")
        var h = relu.forward(bn1.forward(conv1.forward(x)))
        if let maxPool { h = maxPool.forward(h) }
        for block in blocks { h = block.forward(h) }
        let features = pool.forward(h)
        return fc?.forward(features) ?? features
    }

    public func backward(_ dy: Tensor) -> Tensor {
        var g = fc?.backward(dy) ?? dy
        g = pool.backward(g)
        for block in blocks.reversed() {
            g = block.backward(g)
            store.layerBackwardFinished()
        }
        if let maxPool { g = maxPool.backward(g) }
        return conv1.backward(bn1.backward(relu.backward(g)))
    }
}
