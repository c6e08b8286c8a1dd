/// The calls `DeviceCommunicator` makes on one communicator of device buffers, in NCCL's terms: sums and
/// concatenations of fp32 device memory between ranks, queued on the device's collectives stream. `NCCLCalls` makes
/// them through NCCL on a real GPU; the tests make them over MPI on the emulated GPU, so everything above
/// this protocol (bootstrap, waiting, error checks, abort, the trainer's use) runs in CI.
///
/// Addresses are device addresses (`CUdeviceptr`); `count`s are fp32 elements. A call only queues the
/// operation: `isFinished()` says when everything queued so far is done.
public protocol DeviceCollectiveCalls: AnyObject, Sendable {
    /// The GPU whose memory and collectives stream the calls use (`DeviceCommunicator` orders that stream
    /// after the compute stream with its events).
    var device: any GPUDevice { get }
    /// "NCCL 2.21.5": for logs and messages.
    var name: String { get }
    /// A new communicator id (`ncclGetUniqueId`); rank 0 makes it, the others receive its bytes.
    func makeUniqueId() throws -> [UInt8]
    /// Joins the communicator `uniqueId` as `rank` of `worldSize` (`ncclCommInitRank`); blocks until every
    /// rank has joined.
    func join(uniqueId: [UInt8], rank: Int, worldSize: Int) throws
    /// `receive = Σ over ranks of send` (`ncclAllReduce`, ncclSum, ncclFloat32); in place when equal.
    func allReduceSum(send: UInt64, receive: UInt64, count: Int) throws
    /// `receive[r·count ..< (r+1)·count] = rank r's send` (`ncclAllGather`).
    func allGather(send: UInt64, receive: UInt64, count: Int) throws
    /// `receive = block r of Σ over ranks of send`, `send` holding `worldSize·count` (`ncclReduceScatter`).
    func reduceScatterSum(send: UInt64, receive: UInt64, count: Int) throws
    /// Whether every operation queued on the collectives stream so far has finished (`cuStreamQuery`).
    func isFinished() throws -> Bool
    /// The communicator's asynchronous error (`ncclCommGetAsyncError`): nil while healthy, else its text
    /// (a peer that disconnected shows up here as "remote process exited or there was a network error").
    func asynchronousError() -> String?
    /// Ends the communicator at once, cancelling what is in flight (`ncclCommAbort`); the communicator
    /// cannot be used afterwards. Safe to call from another thread while a collective hangs, and twice.
    func abort()
    /// Ends the communicator after its work (`ncclCommDestroy`).
    func destroy()
}
