#if canImport(Glibc)
import Glibc
#endif
import Engine

/// torchvision's `GaussianBlur(kernel_size, sigma)`: a Gaussian blur whose sigma is drawn uniformly
/// from `sigma` (SimCLR / BYOL / solo-learn: 0.1...2.0) for every image.
///
/// Kernel: k taps at offsets -(k-1)/2 ... (k-1)/2, weights exp(-x²/2σ²) normalised to sum 1; the image
/// is padded by reflection (torch's "reflect": the edge pixel is not repeated) and the kernel is applied
/// along x then along y in Float32, rounded half to even into UInt8. torchvision applies the same kernel
/// as one 2-D convolution (the outer product), so the two agree up to Float rounding.
///
/// Kernel size: `kernelSize` when given (odd, ≥ 1), otherwise SimCLR's rule, 10 % of the image's shorter
/// side made odd: `2·(⌊0.1·side⌋ / 2) + 1`, at least 3 (23 taps at 224 px, 3 at 32 px).
/// (solo-learn blurs PIL images with `ImageFilter.GaussianBlur(radius: σ)`, which has no fixed kernel size.)
public struct GaussianBlur: Sendable, Equatable {
    /// Taps per axis; nil: 10 % of the image (see above).
    public var kernelSize: Int?
    public var sigma: ClosedRange<Double>

    public init(kernelSize: Int? = nil, sigma: ClosedRange<Double> = 0.1...2.0) {
        if let kernelSize {
            precondition(kernelSize > 0 && kernelSize % 2 == 1, "GaussianBlur kernel size must be odd and positive")
        }
        precondition(sigma.lowerBound > 0, "GaussianBlur sigma must be positive, got \(sigma)")
        self.kernelSize = kernelSize
        self.sigma = sigma
    }

    /// The kernel size used for an image of `height` x `width`.
    public func kernelSize(height: Int, width: Int) -> Int {
        if let kernelSize { return kernelSize }
        return max(3, Int(0.1 * Double(min(height, width))) / 2 * 2 + 1)
    }

    func apply(_ image: inout WorkingImage, _ random: inout RandomGenerator, _ workspace: AugmentationWorkspace) {
        let sigmaValue = random.uniform(sigma.lowerBound, sigma.upperBound)
        gaussianBlur(image, kernelSize: kernelSize(height: image.height, width: image.width), sigma: sigmaValue,
                     workspace)
    }
}

/// torchvision's `_get_gaussian_kernel1d` in Float32: `pdf = exp(-0.5·(x/σ)²)` at x = -(k-1)/2 ... (k-1)/2
/// (torch.linspace with step exactly 1), divided by its sum.
func fillGaussianKernel(size: Int, sigma: Double, into kernel: UnsafeMutablePointer<Float>) {
    let half = Float(size - 1) * 0.5
    let s = Float(sigma)
    var total: Float = 0
    for i in 0..<size {
        let z = (Float(i) - half) / s
        kernel[i] = expf(-0.5 * z * z)
        total += kernel[i]
    }
    for i in 0..<size { kernel[i] /= total }
}

/// The kernel of `fillGaussianKernel` as an array.
func gaussianKernel(size: Int, sigma: Double) -> [Float] {
    [Float](unsafeUninitializedCapacity: size) { buffer, count in
        fillGaussianKernel(size: size, sigma: sigma, into: buffer.baseAddress!)
        count = size
    }
}

/// torch's "reflect" padding index: -1 -> 1, n -> n - 2 (repeated for offsets beyond one period).
@inline(__always)
func reflectIndex(_ i: Int, _ n: Int) -> Int {
    if n == 1 { return 0 }
    let period = 2 * (n - 1)
    var j = i % period
    if j < 0 { j += period }
    return j < n ? j : period - j
}

/// Blurs `image` in place with a `kernelSize`-tap Gaussian of `sigma` along x then y.
///
/// Each pass forms a row as a weighted sum of shifted source rows (`weightedRows`, 16 outputs at a time
/// with the taps inside); every output sums its taps in order t = 0, 1, ..., k-1.
func gaussianBlur(_ image: WorkingImage, kernelSize: Int, sigma: Double, _ workspace: AugmentationWorkspace) {
    let (H, W, C) = (image.height, image.width, image.channels)
    let radius = kernelSize / 2
    let rowLength = W * C
    let paddedLength = (W + 2 * radius) * C
    // [H, W·C] x-filtered rows, then one padded source row, then one row of sums.
    let horizontal = workspace.floats.reserve(H * rowLength + paddedLength + rowLength)
    let padded = horizontal + H * rowLength
    let sums = padded + paddedLength
    withUnsafeTemporaryAllocation(of: Float.self, capacity: kernelSize) { kernelBuffer in
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: kernelSize) { taps in
            let k = kernelBuffer.baseAddress!, rows = taps.baseAddress!
            fillGaussianKernel(size: kernelSize, sigma: sigma, into: k)
            // Along x: tap t of output pixel x is padded pixel x + t.
            for t in 0..<kernelSize { rows[t] = UnsafePointer(padded + t * C) }
            for y in 0..<H {
                let source = image.pixels + y * rowLength
                for px in 0..<(W + 2 * radius) {
                    let sx = reflectIndex(px - radius, W) * C
                    for c in 0..<C { padded[px * C + c] = Float(source[sx + c]) }
                }
                weightedRows(UnsafePointer(rows), weights: k, taps: kernelSize, length: rowLength,
                             into: horizontal + y * rowLength)
            }
            // Along y: tap t of row y is the x-filtered row y + t - radius, reflected at the edges.
            for y in 0..<H {
                for t in 0..<kernelSize { rows[t] = UnsafePointer(horizontal + reflectIndex(y + t - radius, H) * rowLength) }
                weightedRowsToBytes(UnsafePointer(rows), weights: k, taps: kernelSize, length: rowLength, scratch: sums,
                                    into: image.pixels + y * rowLength)
            }
        }
    }
}
