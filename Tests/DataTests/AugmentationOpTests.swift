import Engine
import XCTest
@testable import Data

/// Each op against a slow, obvious twin or hand-computed pixels; random parameters against their ranges.
final class AugmentationOpTests: XCTestCase {
    /// Deterministic noise image.
    static func noiseImage(height: Int, width: Int, channels: Int, seed: UInt64 = 7) -> Image8 {
        Image8(height: height, width: width, channels: channels,
               pixels: noiseBytes(height * width * channels, seed: seed))
    }

    private func crop(_ image: Image8, _ box: CropBox, _ height: Int, _ width: Int, _ interpolation: Interpolation,
                      antialias: Bool, flip: Bool = false) -> Image8 {
        runInWorkspace(image) { w, workspace in
            resizedCrop(&w, box: box, height: height, width: width, interpolation: interpolation,
                        antialias: antialias, flip: flip, workspace)
        }
    }

    // MARK: resize

    /// The slow twin of the resize without antialiasing: PyTorch's formulas, one output pixel at a time.
    private func referenceResize(_ image: Image8, _ box: CropBox, _ OH: Int, _ OW: Int,
                                 _ interpolation: Interpolation) -> Image8 {
        func taps(_ o: Int, _ n: Int, _ m: Int) -> [(Int, Float)] {
            let scale = Float(n) / Float(m)
            if interpolation == .bilinear {
                let real = max(scale * (Float(o) + 0.5) - 0.5, 0)
                let i0 = min(Int(real.rounded(.down)), n - 1)
                let lambda = min(max(real - Float(i0), 0), 1)
                return [(i0, 1 - lambda), (min(i0 + 1, n - 1), lambda)]
            }
            let real = scale * (Float(o) + 0.5) - 0.5
            let i0 = min(Int(real.rounded(.down)), n - 1)
            let t = min(max(real - Float(i0), 0), 1)
            let a: Float = -0.75
            func k1(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
            func k2(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            let w = [k2(t + 1), k1(t), k1(1 - t), k2(2 - t)]
            return (0..<4).map { (min(max(i0 - 1 + $0, 0), n - 1), w[$0]) }
        }
        var out = Image8(height: OH, width: OW, channels: image.channels,
                         pixels: [UInt8](repeating: 0, count: OH * OW * image.channels))
        for y in 0..<OH {
            for x in 0..<OW {
                for c in 0..<image.channels {
                    var value: Float = 0
                    for (sy, wy) in taps(y, box.height, OH) {
                        var row: Float = 0
                        for (sx, wx) in taps(x, box.width, OW) {
                            row += Float(image[box.top + sy, box.left + sx, c]) * wx
                        }
                        value += row * wy
                    }
                    out[y, x, c] = UInt8(min(max(value, 0), 255).rounded(.toNearestOrEven))
                }
            }
        }
        return out
    }

    func testResizeMatchesSlowTwin() {
        for channels in [1, 3] {
            let image = Self.noiseImage(height: 13, width: 17, channels: channels)
            for interpolation in Interpolation.allCases {
                for (box, OH, OW) in [(CropBox(top: 2, left: 3, height: 7, width: 9), 11, 5),
                                      (CropBox(top: 0, left: 0, height: 13, width: 17), 4, 23),
                                      (CropBox(top: 5, left: 1, height: 1, width: 2), 3, 3)] {
                    let fast = crop(image, box, OH, OW, interpolation, antialias: false)
                    XCTAssertEqual(fast, referenceResize(image, box, OH, OW, interpolation),
                                   "\(interpolation) \(box) -> \(OH)x\(OW), C = \(channels)")
                }
            }
        }
    }

    func testResizeToTheBoxSizeIsTheCrop() {
        let image = Self.noiseImage(height: 10, width: 12, channels: 3)
        let box = CropBox(top: 3, left: 2, height: 5, width: 8)
        var expected: [UInt8] = []
        for y in 3..<8 { for x in 2..<10 { for c in 0..<3 { expected.append(image[y, x, c]) } } }
        for interpolation in Interpolation.allCases {
            for antialias in [false, true] {
                XCTAssertEqual(crop(image, box, 5, 8, interpolation, antialias: antialias).pixels, expected,
                               "\(interpolation), antialias \(antialias)")
            }
        }
    }

    func testConstantImageStaysConstantThroughEveryResize() {
        let image = Image8(height: 9, width: 7, channels: 3, pixels: [UInt8](repeating: 77, count: 9 * 7 * 3))
        for interpolation in Interpolation.allCases {
            for antialias in [false, true] {
                for (OH, OW) in [(3, 2), (20, 31), (9, 7)] {
                    let out = crop(image, CropBox(top: 1, left: 1, height: 7, width: 5), OH, OW, interpolation,
                                   antialias: antialias)
                    XCTAssertEqual(Set(out.pixels), [77], "\(interpolation) aa \(antialias) \(OH)x\(OW)")
                }
            }
        }
    }

    func testFlippedResizeIsTheMirrorOfTheResize() {
        let image = Self.noiseImage(height: 11, width: 14, channels: 3)
        let box = CropBox(top: 1, left: 2, height: 8, width: 11)
        for interpolation in Interpolation.allCases {
            for antialias in [false, true] {
                let plain = crop(image, box, 6, 9, interpolation, antialias: antialias)
                let flipped = crop(image, box, 6, 9, interpolation, antialias: antialias, flip: true)
                XCTAssertEqual(flipped, referenceFlip(plain))
                XCTAssertNotEqual(flipped, plain)
            }
        }
    }

    func testFusedResizeAndFlipEqualsTheTwoSteps() {
        let image = Self.noiseImage(height: 10, width: 13, channels: 1)
        let pipeline = AugmentationPipeline([.resize(Resize(height: 7, width: 9, interpolation: .bilinear, antialias: true)),
                                             .horizontalFlip(RandomHorizontalFlip(p: 0.5))])
        var outputs = Set<[UInt8]>()
        for index in 0..<12 {
            var a = AugmentationPipeline.random(seed: 8, epoch: 1, index: index, view: 1)
            var b = a
            let fused = pipeline.apply(to: image, random: &a, fuse: true)
            XCTAssertEqual(fused, pipeline.apply(to: image, random: &b, fuse: false))
            outputs.insert(fused.pixels)
        }
        XCTAssertEqual(outputs.count, 2, "flipped and not flipped")
    }

    func testFusedCropAndFlipEqualsTheTwoSteps() {
        let image = Self.noiseImage(height: 20, width: 24, channels: 3)
        let pipeline = AugmentationPipeline([
            .randomResizedCrop(RandomResizedCrop(size: 9, interpolation: .bicubic, antialias: true)),
            .horizontalFlip(RandomHorizontalFlip(p: 0.5)),
            .grayscale(RandomGrayscale(p: 0.5)),
        ])
        var flips = 0
        for index in 0..<40 {
            var a = AugmentationPipeline.random(seed: 3, epoch: 0, index: index, view: 0)
            var b = a
            let fused = pipeline.apply(to: image, random: &a, fuse: true)
            let separate = pipeline.apply(to: image, random: &b, fuse: false)
            XCTAssertEqual(fused, separate, "sample \(index)")
            XCTAssertEqual(a.next(), b.next(), "the two paths must consume the same draws")
            // Count flips by replaying the draws of the crop and the flip.
            var replay = AugmentationPipeline.random(seed: 3, epoch: 0, index: index, view: 0)
            _ = RandomResizedCrop(size: 9).sampleBox(imageHeight: 20, imageWidth: 24, random: &replay)
            if replay.uniform() < 0.5 { flips += 1 }
        }
        XCTAssertTrue(flips > 5 && flips < 35, "\(flips) flips in 40")
    }

    // MARK: RandomResizedCrop box sampling

    func testRandomResizedCropBoxesStayInsideAndInRange() {
        for (H, W) in [(224, 224), (32, 32), (60, 200)] {
            let op = RandomResizedCrop(size: 16, scale: 0.08...1, ratio: 0.75...(4.0 / 3))
            var random = RandomGenerator(seed: 11, UInt64(H), UInt64(W))
            var fractions: [Double] = [], logRatios: [Double] = []
            var tops = Set<Int>(), fallbacks = 0
            for _ in 0..<4000 {
                let box = op.sampleBox(imageHeight: H, imageWidth: W, random: &random)
                XCTAssertTrue(box.top >= 0 && box.left >= 0 && box.height >= 1 && box.width >= 1
                              && box.top + box.height <= H && box.left + box.width <= W, "\(box) in \(H)x\(W)")
                let fraction = Double(box.height * box.width) / Double(H * W)
                let ratio = Double(box.width) / Double(box.height)
                // The box's sides are rounded: allow one pixel of slack on each side.
                let slackArea = Double((box.height + 1) * (box.width + 1)) / Double(box.height * box.width)
                let slackRatio = (1 + 1 / Double(box.height)) * (1 + 1 / Double(box.width))
                if box.height == H || box.width == W, fraction > 1.0 / slackArea, abs(log(ratio)) > 0.3 {
                    fallbacks += 1
                    continue
                }
                XCTAssertTrue(fraction >= 0.08 / slackArea && fraction <= 1 * slackArea, "area \(fraction)")
                XCTAssertTrue(ratio >= 0.75 / slackRatio && ratio <= 4.0 / 3 * slackRatio, "ratio \(ratio)")
                fractions.append(fraction)
                logRatios.append(log(ratio))
                tops.insert(box.top)
            }
            XCTAssertLessThan(fallbacks, 40, "\(H)x\(W)")
            // The area fraction covers its range: small and large boxes both occur.
            XCTAssertLessThan(fractions.min()!, 0.1, "\(H)x\(W)")
            XCTAssertGreaterThan(fractions.max()!, H == W ? 0.9 : 0.25, "\(H)x\(W)")
            if H == W {
                // log ratio is uniform in ±log(4/3) ≈ ±0.288: symmetric, spread over the range.
                let mean = logRatios.reduce(0, +) / Double(logRatios.count)
                XCTAssertLessThan(abs(mean), 0.02, "mean log ratio \(mean)")
                XCTAssertGreaterThan(logRatios.filter { $0 > 0.2 }.count, 300)
                XCTAssertGreaterThan(logRatios.filter { $0 < -0.2 }.count, 300)
            }
            XCTAssertGreaterThan(tops.count, 10)
        }
    }

    func testRandomResizedCropFallbackIsTheCentreClampedToTheRatio() {
        // Scale above 1 never fits, so all 10 attempts fail and the fallback decides.
        let op = RandomResizedCrop(size: 8, scale: 2...3, ratio: 0.75...(4.0 / 3))
        var random = RandomGenerator(seed: 1)
        XCTAssertEqual(op.sampleBox(imageHeight: 30, imageWidth: 30, random: &random),
                       CropBox(top: 0, left: 0, height: 30, width: 30))
        // Wide image (ratio 3 > 4/3): h = H, w = round(H * 4/3) = 27, centred.
        XCTAssertEqual(op.sampleBox(imageHeight: 20, imageWidth: 60, random: &random),
                       CropBox(top: 0, left: 16, height: 20, width: 27))
        // Tall image (ratio 1/3 < 3/4): w = W, h = round(W / 0.75) = 27, centred.
        XCTAssertEqual(op.sampleBox(imageHeight: 60, imageWidth: 20, random: &random),
                       CropBox(top: 16, left: 0, height: 27, width: 20))
    }

    // MARK: flip and rotation

    private func referenceFlip(_ image: Image8) -> Image8 {
        var out = image
        for y in 0..<image.height { for x in 0..<image.width { for c in 0..<image.channels {
            out[y, x, c] = image[y, image.width - 1 - x, c]
        } } }
        return out
    }

    func testFlipMirrorsEachRow() {
        for (W, C) in [(5, 3), (6, 1)] {
            let image = Self.noiseImage(height: 4, width: W, channels: C)
            XCTAssertEqual(runInWorkspace(image) { w, _ in horizontalFlip(w) }, referenceFlip(image))
        }
    }

    private func rotated(_ image: Image8, _ degrees: Double, fill: UInt8 = 0) -> Image8 {
        runInWorkspace(image) { w, workspace in
            let output = workspace.spare(for: w)
            rotate(w, degrees: degrees, fill: fill, into: output)
            w.pixels = output
        }
    }

    func testRotationBy90DegreesIsATransposeAndFlip() {
        let n = 7
        let image = Self.noiseImage(height: n, width: n, channels: 3)
        // Counter-clockwise: out[y][x] = in[x][n-1-y] (the top row ends up on the left, read upwards).
        let ccw = rotated(image, 90), cw = rotated(image, -90), half = rotated(image, 180)
        for y in 0..<n { for x in 0..<n { for c in 0..<3 {
            XCTAssertEqual(ccw[y, x, c], image[x, n - 1 - y, c])
            XCTAssertEqual(cw[y, x, c], image[n - 1 - x, y, c])
            XCTAssertEqual(half[y, x, c], image[n - 1 - y, n - 1 - x, c])
        } } }
        XCTAssertEqual(rotated(image, 0), image)
    }

    func testRotationFillsPixelsFromOutside() {
        let image = Image8(height: 9, width: 9, channels: 1, pixels: [UInt8](repeating: 100, count: 81))
        let out = rotated(image, 45, fill: 7)
        XCTAssertEqual(out[0, 0, 0], 7, "a corner comes from outside")
        XCTAssertEqual(out[4, 4, 0], 100, "the centre stays")
        XCTAssertEqual(Set(out.pixels), [7, 100])
    }

    // MARK: colour

    private func pixels(_ values: [UInt8], channels: Int) -> Image8 {
        Image8(height: 1, width: values.count / channels, channels: channels, pixels: values)
    }

    func testGrayscaleWeights() {
        // round(0.299·255) = 76, round(0.587·255) = 150, round(0.114·255) = 29; white stays 255.
        XCTAssertEqual(luma(255, 0, 0), 76)
        XCTAssertEqual(luma(0, 255, 0), 150)
        XCTAssertEqual(luma(0, 0, 255), 29)
        XCTAssertEqual(luma(255, 255, 255), 255)
        XCTAssertEqual(luma(0, 0, 0), 0)
        // 0.299·10 + 0.587·20 + 0.114·30 = 18.15 -> 18; 0.299·200 + 0.587·100 = 118.5 -> PIL's fixed point gives 118.
        XCTAssertEqual(luma(10, 20, 30), 18)
        XCTAssertEqual(luma(200, 100, 0), 118)
        let image = pixels([255, 0, 0, 10, 20, 30], channels: 3)
        XCTAssertEqual(runInWorkspace(image) { w, _ in convertToGrayscale(w) }.pixels, [76, 76, 76, 18, 18, 18])
        let gray = pixels([1, 2, 3], channels: 1)
        XCTAssertEqual(runInWorkspace(gray) { w, _ in convertToGrayscale(w) }, gray, "1 channel: no-op")
    }

    func testBrightnessContrastSaturationFormulas() {
        // brightness: trunc(clamp(f·x)).
        let values = pixels([0, 3, 100, 200, 255, 51], channels: 3)
        XCTAssertEqual(runInWorkspace(values) { w, _ in adjustBrightness(w, factor: 1.5) }.pixels, [0, 4, 150, 255, 255, 76])
        XCTAssertEqual(runInWorkspace(values) { w, _ in adjustBrightness(w, factor: 0.5) }.pixels, [0, 1, 50, 100, 127, 25])
        XCTAssertEqual(runInWorkspace(values) { w, _ in adjustBrightness(w, factor: 1) }, values)
        // contrast, 1 channel: blend with the image mean (0 + 100) / 2 = 50.
        let gray = pixels([0, 100], channels: 1)
        XCTAssertEqual(runInWorkspace(gray) { w, _ in adjustContrast(w, factor: 0.5) }.pixels, [25, 75])
        XCTAssertEqual(runInWorkspace(gray) { w, _ in adjustContrast(w, factor: 2) }.pixels, [0, 150])
        XCTAssertEqual(runInWorkspace(gray) { w, _ in adjustContrast(w, factor: 0) }.pixels, [50, 50])
        // contrast, 3 channels: the mean of the luma: pixels (255,0,0) and (10,20,30): (76 + 18) / 2 = 47.
        let rgb = pixels([255, 0, 0, 10, 20, 30], channels: 3)
        XCTAssertEqual(runInWorkspace(rgb) { w, _ in adjustContrast(w, factor: 0) }.pixels, [UInt8](repeating: 47, count: 6))
        // 0.5·255 + 0.5·47 = 151, 0.5·0 + 23.5 = 23 (truncated), 0.5·10 + 23.5 = 28, 33, 38.
        XCTAssertEqual(runInWorkspace(rgb) { w, _ in adjustContrast(w, factor: 0.5) }.pixels, [151, 23, 23, 28, 33, 38])
        // saturation: blend each pixel with its own luma (76 and 18).
        XCTAssertEqual(runInWorkspace(rgb) { w, _ in adjustSaturation(w, factor: 0) }.pixels, [76, 76, 76, 18, 18, 18])
        // f = 2: 2·255 - 76 -> 255, 2·0 - 76 -> 0; 2·10 - 18 = 2, 2·20 - 18 = 22, 2·30 - 18 = 42.
        XCTAssertEqual(runInWorkspace(rgb) { w, _ in adjustSaturation(w, factor: 2) }.pixels, [255, 0, 0, 2, 22, 42])
        XCTAssertEqual(runInWorkspace(gray) { w, _ in adjustSaturation(w, factor: 0) }, gray, "1 channel: no-op")
    }

    func testHueShift() {
        let primaries = pixels([255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128], channels: 3)
        // A third of a turn: red -> green -> blue -> red; gray has no hue.
        XCTAssertEqual(runInWorkspace(primaries) { w, _ in adjustHue(w, shift: 1.0 / 3) }.pixels,
                       [0, 255, 0, 0, 0, 255, 255, 0, 0, 128, 128, 128])
        XCTAssertEqual(runInWorkspace(primaries) { w, _ in adjustHue(w, shift: -1.0 / 3) }.pixels,
                       [0, 0, 255, 255, 0, 0, 0, 255, 0, 128, 128, 128])
        // Shift 0 is exact; a shift and its inverse come back within one step of 8-bit rounding.
        let image = Self.noiseImage(height: 6, width: 7, channels: 3)
        XCTAssertEqual(runInWorkspace(image) { w, _ in adjustHue(w, shift: 0) }, image)
        for shift in [0.1, 0.25, -0.4, 0.5] {
            let back = runInWorkspace(image) { w, _ in adjustHue(w, shift: shift); adjustHue(w, shift: -shift) }
            let worst = zip(back.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.max()!
            XCTAssertLessThanOrEqual(worst, 2, "shift \(shift)")
            XCTAssertNotEqual(runInWorkspace(image) { w, _ in adjustHue(w, shift: shift) }, image)
        }
        let gray = pixels([9, 99], channels: 1)
        XCTAssertEqual(runInWorkspace(gray) { w, _ in adjustHue(w, shift: 0.3) }, gray, "1 channel: no-op")
    }

    func testSolarizeAndInvert() {
        let values = pixels([0, 1, 127, 128, 200, 255], channels: 1)
        var random = RandomGenerator(seed: 0)
        XCTAssertEqual(runInWorkspace(values) { w, _ in RandomSolarize(threshold: 128, p: 1).apply(&w, &random) }.pixels,
                       [0, 1, 127, 127, 55, 0])
        XCTAssertEqual(runInWorkspace(values) { w, _ in RandomSolarize(threshold: 128, p: 0).apply(&w, &random) }, values)
        XCTAssertEqual(runInWorkspace(values) { w, _ in RandomInvert(p: 1).apply(&w, &random) }.pixels, [255, 254, 128, 127, 55, 0])
        XCTAssertEqual(runInWorkspace(values) { w, _ in RandomInvert(p: 0).apply(&w, &random) }, values)
    }

    func testColorJitterDrawsAPermutationAndFactorsInRange() {
        let jitter = ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1)
        XCTAssertEqual(jitter.brightness, 0.6...1.4)
        XCTAssertEqual(jitter.saturation, 0.8...1.2)
        XCTAssertEqual(jitter.hue, -0.1...0.1)
        XCTAssertEqual(ColorJitter(brightness: 1.5).brightness, 0...2.5, "lower bound clipped at 0")
        XCTAssertNil(ColorJitter(brightness: 0.4).contrast, "strength 0 turns an op off")
        var random = RandomGenerator(seed: 5)
        var firsts = [Int](repeating: 0, count: 4)
        for _ in 0..<2000 {
            let draw = jitter.draw(&random)
            XCTAssertEqual(Set((0..<4).map { draw.order[$0] }), [0, 1, 2, 3])
            firsts[Int(draw.order[0])] += 1
            XCTAssertTrue(jitter.brightness!.contains(draw.brightness!))
            XCTAssertTrue(jitter.contrast!.contains(draw.contrast!))
            XCTAssertTrue(jitter.saturation!.contains(draw.saturation!))
            XCTAssertTrue(jitter.hue!.contains(draw.hue!))
        }
        for count in firsts { XCTAssertTrue(count > 400 && count < 600, "first-op counts \(firsts)") }
        XCTAssertNil(ColorJitter(brightness: 0.5).draw(&random).hue)
    }

    func testColorJitterOnOneChannelOnlyChangesBrightnessAndContrast() {
        let image = Self.noiseImage(height: 5, width: 5, channels: 1)
        let saturationAndHue = AugmentationPipeline([.colorJitter(ColorJitter(saturation: 0.9, hue: 0.4))])
        var random = RandomGenerator(seed: 2)
        XCTAssertEqual(saturationAndHue.apply(to: image, random: &random), image)
        let brightness = AugmentationPipeline([.colorJitter(ColorJitter(brightness: 0.9))])
        XCTAssertNotEqual(brightness.apply(to: image, random: &random), image)
    }

    // MARK: blur

    func testBlurKernelAndReflection() {
        let kernel = gaussianKernel(size: 5, sigma: 1)
        XCTAssertEqual(kernel.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(kernel[0], kernel[4])
        XCTAssertEqual(kernel[1], kernel[3])
        // exp(-0.5·(x/σ)²) at x = 0, 1, 2 over their sum.
        let raw = [exp(-2.0), exp(-0.5), 1, exp(-0.5), exp(-2.0)]
        let sum = raw.reduce(0, +)
        for i in 0..<5 { XCTAssertEqual(Double(kernel[i]), raw[i] / sum, accuracy: 1e-6) }
        // torch's "reflect": the edge is the mirror, not repeated.
        XCTAssertEqual((-3...7).map { reflectIndex($0, 5) }, [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1])
        XCTAssertEqual(reflectIndex(-4, 1), 0)
    }

    /// The blur against its slow twin, one output at a time: along x then y with torch's reflection, each
    /// sum over the taps in order, rounded half to even. Row lengths 111 and 20 bytes cover the 16-wide
    /// blocks and the remainder; a 23-tap kernel on 20 pixels reflects more than once.
    func testBlurMatchesSlowTwin() {
        for (height, width, channels, size, sigma) in [(9, 37, 3, 7, 1.3), (20, 20, 1, 23, 2.0)] {
            let image = Self.noiseImage(height: height, width: width, channels: channels, seed: 11)
            let kernel = gaussianKernel(size: size, sigma: sigma), radius = size / 2
            var horizontal = [Float](repeating: 0, count: height * width * channels)
            for y in 0..<height { for x in 0..<width { for c in 0..<channels {
                var sum: Float = 0
                for t in 0..<size { sum += Float(image[y, reflectIndex(x + t - radius, width), c]) * kernel[t] }
                horizontal[(y * width + x) * channels + c] = sum
            } } }
            var expected = image
            for y in 0..<height { for x in 0..<width { for c in 0..<channels {
                var sum: Float = 0
                for t in 0..<size { sum += horizontal[(reflectIndex(y + t - radius, height) * width + x) * channels + c] * kernel[t] }
                expected[y, x, c] = UInt8(min(max(sum, 0), 255).rounded(.toNearestOrEven))
            } } }
            let blurred = runInWorkspace(image) { w, ws in gaussianBlur(w, kernelSize: size, sigma: sigma, ws) }
            XCTAssertEqual(blurred, expected, "\(height)x\(width)x\(channels), \(size) taps")
        }
    }

    /// The filters' rounding (2²³ added, the low bits kept) is `rounded(.toNearestOrEven)` after clamping,
    /// on every quarter from -2 to 258 (ties included) and on values either side of a tie.
    func testRoundedByteRoundsHalfToEvenAndClamps() {
        let values = stride(from: Float(-2), through: 258, by: 0.25).map { $0 }
            + [0.49999997, 0.50000006, 1.4999999, 2.5000002, 254.49998, 254.50002, -1e9, 1e9]
        for value in values {
            XCTAssertEqual(roundedByte(value), UInt8(min(max(value, 0), 255).rounded(.toNearestOrEven)), "\(value)")
        }
    }

    func testBlurKeepsAConstantImageAndTheMean() {
        let constant = Image8(height: 12, width: 10, channels: 3, pixels: [UInt8](repeating: 201, count: 360))
        XCTAssertEqual(runInWorkspace(constant) { w, ws in gaussianBlur(w, kernelSize: 7, sigma: 1.9, ws) }, constant)
        let image = Self.noiseImage(height: 32, width: 32, channels: 1)
        let blurred = runInWorkspace(image) { w, ws in gaussianBlur(w, kernelSize: 5, sigma: 1.2, ws) }
        func mean(_ i: Image8) -> Double { Double(i.pixels.reduce(0) { $0 + Int($1) }) / Double(i.pixels.count) }
        func variance(_ i: Image8) -> Double {
            let m = mean(i)
            return i.pixels.reduce(0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(i.pixels.count)
        }
        XCTAssertEqual(mean(blurred), mean(image), accuracy: 1.0)
        XCTAssertLessThan(variance(blurred), variance(image) / 4, "noise is smoothed")
        // Automatic kernel size: 10 % of the shorter side, odd, at least 3.
        XCTAssertEqual(GaussianBlur().kernelSize(height: 224, width: 224), 23)
        XCTAssertEqual(GaussianBlur().kernelSize(height: 32, width: 32), 3)
        XCTAssertEqual(GaussianBlur().kernelSize(height: 96, width: 128), 9)
        XCTAssertEqual(GaussianBlur(kernelSize: 5).kernelSize(height: 224, width: 224), 5)
    }

    // MARK: normalise

    func testNormalizeWritesTheFormula() throws {
        let image = pixels([255, 51, 0, 0, 255, 102], channels: 3)
        let normalize = try Normalize(Normalization(mean: [0.5, 0.2, 0.1], std: [0.25, 0.5, 2]), channels: 3)
        let expected: [Float] = [2, 0, -0.05, -2, 1.6, 0.15]
        for (value, want) in zip(normalize(image), expected) { XCTAssertEqual(value, want, accuracy: 1e-6) }
        assertContains(errorMessage { _ = try Normalize(.fashionMNIST, channels: 3) }, "3 channel(s)", "1 mean(s)")
        assertContains(errorMessage { _ = try Normalize(Normalization(mean: [0], std: [0]), channels: 1) }, "positive")
    }
}
