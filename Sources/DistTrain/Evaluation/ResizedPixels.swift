import Data
import Engine

/// Another dataset's images resized on access to `height` x `width` (torchvision's `Resize((h, w))`,
/// bilinear with antialiasing): lets an encoder trained at one size be evaluated on a dataset of
/// another (an STL-10 model at 96 px on CIFAR-10's 32 px images).
final class ResizedPixels: PixelStorage {
    let source: ImageDataset
    let height: Int
    let width: Int
    private let pipeline: AugmentationPipeline

    var imageCount: Int { source.count }
    var imageByteCount: Int { height * width * source.channels }

    init(_ source: ImageDataset, height: Int, width: Int) {
        self.source = source
        self.height = height
        self.width = width
        pipeline = AugmentationPipeline([.resize(Resize(height: height, width: width, antialias: true))])
    }

    func copyImage(at index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        var pixels = [UInt8](repeating: 0, count: source.imageByteCount)
        pixels.withUnsafeMutableBufferPointer { source.copyImage(at: index, into: $0.baseAddress!) }
        var unused = RandomGenerator(seed: 0)  // Resize draws nothing
        let image = pipeline.apply(to: Image8(height: source.height, width: source.width, channels: source.channels,
                                              pixels: pixels), random: &unused)
        image.pixels.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: imageByteCount) }
    }

    /// `dataset` with its images resized to `height` x `width` (the same labels and classes).
    static func resized(_ dataset: ImageDataset, height: Int, width: Int) -> ImageDataset {
        ImageDataset(name: dataset.name + "@\(height)x\(width)", storage: ResizedPixels(dataset, height: height, width: width),
                     count: dataset.count, height: height, width: width, channels: dataset.channels,
                     labels: dataset.labels, labelsPerSample: dataset.labelsPerSample, classCount: dataset.classCount,
                     classNames: dataset.classNames)
    }
}
