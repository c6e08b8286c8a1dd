import Engine

/// One step of an augmentation pipeline: torchvision's transforms, on UInt8 `[H, W, C]` images.
public enum Augmentation: Sendable, Equatable {
    case randomResizedCrop(RandomResizedCrop)
    case resize(Resize)
    case horizontalFlip(RandomHorizontalFlip)
    case colorJitter(ColorJitter)
    case grayscale(RandomGrayscale)
    case gaussianBlur(GaussianBlur)
    case solarize(RandomSolarize)
    case rotation(RandomRotation)
    case invert(RandomInvert)
    case randomApply(RandomApply)
}

/// torchvision's `RandomApply(transforms, p)`: with probability p (one draw, U(0, 1) < p) runs
/// `transforms` in order; otherwise draws nothing more and leaves the image alone.
public struct RandomApply: Sendable, Equatable {
    public var transforms: [Augmentation]
    public var p: Double

    public init(_ transforms: [Augmentation], p: Double = 0.5) {
        precondition(p >= 0 && p <= 1, "RandomApply p must be in 0...1, got \(p)")
        self.transforms = transforms
        self.p = p
    }
}

/// A list of augmentations applied in order to one image: one view of a two-view preset.
///
/// Randomness: every random value comes from the one `RandomGenerator` passed in, in pipeline order
/// (each op's draws are listed in its documentation). The loader seeds it with
/// `AugmentationPipeline.random(seed:epoch:index:view:)`, so a view depends only on
/// (seed, epoch, sample index, view index) and on nothing about threads, workers or ranks.
public struct AugmentationPipeline: Sendable, Equatable {
    public var steps: [Augmentation]

    public init(_ steps: [Augmentation]) {
        self.steps = steps
    }

    /// The purpose key of augmentation streams ("AUG!"), so they never coincide with the sampler's
    /// `(seed, 0x5A4D, epoch)` stream or the synthetic dataset's.
    public static let randomStreamKey: UInt64 = 0x4155_4721

    /// The generator of view `view` of dataset sample `index` in `epoch`:
    /// `RandomGenerator(seed: seed, 0x4155_4721, epoch, index, view)`.
    public static func random(seed: UInt64, epoch: Int, index: Int, view: Int) -> RandomGenerator {
        RandomGenerator(seed: seed, randomStreamKey, UInt64(epoch), UInt64(index), UInt64(view))
    }

    /// The size of the images this pipeline makes from `height` x `width` images: that of its last
    /// `RandomResizedCrop` or `Resize`, otherwise the input's.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        var size = (height: height, width: width)
        for step in steps {
            switch step {
            case .randomResizedCrop(let crop): size = (crop.height, crop.width)
            case .resize(let resize): size = (resize.height, resize.width)
            default: break
            }
        }
        return size
    }

    /// Checks that the pipeline can run on `channels`-channel images.
    /// - Throws: `DataError` for channel counts other than 1 and 3, and for size-changing ops inside
    ///   `RandomApply` (a batch needs one output size).
    public func validate(channels: Int) throws {
        guard channels == 1 || channels == 3 else {
            throw DataError("augmentations work on 1-channel (grayscale) or 3-channel (RGB) images; "
                            + "this dataset has \(channels) channels")
        }
        func check(_ steps: [Augmentation], insideRandomApply: Bool) throws {
            for step in steps {
                switch step {
                case .randomResizedCrop, .resize:
                    if insideRandomApply {
                        throw DataError("RandomResizedCrop and Resize cannot sit inside RandomApply: every "
                                        + "image of a batch must come out the same size")
                    }
                case .randomApply(let inner):
                    try check(inner.transforms, insideRandomApply: true)
                default:
                    break
                }
            }
        }
        try check(steps, insideRandomApply: false)
    }

    /// The largest image, in bytes, this pipeline holds when it starts from `height` x `width` x `channels`.
    func peakBytes(height: Int, width: Int, channels: Int) -> Int {
        var peak = height * width * channels
        for step in steps {
            switch step {
            case .randomResizedCrop(let crop): peak = max(peak, crop.height * crop.width * channels)
            case .resize(let resize): peak = max(peak, resize.height * resize.width * channels)
            default: break
            }
        }
        return peak
    }

    /// Augments one image (allocates a workspace: for tests and one-off use; the loader reuses one).
    public func apply(to image: Image8, random: inout RandomGenerator) -> Image8 {
        apply(to: image, random: &random, fuse: true)
    }

    /// `apply`, with the crop + flip fusion switchable so tests can check that it changes nothing.
    func apply(to image: Image8, random: inout RandomGenerator, fuse: Bool) -> Image8 {
        let workspace = AugmentationWorkspace()
        var working = image.pixels.withUnsafeBufferPointer { source in
            workspace.begin(source: source.baseAddress!, height: image.height, width: image.width,
                            channels: image.channels,
                            capacity: peakBytes(height: image.height, width: image.width, channels: image.channels))
        }
        run(&working, random: &random, workspace: workspace, fuse: fuse)
        return Image8(height: working.height, width: working.width, channels: working.channels,
                      pixels: Array(UnsafeBufferPointer(start: working.pixels, count: working.byteCount)))
    }

    /// Runs the steps on `image` (which lives in `workspace`).
    ///
    /// Fusion: a `RandomHorizontalFlip` right after a `RandomResizedCrop` or `Resize` is folded into
    /// the resize's column table. The draws are the same and in the same order, and flipping the
    /// resampled image equals resampling with mirrored taps, so the result is identical.
    func run(_ image: inout WorkingImage, random: inout RandomGenerator, workspace: AugmentationWorkspace,
             fuse: Bool = true) {
        AugmentationPipeline.run(steps, &image, &random, workspace, fuse: fuse)
    }

    private static func run(_ steps: [Augmentation], _ image: inout WorkingImage, _ random: inout RandomGenerator,
                            _ workspace: AugmentationWorkspace, fuse: Bool) {
        var i = 0
        while i < steps.count {
            var fusedFlip: Double?
            if fuse, i + 1 < steps.count, case .horizontalFlip(let flip) = steps[i + 1] {
                switch steps[i] {
                case .randomResizedCrop, .resize:
                    fusedFlip = flip.p
                default:
                    break
                }
            }
            switch steps[i] {
            case .randomResizedCrop(let crop):
                crop.apply(&image, &random, workspace, flipProbability: fusedFlip)
            case .resize(let resize):
                let flip = fusedFlip.map { random.uniform() < $0 } ?? false
                resize.apply(&image, workspace, flip: flip)
            case .horizontalFlip(let flip):
                flip.apply(&image, &random)
            case .colorJitter(let jitter):
                jitter.apply(&image, &random)
            case .grayscale(let grayscale):
                grayscale.apply(&image, &random)
            case .gaussianBlur(let blur):
                blur.apply(&image, &random, workspace)
            case .solarize(let solarize):
                solarize.apply(&image, &random)
            case .rotation(let rotation):
                rotation.apply(&image, &random, workspace)
            case .invert(let invert):
                invert.apply(&image, &random)
            case .randomApply(let group):
                if random.uniform() < group.p { run(group.transforms, &image, &random, workspace, fuse: fuse) }
            }
            i += fusedFlip == nil ? 1 : 2
        }
    }
}

/// torchvision's `ToTensor()` + `Normalize(mean, std)`: `(byte / 255 - mean[c]) / std[c]` as Float32,
/// written channels last. A 256-entry table per channel, so the pixel loop only looks up.
public struct Normalize: Sendable {
    public let normalization: Normalization
    /// `[C, 256]`.
    private let table: [Float]

    /// - Throws: `DataError` unless mean and std have one entry per channel and every std is positive.
    public init(_ normalization: Normalization, channels: Int) throws {
        guard normalization.mean.count == channels, normalization.std.count == channels else {
            throw DataError("the images have \(channels) channel(s) but the normalisation gives "
                            + "\(normalization.mean.count) mean(s) and \(normalization.std.count) std(s)")
        }
        guard normalization.std.allSatisfy({ $0 > 0 }) else {
            throw DataError("normalisation std must be positive for every channel, got \(normalization.std)")
        }
        self.normalization = normalization
        self.table = normalization.lookupTable()
    }

    public var channels: Int { normalization.mean.count }

    /// The normalised values of `image`, `[H, W, C]`.
    public func callAsFunction(_ image: Image8) -> [Float] {
        precondition(image.channels == channels, "image has \(image.channels) channels, normalisation \(channels)")
        return [Float](unsafeUninitializedCapacity: image.pixels.count) { buffer, count in
            image.pixels.withUnsafeBufferPointer { pixels in
                write(pixels.baseAddress!, pixelCount: image.height * image.width, to: buffer.baseAddress!)
            }
            count = image.pixels.count
        }
    }

    /// Writes `pixelCount` pixels of `channels` bytes each as normalised floats.
    func write(_ pixels: UnsafePointer<UInt8>, pixelCount: Int, to output: UnsafeMutablePointer<Float>) {
        PixelBatch.normalize(pixels, count: pixelCount * channels, table: table, into: output)
    }

    /// An empty batch of bytes `[B, H, W, C]` that normalises through this table.
    func pixelBatch(shape: [Int]) -> PixelBatch { PixelBatch(shape: shape, table: table) }
}
