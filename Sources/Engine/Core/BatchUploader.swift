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
    /// The same for a batch of bytes, normalised through its table on the backend (same rules).
    func upload(_ pixels: PixelBatch, view: Int) -> Tensor
    /// Whether loaders should hand this uploader bytes (`PixelBatch`) rather than floats: true where the
    /// copy costs (a GPU's bus and pinned staging), false on the CPU, where the loader's workers normalise
    /// in parallel and the batch is used where it lies.
    var takesPixels: Bool { get }
}

extension BatchUploader {
    /// By default the bytes are normalised on the host and uploaded as floats.
    public func upload(_ pixels: PixelBatch, view: Int) -> Tensor { upload(pixels.normalized(), view: view) }
    public var takesPixels: Bool { false }

    public func upload(_ host: HostBatch, view: Int) -> Tensor {
        switch host {
        case .floats(let tensor): upload(tensor, view: view)
        case .pixels(let pixels): upload(pixels, view: view)
        }
    }
}

/// `BatchUploader` through `Backend.deviceCopy`: a synchronous copy into a new tensor (none on the CPU).
public final class CopyingBatchUploader: BatchUploader {
    let backend: any Backend
    public init(backend: any Backend) { self.backend = backend }
    public func upload(_ host: Tensor, view: Int) -> Tensor { backend.deviceCopy(host) }
}
