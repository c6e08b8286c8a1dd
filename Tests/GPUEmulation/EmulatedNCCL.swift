import Collectives
import CUDARuntime

/// `DeviceCollectiveCalls` on the emulated GPU: NCCL's operations done at once over a host communicator
/// (MPI under mpirun) on the emulated device memory, which is host memory. What it checks for the code
/// above it: every rank joined with rank 0's id (the bootstrap), the device addresses are this GPU's
/// allocations, and nothing is used after `abort()`. `failAtCall` plants an asynchronous error (a peer
/// gone, as NCCL reports it) from the given collective on, to test the abort path.
public final class EmulatedNCCL: DeviceCollectiveCalls, @unchecked Sendable {
    public let name = "emulated NCCL"
    let gpu: EmulatedGPU
    public var device: any GPUDevice { gpu }
    let host: any Communicator
    /// The collective call (from 1) from which `asynchronousError()` reports a failure; nil: never.
    public let failAtCall: Int?
    public private(set) var calls = 0
    /// Calls by kind: all-reduces, all-gathers, reduce-scatters.
    public private(set) var allReduces = 0, allGathers = 0, reduceScatters = 0
    public private(set) var joinedId: [UInt8]?
    public private(set) var aborted = false

    public init(gpu: EmulatedGPU, host: any Communicator, failAtCall: Int? = nil) {
        self.gpu = gpu
        self.host = host
        self.failAtCall = failAtCall
    }

    public func makeUniqueId() throws -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<128).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    public func join(uniqueId: [UInt8], rank: Int, worldSize: Int) throws {
        guard rank == host.rank, worldSize == host.worldSize else {
            throw EmulationError("join as rank \(rank) of \(worldSize) on rank \(host.rank) of \(host.worldSize)")
        }
        // Every rank must hold rank 0's id: compare a checksum's largest and smallest value over the ranks.
        let checksum = Double(uniqueId.enumerated().reduce(0) { ($0 &* 31 &+ Int($1.element) &+ $1.offset) % 1_000_003 })
        guard try host.allReduceMax(checksum) == checksum, try -host.allReduceMax(-checksum) == checksum else {
            throw EmulationError("rank \(rank) joined with an id that differs from another rank's")
        }
        joinedId = uniqueId
    }

    /// The host floats behind `count` device floats at `address`.
    func floats(_ address: UInt64, _ count: Int) throws -> UnsafeMutableBufferPointer<Float> {
        guard joinedId != nil, !aborted else { throw EmulationError("a collective on a communicator that is not joined or was aborted") }
        let pointer = try gpu.check(address, bytes: count * 4, by: .collectives, "an NCCL collective").assumingMemoryBound(to: Float.self)
        return UnsafeMutableBufferPointer(start: pointer, count: count)
    }

    public func allReduceSum(send: UInt64, receive: UInt64, count: Int) throws {
        calls += 1
        allReduces += 1
        let source = try floats(send, count), target = try floats(receive, count)
        if send != receive { _ = target.update(fromContentsOf: source) }
        try host.allReduceSum(target)
    }

    public func allGather(send: UInt64, receive: UInt64, count: Int) throws {
        calls += 1
        allGathers += 1
        try host.allGather(UnsafeBufferPointer(try floats(send, count)), into: try floats(receive, count * host.worldSize))
    }

    public func reduceScatterSum(send: UInt64, receive: UInt64, count: Int) throws {
        calls += 1
        reduceScatters += 1
        try host.reduceScatterSum(UnsafeBufferPointer(try floats(send, count * host.worldSize)), into: try floats(receive, count))
    }

    /// Everything ran at once; the host now knows the collectives stream is done.
    public func isFinished() throws -> Bool { gpu.isIdle(.collectives) }

    public func asynchronousError() -> String? {
        guard let failAtCall, calls >= failAtCall else { return nil }
        return "remote process exited or there was a network error (planted at call \(failAtCall))"
    }

    public func abort() { aborted = true }
    public func destroy() { joinedId = nil }
}
