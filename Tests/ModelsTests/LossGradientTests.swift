import XCTest
@testable import Engine
@testable import Models

/// The losses' analytic gradients against central finite differences of float64 reference loops (each
/// loss written out the obvious way below), the MLP heads' backward against finite differences, the
/// block/shard decompositions the distributed losses will rely on, and the methods' plumbing (shared
/// buffers of the two view copies, BYOL's τ schedule and EMA, determinism).
final class LossGradientTests: XCTestCase {
    let backend = CPUBackend(threads: 2)

    // MARK: Float64 references

    /// Row i of the 2B rows [z1; z2] (row-major `[B, D]` each), L2-normalised.
    static func normalizedRows(_ z1: [Double], _ z2: [Double], d: Int) -> [[Double]] {
        let all = z1 + z2
        return (0..<(all.count / d)).map { i in
            let row = Array(all[(i * d)..<((i + 1) * d)])
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return row.map { $0 / norm }
        }
    }

    static func ntxent(_ z1: [Double], _ z2: [Double], d: Int, temperature: Double) -> Double {
        let rows = normalizedRows(z1, z2, d: d), n = rows.count, b = n / 2
        func sim(_ i: Int, _ j: Int) -> Double { zip(rows[i], rows[j]).reduce(0) { $0 + $1.0 * $1.1 } / temperature }
        var loss = 0.0
        for i in 0..<n {
            let others = (0..<n).filter { $0 != i }.map { exp(sim(i, $0)) }.reduce(0, +)
            loss += log(others) - sim(i, (i + b) % n)
        }
        return loss / Double(n)
    }

    static func vicreg(_ z1: [Double], _ z2: [Double], d: Int, weights: (Double, Double, Double)) -> Double {
        let b = z1.count / d
        let invariance = zip(z1, z2).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(b * d)
        func branch(_ z: [Double]) -> (Double, Double) {
            let mean = (0..<d).map { j in (0..<b).reduce(0) { $0 + z[$1 * d + j] } / Double(b) }
            func cov(_ i: Int, _ j: Int) -> Double {
                (0..<b).reduce(0) { $0 + (z[$1 * d + i] - mean[i]) * (z[$1 * d + j] - mean[j]) } / Double(b - 1)
            }
            var variance = 0.0, covariance = 0.0
            for i in 0..<d {
                variance += max(0, 1 - (cov(i, i) + 1e-4).squareRoot())
                for j in 0..<d where j != i { covariance += cov(i, j) * cov(i, j) }
            }
            return (variance / Double(d), covariance / Double(d))
        }
        let (v1, c1) = branch(z1), (v2, c2) = branch(z2)
        return weights.0 * invariance + weights.1 * (v1 + v2) / 2 + weights.2 * (c1 + c2)
    }

    static func byol(_ p: [Double], _ t: [Double], d: Int) -> Double {
        let b = p.count / d
        var total = 0.0
        for row in 0..<b {
            let x = p[(row * d)..<((row + 1) * d)], y = Array(t[(row * d)..<((row + 1) * d)])
            let dot = zip(x, y).reduce(0) { $0 + $1.0 * $1.1 }
            let nx = x.reduce(0) { $0 + $1 * $1 }.squareRoot(), ny = y.reduce(0) { $0 + $1 * $1 }.squareRoot()
            total += 2 - 2 * dot / (nx * ny)
        }
        return total / Double(b)
    }

    static func bce(_ x: [Double], _ y: [Double]) -> Double {
        zip(x, y).reduce(0) { total, pair in
            let sigmoid = 1 / (1 + exp(-pair.0))
            return total - (pair.1 * log(sigmoid) + (1 - pair.1) * log(1 - sigmoid))
        } / Double(x.count)
    }

    /// Central differences of `f` at `x`, step `epsilon`, in double.
    func numericGradient(_ f: ([Double]) -> Double, at x: [Double], epsilon: Double = 1e-6) -> [Double] {
        var point = x
        return (0..<x.count).map { i in
            point[i] = x[i] + epsilon; let plus = f(point)
            point[i] = x[i] - epsilon; let minus = f(point)
            point[i] = x[i]
            return (plus - minus) / (2 * epsilon)
        }
    }

    /// Float32-representable random values (so the float and double computations start from the same numbers).
    func values(_ count: Int, seed: UInt64, scale: Double = 1, offset: Double = 0) -> [Double] {
        var g = RandomGenerator(seed: seed)
        return (0..<count).map { _ in Double(Float(g.normal() * scale + offset)) }
    }

    func tensor(_ shape: [Int], _ v: [Double]) -> Tensor { Tensor(shape: shape, values: v.map { Float($0) }) }

    // MARK: Losses against finite differences

    func testNTXentGradientMatchesFiniteDifferences() {
        let b = 5, d = 4, temperature = 0.2
        let z1 = values(b * d, seed: 1), z2 = zip(z1, values(b * d, seed: 2)).map { Double(Float($0 + 0.6 * $1)) }
        let out = NTXentLoss(temperature: temperature).forward(z1: tensor([b, d], z1), z2: tensor([b, d], z2), backend: backend)
        let f = { (x: [Double]) in Self.ntxent(Array(x[0..<(b * d)]), Array(x[(b * d)...]), d: d, temperature: temperature) }
        XCTAssertEqual(out.loss, f(z1 + z2), accuracy: 1e-6 * abs(out.loss))
        let numeric = numericGradient(f, at: z1 + z2)
        XCTAssertLessThan(relativeError(out.gradZ1.array + out.gradZ2.array, numeric), 1e-5)
    }

    func testVICRegGradientMatchesFiniteDifferences() {
        let b = 7, d = 5
        // Column scales 0.4..2: some variance hinges active, some not (none near the kink at std 1).
        let scales = [0.4, 0.6, 1.6, 2.0, 0.5]
        let z1 = values(b * d, seed: 3).enumerated().map { Double(Float($0.element * scales[$0.offset % d] + 0.3)) }
        let z2 = zip(z1, values(b * d, seed: 4)).map { Double(Float($0 + 0.4 * $1)) }
        let loss = VICRegLoss()
        let out = loss.forward(z1: tensor([b, d], z1), z2: tensor([b, d], z2), backend: backend)
        let weights = (loss.invarianceWeight, loss.varianceWeight, loss.covarianceWeight)
        let f = { (x: [Double]) in Self.vicreg(Array(x[0..<(b * d)]), Array(x[(b * d)...]), d: d, weights: weights) }
        XCTAssertEqual(out.loss, f(z1 + z2), accuracy: 1e-6 * abs(out.loss))
        XCTAssertGreaterThan(out.variance, 0, "some hinge is active")
        let numeric = numericGradient(f, at: z1 + z2)
        XCTAssertLessThan(relativeError(out.gradZ1.array + out.gradZ2.array, numeric), 1e-5)
    }

    func testBYOLLossGradientMatchesFiniteDifferences() {
        let b = 4, d = 6
        let p1 = values(b * d, seed: 5), p2 = values(b * d, seed: 6), t1 = values(b * d, seed: 7), t2 = values(b * d, seed: 8)
        let out = BYOLLoss().forward(p1: tensor([b, d], p1), p2: tensor([b, d], p2),
                                     target1: tensor([b, d], t1), target2: tensor([b, d], t2))
        let f = { (x: [Double]) in Self.byol(Array(x[0..<(b * d)]), t2, d: d) + Self.byol(Array(x[(b * d)...]), t1, d: d) }
        XCTAssertEqual(out.loss, f(p1 + p2), accuracy: 1e-6 * abs(out.loss))
        XCTAssertLessThan(relativeError(out.gradP1.array + out.gradP2.array, numericGradient(f, at: p1 + p2)), 1e-5)
    }

    func testBinaryCrossEntropyGradientMatchesFiniteDifferences() {
        let x = values(12, seed: 9, scale: 3), y = (0..<12).map { Double($0 % 3 == 0 ? 1 : 0) }
        let grad = Tensor(zeros: [3, 4])
        let loss = BinaryCrossEntropyWithLogits().forward(logits: tensor([3, 4], x), targets: tensor([3, 4], y), gradLogits: grad)
        XCTAssertEqual(loss, Self.bce(x, y), accuracy: 1e-9)
        XCTAssertLessThan(relativeError(grad.array, numericGradient({ Self.bce($0, y) }, at: x)), 1e-5)
    }

    // MARK: Decompositions the distributed losses rely on

    /// Splitting the anchors into two blocks and summing the blocks' key gradients (plus each block's
    /// anchor gradients on its own rows) gives the single call's gradient, and the losses add up.
    func testNTXentAnchorBlocksSumToTheSingleCall() {
        let b = 6, d = 5, n = 2 * b
        let keys = Tensor(zeros: [n, d])
        backend.l2NormalizeRows(input: tensor([n, d], values(n * d, seed: 10)), output: keys, norms: Tensor(zeros: [n]))
        let loss = NTXentLoss(temperature: 0.2), positives = NTXentLoss.pairedPositives(batch: b)
        func total(_ blocks: [Range<Int>]) -> (Double, [Float]) {
            var sum = 0.0, gradient = [Float](repeating: 0, count: n * d)
            for block in blocks {
                let gradAnchors = Tensor(zeros: [block.count, d]), gradKeys = Tensor(zeros: [n, d])
                sum += loss.anchorsAgainstKeys(keys: keys, anchors: block, positives: Array(positives[block]), normalizer: n,
                                               gradAnchors: gradAnchors, gradKeys: gradKeys, backend: backend)
                for i in 0..<(n * d) { gradient[i] += gradKeys[flat: i] }
                for i in 0..<(block.count * d) { gradient[block.lowerBound * d + i] += gradAnchors[flat: i] }
            }
            return (sum, gradient)
        }
        let (single, singleGradient) = total([0..<n])
        let (split, splitGradient) = total([0..<5, 5..<n])
        XCTAssertEqual(split, single, accuracy: 1e-12 * single)
        XCTAssertLessThan(relativeError(splitGradient, singleGradient.map(Double.init)), 1e-6)
    }

    /// Two "ranks" with 3 images each, laid out as an all-gather of `[ẑ1; ẑ2]` blocks: each rank's
    /// anchors against all keys, key gradients summed over ranks (reduce-scatter), anchor gradients added,
    /// back through the normalisation: the global batch's single-process loss and gradients.
    func testNTXentRankLayoutEqualsSingleProcess() {
        let ranks = 2, local = 3, d = 4, global = ranks * local
        let z1 = values(global * d, seed: 11), z2 = values(global * d, seed: 12)
        let loss = NTXentLoss(temperature: 0.3)
        let reference = loss.forward(z1: tensor([global, d], z1), z2: tensor([global, d], z2), backend: backend)

        let keys = Tensor(zeros: [2 * global, d]), norms = Tensor(zeros: [2 * global])
        for r in 0..<ranks {  // rank r's block: its z1 rows, then its z2 rows
            let rows = (r * local * d)..<((r + 1) * local * d)
            for (view, z) in [z1, z2].enumerated() {
                let block = ((2 * r + view) * local)..<((2 * r + view + 1) * local)
                backend.l2NormalizeRows(input: tensor([local, d], Array(z[rows])), output: keys.rows(block), norms: norms.rows(block))
            }
        }
        var total = 0.0
        var keyGradientSum = [Float](repeating: 0, count: 2 * global * d)
        var anchorGradients: [Tensor] = []
        for r in 0..<ranks {
            let anchors = (2 * r * local)..<(2 * (r + 1) * local)
            let gradAnchors = Tensor(zeros: [2 * local, d]), gradKeys = Tensor(zeros: [2 * global, d])
            total += loss.anchorsAgainstKeys(keys: keys, anchors: anchors,
                                             positives: NTXentLoss.pairedPositives(batch: local, offset: anchors.lowerBound),
                                             normalizer: 2 * global, gradAnchors: gradAnchors, gradKeys: gradKeys, backend: backend)
            for i in 0..<keyGradientSum.count { keyGradientSum[i] += gradKeys[flat: i] }
            anchorGradients.append(gradAnchors)
        }
        XCTAssertEqual(total, reference.loss, accuracy: 1e-9 * reference.loss)
        var gradZ1 = [Float](), gradZ2 = [Float]()
        for r in 0..<ranks {
            let block = 2 * r * local * d
            let rowGradient = Tensor(shape: [2 * local, d], values: (0..<(2 * local * d)).map {
                keyGradientSum[block + $0] + anchorGradients[r][flat: $0]
            })
            for (view, rows) in [(0, 0..<local), (1, local..<(2 * local))] {
                let dz = Tensor(zeros: [local, d])
                let block = (2 * r * local + rows.lowerBound)..<(2 * r * local + rows.upperBound)
                backend.l2NormalizeRowsBackward(gradOutput: rowGradient.rows(rows), output: keys.rows(block),
                                                norms: norms.rows(block), gradInput: dz)
                if view == 0 { gradZ1 += dz.array } else { gradZ2 += dz.array }
            }
        }
        XCTAssertLessThan(relativeError(gradZ1, reference.gradZ1.array.map(Double.init)), 1e-6)
        XCTAssertLessThan(relativeError(gradZ2, reference.gradZ2.array.map(Double.init)), 1e-6)
    }

    /// The regulariser split over threads (rows in chunks) gives the one-thread G and terms bit for bit, on
    /// a scatter of D = 300 where some variances are active and some not.
    func testVICRegRegularizerOnThreadsEqualsOneThread() {
        let d = 300, b = 40
        let z = tensor([b, d], values(b * d, seed: 21, scale: 0.9))
        let mean = VICRegLoss.columnSums(z).map { $0 / Double(b) }
        let scatter = VICRegLoss.centredScatter(z, mean: mean, backend: backend)
        let loss = VICRegLoss()
        let one = loss.regularizer(scatter: scatter, count: b, backend: CPUBackend(threads: 1))
        XCTAssertGreaterThan(one.variance, 0, "some dimensions have std below 1")
        for threads in [2, 3, 7] {
            let split = loss.regularizer(scatter: scatter, count: b, backend: CPUBackend(threads: threads))
            XCTAssertEqual(split.gradCovariance.array, one.gradCovariance.array, "\(threads) threads")
            XCTAssertEqual(split.variance, one.variance)
            XCTAssertEqual(split.covariance, one.covariance)
        }
    }

    /// VICReg's variance and covariance from shard-wise sums (Σz, then Σ(z − z̄)(z − z̄)ᵀ around the global
    /// mean, as two all-reduces would add them) equal the single call, term by term and row by row; the
    /// centred scatter equals Σzzᵀ − N·z̄z̄ᵀ from raw sums.
    func testVICRegFromShardSumsEqualsSingleCall() {
        let b = 8, d = 5, shards = 2, local = b / shards
        let z1 = values(b * d, seed: 13, scale: 0.8, offset: 0.2), z2 = values(b * d, seed: 14, scale: 1.3)
        let loss = VICRegLoss()
        let reference = loss.forward(z1: tensor([b, d], z1), z2: tensor([b, d], z2), backend: backend)
        func shard(_ z: [Double], _ s: Int) -> Tensor { tensor([local, d], Array(z[(s * local * d)..<((s + 1) * local * d)])) }

        var variance = 0.0, covariance = 0.0, invariance = 0.0
        var gradients = [[Float]](repeating: [], count: 2)
        let localGradients = (0..<shards).map { _ in (Tensor(zeros: [local, d]), Tensor(zeros: [local, d])) }
        for s in 0..<shards {  // invariance is local: a mean over each shard, scaled to the global mean
            invariance += loss.invariance(z1: shard(z1, s), z2: shard(z2, s), gradZ1: localGradients[s].0,
                                          gradZ2: localGradients[s].1) / Double(shards)
            backend.scale(localGradients[s].0, by: 1 / Float(shards)); backend.scale(localGradients[s].1, by: 1 / Float(shards))
        }
        for (branch, z) in [z1, z2].enumerated() {
            var sums = [Double](repeating: 0, count: d)
            for s in 0..<shards { for (j, v) in VICRegLoss.columnSums(shard(z, s)).enumerated() { sums[j] += v } }
            let mean = sums.map { $0 / Double(b) }
            let scatter = Tensor(zeros: [d, d])
            for s in 0..<shards { backend.accumulate(VICRegLoss.centredScatter(shard(z, s), mean: mean, backend: backend), into: scatter, alpha: 1) }
            // The same matrix from raw sums Σ z zᵀ (what a one-pass all-reduce would carry).
            var raw = [Double](repeating: 0, count: d * d)
            for r in 0..<b { for i in 0..<d { for j in 0..<d { raw[i * d + j] += z[r * d + i] * z[r * d + j] } } }
            for i in 0..<d { for j in 0..<d { raw[i * d + j] -= Double(b) * mean[i] * mean[j] } }
            XCTAssertLessThan(relativeError(scatter.array, raw), 1e-6)

            let regularizer = loss.regularizer(scatter: scatter, count: b, backend: backend)
            variance += regularizer.variance / 2; covariance += regularizer.covariance
            for s in 0..<shards {
                let grad = branch == 0 ? localGradients[s].0 : localGradients[s].1
                VICRegLoss.addRegularizerGradient(regularizer, z: shard(z, s), mean: mean, count: b, into: grad, backend: backend)
                gradients[branch] += grad.array
            }
        }
        XCTAssertEqual(invariance, reference.invariance, accuracy: 1e-12)
        XCTAssertEqual(variance, reference.variance, accuracy: 1e-6 * reference.variance)
        XCTAssertEqual(covariance, reference.covariance, accuracy: 1e-6 * reference.covariance)
        XCTAssertLessThan(relativeError(gradients[0], reference.gradZ1.array.map(Double.init)), 1e-6)
        XCTAssertLessThan(relativeError(gradients[1], reference.gradZ2.array.map(Double.init)), 1e-6)
    }

    // MARK: Heads

    /// Per-coordinate finite differences through every head shape the methods build.
    func testMLPHeadGradients() {
        for (layers, batchNorm) in [(1, true), (1, false), (2, true), (0, false)] {
            let (head, store) = makePerturbed { store, mode in
                MLPHead("projector", inputDimension: 6, hiddenDimension: 5, outputDimension: 4, hiddenLayers: layers,
                        batchNorm: batchNorm, mode: mode, store: store, backend: self.backend)
            }
            let result = GradientCheck(samples: 40).run(head, input: randomTensor([6, 6], seed: 21), store: store)
            XCTAssertLessThan(result.inputError, 1e-2, "\(layers) hidden layers, BN \(batchNorm): input gradient")
            XCTAssertLessThan(result.parameterError, 1e-2, "\(layers) hidden layers, BN \(batchNorm): parameter gradient")
        }
    }

    /// solo-learn's names: Linear-BN-ReLU-Linear is .0/.1/.3; without BN .0/.2; two hidden layers .0/.1/.3/.4/.6.
    func testMLPHeadNamesFollowSoloLearn() {
        func names(_ layers: Int, _ batchNorm: Bool) -> [String] {
            let store = ParameterStore()
            _ = MLPHead("projector", inputDimension: 4, hiddenDimension: 3, outputDimension: 2, hiddenLayers: layers,
                        batchNorm: batchNorm, mode: Mode(), store: store, backend: backend)
            return store.parameters.map(\.name) + store.buffers.map(\.name)
        }
        XCTAssertEqual(names(1, true), ["projector.0.weight", "projector.0.bias", "projector.1.weight", "projector.1.bias",
                                        "projector.3.weight", "projector.3.bias", "projector.1.running_mean",
                                        "projector.1.running_var", "projector.1.num_batches_tracked"])
        XCTAssertEqual(names(1, false), ["projector.0.weight", "projector.0.bias", "projector.2.weight", "projector.2.bias"])
        XCTAssertEqual(names(2, true).filter { $0.hasSuffix("weight") },
                       ["projector.0.weight", "projector.1.weight", "projector.3.weight", "projector.4.weight", "projector.6.weight"])
    }

    // MARK: Methods

    let tiny = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 3)

    func makeMethods(seed: UInt64) -> [SelfSupervisedMethod] {
        [SimCLR(encoder: tiny, projectorHiddenDimension: 16, projectorOutputDimension: 8, seed: seed, backend: backend),
         VICReg(encoder: tiny, projectorHiddenDimension: 16, projectorOutputDimension: 16, seed: seed, backend: backend),
         BYOL(encoder: tiny, projectorHiddenDimension: 16, projectorOutputDimension: 8, predictorHiddenDimension: 16,
              seed: seed, backend: backend)]
    }

    /// The second view's layers read and write the very same flat buffers as the first's.
    func testViewCopiesShareOneSetOfBuffers() {
        let method = SimCLR(encoder: tiny, projectorHiddenDimension: 16, projectorOutputDimension: 8, backend: backend)
        let twin = method.network.view2.encoder.conv1.store
        XCTAssertFalse(twin === method.store)
        XCTAssertTrue(twin.values.storage === method.store.values.storage)
        XCTAssertTrue(twin.gradients.storage === method.store.gradients.storage)
        XCTAssertTrue(twin.bufferValues.storage === method.store.bufferValues.storage)
    }

    /// Same seed, same views: bit-identical losses and gradients, across instances and repeated steps.
    func testSameSeedGivesIdenticalSteps() {
        let x1 = randomTensor([4, 16, 16, 3], seed: 31), x2 = randomTensor([4, 16, 16, 3], seed: 32)
        let first = makeMethods(seed: 7), second = makeMethods(seed: 7)
        for (a, b) in zip(first, second) {
            a.store.zeroGradients(); b.store.zeroGradients()
            let ra = a.trainStep(view1: x1, view2: x2), rb = b.trainStep(view1: x1, view2: x2)
            XCTAssertEqual(ra.loss, rb.loss, a.name)
            XCTAssertEqual(a.store.gradients.array, b.store.gradients.array, a.name)
            XCTAssertEqual(ra.features.shape, [4, tiny.featureDimension])
            XCTAssertTrue(ra.loss.isFinite && ra.embeddingStd > 0, a.name)
            let gradients = a.store.gradients.array
            a.store.zeroGradients()
            let again = a.trainStep(view1: x1, view2: x2)  // BN running stats moved, batch statistics did not
            XCTAssertEqual(again.loss, ra.loss, a.name)
            XCTAssertEqual(a.store.gradients.array, gradients, a.name)
        }
    }

    func testBYOLTauScheduleAndEMA() {
        XCTAssertEqual(BYOL.tau(step: 0, totalSteps: 100, base: 0.99), 0.99, accuracy: 1e-15)
        XCTAssertEqual(BYOL.tau(step: 50, totalSteps: 100, base: 0.99), 0.995, accuracy: 1e-15)
        XCTAssertEqual(BYOL.tau(step: 100, totalSteps: 100, base: 0.99), 1, accuracy: 1e-15)

        let byol = BYOL(encoder: tiny, projectorHiddenDimension: 16, projectorOutputDimension: 8, predictorHiddenDimension: 16,
                        backend: backend)
        XCTAssertLessThan(byol.targetStore.count, byol.store.count, "the predictor has no target")
        XCTAssertEqual(byol.targetStore.parameters.map(\.name), Array(byol.store.parameters.map(\.name).prefix(byol.targetStore.parameters.count)))
        XCTAssertEqual(byol.targetStore.values.array, Array(byol.store.values.array.prefix(byol.targetStore.count)))
        let target = byol.targetStore.values.array
        for i in 0..<byol.store.count { byol.store.values[flat: i] += Float(i % 7) * 0.01 }
        let online = byol.store.values.array
        byol.afterOptimizerStep(step: 25, totalSteps: 100)
        let tau = 1 - 0.01 * (cos(Double.pi / 4) + 1) / 2
        XCTAssertEqual(byol.tau, tau, accuracy: 1e-15)
        let expected = (0..<target.count).map { tau * Double(target[$0]) + (1 - tau) * Double(online[$0]) }
        XCTAssertLessThan(relativeError(byol.targetStore.values.array, expected), 1e-7)
    }

    /// LARS's role rule is solo-learn's `p.ndim == 1` rule on every network we build.
    func testLARSExcludesExactlyTheOneDimensionalTensors() {
        let byol = BYOL(encoder: ResNetConfig(depth: 50, stem: .imagenet, widthMultiplier: 1.0 / 16), projectorHiddenDimension: 8,
                        projectorOutputDimension: 4, predictorHiddenDimension: 8, backend: backend)
        let lars = LARS(store: byol.store, backend: backend, learningRate: 0.1)
        for info in byol.store.parameters {
            XCTAssertEqual(lars.isAdapted(info.role), info.shape.count != 1, info.name)
        }
    }
}
