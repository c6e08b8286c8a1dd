import Synchronization

/// A communicator that forwards every call to `base` and adds up the seconds spent inside them: the
/// time the calling thread waited on communication (the work plus any wait for slower ranks).
/// The trainer hands one to the method, so SyncBN's and the embedding gathers' time is measured.
public final class TimedCommunicator: Communicator {
    public let base: any Communicator
    private let total = Mutex<Double>(0)

    /// Device-tensor collectives over the same ranks (the trainer sets NCCL's once it has joined, before the
    /// first step; only the training thread reads it). Not timed: they do not wait.
    public nonisolated(unsafe) var deviceTensors: (any DeviceTensorCollectives)?

    public init(_ base: any Communicator) { self.base = base }

    public var topology: Topology { base.topology }

    /// Seconds spent in calls since the last `takeSeconds()`, and restarts the count.
    public func takeSeconds() -> Double { total.withLock { value in defer { value = 0 }; return value } }

    private func timed<T>(_ body: () throws -> T) rethrows -> T {
        let start = monotonicSeconds()
        defer { let elapsed = monotonicSeconds() - start; total.withLock { $0 += elapsed } }
        return try body()
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try timed { try base.allReduceSum(buffer) } }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try timed { try base.allReduceSum(buffer) } }
    public func allReduceMax(_ value: Double) throws -> Double { try timed { try base.allReduceMax(value) } }
    public func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {
        try timed { try base.allGather(send, into: receive) }
    }
    public func gather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        try timed { try base.gather(send, into: receive, root: root) }
    }
    public func reduceScatterSum(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {
        try timed { try base.reduceScatterSum(send, into: receive) }
    }
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws { try timed { try base.broadcast(buffer, root: root) } }
    public func broadcastBytes(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try timed { try base.broadcastBytes(buffer, root: root) }
    }
    public func barrier() throws { try timed { try base.barrier() } }
    public func finalize() throws { try base.finalize() }
}
