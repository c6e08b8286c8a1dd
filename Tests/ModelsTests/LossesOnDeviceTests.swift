import Engine
@testable import Models
import Foundation
import XCTest

/// The device forms of NT-Xent, VICReg and BYOL (every step a backend op) against the host losses, on the
/// CPU backend, which runs the same ops: losses, terms and both views' gradients agree (NT-Xent also with a
/// row whose norm is clamped), and on 2 and 3 ranks (threads, `ThreadRanks`) each rank's loss and gradients
/// are the single-process loss's on the global batch. The emulated GPU runs them inside the methods' steps
/// (`MethodStepComparisonTests`, and over emulated NCCL in `TrainerOnGPUReleaseTests`) and the kernels
/// alone (`RowKernelTests`).
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

    /// The backend's row normalisation against `F.normalize(x, dim=1)` written out here in double (ε = 1e-12),
    /// and its backward against central differences of `Σ dy·normalize(x)`; a zero row stays zero and its
    /// gradient is dy/ε (PyTorch's: the clamped norm is a constant).
    func testRowNormalisationMatchesItsFormula() {
        var random = RandomGenerator(seed: 3)
        let x = Tensor(shape: [5, 6], values: (0..<30).map { _ in Float(random.normal()) })
        for j in 0..<6 { x.pointer[2 * 6 + j] = 0 }
        let dy = Tensor(shape: [5, 6], values: (0..<30).map { _ in Float(random.normal()) })
        let y = Tensor(zeros: [5, 6]), rowNorms = Tensor(zeros: [5]), dx = Tensor(zeros: [5, 6])
        backend.l2NormalizeRows(input: x, output: y, norms: rowNorms)
        backend.l2NormalizeRowsBackward(gradOutput: dy, output: y, norms: rowNorms, gradInput: dx)
        func normalized(_ v: [Double]) -> [Double] {
            let norm = max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            return v.map { $0 / norm }
        }
        for row in 0..<5 {
            let v = (0..<6).map { Double(x.pointer[row * 6 + $0]) }, g = (0..<6).map { Double(dy.pointer[row * 6 + $0]) }
            let expected = normalized(v)
            for j in 0..<6 { XCTAssertEqual(Double(y.pointer[row * 6 + j]), expected[j], accuracy: 1e-7, "row \(row)") }
            guard row != 2 else {
                for j in 0..<6 { XCTAssertEqual(Double(dx.pointer[row * 6 + j]), g[j] / 1e-12, accuracy: 1e-6 * abs(g[j] / 1e-12)) }
                continue
            }
            for j in 0..<6 {
                let h = 1e-6
                var plus = v, minus = v
                plus[j] += h; minus[j] -= h
                let up = zip(normalized(plus), g).reduce(0) { $0 + $1.0 * $1.1 }
                let down = zip(normalized(minus), g).reduce(0) { $0 + $1.0 * $1.1 }
                XCTAssertEqual(Double(dx.pointer[row * 6 + j]), (up - down) / (2 * h), accuracy: 1e-5, "row \(row), column \(j)")
            }
        }
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

    /// BYOL's ‖p̂ − t̂‖² form equals `BYOLLoss`'s 2 − 2·cos, loss and gradients, with each target beside the
    /// other view's prediction; the loss share over `globalBatch` rows is the loss times B/globalBatch.
    func testBYOLDeviceFormEqualsTheHostLoss() {
        let b = 6, d = 9
        var random = RandomGenerator(seed: 23)
        func rows() -> Tensor { Tensor(shape: [b, d], values: (0..<(b * d)).map { _ in Float(random.normal()) }) }
        let p1 = rows(), p2 = rows(), t1 = rows(), t2 = rows()
        let host = BYOLLoss().forward(p1: p1, p2: p2, target1: t1, target2: t2)
        let device = BYOLOnDevice(backend: backend)
        for globalBatch in [b, 3 * b] {
            device.setTarget(t1, ofView: 1)
            device.setTarget(t2, ofView: 2)
            let got = device.forward(p1: p1, p2: p2, globalBatch: globalBatch)
            let share = Double(b) / Double(globalBatch)
            XCTAssertEqual(got.loss, host.loss * share, accuracy: 1e-6 * host.loss, "global batch \(globalBatch)")
            XCTAssertLessThan(relativeError(got.gradP1.array, host.gradP1.array.map { $0 * Float(share) }), 1e-5, "∂p1")
            XCTAssertLessThan(relativeError(got.gradP2.array, host.gradP2.array.map { $0 * Float(share) }), 1e-5, "∂p2")
        }
    }

    /// R ranks of B rows each (threads): every rank's NT-Xent and VICReg loss is the single-process loss on
    /// the R·B rows, and its gradients are that loss's gradients of its own rows.
    func testDeviceFormsOverRanksEqualTheLossOnTheGlobalBatch() {
        let b = 3, d = 7
        for ranks in [2, 3] {
            var random = RandomGenerator(seed: UInt64(ranks))
            let n = ranks * b
            let z1 = Tensor(shape: [n, d], values: (0..<(n * d)).map { Float(random.normal() * ($0 % d < 3 ? 2 : 0.5)) })
            let z2 = Tensor(shape: [n, d], values: (0..<(n * d)).map { Float(random.normal() * ($0 % d < 2 ? 1.5 : 0.7)) })
            let ntXent = NTXentLoss(temperature: 0.2).forward(z1: z1, z2: z2, backend: backend)
            let vicReg = VICRegLoss().forward(z1: z1, z2: z2, backend: backend)
            let results = RankResults(ranks)
            ThreadRanks(size: ranks).run { group in
                let cpu = CPUBackend(threads: 1)
                let own = (group.rank * b)..<((group.rank + 1) * b)
                let x1 = copied(z1.rows(own)), x2 = copied(z2.rows(own))
                let contrastive = NTXentOnDevice(temperature: 0.2, backend: cpu).forward(z1: x1, z2: x2, group: group)
                let regularized = VICRegOnDevice(loss: VICRegLoss(), backend: cpu).forward(z1: x1, z2: x2, group: group)
                results.set(group.rank, [contrastive.loss, regularized.loss],
                            [contrastive.gradZ1, contrastive.gradZ2, regularized.gradZ1, regularized.gradZ2].map(\.array))
            }
            for rank in 0..<ranks {
                let (losses, gradients) = results.get(rank)
                let own = (rank * b)..<((rank + 1) * b)
                XCTAssertEqual(losses[0], ntXent.loss, accuracy: 1e-6 * ntXent.loss, "NT-Xent, rank \(rank) of \(ranks)")
                XCTAssertEqual(losses[1], vicReg.loss, accuracy: 1e-5 * vicReg.loss, "VICReg, rank \(rank) of \(ranks)")
                let expected = [ntXent.gradZ1, ntXent.gradZ2, vicReg.gradZ1, vicReg.gradZ2].map { $0.rows(own).array }
                for (index, name) in ["NT-Xent ∂z1", "NT-Xent ∂z2", "VICReg ∂z1", "VICReg ∂z2"].enumerated() {
                    XCTAssertLessThan(relativeError(gradients[index], expected[index]), 1e-5, "\(name), rank \(rank) of \(ranks)")
                }
            }
        }
    }

    /// The backend's regulariser (which the host loss calls too) against its formula written out here in
    /// double: G = ∂(μ·v/2 + ν·c)/∂C, zero on the diagonal where the hinge is off, and per-row terms
    /// `[relu(1 − sqrt(C_dd + ε)), Σ_{j≠d} C_dj²]` that `branchTerms` turns into v and c.
    func testCovarianceRegularizerMatchesItsFormula() {
        let b = 7, d = 10
        var random = RandomGenerator(seed: 19)
        let z = Tensor(shape: [b, d], values: (0..<(b * d)).map { Float(random.normal() * ($0 % d < 4 ? 2.0 : 0.5)) })
        let mean = VICRegLoss.columnSums(z).map { $0 / Double(b) }
        let scatter = VICRegLoss.centredScatter(z, mean: mean, backend: backend)
        let loss = VICRegLoss()
        let gradient = Tensor(zeros: [d, d]), terms = Tensor(zeros: [d, 2])
        backend.covarianceRegularizer(scatter: scatter, count: b, epsilon: loss.epsilon, varianceWeight: loss.varianceWeight,
                                      covarianceWeight: loss.covarianceWeight, gradient: gradient, rowTerms: terms)
        var expectedGradient = [Float](repeating: 0, count: d * d), variance = 0.0, covariance = 0.0
        var hinges = 0
        for i in 0..<d {
            for j in 0..<d {
                let c = Double(scatter.pointer[i * d + j]) / Double(b - 1)
                if i != j {
                    covariance += c * c
                    expectedGradient[i * d + j] = Float(loss.covarianceWeight * 2 * c / Double(d))
                } else if (c + loss.epsilon).squareRoot() < 1 {
                    let std = (c + loss.epsilon).squareRoot()
                    variance += 1 - std
                    hinges += 1
                    expectedGradient[i * d + i] = Float(-loss.varianceWeight / 2 / (2 * Double(d) * std))
                }
            }
        }
        XCTAssertTrue(hinges > 0 && hinges < d, "some hinges active, some not: \(hinges) of \(d)")
        XCTAssertLessThan(relativeError(gradient.array, expectedGradient), 1e-6)
        let summed = VICRegLoss.branchTerms(rowTerms: terms)
        XCTAssertEqual(summed.variance, variance / Double(d), accuracy: 1e-6 * variance / Double(d))
        XCTAssertEqual(summed.covariance, covariance / Double(d), accuracy: 1e-6 * covariance / Double(d))
        let host = loss.regularizer(scatter: scatter, count: b, backend: backend)
        XCTAssertEqual(host.gradCovariance.array, gradient.array)
        XCTAssertEqual(host.variance, summed.variance)
    }

    func relativeError(_ got: [Float], _ expected: [Float]) -> Double {
        let scale = Double(expected.map { abs($0) }.max() ?? 0)
        return zip(got, expected).map { Double(abs($0 - $1)) }.max()! / max(scale, 1e-30)
    }
}

/// What each rank's thread hands back.
final class RankResults: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [(losses: [Double], gradients: [[Float]])]

    init(_ ranks: Int) { values = Array(repeating: ([], []), count: ranks) }

    func set(_ rank: Int, _ losses: [Double], _ gradients: [[Float]]) {
        lock.lock(); defer { lock.unlock() }
        values[rank] = (losses, gradients)
    }

    func get(_ rank: Int) -> (losses: [Double], gradients: [[Float]]) {
        lock.lock(); defer { lock.unlock() }
        return values[rank]
    }
}
