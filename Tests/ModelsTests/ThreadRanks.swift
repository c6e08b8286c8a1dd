import Collectives
import Foundation

/// `size` ranks as threads of this process, for testing code that calls collectives without mpirun: each
/// rank's `ThreadRankCommunicator` meets the others at every all-gather and all-reduce (the collectives the
/// losses use; the rest fail the test). Contributions are keyed by each rank's call count, so a fast rank's
/// next call never overwrites a slow rank's unread one.
final class ThreadRanks: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var contributions: [Int: [Int: [Double]]] = [:]
    private var readers: [Int: Int] = [:]

    init(size: Int) { self.size = size }

    /// Runs `body` once per rank, each on its own thread with its communicator; returns when all have ended.
    func run(_ body: @escaping @Sendable (ThreadRankCommunicator) -> Void) {
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let communicator = ThreadRankCommunicator(rank: rank, ranks: self)
            Thread { body(communicator); done.leave() }.start()
        }
        done.wait()
    }

    /// Every rank's `values` for the collective that is call number `call` of each rank, in rank order.
    fileprivate func exchange(call: Int, rank: Int, _ values: [Double]) -> [[Double]] {
        condition.lock()
        defer { condition.unlock() }
        contributions[call, default: [:]][rank] = values
        condition.broadcast()
        while contributions[call]!.count < size { condition.wait() }
        let all = (0..<size).map { contributions[call]![$0]! }
        readers[call, default: 0] += 1
        if readers[call] == size { contributions[call] = nil; readers[call] = nil }
        return all
    }
}

/// One rank of `ThreadRanks`.
final class ThreadRankCommunicator: Communicator, @unchecked Sendable {
    let topology: Topology
    private let ranks: ThreadRanks
    private var calls = 0

    fileprivate init(rank: Int, ranks: ThreadRanks) {
        topology = Topology(rank: rank, worldSize: ranks.size, localRank: rank, localSize: ranks.size)
        self.ranks = ranks
    }

    private func exchange(_ values: [Double]) -> [[Double]] {
        calls += 1
        return ranks.exchange(call: calls, rank: rank, values)
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        let all = exchange(buffer.map(Double.init))
        for i in buffer.indices { buffer[i] = Float(all.reduce(0) { $0 + $1[i] }) }
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        let all = exchange(Array(buffer))
        for i in buffer.indices { buffer[i] = all.reduce(0) { $0 + $1[i] } }
    }

    func allReduceMax(_ value: Double) throws -> Double { exchange([value]).map { $0[0] }.max()! }

    func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {
        precondition(receive.count == worldSize * send.count, "allGather: \(send.count) into \(receive.count)")
        for (r, values) in exchange(send.map(Double.init)).enumerated() {
            for (i, value) in values.enumerated() { receive[r * send.count + i] = Float(value) }
        }
    }

    func gather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        fatalError("ThreadRankCommunicator.gather is not implemented")
    }

    func reduceScatterSum(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {
        fatalError("ThreadRankCommunicator.reduceScatterSum is not implemented")
    }

    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        fatalError("ThreadRankCommunicator.broadcast is not implemented")
    }

    func broadcastBytes(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        fatalError("ThreadRankCommunicator.broadcastBytes is not implemented")
    }

    func barrier() throws { _ = exchange([]) }

    func finalize() throws {}
}
