/// Moves the batches a loader assembles in host memory onto a backend, one step at a time. A GPU backend's
/// (`PinnedBatchUploader`) copies through page-locked memory on a copy stream beside the compute stream,
/// so batch t+1 crosses the bus while step t still computes; `CopyingBatchUploader` makes a plain
/// `deviceCopy` (on the CPU: the host tensor itself, no copy).
public protocol BatchUploader: AnyObject {
    /// `host` as a tensor of the backend, ready for the ops queued after this call. Views of one batch
    /// (`view` 0, 1, ...) have their own buffers. Queue every op that reads a returned tensor (the step's
    /// backward too) before the next upload of the same view: after it, the buffer may be overwritten (on
    /// the CPU the tensor is `host` itself, valid as long as the loader keeps it).
    func upload(_ host: Tensor, view: Int) -> Tensor
}

/// `BatchUploader` through `Backend.deviceCopy`: a synchronous copy into a new tensor (none on the CPU).
public final class CopyingBatchUploader: BatchUploader {
    let backend: any Backend
    public init(backend: any Backend) { self.backend = backend }
    public func upload(_ host: Tensor, view: Int) -> Tensor { backend.deviceCopy(host) }
}
