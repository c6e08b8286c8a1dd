import Engine
#if canImport(Glibc)
import Glibc
#endif

/// `BatchUploader` on a GPU. Each view has two slots, used in turn, each a page-locked host buffer and a
/// device tensor. An upload copies the batch into its slot's pinned buffer (a host `memcpy`: the loader's
/// tensor is only valid until its next batch), queues the copy to the device on the copy stream and makes
/// the compute stream wait for it. The trainer uploads batch t+1 right after queueing step t, so the copy
/// runs while the GPU still computes step t's backward and optimiser step (the synchronous `deviceCopy`
/// waited for the whole step first, then copied from pageable memory).
///
/// Two events per slot make the reuse safe:
/// - `copied`, recorded on the copy stream after the slot's copy: the host waits for it before writing the
///   pinned buffer again, and the compute stream waits for it before the step reads the batch;
/// - `released`, recorded on the compute stream at the next upload of the same view, when everything that
///   reads this slot (the whole step, its backward included: the first convolution's weight gradient reads
///   the input) has been queued: the copy stream waits for it before overwriting the slot's device tensor.
///   Hence `BatchUploader`'s rule: queue every reader of a batch before the next upload of its view.
///
/// A batch of bytes (`PixelBatch`, `takesPixels`) travels the same way into its own slots, a quarter of the
/// size, and a kernel on the compute stream then looks its floats up in the batch's table into the view's
/// tensor. That kernel is the slot's only reader, so `released` is recorded right after it; the view's
/// tensor is written and read on the compute stream only, in queue order, so one per view is enough.
public final class PinnedBatchUploader: BatchUploader {
    struct Slot {
        let pinned: UnsafeMutableRawPointer
        /// Bytes the slot holds.
        let capacity: Int
        let device: Tensor
        let copied: GPUEvent
        let released: GPUEvent
    }

    /// One view's two slots (made at first use) and the one its next upload takes.
    struct ViewSlots {
        var slots: [Slot?] = [nil, nil]
        var next = 0
    }

    /// A view of byte batches: the floats the kernel writes, and the table it reads (uploaded when it changes).
    struct PixelOutput {
        var floats: Tensor
        var table: [Float]
        var deviceTable: Tensor
    }

    let backend: CUDABackend
    var gpu: any GPUDevice { backend.gpu }
    private var views: [Int: ViewSlots] = [:]
    private var pixelViews: [Int: ViewSlots] = [:]
    private var pixelOutputs: [Int: PixelOutput] = [:]
    public var takesPixels: Bool { true }

    public init(backend: CUDABackend) { self.backend = backend }

    deinit {
        for slot in (Array(views.values) + Array(pixelViews.values)).flatMap(\.slots).compactMap({ $0 }) { release(slot) }
    }

    public func upload(_ host: Tensor, view: Int) -> Tensor {
        backend.run("upload of batch view \(view) \(host.shape)") { try stage(host, view: view) }
    }

    public func upload(_ pixels: PixelBatch, view: Int) -> Tensor {
        backend.run("upload of batch view \(view) \(pixels.shape) as bytes") { try stage(pixels, view: view) }
    }

    /// `upload`, with the device's errors thrown.
    func stage(_ host: Tensor, view: Int) throws -> Tensor {
        precondition(host.device == .cpu, "PinnedBatchUploader uploads host tensors, got \(host)")
        let (slot, other) = try copy(UnsafeRawPointer(host.pointer), bytes: host.count * 4, into: &views[view, default: ViewSlots()])
        if let other { try gpu.record(other.released, on: .compute) }
        return Tensor(view: slot.device.storage, offset: 0, shape: host.shape)
    }

    /// `upload` of bytes, with the device's errors thrown.
    func stage(_ pixels: PixelBatch, view: Int) throws -> Tensor {
        let (slot, _) = try copy(UnsafeRawPointer(pixels.bytes), bytes: pixels.count, into: &pixelViews[view, default: ViewSlots()])
        let output = pixelOutput(view: view, pixels)
        try backend.timed("normalize_pixels") {
            try gpu.launch(ElementwiseLaunch.normalizePixels(backend.address(slot.device), table: backend.address(output.deviceTable),
                                                             into: backend.address(output.floats), count: pixels.count,
                                                             channels: pixels.channels))
        }
        try gpu.record(slot.released, on: .compute)  // the kernel was the slot's only reader
        return Tensor(view: output.floats.storage, offset: 0, shape: pixels.shape)
    }

    /// Copies `bytes` from `source` through the view's next slot onto the device, the compute stream waiting
    /// for it. Returns the slot, and the view's other slot: its last batch, uploaded before, whose readers
    /// have all been queued by now.
    private func copy(_ source: UnsafeRawPointer, bytes: Int, into state: inout ViewSlots) throws -> (Slot, Slot?) {
        let index = state.next
        let slot = try slotHolding(bytes: bytes, replacing: state.slots[index])
        state.slots[index] = slot
        state.next = 1 - index
        try gpu.synchronize(slot.copied)  // the last copy out of the pinned buffer has finished
        slot.pinned.copyMemory(from: source, byteCount: bytes)
        try gpu.wait(.copy, for: slot.released)  // every op that read the device buffer two uploads ago has run
        try gpu.uploadOnCopyStream(slot.pinned, to: backend.address(slot.device), bytes: bytes)
        try gpu.record(slot.copied, on: .copy)
        try gpu.wait(.compute, for: slot.copied)
        return (slot, state.slots[1 - index])
    }

    /// The view's float tensor and device table for `pixels`: grown when the batch is larger, the table
    /// uploaded when it differs from the last one (both on the compute stream, in order with the readers).
    private func pixelOutput(view: Int, _ pixels: PixelBatch) -> PixelOutput {
        var output = pixelOutputs[view] ?? PixelOutput(floats: backend.zeros([pixels.count]), table: [],
                                                       deviceTable: backend.zeros([pixels.table.count]))
        if output.floats.count < pixels.count { output.floats = backend.zeros([pixels.count]) }
        if output.table != pixels.table {
            if output.deviceTable.count != pixels.table.count { output.deviceTable = backend.zeros([pixels.table.count]) }
            backend.upload(Tensor(shape: [pixels.table.count], values: pixels.table), to: output.deviceTable)
            output.table = pixels.table
        }
        pixelOutputs[view] = output
        return output
    }

    /// `current` when it holds `bytes`, else a new slot (the old one released first).
    private func slotHolding(bytes: Int, replacing current: Slot?) throws -> Slot {
        if let current, current.capacity >= bytes { return current }
        if let current { release(current) }
        let device = backend.zeros([(bytes + 3) / 4])  // allocated and zero-filled on the compute stream
        let slot = Slot(pinned: try gpu.allocatePinned(bytes: bytes), capacity: bytes, device: device,
                        copied: try gpu.makeEvent(), released: try gpu.makeEvent())
        try gpu.record(slot.released, on: .compute)  // the copy must not overtake the fill
        return slot
    }

    /// Frees a slot once nothing can use it: its copy done (host), its readers done (the device tensor is
    /// freed when the last tensor viewing it goes; freeing device memory waits for the device).
    private func release(_ slot: Slot) {
        try? gpu.synchronize(slot.copied)
        gpu.freePinned(slot.pinned)
        gpu.destroy(slot.copied)
        gpu.destroy(slot.released)
    }
}

extension CUDABackend {
    public func makeBatchUploader() -> any BatchUploader { PinnedBatchUploader(backend: self) }
}
