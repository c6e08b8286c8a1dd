#if canImport(Glibc)
import Glibc
#endif

// Letters for the augmentation files: H rows, W columns, C channels (1 = grayscale, 3 = RGB) of one
// image; OH, OW the rows and columns an op writes. Pixels are UInt8, `[H, W, C]`, channels last.

/// An 8-bit image held by value, `[H, W, C]`, channels last: what the augmentations take and give
/// when called one image at a time (tests, previews). The loader runs the same code on raw buffers.
public struct Image8: Sendable, Equatable {
    public var height: Int
    public var width: Int
    public var channels: Int
    /// `[H, W, C]` bytes.
    public var pixels: [UInt8]

    public init(height: Int, width: Int, channels: Int, pixels: [UInt8]) {
        precondition(height > 0 && width > 0 && channels > 0, "bad image shape \(height)x\(width)x\(channels)")
        precondition(pixels.count == height * width * channels,
                     "\(pixels.count) bytes for a \(height)x\(width)x\(channels) image")
        self.height = height
        self.width = width
        self.channels = channels
        self.pixels = pixels
    }

    /// The byte at row `y`, column `x`, channel `c`.
    public subscript(y: Int, x: Int, c: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }
}

/// How a resize computes a pixel from its neighbours (PyTorch's `interpolate` modes).
public enum Interpolation: String, Sendable, CaseIterable {
    /// Two taps per axis (triangle filter).
    case bilinear
    /// Four taps per axis, Keys' cubic convolution: a = -0.75 without antialiasing (PyTorch's
    /// `upsample_bicubic2d`), a = -0.5 with antialiasing (PyTorch's `antialias=True`, which is PIL's).
    case bicubic
}

/// The image an augmentation is working on: `[H, W, C]` bytes in one of the workspace's two buffers.
struct WorkingImage {
    var pixels: UnsafeMutablePointer<UInt8>
    var height: Int
    var width: Int
    var channels: Int
    var byteCount: Int { height * width * channels }
}

/// A growable raw buffer of a trivial type; it only grows, and its contents are not kept on growth.
final class ScratchBuffer<Element> {
    private(set) var pointer: UnsafeMutablePointer<Element>
    private(set) var capacity: Int

    init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// A pointer to at least `count` elements (contents undefined after a growth).
    @inline(__always)
    func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            capacity = max(count, capacity * 2)
            pointer = .allocate(capacity: capacity)
        }
        return pointer
    }
}

/// Per-thread scratch memory for augmenting images: two image buffers the ops ping-pong between,
/// floats for separable filters, and tap tables for resampling. After the first few images no op
/// allocates. Not shareable between threads: each loader worker owns one.
final class AugmentationWorkspace {
    private let first = ScratchBuffer<UInt8>()
    private let second = ScratchBuffer<UInt8>()
    /// Float rows for the separable passes (resample, blur).
    let floats = ScratchBuffer<Float>()
    /// Tap tables: source index and weight per output coordinate and tap, for columns and rows.
    let columnIndex = ScratchBuffer<Int32>()
    let columnWeight = ScratchBuffer<Float>()
    let rowIndex = ScratchBuffer<Int32>()
    let rowWeight = ScratchBuffer<Float>()

    init() {}

    /// Starts an image: copies `source` (`[H, W, C]`) into the first buffer, after making both buffers
    /// hold at least `capacity` bytes (the largest image the pipeline will produce).
    func begin(source: UnsafePointer<UInt8>, height: Int, width: Int, channels: Int,
               capacity: Int) -> WorkingImage {
        let bytes = height * width * channels
        let target = first.reserve(max(bytes, capacity))
        _ = second.reserve(max(bytes, capacity))
        target.update(from: source, count: bytes)
        return WorkingImage(pixels: target, height: height, width: width, channels: channels)
    }

    /// The buffer that does not hold `image`: where out-of-place ops write.
    func spare(for image: WorkingImage) -> UnsafeMutablePointer<UInt8> {
        image.pixels == first.pointer ? second.pointer : first.pointer
    }
}
