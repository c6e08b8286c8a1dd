#if canImport(Glibc)
import Glibc
#endif
import Engine

/// A rectangle of an image: rows `top ..< top + height`, columns `left ..< left + width`.
public struct CropBox: Sendable, Equatable, CustomStringConvertible {
    public var top: Int
    public var left: Int
    public var height: Int
    public var width: Int

    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top
        self.left = left
        self.height = height
        self.width = width
    }

    public var description: String { "rows \(top)..<\(top + height), columns \(left)..<\(left + width)" }
}

/// torchvision's `RandomResizedCrop(size, scale, ratio, interpolation, antialias)`: cut a random box
/// whose area is a uniform fraction of the image and whose aspect ratio (width / height) is log-uniform,
/// then resize it to `height` x `width`.
///
/// The box (torchvision's `get_params`): up to 10 attempts, each drawing the area fraction
/// s ~ U(scale) and the ratio r = exp(U(log ratio.lower, log ratio.upper)), then
/// w = round(sqrt(s·H·W·r)), h = round(sqrt(s·H·W / r)) (round half to even, as Python);
/// the first attempt with 0 < w ≤ W and 0 < h ≤ H wins, with top ~ U{0...H-h} and left ~ U{0...W-w}.
/// If all 10 fail: the centred box of the whole image clamped to the ratio range.
///
/// The resize is PyTorch's `interpolate` on the box (align_corners=False), computed in Float32 and
/// rounded half to even into UInt8 (bicubic results clamped to 0...255 first):
/// - `antialias: false`: bilinear or bicubic with a = -0.75, edge pixels repeated;
/// - `antialias: true`: PyTorch's `antialias=True` (= PIL's resampling): when shrinking by s > 1 the
///   filter is stretched to s times its support; bicubic uses a = -0.5. Identical to `false` for
///   bilinear when enlarging.
/// A horizontal flip right after this op in a pipeline is fused into the resize (same draws, same result).
public struct RandomResizedCrop: Sendable, Equatable {
    public var height: Int
    public var width: Int
    /// Range of the box's area as a fraction of the image's area.
    public var scale: ClosedRange<Double>
    /// Range of the box's aspect ratio, width / height.
    public var ratio: ClosedRange<Double>
    public var interpolation: Interpolation
    public var antialias: Bool

    public init(size: Int, scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = 0.75...(4.0 / 3),
                interpolation: Interpolation = .bilinear, antialias: Bool = false) {
        self.init(height: size, width: size, scale: scale, ratio: ratio, interpolation: interpolation,
                  antialias: antialias)
    }

    public init(height: Int, width: Int, scale: ClosedRange<Double> = 0.08...1,
                ratio: ClosedRange<Double> = 0.75...(4.0 / 3), interpolation: Interpolation = .bilinear,
                antialias: Bool = false) {
        precondition(height > 0 && width > 0, "RandomResizedCrop size must be positive, got \(height)x\(width)")
        precondition(scale.lowerBound > 0 && ratio.lowerBound > 0, "RandomResizedCrop scale and ratio must be positive")
        self.height = height
        self.width = width
        self.scale = scale
        self.ratio = ratio
        self.interpolation = interpolation
        self.antialias = antialias
    }

    /// torchvision's `RandomResizedCrop.get_params` for an image of `imageHeight` x `imageWidth`.
    public func sampleBox(imageHeight H: Int, imageWidth W: Int, random: inout RandomGenerator) -> CropBox {
        let area = Double(H * W)
        let logLow = log(ratio.lowerBound), logHigh = log(ratio.upperBound)
        for _ in 0..<10 {
            let target = area * random.uniform(scale.lowerBound, scale.upperBound)
            let aspect = exp(random.uniform(logLow, logHigh))
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= W && h > 0 && h <= H {
                let top = random.integer(below: H - h + 1)
                let left = random.integer(below: W - w + 1)
                return CropBox(top: top, left: left, height: h, width: w)
            }
        }
        let inRatio = Double(W) / Double(H)
        var w = W, h = H
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return CropBox(top: (H - h) / 2, left: (W - w) / 2, height: h, width: w)
    }

    /// Samples the box, then (when `flipProbability` is given: a fused `RandomHorizontalFlip`) draws
    /// the flip, and resamples once.
    func apply(_ image: inout WorkingImage, _ random: inout RandomGenerator, _ workspace: AugmentationWorkspace,
               flipProbability: Double?) {
        let box = sampleBox(imageHeight: image.height, imageWidth: image.width, random: &random)
        let flip = flipProbability.map { random.uniform() < $0 } ?? false
        resizedCrop(&image, box: box, height: height, width: width, interpolation: interpolation,
                    antialias: antialias, flip: flip, workspace)
    }
}

/// Resizes the whole image to exactly `height` x `width` (torchvision's `Resize((h, w))`, not the
/// shorter-side form), with the same interpolation as `RandomResizedCrop`. Deterministic.
public struct Resize: Sendable, Equatable {
    public var height: Int
    public var width: Int
    public var interpolation: Interpolation
    public var antialias: Bool

    public init(height: Int, width: Int, interpolation: Interpolation = .bilinear, antialias: Bool = false) {
        precondition(height > 0 && width > 0, "Resize size must be positive, got \(height)x\(width)")
        self.height = height
        self.width = width
        self.interpolation = interpolation
        self.antialias = antialias
    }

    public init(size: Int, interpolation: Interpolation = .bilinear, antialias: Bool = false) {
        self.init(height: size, width: size, interpolation: interpolation, antialias: antialias)
    }

    func apply(_ image: inout WorkingImage, _ workspace: AugmentationWorkspace, flip: Bool) {
        if image.height == height && image.width == width && !flip { return }
        resizedCrop(&image, box: CropBox(top: 0, left: 0, height: image.height, width: image.width),
                    height: height, width: width, interpolation: interpolation, antialias: antialias,
                    flip: flip, workspace)
    }
}

// MARK: - The resampling kernel

/// Cuts `box` out of `image` and resizes it to `OH` x `OW` (optionally mirrored left-right), into the
/// workspace's spare buffer; `image` then describes the result.
///
/// Separable, as PyTorch computes it: each output pixel is Σ_ty wy·(Σ_tx wx·p), taps in increasing
/// source order. Pass 1 filters every row of the box along x into Float rows `[box.height, OW·C]`;
/// pass 2 combines rows along y and rounds. The tap tables (source index and weight per output
/// coordinate) are built once per call; the flip only reverses the column table.
func resizedCrop(_ image: inout WorkingImage, box: CropBox, height OH: Int, width OW: Int,
                 interpolation: Interpolation, antialias: Bool, flip: Bool, _ workspace: AugmentationWorkspace) {
    let C = image.channels, W = image.width
    precondition(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0
                 && box.top + box.height <= image.height && box.left + box.width <= W,
                 "crop box \(box) outside the \(image.height)x\(W) image")
    let columnTaps = buildTaps(inputSize: box.width, outputSize: OW, interpolation: interpolation,
                               antialias: antialias, reversed: flip,
                               index: workspace.columnIndex, weight: workspace.columnWeight)
    let rowTaps = buildTaps(inputSize: box.height, outputSize: OH, interpolation: interpolation,
                            antialias: antialias, reversed: false,
                            index: workspace.rowIndex, weight: workspace.rowWeight)
    let xIndex = workspace.columnIndex.pointer, xWeight = workspace.columnWeight.pointer
    let yIndex = workspace.rowIndex.pointer, yWeight = workspace.rowWeight.pointer
    let rowLength = OW * C
    let rows = workspace.floats.reserve(box.height * rowLength + rowLength)
    let sums = rows + box.height * rowLength

    // Pass 1: [box.height, OW, C] floats, each the x-filtered value of one box row.
    for r in 0..<box.height {
        let source = UnsafePointer(image.pixels) + ((box.top + r) * W + box.left) * C
        let out = rows + r * rowLength
        switch C {
        case 1:
            for x in 0..<OW {
                var sum: Float = 0
                for t in 0..<columnTaps {
                    sum += Float(source[Int(xIndex[x * columnTaps + t])]) * xWeight[x * columnTaps + t]
                }
                out[x] = sum
            }
        case 3:
            for x in 0..<OW {
                var s0: Float = 0, s1: Float = 0, s2: Float = 0
                for t in 0..<columnTaps {
                    let p = source + Int(xIndex[x * columnTaps + t]) * 3
                    let w = xWeight[x * columnTaps + t]
                    s0 += Float(p[0]) * w
                    s1 += Float(p[1]) * w
                    s2 += Float(p[2]) * w
                }
                out[x * 3] = s0
                out[x * 3 + 1] = s1
                out[x * 3 + 2] = s2
            }
        default:
            for x in 0..<OW {
                for c in 0..<C {
                    var sum: Float = 0
                    for t in 0..<columnTaps {
                        sum += Float(source[Int(xIndex[x * columnTaps + t]) * C + c]) * xWeight[x * columnTaps + t]
                    }
                    out[x * C + c] = sum
                }
            }
        }
    }

    // Pass 2: combine rows (`weightedRowsToBytes`: 16 outputs at a time, taps in order), clamp, round half to even.
    let output = workspace.spare(for: image)
    withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: rowTaps) { taps in
        let tapRows = taps.baseAddress!
        for y in 0..<OH {
            for t in 0..<rowTaps { tapRows[t] = UnsafePointer(rows) + Int(yIndex[y * rowTaps + t]) * rowLength }
            weightedRowsToBytes(UnsafePointer(tapRows), weights: yWeight + y * rowTaps, taps: rowTaps, length: rowLength,
                                scratch: sums, into: output + y * rowLength)
        }
    }
    image = WorkingImage(pixels: output, height: OH, width: OW, channels: C)
}

/// Fills the tap table of one axis: for each output coordinate o (stored at `outputSize-1-o` when
/// `reversed`), `taps` source indices in `0..<inputSize` and their weights. Returns `taps`.
///
/// Float32 arithmetic, as PyTorch's CPU kernels for float images (`UpSampleKernel.cpp`):
/// scale = in / out; without antialiasing the source coordinate is scale·(o + 0.5) - 0.5 (clamped at 0
/// for bilinear), indices beyond the edges are clamped; with antialiasing the weights are the filter at
/// (j - centre + 0.5)·min(1, 1/scale), normalised to sum 1, over the taps inside the input.
func buildTaps(inputSize n: Int, outputSize m: Int, interpolation: Interpolation, antialias: Bool,
               reversed: Bool, index: ScratchBuffer<Int32>, weight: ScratchBuffer<Float>) -> Int {
    let scale = Float(n) / Float(m)
    let halfWidth: Float = interpolation == .bilinear ? 1 : 2
    let support = antialias ? (scale >= 1 ? halfWidth * scale : halfWidth) : halfWidth
    let taps = antialias ? Int(support.rounded(.up)) * 2 + 1 : Int(halfWidth) * 2
    let indices = index.reserve(m * taps), weights = weight.reserve(m * taps)
    for o in 0..<m {
        let slot = (reversed ? m - 1 - o : o) * taps
        if antialias {
            let center = scale * (Float(o) + 0.5)
            let inverseScale: Float = scale >= 1 ? 1 / scale : 1
            let low = max(Int(center - support + 0.5), 0)
            let count = min(Int(center + support + 0.5), n) - low
            var total: Float = 0
            for j in 0..<taps {
                let w: Float = j < count
                    ? antialiasFilter((Float(j + low) - center + 0.5) * inverseScale, interpolation) : 0
                indices[slot + j] = Int32(j < count ? low + j : low)
                weights[slot + j] = w
                total += w
            }
            if total != 0 { for j in 0..<taps { weights[slot + j] /= total } }
        } else if interpolation == .bilinear {
            let real = max(scale * (Float(o) + 0.5) - 0.5, 0)
            let i0 = min(Int(real.rounded(.down)), n - 1)
            let lambda = min(max(real - Float(i0), 0), 1)
            indices[slot] = Int32(i0)
            indices[slot + 1] = Int32(i0 < n - 1 ? i0 + 1 : i0)
            weights[slot] = 1 - lambda
            weights[slot + 1] = lambda
        } else {
            let real = scale * (Float(o) + 0.5) - 0.5
            let i0 = min(Int(real.rounded(.down)), n - 1)
            let t = min(max(real - Float(i0), 0), 1)
            let a: Float = -0.75
            weights[slot] = cubicOuter(t + 1, a)
            weights[slot + 1] = cubicInner(t, a)
            weights[slot + 2] = cubicInner(1 - t, a)
            weights[slot + 3] = cubicOuter(2 - t, a)
            for k in 0..<4 { indices[slot + k] = Int32(min(max(i0 - 1 + k, 0), n - 1)) }
        }
    }
    return taps
}

/// Keys' cubic convolution kernel for |x| ≤ 1.
@inline(__always)
func cubicInner(_ x: Float, _ a: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }

/// Keys' cubic convolution kernel for 1 < |x| < 2.
@inline(__always)
func cubicOuter(_ x: Float, _ a: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }

/// PyTorch's antialiasing filters: the triangle for bilinear, Keys' cubic with a = -0.5 for bicubic.
@inline(__always)
func antialiasFilter(_ x: Float, _ interpolation: Interpolation) -> Float {
    let x = abs(x)
    switch interpolation {
    case .bilinear:
        return x < 1 ? 1 - x : 0
    case .bicubic:
        if x < 1 { return cubicInner(x, -0.5) }
        if x < 2 { return cubicOuter(x, -0.5) }
        return 0
    }
}
