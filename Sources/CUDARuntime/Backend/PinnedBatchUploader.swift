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
public final class PinnedBatchUploader: BatchUploader {
    struct Slot {
        let pinned: UnsafeMutableRawPointer
        /// Floats the slot holds.
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

    let backend: CUDABackend
    var gpu: any GPUDevice { backend.gpu }
    private var views: [Int: ViewSlots] = [:]

    public init(backend: CUDABackend) { self.backend = backend }

    deinit {
        for slot in views.values.flatMap(\.slots).compactMap({ $0 }) { release(slot) }
    }

    public func upload(_ host: Tensor, view: Int) -> Tensor {
        backend.run("upload of batch view \(view) \(host.shape)") { try stage(host, view: view) }
    }

    /// `upload`, with the device's errors thrown.
    func stage(_ host: Tensor, view: Int) throws -> Tensor {
        precondition(host.device == .cpu, "PinnedBatchUploader uploads host tensors, got \(host)")
        var state = views[view] ?? ViewSlots()
        let index = state.next
        let slot = try slotHolding(host.count, replacing: state.slots[index])
        state.slots[index] = slot
        state.next = 1 - index
        views[view] = state
        try gpu.synchronize(slot.copied)  // the last copy out of the pinned buffer has finished
        slot.pinned.copyMemory(from: UnsafeRawPointer(host.pointer), byteCount: host.count * 4)
        try gpu.wait(.copy, for: slot.released)  // every op that read the device tensor two steps ago has run
        try gpu.uploadOnCopyStream(slot.pinned, to: backend.address(slot.device), bytes: host.count * 4)
        try gpu.record(slot.copied, on: .copy)
        if let other = state.slots[1 - index] { try gpu.record(other.released, on: .compute) }
        try gpu.wait(.compute, for: slot.copied)
        return Tensor(view: slot.device.storage, offset: 0, shape: host.shape)
    }

    /// `current` when it holds `count` floats, else a new slot (the old one released first).
    private func slotHolding(_ count: Int, replacing current: Slot?) throws -> Slot {
        if let current, current.capacity >= count { return current }
        if let current { release(current) }
        let device = backend.zeros([count])  // allocated and zero-filled on the compute stream
        let slot = Slot(pinned: try gpu.allocatePinned(bytes: count * 4), capacity: count, device: device,
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
