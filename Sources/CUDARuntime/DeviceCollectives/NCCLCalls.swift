import CCUDA
import Synchronization

/// `DeviceCollectiveCalls` through NCCL, on a `CUDADevice`'s collectives stream, fp32 sums and gathers.
///
/// The communicator handle is kept as an atomic bit pattern so that `abort()` may come from another thread (the peer
/// watch) while the training thread waits for a collective that will never finish.
public final class NCCLCalls: DeviceCollectiveCalls {
    let nccl: NCCL
    let driver: CUDADriver
    let cuda: CUDADevice
    public var device: any GPUDevice { cuda }
    /// The `ncclComm_t`'s address, 0 when not joined or ended.
    private let communicator = Atomic<UInt>(0)
    public let name: String

    /// Opens NCCL (`libnccl.so.2`); throws `LibraryNotFound` naming where it looked when it is not there.
    public init(device: CUDADevice) throws {
        nccl = try NCCL.shared()
        driver = try CUDADriver.shared()
        cuda = device
        var version: Int32 = 0
        try nccl.check(nccl.getVersion(&version), "ncclGetVersion")
        // NCCL ≥ 2.9 encodes major·10000 + minor·100 + patch.
        name = "NCCL \(version / 10000).\(version % 10000 / 100).\(version % 100)"
    }

    deinit { destroy() }

    public func makeUniqueId() throws -> [UInt8] {
        var id = ncclUniqueId()
        try nccl.check(nccl.getUniqueId(&id), "ncclGetUniqueId")
        return withUnsafeBytes(of: &id) { Array($0) }
    }

    public func join(uniqueId: [UInt8], rank: Int, worldSize: Int) throws {
        var id = ncclUniqueId()
        guard uniqueId.count == MemoryLayout<ncclUniqueId>.size else {
            throw GPUCallError(library: "NCCL", call: "ncclCommInitRank on rank \(rank)", code: nil,
                               message: "the unique id holds \(uniqueId.count) bytes, not \(MemoryLayout<ncclUniqueId>.size)",
                               hint: "every rank must run the same disttrain build")
        }
        withUnsafeMutableBytes(of: &id) { $0.copyBytes(from: uniqueId) }
        // NCCL takes the GPU from the calling thread's current context.
        try driver.check(driver.ctxSetCurrent(cuda.context), "cuCtxSetCurrent")
        var handle: ncclComm_t?
        try nccl.check(nccl.commInitRank(&handle, Int32(worldSize), id, Int32(rank)),
                       "ncclCommInitRank(\(worldSize) ranks)", rank: rank)
        communicator.store(UInt(bitPattern: handle), ordering: .releasing)
    }

    /// The joined communicator, nil before `join` and after `abort` or `destroy`.
    private var joined: ncclComm_t? { ncclComm_t(bitPattern: communicator.load(ordering: .acquiring)) }

    /// Hands the communicator to exactly one caller (`abort` or `destroy`, from any thread), leaving none.
    private func takeCommunicator() -> ncclComm_t? {
        ncclComm_t(bitPattern: communicator.exchange(0, ordering: .acquiringAndReleasing))
    }

    /// The live handle, or an error when the communicator was aborted or never joined.
    private func handle(_ call: String) throws -> ncclComm_t {
        guard let handle = joined else {
            throw GPUCallError(library: "NCCL", call: call, code: nil, message: "the communicator was aborted or never joined",
                               hint: nil)
        }
        return handle
    }

    public func allReduceSum(send: UInt64, receive: UInt64, count: Int) throws {
        try nccl.check(nccl.allReduce(UnsafeRawPointer(bitPattern: UInt(send)), UnsafeMutableRawPointer(bitPattern: UInt(receive)),
                                      count, ncclFloat32, ncclSum, handle("ncclAllReduce"), cuda.collectiveStream),
                       "ncclAllReduce(\(count) floats)")
    }

    public func allGather(send: UInt64, receive: UInt64, count: Int) throws {
        try nccl.check(nccl.allGather(UnsafeRawPointer(bitPattern: UInt(send)), UnsafeMutableRawPointer(bitPattern: UInt(receive)),
                                      count, ncclFloat32, handle("ncclAllGather"), cuda.collectiveStream),
                       "ncclAllGather(\(count) floats per rank)")
    }

    public func reduceScatterSum(send: UInt64, receive: UInt64, count: Int) throws {
        try nccl.check(nccl.reduceScatter(UnsafeRawPointer(bitPattern: UInt(send)), UnsafeMutableRawPointer(bitPattern: UInt(receive)),
                                          count, ncclFloat32, ncclSum, handle("ncclReduceScatter"), cuda.collectiveStream),
                       "ncclReduceScatter(\(count) floats per rank)")
    }

    public func isFinished() throws -> Bool {
        let result = driver.streamQuery(cuda.collectiveStream)
        if result == CUDA_ERROR_NOT_READY { return false }
        try driver.check(result, "cuStreamQuery")
        return true
    }

    public func asynchronousError() -> String? {
        guard let handle = joined else { return nil }
        var result = ncclSuccess
        guard nccl.commGetAsyncError(handle, &result) == ncclSuccess else { return "ncclCommGetAsyncError failed" }
        guard result != ncclSuccess && result != ncclInProgress else { return nil }
        return nccl.getErrorString(result).map { String(cString: $0) } ?? "ncclResult_t \(result.rawValue)"
    }

    public func abort() {
        if let handle = takeCommunicator() { _ = nccl.commAbort(handle) }
    }

    public func destroy() {
        if let handle = takeCommunicator() { _ = nccl.commDestroy(handle) }
    }
}
