import Engine

/// Collectives on device tensors that stay in the device's stream order (NCCL on GPUs): each is queued
/// after the device work queued before it, device work queued after it sees its result, and the host does
/// not wait. SyncBatchNorm takes them from `Communicator.deviceTensors` when its tensors live on a GPU, so
/// a batch norm layer costs no host round trip. A failure to queue throws; an operation that fails or hangs
/// later is reported by the next host wait on the device (see `CUDABackend.beforeHostWait`).
public protocol DeviceTensorCollectives: AnyObject {
    /// Queues `receive` = every rank's `send`, in rank order (`receive.count == worldSize · send.count`).
    func allGatherInStreamOrder(_ send: Tensor, into receive: Tensor) throws
    /// Queues the element-wise sum of `tensor` over the ranks, in place.
    func allReduceSumInStreamOrder(_ tensor: Tensor) throws
}
