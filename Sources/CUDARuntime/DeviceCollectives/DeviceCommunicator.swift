import Collectives
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Collectives on device tensors between the ranks of a job (NCCL through `DeviceCollectiveCalls`), set up
/// over the host communicator: rank 0 makes the communicator's unique id and broadcasts its bytes over MPI,
/// then every rank joins.
///
/// Collectives run on the device's collectives stream, each after everything queued on the compute stream
/// before it (an event recorded there, which the collectives stream waits for). `allReduceSum`,
/// `allGather` and `reduceScatterSum` queue their operation and wait for it; `enqueueAllReduceSum` only
/// queues (`DeviceGradientReducer` queues buckets while backward runs) and `waitForQueued` waits for all.
/// Waiting is polling, so that a failure cannot hang the job: between polls it reads the communicator's
/// asynchronous error, and past `timeout` seconds it gives up. Either way it aborts the communicator
/// (`ncclCommAbort`, which ends the operation in flight) and throws a `CollectivesError` naming the call,
/// the rank and what to do. Once a wait returns, the host knows the collectives are done, so everything it
/// queues on the compute stream afterwards runs after them. A peer process that died is usually noticed
/// first by the trainer's peer watch, which calls `abort()` before it ends the rank.
public final class DeviceCommunicator: @unchecked Sendable {
    public let calls: any DeviceCollectiveCalls
    public let rank: Int
    public let worldSize: Int
    /// Seconds one collective may take before the communicator is aborted.
    public let timeout: Double
    /// Seconds spent waiting in the last call (queued to finished).
    public private(set) var lastWaitSeconds = 0.0
    /// Recorded on the compute stream before each collective; the collectives stream waits for it.
    private let computeDone: GPUEvent
    /// Recorded on the collectives stream after an in-stream-order collective; the compute stream waits for it.
    private let collectivesDone: GPUEvent

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
        computeDone = try calls.device.makeEvent()
        collectivesDone = try calls.device.makeEvent()
    }

    deinit {
        calls.device.destroy(computeDone)
        calls.device.destroy(collectivesDone)
    }

    /// Queues the sum of `tensor` over all ranks, in place, without waiting (see `waitForQueued`).
    public func enqueueAllReduceSum(_ tensor: Tensor) throws {
        try enqueue("allReduceSum(\(tensor.count) floats)") {
            try calls.allReduceSum(send: address(tensor), receive: address(tensor), count: tensor.count)
        }
    }

    /// Waits until every queued collective has finished (see the type's comment for failures); `what` names
    /// them in an error.
    public func waitForQueued(_ what: String) throws {
        let started = monotonicSeconds()
        defer { lastWaitSeconds = monotonicSeconds() - started }
        var pause: useconds_t = 20
        while true {
            if let error = calls.asynchronousError() {
                calls.abort()
                throw failure(what, error)
            }
            if try calls.isFinished() { return }
            if monotonicSeconds() - started > timeout {
                calls.abort()
                throw failure(what, "not finished after \(Int(timeout)) s (--collective-timeout): a peer rank died or hangs")
            }
            usleep(pause)
            pause = min(pause * 2, 1000)
        }
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

    /// Queues `body`'s collective after the compute stream's work and makes the compute stream wait for it
    /// (`DeviceTensorCollectives`): the device orders both ways, the host does not wait.
    private func inStreamOrder(_ call: String, _ body: () throws -> Void) throws {
        try enqueue(call, body)
        do {
            try calls.device.record(collectivesDone, on: .collectives)
            try calls.device.wait(.compute, for: collectivesDone)
        } catch {
            calls.abort()
            throw failure(call, "\(error)")
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

    /// Queues `body` on the collectives stream after what the compute stream holds so far, then waits.
    private func run(_ call: String, _ body: () throws -> Void) throws {
        try enqueue(call, body)
        try waitForQueued(call)
    }

    /// Orders the collectives stream after the compute stream, then queues `body`; a failure aborts.
    private func enqueue(_ call: String, _ body: () throws -> Void) throws {
        do {
            try calls.device.record(computeDone, on: .compute)
            try calls.device.wait(.collectives, for: computeDone)
            try body()
        } catch {
            calls.abort()
            throw failure(call, "\(error)")
        }
    }

    private func failure(_ call: String, _ message: String) -> CollectivesError {
        CollectivesError(call: "\(calls.name) \(call)", message: message + "; the communicator was aborted", rank: rank,
                         hint: "Read the other ranks' errors for the cause; set NCCL_DEBUG=WARN for NCCL's own account. "
                             + "Resume from the last checkpoint with --resume auto.")
    }
}

/// SyncBatchNorm's collectives on the device (`Communicator.deviceTensors`): queued in stream order, no host wait.
extension DeviceCommunicator: DeviceTensorCollectives {
    public func allGatherInStreamOrder(_ send: Tensor, into receive: Tensor) throws {
        try checkBlocks("allGather", block: send.count, total: receive.count)
        try inStreamOrder("allGather(\(send.count) floats per rank)") {
            try calls.allGather(send: address(send), receive: address(receive), count: send.count)
        }
    }

    public func allReduceSumInStreamOrder(_ tensor: Tensor) throws {
        try inStreamOrder("allReduceSum(\(tensor.count) floats)") {
            try calls.allReduceSum(send: address(tensor), receive: address(tensor), count: tensor.count)
        }
    }
}
