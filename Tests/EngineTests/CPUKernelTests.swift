import XCTest
@testable import Engine

/// The CPU kernels against their float64 twins, with one and two threads.
final class CPUKernelTests: XCTestCase {
    let geometries: [ConvGeometry] = [
        ConvGeometry(batch: 3, height: 7, width: 6, inChannels: 3, outChannels: 5, kernelSize: 3, stride: 1, padding: 1),
        ConvGeometry(batch: 2, height: 7, width: 6, inChannels: 4, outChannels: 6, kernelSize: 3, stride: 2, padding: 1),
        ConvGeometry(batch: 3, height: 5, width: 5, inChannels: 8, outChannels: 4, kernelSize: 1, stride: 1, padding: 0),
        ConvGeometry(batch: 2, height: 6, width: 6, inChannels: 4, outChannels: 8, kernelSize: 1, stride: 2, padding: 0),
        ConvGeometry(batch: 2, height: 9, width: 9, inChannels: 1, outChannels: 4, kernelSize: 7, stride: 2, padding: 3),
        // Many rows so several im2col tiles per thread are used.
        ConvGeometry(batch: 4, height: 24, width: 24, inChannels: 16, outChannels: 8, kernelSize: 3, stride: 1, padding: 1),
    ]

    func testConvolutionMatchesNaiveLoops() {
        for (threads, tileRows) in [(1, nil), (2, nil), (2, 7)] {
            let backend = CPUBackend(threads: threads, tileRows: tileRows)
            for (index, g) in geometries.enumerated() {
                let x = randomValues(g.batch * g.height * g.width * g.inChannels, seed: UInt64(index))
                let w = randomValues(g.outChannels * g.patchSize, seed: UInt64(100 + index))
                let dy = randomValues(g.outputPixels * g.outChannels, seed: UInt64(200 + index))
                let xt = tensor(g.inputShape, x), wt = tensor(g.weightShape, w), dyt = tensor(g.outputShape, dy)
                let y = Tensor(zeros: g.outputShape)
                backend.convolutionForward(input: xt, weight: wt, output: y, geometry: g)
                XCTAssertLessThan(relativeError(y.array, Naive.convForward(x, w, g)), 1e-5, "forward \(g) threads \(threads) tile \(String(describing: tileRows))")

                let (dxRef, dwRef) = Naive.convBackward(x, w, dy, g)
                let dx = tensor(g.inputShape, randomValues(x.count, seed: 9))  // garbage: must be overwritten
                backend.convolutionBackwardData(gradOutput: dyt, weight: wt, gradInput: dx, geometry: g)
                XCTAssertLessThan(relativeError(dx.array, dxRef), 1e-5, "backward data \(g) threads \(threads) tile \(String(describing: tileRows))")

                let dw = Tensor(shape: g.weightShape, values: [Float](repeating: 0.5, count: w.count))
                backend.convolutionBackwardWeight(input: xt, gradOutput: dyt, gradWeight: dw, geometry: g)
                XCTAssertLessThan(relativeError(dw.array, dwRef.map { $0 + 0.5 }), 1e-5,
                                  "backward weight must accumulate \(g) threads \(threads) tile \(String(describing: tileRows))")
            }
        }
    }

    func testBatchNormMatchesNaiveLoops() {
        let backend = CPUBackend(threads: 2)
        let rows = 300, c = 6
        // An offset mean stresses the variance computation.
        let x = randomValues(rows * c, seed: 1).map { $0 * 2 + 3 }
        let w = randomValues(c, seed: 2).map { $0 + 1.5 }, b = randomValues(c, seed: 3), dy = randomValues(rows * c, seed: 4)
        let ref = Naive.batchNorm(x, w, b, dy, eps: 1e-5)
        let xt = tensor([rows, c], x), wt = tensor([c], w), bt = tensor([c], b), dyt = tensor([rows, c], dy)
        let mean = Tensor(zeros: [c]), variance = Tensor(zeros: [c]), y = Tensor(zeros: [rows, c])
        backend.batchNormStatistics(input: xt, mean: mean, variance: variance)
        backend.batchNormForward(input: xt, mean: mean, variance: variance, weight: wt, bias: bt, epsilon: 1e-5, output: y)
        XCTAssertLessThan(relativeError(y.array, ref.y), 1e-6)
        let sumDy = Tensor(zeros: [c]), sumDyXhat = Tensor(zeros: [c]), dx = Tensor(zeros: [rows, c])
        backend.batchNormBackwardReduce(gradOutput: dyt, input: xt, mean: mean, variance: variance, epsilon: 1e-5,
                                        sumGradient: sumDy, sumGradientNormalized: sumDyXhat)
        backend.batchNormBackwardInput(gradOutput: dyt, input: xt, mean: mean, variance: variance, weight: wt,
                                       epsilon: 1e-5, sumGradient: sumDy, sumGradientNormalized: sumDyXhat,
                                       count: rows, gradInput: dx)
        XCTAssertLessThan(relativeError(sumDy.array, ref.db), 1e-6)
        XCTAssertLessThan(relativeError(sumDyXhat.array, ref.dw), 1e-6)
        XCTAssertLessThan(relativeError(dx.array, ref.dx), 1e-5)
    }

    func testGemmSplitsRowsCorrectlyForEveryTransposeCombination() {
        let backend = CPUBackend(threads: 2)
        let m = 130, n = 7, k = 9
        let a = randomValues(m * k, seed: 5), b = randomValues(k * n, seed: 6)
        for transposeA in [false, true] { for transposeB in [false, true] {
            var expected = [Double](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n { for p in 0..<k {
                let av = transposeA ? a[p * m + i] : a[i * k + p]
                let bv = transposeB ? b[j * k + p] : b[p * n + j]
                expected[i * n + j] += av * bv
            } } }
            let c = Tensor(zeros: [m, n])
            backend.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                         a: tensor([m * k], a), b: tensor([k * n], b), beta: 0, c: c)
            XCTAssertLessThan(relativeError(c.array, expected), 1e-6, "transposeA \(transposeA) transposeB \(transposeB)")
        } }
    }

    /// ReLU's forward (16 lanes plus a scalar tail) is `max(x, 0)` bit for bit, in place and not, with NaN,
    /// infinities and signed zeros, on lengths around the vector width and chunks off a multiple of 16.
    func testReLUForwardIsMaxWithZeroBitForBit() {
        for threads in [1, 3] {
            let backend = CPUBackend(threads: threads)
            for count in [1, 15, 16, 17, 33, 100_003] {
                var x = randomValues(count, seed: UInt64(count) + 3).map { Float($0) }
                let special: [Float] = [0, -0.0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude, -1e-30]
                for (k, value) in special.enumerated() where k * 5 < count { x[k * 5] = value }
                let expected = x.map { max($0, 0) }
                let separate = Tensor(shape: [count], values: [Float](repeating: 9, count: count))
                backend.reluForward(input: Tensor(shape: [count], values: x), output: separate)
                XCTAssertEqual(separate.array.map(\.bitPattern), expected.map(\.bitPattern), "\(count) elements, \(threads) threads")
                let inPlace = Tensor(shape: [count], values: x)
                backend.reluForward(input: inPlace, output: inPlace)
                XCTAssertEqual(inPlace.array.map(\.bitPattern), expected.map(\.bitPattern), "in place, \(count) elements")
            }
        }
    }

    /// ReLU's backward (16-wide selects plus a scalar tail) against the plain rule `y > 0 ? dy : 0`, element
    /// for element: lengths around the vector width, in place (`dx` is `dy`) and not, zeros, negative zeros,
    /// NaN and infinities in `y`, one and three threads (chunks that start off a multiple of 16).
    func testReLUBackwardPassesGradientExactlyWherePositive() {
        for threads in [1, 3] {
            let backend = CPUBackend(threads: threads)
            for count in [1, 15, 16, 17, 33, 100_003] {
                var y = randomValues(count, seed: UInt64(count)).map { Float($0) }
                let special: [Float] = [0, -0.0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude, -1e-30]
                for (k, value) in special.enumerated() where k * 5 < count { y[k * 5] = value }
                let dy = randomValues(count, seed: UInt64(count) + 7).map { Float($0) }
                let expected = zip(y, dy).map { $0 > 0 ? $1 : 0 }
                let output = Tensor(shape: [count], values: y)
                let separate = Tensor(shape: [count], values: [Float](repeating: 9, count: count))
                backend.reluBackward(output: output, gradOutput: Tensor(shape: [count], values: dy), gradInput: separate)
                XCTAssertEqual(separate.array.map(\.bitPattern), expected.map(\.bitPattern), "\(count) elements, \(threads) threads")
                let inPlace = Tensor(shape: [count], values: dy)
                backend.reluBackward(output: output, gradOutput: inPlace, gradInput: inPlace)
                XCTAssertEqual(inPlace.array.map(\.bitPattern), expected.map(\.bitPattern), "in place, \(count) elements")
            }
        }
    }

    func testMaxPoolRoutesGradientToTheFirstMaximum() {
        let backend = CPUBackend(threads: 1)
        // A constant image: every window ties, so the gradient must go to each window's first pixel.
        let g = PoolGeometry(batch: 1, height: 4, width: 4, channels: 1, kernelSize: 3, stride: 2, padding: 1)
        let x = Tensor(shape: [1, 4, 4, 1], values: [Float](repeating: 2, count: 16))
        let y = Tensor(zeros: g.outputShape)
        backend.maxPoolForward(input: x, output: y, geometry: g)
        XCTAssertEqual(y.array, [2, 2, 2, 2])
        let dx = Tensor(zeros: [1, 4, 4, 1])
        backend.maxPoolBackward(input: x, output: y, gradOutput: Tensor(shape: [1, 2, 2, 1], values: [1, 2, 3, 4]),
                                gradInput: dx, geometry: g)
        // Window (0,0) covers rows/cols -1...1 → first valid pixel (0,0); window (0,1) starts at col 1.
        XCTAssertEqual(dx.array, [1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    func testSoftmaxCrossEntropyValueAndGradient() {
        let backend = CPUBackend(threads: 1)
        let logits = Tensor(shape: [2, 3], values: [1, 2, 3, 0, 0, 0])
        let grad = Tensor(zeros: [2, 3])
        let loss = backend.softmaxCrossEntropy(logits: logits, labels: [2, 0], gradLogits: grad)
        let p = [exp(1.0), exp(2.0), exp(3.0)].map { $0 / (exp(1.0) + exp(2.0) + exp(3.0)) }
        XCTAssertEqual(loss, (-log(p[2]) + log(3.0)) / 2, accuracy: 1e-9)
        XCTAssertLessThan(relativeError(grad.array, [p[0] / 2, p[1] / 2, (p[2] - 1) / 2, (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6]), 1e-6)
    }

    func testSGDMatchesPyTorchFormula() {
        let backend = CPUBackend(threads: 1)
        for nesterov in [false, true] {
            let p = Tensor(shape: [2], values: [1, -2]), g = Tensor(shape: [2], values: [0.5, 0.25]), v = Tensor(zeros: [2])
            var pr = [1.0, -2.0], vr = [0.0, 0.0]
            for _ in 0..<3 {
                backend.sgdStep(parameters: p, gradients: g, momentumBuffer: v, learningRate: 0.1, momentum: 0.9,
                                weightDecay: 0.01, nesterov: nesterov)
                for i in 0..<2 {
                    let d = [0.5, 0.25][i] + 0.01 * pr[i]
                    vr[i] = 0.9 * vr[i] + d
                    pr[i] -= 0.1 * (nesterov ? d + 0.9 * vr[i] : vr[i])
                }
            }
            XCTAssertLessThan(relativeError(p.array, pr), 1e-6)
        }
    }

    /// LARS per-tensor update against its float64 loop, with two threads over a buffer large enough to split.
    func testLARSStepMatchesFloat64Loop() {
        let backend = CPUBackend(threads: 2)
        let n = 70_000
        let p0 = randomValues(n, seed: 11), g = randomValues(n, seed: 12)
        let p = tensor([n], p0), gt = tensor([n], g), v = Tensor(zeros: [n])
        var pr = p0.map { Double(Float($0)) }, vr = [Double](repeating: 0, count: n)
        let gr = g.map { Double(Float($0)) }
        for (lr, wd, ratio) in [(0.3, 0.01, 0.07), (0.3, 0.0, 1.0), (0.1, 0.01, 0.5)] {
            backend.larsStep(parameters: p, gradients: gt, momentumBuffer: v, learningRate: Float(lr), momentum: 0.9,
                             weightDecay: Float(wd), trustRatio: Float(ratio))
            for i in 0..<n {
                let d = ratio * (gr[i] + wd * pr[i])
                vr[i] = 0.9 * vr[i] + d
                pr[i] -= lr * vr[i]
            }
        }
        XCTAssertLessThan(relativeError(p.array, pr), 1e-6)
        XCTAssertLessThan(relativeError(v.array, vr), 1e-6)
    }

    /// AdamW against its float64 loop (PyTorch's formula written out), three steps with bias correction.
    func testAdamWStepMatchesFloat64Loop() {
        let backend = CPUBackend(threads: 2)
        let n = 70_000
        let p0 = randomValues(n, seed: 13)
        let p = tensor([n], p0), m = Tensor(zeros: [n]), v = Tensor(zeros: [n])
        var pr = p0.map { Double(Float($0)) }, mr = [Double](repeating: 0, count: n), vr = mr
        let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.999, 1e-8, 0.05)
        for step in 1...3 {
            let g = randomValues(n, seed: 20 + UInt64(step))
            backend.adamwStep(parameters: p, gradients: tensor([n], g), firstMoment: m, secondMoment: v,
                              learningRate: Float(lr), beta1: b1, beta2: b2, epsilon: Float(eps),
                              weightDecay: Float(wd), step: step)
            for i in 0..<n {
                let gi = Double(Float(g[i]))
                pr[i] *= 1 - lr * wd
                mr[i] = b1 * mr[i] + (1 - b1) * gi
                vr[i] = b2 * vr[i] + (1 - b2) * gi * gi
                let mHat = mr[i] / (1 - pow(b1, Double(step))), vHat = vr[i] / (1 - pow(b2, Double(step)))
                pr[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
        }
        XCTAssertLessThan(relativeError(p.array, pr), 1e-6)
        XCTAssertLessThan(relativeError(m.array, mr), 1e-6)
        XCTAssertLessThan(relativeError(v.array, vr), 1e-6)
    }
}
