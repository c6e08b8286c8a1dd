import XCTest
@testable import Collectives
@testable import Engine
@testable import Models

/// MoCo v2: the loss against finite differences of a float64 loop, the queues (normalised at the start,
/// each batch's keys written over the oldest, wrapping around), the momentum network's EMA, and two ranks
/// (threads of this process, SyncBN on) against one process with the whole batch.
final class MoCoV2Tests: XCTestCase {
    let backend = CPUBackend(threads: 1)
    let tiny = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 3)

    func values(_ count: Int, seed: UInt64) -> [Double] {
        var g = RandomGenerator(seed: seed)
        return (0..<count).map { _ in Double(Float(g.normal())) }
    }

    func tensor(_ shape: [Int], _ v: [Double]) -> Tensor { Tensor(shape: shape, values: v.map { Float($0) }) }

    func unit(_ row: ArraySlice<Double>) -> [Double] {
        let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return row.map { $0 / norm }
    }

    /// `Σᵢ (logsumexp(q̂ᵢ·k̂ᵢ, q̂ᵢ·n₁, ..., q̂ᵢ·n_K)/τ − q̂ᵢ·k̂ᵢ/τ) / normalizer`, written out.
    func reference(_ q: [Double], keys: [Double], queue: [Double], d: Int, temperature: Double, normalizer: Int) -> Double {
        let b = q.count / d, k = queue.count / d
        var total = 0.0
        for i in 0..<b {
            let qi = unit(q[(i * d)..<((i + 1) * d)]), ki = unit(keys[(i * d)..<((i + 1) * d)])
            let positive = zip(qi, ki).reduce(0) { $0 + $1.0 * $1.1 } / temperature
            let negatives = (0..<k).map { j in zip(qi, queue[(j * d)..<((j + 1) * d)]).reduce(0) { $0 + $1.0 * $1.1 } / temperature }
            let logSum = log(([positive] + negatives).map(exp).reduce(0, +))
            total += logSum - positive
        }
        return total / Double(normalizer)
    }

    func testLossGradientMatchesFiniteDifferences() {
        let b = 4, d = 5, k = 6, temperature = 0.2
        let q = values(b * d, seed: 1), keys = (0..<b).flatMap { unit(values(b * d, seed: 2)[($0 * d)..<(($0 + 1) * d)]) }
        let queue = (0..<k).flatMap { unit(values(k * d, seed: 3)[($0 * d)..<(($0 + 1) * d)]) }
        let out = MoCoLoss(temperature: temperature).forward(queries: tensor([b, d], q), normalizedKeys: tensor([b, d], keys),
                                                             queue: tensor([k, d], queue), normalizer: 2 * b, backend: backend)
        let f = { (x: [Double]) in self.reference(x, keys: keys, queue: queue, d: d, temperature: temperature, normalizer: 2 * b) }
        XCTAssertEqual(out.loss, f(q), accuracy: 1e-6 * abs(out.loss))
        let epsilon = 1e-6
        let numeric = (0..<q.count).map { i -> Double in
            var plus = q, minus = q
            plus[i] += epsilon; minus[i] -= epsilon
            return (f(plus) - f(minus)) / (2 * epsilon)
        }
        XCTAssertLessThan(relativeError(out.gradQueries.array, numeric), 1e-5)
    }

    func makeMoCo(queueSize: Int = 8, seed: UInt64 = 3) -> MoCoV2 {
        MoCoV2(encoder: tiny, projectorHiddenDimension: 16, projectorOutputDimension: 8, queueSize: queueSize, seed: seed,
               backend: backend)
    }

    func testQueuesStartNormalisedAndTakeEachBatchsKeysOverTheOldest() {
        let moco = makeMoCo()
        for view in 0..<2 {
            let rows = moco.queue(view).array
            for j in 0..<8 {
                let norm = rows[(j * 8)..<((j + 1) * 8)].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
                XCTAssertEqual(norm, 1, accuracy: 1e-6, "view \(view) key \(j)")
            }
        }
        XCTAssertNotEqual(moco.queue(0).array, moco.queue(1).array, "each view has its own queue")
        XCTAssertEqual(moco.queuePointer, 0)
        var expectedQueues = [moco.queue(0).array, moco.queue(1).array]
        for step in 0..<3 {
            let x1 = randomTensor([4, 16, 16, 3], seed: 40 + UInt64(step)), x2 = randomTensor([4, 16, 16, 3], seed: 50 + UInt64(step))
            // The keys the step will enqueue: the momentum network's normalised projections (batch statistics).
            let k1 = MoCoLoss.normalized(copied(moco.momentumForward(x1)), backend: backend).array
            let k2 = MoCoLoss.normalized(copied(moco.momentumForward(x2)), backend: backend).array
            let start = (4 * step) % 8
            expectedQueues[0].replaceSubrange((start * 8)..<((start + 4) * 8), with: k1)
            expectedQueues[1].replaceSubrange((start * 8)..<((start + 4) * 8), with: k2)
            moco.store.zeroGradients()
            let result = moco.trainStep(view1: x1, view2: x2)
            XCTAssertTrue(result.loss.isFinite && result.loss > 0)
            XCTAssertEqual(moco.queue(0).array, expectedQueues[0], "step \(step): view 1's keys over the oldest rows")
            XCTAssertEqual(moco.queue(1).array, expectedQueues[1], "step \(step)")
            XCTAssertEqual(moco.queuePointer, (start + 4) % 8, "the pointer wraps around")
        }
        XCTAssertEqual(moco.extraStores.map(\.prefix), ["momentum.", "queue."])
        XCTAssertEqual(moco.queueStore.buffers.map(\.name), ["keys", "pointer"])
    }

    func testMomentumNetworkStartsAsTheOnlineOneAndFollowsItsEMA() {
        let moco = makeMoCo()
        XCTAssertEqual(moco.momentumStore.values.array, moco.store.values.array)
        let before = moco.momentumStore.values.array
        for i in 0..<moco.store.count { moco.store.values.pointer[i] += 0.5 }
        moco.afterOptimizerStep(step: 2, totalSteps: 8)
        let tau = BYOL.tau(step: 2, totalSteps: 8, base: 0.99)
        XCTAssertEqual(moco.tau, tau)
        let online = moco.store.values.array
        for i in stride(from: 0, to: before.count, by: 97) {
            XCTAssertEqual(Double(moco.momentumStore.values.pointer[i]), tau * Double(before[i]) + (1 - tau) * Double(online[i]),
                           accuracy: 1e-6)
        }
    }

    /// The same global batch of 4 on one process and on two thread ranks of 2 images each, dealt round-robin
    /// as `ShardedSampler` deals them (SyncBN, and the momentum network's BN synchronised too): the same loss,
    /// gradients that sum to the single-process ones, and afterwards the same queues, row for row, on every
    /// rank, for two steps (the second's negatives include the first's keys).
    func testTwoRanksTrainAsOneProcess() {
        let views = (0..<2).map { step in (randomTensor([4, 16, 16, 3], seed: 60 + UInt64(step)),
                                           randomTensor([4, 16, 16, 3], seed: 70 + UInt64(step))) }
        let single = makeMoCo(seed: 9)
        var singleLosses: [Double] = [], singleGradients: [[Float]] = []
        for (x1, x2) in views {
            single.store.zeroGradients()
            singleLosses.append(single.trainStep(view1: x1, view2: x2).loss)
            singleGradients.append(single.store.gradients.array)
        }
        let results = RankResults(2)
        let tiny = self.tiny
        ThreadRanks(size: 2).run { communicator in
            let moco = MoCoV2(encoder: tiny, projectorHiddenDimension: 16, projectorOutputDimension: 8, queueSize: 8, seed: 9,
                              backend: CPUBackend(threads: 1))
            moco.distribute(over: communicator, syncBatchNorm: true, faults: DistributedFaults())
            var losses: [Double] = [], gradients: [[Float]] = []
            for (x1, x2) in views {
                let own = [communicator.rank, communicator.rank + 2]
                func share(_ x: Tensor) -> Tensor { Tensor(shape: [2] + x.shape.dropFirst(), values: own.flatMap { x.row($0).array }) }
                moco.store.zeroGradients()
                losses.append(moco.trainStep(view1: share(x1), view2: share(x2)).loss)
                gradients.append(moco.store.gradients.array)
            }
            // Both steps' gradients, then the two queues.
            results.set(communicator.rank, losses, gradients + [moco.queue(0).array, moco.queue(1).array])
        }
        let ranks = (0..<2).map { results.get($0) }
        for rank in 0..<2 {
            for step in 0..<2 {
                XCTAssertEqual(ranks[rank].losses[step], singleLosses[step], accuracy: 1e-5 * singleLosses[step], "rank \(rank) step \(step)")
            }
            XCTAssertLessThan(maxDifference(ranks[rank].gradients[2], single.queue(0).array), 1e-5, "rank \(rank): view 1's queue")
            XCTAssertLessThan(maxDifference(ranks[rank].gradients[3], single.queue(1).array), 1e-5, "rank \(rank): view 2's queue")
        }
        for step in 0..<2 {
            let summed = zip(ranks[0].gradients[step], ranks[1].gradients[step]).map { Double($0) + Double($1) }
            XCTAssertLessThan(relativeError(singleGradients[step], summed), 1e-4, "step \(step): the ranks' gradients sum to the whole batch's")
        }
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
}
