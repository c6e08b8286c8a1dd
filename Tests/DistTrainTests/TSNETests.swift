import Engine
import Foundation
import XCTest
@testable import DistTrain

/// t-SNE against scikit-learn's exact t-SNE (fixture from scripts/make_golden_tsne.py), finite
/// differences of the KL objective, the perplexity of P's rows, and separation of clear clusters.
final class TSNETests: XCTestCase {
    struct Fixture: Decodable {
        let n: Int, d: Int, perplexity: Double
        let x: [Double]
        let conditional_p: [Double], joint_p: [Double]
        let y0: [Double], kl0: Double, grad0: [Double]
        let start: [Double], after_phase1: [Double], after_phase2: [Double], kl_end: Double
    }

    func fixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "tsne_sklearn", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func assertClose(_ got: [Double], _ want: [Double], rtol: Double, atol: Double, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        var worst = 0.0, at = 0
        for (index, (a, b)) in zip(got, want).enumerated() {
            let excess = abs(a - b) - (atol + rtol * abs(b))
            if excess > worst { worst = excess; at = index }
        }
        XCTAssertEqual(worst, 0, "\(what): element \(at) is \(got[at]), expected \(want[at])", file: file, line: line)
    }

    func testConditionalRowsHaveTheRequestedPerplexityAndMatchScikitLearn() throws {
        let f = try fixture()
        let conditional = TSNEAffinities.conditional(f.x, count: f.n, dimension: f.d, perplexity: f.perplexity)
        for i in 0..<f.n {
            let row = conditional[(i * f.n)..<((i + 1) * f.n)]
            XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-12, "row \(i) sums to 1")
            XCTAssertEqual(conditional[i * f.n + i], 0, "no self-affinity")
            let entropy = -row.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
            XCTAssertEqual(entropy, log(f.perplexity), accuracy: TSNEAffinities.entropyTolerance, "row \(i): perplexity \(exp(entropy))")
        }
        assertClose(conditional, f.conditional_p, rtol: 1e-9, atol: 1e-15, "conditional P")
        // Two other perplexities on random high-dimensional points (large distances: no underflow).
        var random = RandomGenerator(seed: 11)
        let x = (0..<(40 * 64)).map { _ in 30 * random.normal() }
        for perplexity in [3.0, 15.0] {
            let p = TSNEAffinities.conditional(x, count: 40, dimension: 64, perplexity: perplexity)
            for i in 0..<40 {
                let entropy = -p[(i * 40)..<((i + 1) * 40)].reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
                XCTAssertEqual(entropy, log(perplexity), accuracy: TSNEAffinities.entropyTolerance, "perplexity \(perplexity) row \(i)")
            }
        }
    }

    func testJointPMatchesScikitLearn() throws {
        let f = try fixture()
        let joint = TSNEAffinities.joint(f.x, count: f.n, dimension: f.d, perplexity: f.perplexity,
                                         pool: ThreadPool(threadCount: 2))
        assertClose(joint, f.joint_p, rtol: 1e-9, atol: 1e-18, "joint P")
        XCTAssertEqual(joint.reduce(0, +), 1, accuracy: 1e-12)
        for i in 0..<f.n { for j in 0..<f.n { XCTAssertEqual(joint[i * f.n + j], joint[j * f.n + i]) } }
    }

    func testGradientMatchesScikitLearnAndFiniteDifferences() throws {
        let f = try fixture()
        let (gradient, kl) = TSNE.gradient(p: f.joint_p, y: f.y0, count: f.n, exaggeration: 1, wantKL: true,
                                           pool: ThreadPool(threadCount: 2))
        assertClose(gradient, f.grad0, rtol: 1e-10, atol: 1e-15, "gradient")
        XCTAssertEqual(kl, f.kl0, accuracy: 1e-12 * f.kl0)
        // Central differences of a plain KL(P‖Q) (float64, Q built as a whole matrix).
        let h = 1e-5
        for k in 0..<(f.n * 2) {
            var plus = f.y0, minus = f.y0
            plus[k] += h
            minus[k] -= h
            let numeric = (naiveKL(f.joint_p, plus, f.n) - naiveKL(f.joint_p, minus, f.n)) / (2 * h)
            XCTAssertEqual(gradient[k], numeric, accuracy: 1e-7 + 1e-6 * abs(numeric), "coordinate \(k)")
        }
        // With exaggeration α the gradient is that of C = −α Σ p_ij log w_ij + log Z (the KL's terms
        // that depend on Y, with P scaled by α but Q still normalised).
        let exaggerated = TSNE.gradient(p: f.joint_p, y: f.y0, count: f.n, exaggeration: 12, wantKL: false,
                                        pool: ThreadPool(threadCount: 1)).gradient
        for k in [0, 7, 31] {
            var plus = f.y0, minus = f.y0
            plus[k] += h
            minus[k] -= h
            let numeric = (exaggeratedObjective(f.joint_p, plus, f.n, 12) - exaggeratedObjective(f.joint_p, minus, f.n, 12)) / (2 * h)
            XCTAssertEqual(exaggerated[k], numeric, accuracy: 1e-7 + 1e-6 * abs(numeric), "exaggerated coordinate \(k)")
        }
    }

    func testOptimisationFollowsScikitLearnsGradientDescent() throws {
        let f = try fixture()
        var tsne = TSNE()
        tsne.learningRate = 2  // as the fixture; see make_golden_tsne.py for why not 50
        tsne.exaggerationIterations = 30
        tsne.iterations = 30
        let phase1 = tsne.embed(p: f.joint_p, count: f.n, initial: f.start)
        assertClose(phase1.y, f.after_phase1, rtol: 1e-8, atol: 1e-12, "after the exaggerated phase")
        tsne.iterations = 60
        tsne.pool = ThreadPool(threadCount: 2)
        let both = tsne.embed(p: f.joint_p, count: f.n, initial: f.start)
        assertClose(both.y, f.after_phase2, rtol: 1e-8, atol: 1e-12, "after both phases")
        XCTAssertEqual(both.history.last!.iteration, 60)
        XCTAssertEqual(both.history.last!.kl, f.kl_end, accuracy: 1e-8 * f.kl_end)
    }

    /// Four Gaussian clusters (σ 1, centres 12 apart in 10-D) from a random start: the 2-D map keeps
    /// them apart (leave-one-out 5-NN accuracy ≥ 0.95; it is at chance at the start) and the KL
    /// divergence falls.
    func testSeparatedClustersStaySeparatedAndKLDecreases() {
        var random = RandomGenerator(seed: 3)
        let perCluster = 30, clusters = 4, d = 10, n = perCluster * clusters
        var x: [Double] = [], labels: [Int] = []
        for c in 0..<clusters {
            let centre = (0..<d).map { _ in 12 / Double(2).squareRoot() * random.normal() }
            for _ in 0..<perCluster {
                x += centre.map { $0 + random.normal() }
                labels.append(c)
            }
        }
        let p = TSNEAffinities.joint(x, count: n, dimension: d, perplexity: 10)
        let start = TSNE.randomInitial(count: n, seed: 5)
        XCTAssertLessThan(knnAccuracy(start, labels), 0.6, "a random start mixes the clusters")
        let result = TSNE(pool: ThreadPool(threadCount: 2)).embed(p: p, count: n, initial: start)
        XCTAssertGreaterThanOrEqual(knnAccuracy(result.y, labels), 0.95)
        let kl = result.history
        XCTAssertEqual(kl.first!.iteration, 0)
        XCTAssertEqual(kl.last!.iteration, 1000)
        XCTAssertLessThan(kl.last!.kl, kl.first!.kl / 2, "\(kl)")
        let afterExaggeration = kl.filter { $0.iteration >= 300 }
        for (a, b) in zip(afterExaggeration, afterExaggeration.dropFirst()) {
            XCTAssertLessThanOrEqual(b.kl, a.kl + 1e-9, "KL rose from iteration \(a.iteration) to \(b.iteration): \(kl)")
        }
    }

    func testPCAMatchesTheCovarianceEigenvectors() {
        // Points along known orthogonal directions with variances 9, 4, 1 (plus nothing else) in 3-D.
        var random = RandomGenerator(seed: 9)
        let u: [[Double]] = [[2, 1, 2].map { $0 / 3 }, [1, 2, -2].map { $0 / 3 }, [2, -2, -1].map { $0 / 3 }]
        let n = 400
        var x: [Double] = []
        for _ in 0..<n {
            let a = 3 * random.normal(), b = 2 * random.normal(), c = random.normal()
            x += (0..<3).map { 5 + a * u[0][$0] + b * u[1][$0] + c * u[2][$0] }
        }
        let pca = PCA(x, count: n, dimension: 3, components: 3)
        // Eigen-equation on the sample covariance, checked with a plain loop.
        var covariance = [Double](repeating: 0, count: 9)
        for i in 0..<n { for a in 0..<3 { for b in 0..<3 {
            covariance[a * 3 + b] += (x[i * 3 + a] - pca.mean[a]) * (x[i * 3 + b] - pca.mean[b]) / Double(n - 1)
        } } }
        for k in 0..<3 {
            let v = (0..<3).map { pca.components[k * 3 + $0] }
            for a in 0..<3 {
                let cv = (0..<3).reduce(0) { $0 + covariance[a * 3 + $1] * v[$1] }
                XCTAssertEqual(cv, pca.explainedVariance[k] * v[a], accuracy: 1e-10)
            }
            XCTAssertEqual(abs(zip(v, u[k]).reduce(0) { $0 + $1.0 * $1.1 }), 1, accuracy: 0.02, "component \(k)")
        }
        // Each component's variance is that of the projected data, in decreasing order.
        let projected = pca.transform(x, count: n)
        for k in 0..<3 {
            let column = (0..<n).map { projected[$0 * 3 + k] }
            XCTAssertEqual(column.reduce(0, +) / Double(n), 0, accuracy: 1e-12)
            XCTAssertEqual(column.reduce(0) { $0 + $1 * $1 } / Double(n - 1), pca.explainedVariance[k], accuracy: 1e-9)
        }
        XCTAssertGreaterThan(pca.explainedVariance[0], pca.explainedVariance[1])
        XCTAssertGreaterThan(pca.explainedVariance[1], pca.explainedVariance[2])
        let y = TSNE.pcaInitial(x, count: n, dimension: 3)
        let first = stride(from: 0, to: 2 * n, by: 2).map { y[$0] }
        let mean = first.reduce(0, +) / Double(n)
        XCTAssertEqual((first.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)).squareRoot(), 1e-4, accuracy: 1e-12)
    }

    /// KL(P‖Q) = Σ_{i≠j} p_ij log(p_ij / q_ij), Q built in full.
    func naiveKL(_ p: [Double], _ y: [Double], _ n: Int) -> Double {
        var w = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n where i != j {
            let dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1]
            w[i * n + j] = 1 / (1 + dx * dx + dy * dy)
        } }
        let z = w.reduce(0, +)
        var kl = 0.0
        for i in 0..<n { for j in 0..<n where i != j { kl += p[i * n + j] * log(p[i * n + j] / (w[i * n + j] / z)) } }
        return kl
    }

    /// −α Σ_{i≠j} p_ij log w_ij + log Σ_{i≠j} w_ij.
    func exaggeratedObjective(_ p: [Double], _ y: [Double], _ n: Int, _ alpha: Double) -> Double {
        var attraction = 0.0, z = 0.0
        for i in 0..<n { for j in 0..<n where i != j {
            let dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1]
            let w = 1 / (1 + dx * dx + dy * dy)
            attraction -= alpha * p[i * n + j] * log(w)
            z += w
        } }
        return attraction + log(z)
    }

    /// Leave-one-out accuracy of a 5-nearest-neighbour majority vote in the 2-D map.
    func knnAccuracy(_ y: [Double], _ labels: [Int]) -> Double {
        let n = labels.count
        var correct = 0
        for i in 0..<n {
            func distance(_ j: Int) -> Double {
                let dx = y[2 * j] - y[2 * i], dy = y[2 * j + 1] - y[2 * i + 1]
                return dx * dx + dy * dy
            }
            let nearest = (0..<n).filter { $0 != i }.sorted { distance($0) < distance($1) }.prefix(5)
            var votes = [Int: Int]()
            for j in nearest { votes[labels[j], default: 0] += 1 }
            if votes.max(by: { $0.value < $1.value })!.key == labels[i] { correct += 1 }
        }
        return Double(correct) / Double(n)
    }
}
