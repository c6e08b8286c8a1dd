import Collectives
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Collectives on device tensors between the ranks of a job (NCCL through `DeviceCollectiveCalls`), set up
/// over the host communicator: rank 0 makes the communicator's unique id and broadcasts its bytes over MPI,
/// then every rank joins.
///
/// Every call queues its operation on the device's stream and waits for it by polling, so that a failure
/// cannot hang the job: between polls it reads the communicator's asynchronous error, and past `timeout`
/// seconds it gives up. Either way it aborts the communicator (`ncclCommAbort`, which ends the operation in
/// flight) and throws a `CollectivesError` naming the call, the rank and what to do. A peer process that
/// died is usually noticed first by the trainer's peer watch, which calls `abort()` before it ends the
/// rank.
public final class DeviceCommunicator: @unchecked Sendable {
    public let calls: any DeviceCollectiveCalls
    public let rank: Int
    public let worldSize: Int
    /// Seconds one collective may take before the communicator is aborted.
    public let timeout: Double
    /// Seconds spent waiting in the last call (queued to finished).
    public private(set) var lastWaitSeconds = 0.0

    /// Collective over `host`: every rank must call it at the same point.
    public init(calls: any DeviceCollectiveCalls, host: any Communicator, timeout: Double) throws {
        self.calls = calls
        rank = host.rank
        worldSize = host.worldSize
        self.timeout = timeout
        // Every rank learns whether rank 0 could make an id, so a failure there stops all of them.
        var id = [UInt8](repeating: 0, count: 129)
        var failure: (any Error)?
        if rank == 0 {
            do { id = try calls.makeUniqueId() + [1] } catch { failure = error }
        }
        try id.withUnsafeMutableBytes { try host.broadcastBytes($0, root: 0) }
        if let failure { throw failure }
        guard id.last == 1 else {
            throw CollectivesError(call: "\(calls.name) setup", message: "rank 0 could not create the communicator's id",
                                   rank: rank, hint: "Read rank 0's error above.")
        }
        try calls.join(uniqueId: Array(id.dropLast()), rank: rank, worldSize: worldSize)
    }

    /// Sums `tensor` (device, fp32) over all ranks, in place.
    public func allReduceSum(_ tensor: Tensor) throws {
        try run("allReduceSum(\(tensor.count) floats)") {
            try calls.allReduceSum(send: address(tensor), receive: address(tensor), count: tensor.count)
        }
    }

    /// `receive` = every rank's `send` in rank order; `receive.count == worldSize · send.count`.
    public func allGather(_ send: Tensor, into receive: Tensor) throws {
        try checkBlocks("allGather", block: send.count, total: receive.count)
        try run("allGather(\(send.count) floats per rank)") {
            try calls.allGather(send: address(send), receive: address(receive), count: send.count)
        }
    }

    /// `receive` = block `rank` of the sum over ranks of `send`; `send.count == worldSize · receive.count`.
    public func reduceScatterSum(_ send: Tensor, into receive: Tensor) throws {
        try checkBlocks("reduceScatterSum", block: receive.count, total: send.count)
        try run("reduceScatterSum(\(receive.count) floats per rank)") {
            try calls.reduceScatterSum(send: address(send), receive: address(receive), count: receive.count)
        }
    }

    /// Ends the communicator now (see `DeviceCollectiveCalls.abort`); any thread, any number of times.
    public func abort() { calls.abort() }

    /// Ends the communicator after its work.
    public func destroy() { calls.destroy() }

    private func address(_ tensor: Tensor) -> UInt64 {
        precondition(tensor.device != .cpu, "DeviceCommunicator takes device tensors, got a host tensor \(tensor.shape)")
        return UInt64(UInt(bitPattern: tensor.pointer))
    }

    private func checkBlocks(_ call: String, block: Int, total: Int) throws {
        guard total == worldSize * block else {
            throw CollectivesError.badArguments(call, "\(total) elements for \(worldSize) ranks x \(block)", rank: rank)
        }
    }

    /// Queues `enqueue`, then polls until the stream is done, the communicator reports an error, or `timeout`.
    private func run(_ call: String, _ enqueue: () throws -> Void) throws {
        let started = monotonicSeconds()
        defer { lastWaitSeconds = monotonicSeconds() - started }
        do { try enqueue() } catch {
            calls.abort()
            throw failure(call, "\(error)")
        }
        var pause: useconds_t = 20
        while true {
            if let error = calls.asynchronousError() {
                calls.abort()
                throw failure(call, error)
            }
            if try calls.isFinished() { return }
            if monotonicSeconds() - started > timeout {
                calls.abort()
                throw failure(call, "not finished after \(Int(timeout)) s (--collective-timeout): a peer rank died or hangs")
            }
            usleep(pause)
            pause = min(pause * 2, 1000)
        }
    }

    private func failure(_ call: String, _ message: String) -> CollectivesError {
        CollectivesError(call: "\(calls.name) \(call)", message: message + "; the communicator was aborted", rank: rank,
                         hint: "Read the other ranks' errors for the cause; set NCCL_DEBUG=WARN for NCCL's own account. "
                             + "Resume from the last checkpoint with --resume auto.")
    }
}
