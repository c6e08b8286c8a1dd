import Engine
@testable import Models
import XCTest

/// The device forms of NT-Xent and VICReg (every step a backend op) against the host losses, on the CPU
/// backend, which runs the same ops: losses, terms and both views' gradients agree (NT-Xent also with a row
/// whose norm is clamped). The emulated GPU runs them inside the methods' steps (`MethodStepComparisonTests`)
/// and the kernels alone (`RowKernelTests`).
final class LossesOnDeviceTests: XCTestCase {
    let backend = CPUBackend(threads: 1)

    func testDeviceFormEqualsTheHostLoss() {
        for (b, d) in [(4, 8), (7, 33)] {
            var random = RandomGenerator(seed: UInt64(10 * b + d))
            let z1 = Tensor(shape: [b, d], values: (0..<(b * d)).map { _ in Float(random.normal()) })
            let z2 = Tensor(shape: [b, d], values: (0..<(b * d)).map { _ in Float(random.normal()) })
            if b == 7 { for j in 0..<d { z2.pointer[3 * d + j] = 0 } }  // a zero embedding: its norm is clamped
            let host = NTXentLoss(temperature: 0.2).forward(z1: z1, z2: z2, backend: backend)
            let device = NTXentOnDevice(temperature: 0.2, backend: backend)
            for _ in 0..<2 {  // the second call reuses the buffers
                let got = device.forward(z1: z1, z2: z2)
                XCTAssertEqual(got.loss, host.loss, accuracy: 1e-6 * host.loss, "B \(b), D \(d)")
                XCTAssertLessThan(relativeError(got.gradZ1.array, host.gradZ1.array), 1e-5, "B \(b), D \(d): ∂z1")
                XCTAssertLessThan(relativeError(got.gradZ2.array, host.gradZ2.array), 1e-5, "B \(b), D \(d): ∂z2")
            }
        }
    }

    /// The backend's row normalisation is `L2Normalization`'s (the host loss's), forward and backward.
    func testRowNormalisationMatchesL2Normalization() {
        var random = RandomGenerator(seed: 3)
        let x = Tensor(shape: [5, 6], values: (0..<30).map { _ in Float(random.normal()) })
        for j in 0..<6 { x.pointer[2 * 6 + j] = 0 }
        let dy = Tensor(shape: [5, 6], values: (0..<30).map { _ in Float(random.normal()) })
        let expected = Tensor(zeros: [5, 6]), expectedGradient = Tensor(zeros: [5, 6])
        let norms = L2Normalization.forward(x, into: expected)
        L2Normalization.backward(gradOutput: dy, output: expected, norms: norms, gradInput: expectedGradient)
        let y = Tensor(zeros: [5, 6]), rowNorms = Tensor(zeros: [5]), dx = Tensor(zeros: [5, 6])
        backend.l2NormalizeRows(input: x, output: y, norms: rowNorms)
        backend.l2NormalizeRowsBackward(gradOutput: dy, output: y, norms: rowNorms, gradInput: dx)
        XCTAssertEqual(y.array, expected.array)
        XCTAssertEqual(rowNorms.array, norms.map { Float($0) })
        XCTAssertLessThan(relativeError(dx.array, expectedGradient.array), 1e-6)
        let square = Tensor(shape: [3, 3], values: (0..<9).map(Float.init))
        backend.fillDiagonal(square, with: -.infinity)
        XCTAssertEqual(square.array, [-.infinity, 1, 2, 3, -.infinity, 5, 6, 7, -.infinity])
    }

    /// 12 dimensions, some with a spread above 1 (their variance hinge inactive), some below.
    func testVICRegDeviceFormEqualsTheHostLoss() {
        let b = 9, d = 12
        var random = RandomGenerator(seed: 17)
        let z1 = Tensor(shape: [b, d], values: (0..<(b * d)).map { Float(random.normal() * ($0 % d < 5 ? 2.5 : 0.4) + 0.3) })
        let z2 = Tensor(shape: [b, d], values: (0..<(b * d)).map { Float(random.normal() * ($0 % d < 3 ? 1.8 : 0.6)) })
        let loss = VICRegLoss()
        let host = loss.forward(z1: z1, z2: z2, backend: backend)
        let device = VICRegOnDevice(loss: loss, backend: backend)
        for _ in 0..<2 {
            let got = device.forward(z1: z1, z2: z2)
            XCTAssertEqual(got.loss, host.loss, accuracy: 1e-5 * host.loss)
            for (name, value) in got.terms {
                let expected = host.terms.first { $0.name == name }!.value
                XCTAssertEqual(value, expected, accuracy: 1e-5 * abs(expected), name)
            }
            XCTAssertGreaterThan(host.variance, 0, "some hinges are active")
            XCTAssertLessThan(relativeError(got.gradZ1.array, host.gradZ1.array), 1e-5, "∂z1")
            XCTAssertLessThan(relativeError(got.gradZ2.array, host.gradZ2.array), 1e-5, "∂z2")
        }
    }

    /// The backend's regulariser writes the host regulariser's G and per-row terms that sum to its v and c.
    func testCovarianceRegularizerMatchesTheHostOne() {
        let b = 7, d = 10
        var random = RandomGenerator(seed: 19)
        let z = Tensor(shape: [b, d], values: (0..<(b * d)).map { Float(random.normal() * ($0 % d < 4 ? 2.0 : 0.5)) })
        let mean = VICRegLoss.columnSums(z).map { $0 / Double(b) }
        let scatter = VICRegLoss.centredScatter(z, mean: mean, backend: backend)
        let loss = VICRegLoss()
        let host = loss.regularizer(scatter: scatter, count: b)
        let gradient = Tensor(zeros: [d, d]), terms = Tensor(zeros: [d, 2])
        backend.covarianceRegularizer(scatter: scatter, count: b, epsilon: loss.epsilon, varianceWeight: loss.varianceWeight,
                                      covarianceWeight: loss.covarianceWeight, gradient: gradient, rowTerms: terms)
        XCTAssertEqual(gradient.array, host.gradCovariance.array)
        let variance = (0..<d).reduce(0.0) { $0 + Double(terms.pointer[2 * $1]) } / Double(d)
        let covariance = (0..<d).reduce(0.0) { $0 + Double(terms.pointer[2 * $1 + 1]) } / Double(d)
        XCTAssertEqual(variance, host.variance, accuracy: 1e-6 * host.variance)
        XCTAssertEqual(covariance, host.covariance, accuracy: 1e-6 * host.covariance)
    }

    func relativeError(_ got: [Float], _ expected: [Float]) -> Double {
        let scale = Double(expected.map { abs($0) }.max() ?? 0)
        return zip(got, expected).map { Double(abs($0 - $1)) }.max()! / max(scale, 1e-30)
    }
}
