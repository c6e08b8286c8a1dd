#if canImport(Glibc)
import Glibc
#endif
import Engine

/// One step's augmented batch.
///
/// Letters: B batch (this rank's share of the step), H, W the view's output size, C channels, K labels per sample.
public struct TwoViewBatch {
    /// The step of the epoch, 0-based; batches arrive in step order.
    public let step: Int
    /// The B dataset indices of the batch, in batch order.
    public let indices: [Int]
    /// One tensor per view, each `[B, H, W, C]` Float32, normalised (`BatchFormat.floats`; else empty).
    public let views: [Tensor]
    /// One batch of bytes per view, each `[B, H, W, C]` with its normalisation table (`BatchFormat.pixels`;
    /// else empty).
    public let pixels: [PixelBatch]
    /// `[B, K]` flattened.
    public let labels: [Int32]

    /// Every view, in the loader's format.
    public var hostViews: [HostBatch] { pixels.isEmpty ? views.map(HostBatch.floats) : pixels.map(HostBatch.pixels) }

    /// The first view, `[B, H, W, C]`.
    public var view1: Tensor { views[0] }
    /// The second view, `[B, H, W, C]` (two-view loaders only).
    public var view2: Tensor {
        precondition(views.count > 1, "this loader makes a single view")
        return views[1]
    }
}

/// What a loader's batches hold: normalised Float32 tensors, or the augmented bytes and the normalisation
/// table (`PixelBatch`) for a GPU, which normalises them after the upload (a quarter of the bytes to copy).
public enum BatchFormat: Sendable {
    case floats, pixels
}

/// Augments one epoch of batches on worker threads, ahead of the training loop.
///
/// Give it this rank's batches (`ShardedSampler.batches(epoch:)`), one pipeline per view (two for
/// self-supervised pretraining, one for supervised training or evaluation), the normalisation and a
/// worker count. Workers claim steps in order, each assembling a whole batch: for each sample, copy its
/// pixels (`ImageDataset.copyImage`), and for each view v run the view's pipeline with
/// `AugmentationPipeline.random(seed:epoch:index:view:)`, then normalise into the view's
/// `[B, H, W, C]` tensor (`BatchFormat.floats`), or copy the bytes into the view's `PixelBatch`
/// (`.pixels`, for a GPU that normalises them after the upload). `next()` hands batches out in step
/// order whichever worker finished first.
///
/// Because each view's randomness is a pure function of (seed, epoch, sample index, view), the
/// batches are bit-identical for any worker count, any consumption speed, and any rank layout that
/// gives the same samples.
///
/// Memory: `prefetch + 1` batch buffers (the prefetch queue plus the batch the consumer holds) are
/// allocated once and recycled. **A batch's tensors (or bytes) are valid until the next call to `next()`** (or
/// `cancel()`), which hands the buffer back to the workers; copy what must live longer.
///
/// Shutdown: `cancel()` (and `deinit`) stops the workers after the batch each is assembling and joins
/// them; it never waits on the consumer, so it cannot deadlock. Not for use from several consumer
/// threads at once.
public final class TwoViewLoader {
    /// Steps in the epoch (batches `next()` will return).
    public let stepCount: Int
    /// B, the samples in every batch.
    public let batchSize: Int
    /// The shape of each view's tensor, `[B, H, W, C]`.
    public let viewShapes: [[Int]]
    public let format: BatchFormat
    public let workerCount: Int
    /// Batches assembled ahead of the consumer, at most.
    public let prefetch: Int

    private let state: LoaderState
    private var threads: [pthread_t] = []
    /// The slot of the batch the consumer holds, returned on the next `next()`.
    private var heldSlot: Int?
    private var nextStep = 0

    /// - Parameters:
    ///   - dataset: the images (pixels read only through `copyImage(at:into:)`).
    ///   - batches: the steps' dataset indices, `[steps][B]`, all the same size B ≥ 1.
    ///   - epoch: selects the augmentation draws.
    ///   - seed: the run's seed (the augmentation streams are keyed apart from the sampler's).
    ///   - views: one pipeline per view (1 or more; 2 for two-view pretraining).
    ///   - normalization: mean and std per channel (a single value is broadcast to every channel).
    ///   - workers: worker threads (≥ 1).
    ///   - prefetch: batches assembled ahead, at most (≥ 1); nil: `max(2, workers)`.
    ///   - format: floats (normalised by the workers) or bytes with the table (`BatchUploader.takesPixels`).
    /// - Throws: `DataError` for empty or uneven batches, indices outside the dataset, channel counts
    ///   other than 1 and 3, a normalisation that does not fit, or bad counts.
    public init(dataset: ImageDataset, batches: [[Int]], epoch: Int, seed: UInt64, views: [AugmentationPipeline],
                normalization: Normalization, workers: Int, prefetch: Int? = nil, format: BatchFormat = .floats) throws {
        guard workers >= 1 else { throw DataError("the loader needs at least 1 worker, got \(workers)") }
        let prefetch = prefetch ?? max(2, workers)
        guard prefetch >= 1 else { throw DataError("the loader's prefetch must be at least 1 batch, got \(prefetch)") }
        guard !views.isEmpty else { throw DataError("the loader needs at least one view pipeline") }
        guard epoch >= 0 else { throw DataError("epoch must be non-negative, got \(epoch)") }
        let B = batches.first?.count ?? 1
        guard B >= 1 else { throw DataError("batches must hold at least one sample each") }
        for (step, batch) in batches.enumerated() {
            guard batch.count == B else {
                throw DataError("every batch must have the same size: step 0 has \(B) samples, step \(step) has \(batch.count)")
            }
            for index in batch where index < 0 || index >= dataset.count {
                throw DataError("step \(step) asks for sample \(index), outside \(dataset.name)'s 0..<\(dataset.count)")
            }
        }
        let C = dataset.channels
        for view in views { try view.validate(channels: C) }
        var normalization = normalization
        if normalization.mean.count == 1 && normalization.std.count == 1 && C > 1 {
            normalization = Normalization(mean: Array(repeating: normalization.mean[0], count: C),
                                          std: Array(repeating: normalization.std[0], count: C))
        }
        let normalize = try Normalize(normalization, channels: C)

        let shapes = views.map { view -> [Int] in
            let size = view.outputSize(height: dataset.height, width: dataset.width)
            return [B, size.height, size.width, C]
        }
        stepCount = batches.count
        batchSize = B
        viewShapes = shapes
        self.format = format
        workerCount = workers
        self.prefetch = prefetch
        let slots = (0..<min(prefetch + 1, max(batches.count, 1))).map { _ in
            format == .floats
                ? BatchSlot(views: shapes.map { Tensor(zeros: $0) }, pixels: [], labelCount: B * dataset.labelsPerSample)
                : BatchSlot(views: [], pixels: shapes.map(normalize.pixelBatch), labelCount: B * dataset.labelsPerSample)
        }
        state = LoaderState(dataset: dataset, batches: batches, epoch: epoch, seed: seed, pipelines: views,
                            normalize: normalize, slots: slots)
        for worker in 0..<min(workers, batches.count) {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(state).toOpaque()
            let status = pthread_create(&thread, nil, { raw in
                let state = Unmanaged<LoaderState>.fromOpaque(raw!).takeRetainedValue()
                state.work()
                return nil
            }, context)
            guard status == 0 else {
                Unmanaged<LoaderState>.fromOpaque(context).release()
                cancel()
                throw DataError("could not start loader worker \(worker): \(String(cString: strerror(status)))")
            }
            threads.append(thread)
        }
    }

    /// Convenience: this rank's batches of `epoch` from `sampler`, the views of `preset`, and the
    /// preset's normalisation unless one is given (then the dataset's, which the caller must give when the
    /// preset has none). The augmentation seed is the sampler's seed.
    public convenience init(dataset: ImageDataset, sampler: ShardedSampler, epoch: Int, preset: AugmentationPreset,
                            normalization: Normalization? = nil, workers: Int, prefetch: Int? = nil,
                            format: BatchFormat = .floats) throws {
        guard let normalization = normalization ?? preset.normalization(channels: dataset.channels) else {
            throw DataError("preset '\(preset.name)' prescribes no normalisation; pass the dataset's mean and std")
        }
        try self.init(dataset: dataset, batches: sampler.batches(epoch: epoch), epoch: epoch, seed: sampler.seed,
                      views: preset.views, normalization: normalization, workers: workers, prefetch: prefetch,
                      format: format)
    }

    deinit { cancel() }

    /// The next batch in step order, or nil after the last step (or after `cancel()`).
    /// Blocks until the workers have it. Invalidates the tensors of the batch returned before.
    public func next() -> TwoViewBatch? {
        let state = self.state
        state.lock.lock()
        defer { state.lock.unlock() }
        if let held = heldSlot {
            state.freeSlots.append(held)
            heldSlot = nil
            state.lock.broadcast()
        }
        guard nextStep < stepCount && !state.cancelled else { return nil }
        while state.readySlot[nextStep] == nil && !state.cancelled { state.lock.wait() }
        guard let slotIndex = state.readySlot[nextStep] else { return nil }
        state.readySlot[nextStep] = nil
        heldSlot = slotIndex
        let slot = state.slots[slotIndex]
        let step = nextStep
        nextStep += 1
        return TwoViewBatch(step: step, indices: state.batches[step], views: slot.views, pixels: slot.pixels,
                            labels: slot.labels)
    }

    /// Stops the workers (each finishes the batch it is on) and waits for them. Idempotent; later
    /// `next()` calls return nil.
    public func cancel() {
        state.lock.lock()
        state.cancelled = true
        state.lock.broadcast()
        state.lock.unlock()
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }
}

/// One batch buffer: a tensor (or a batch of bytes) per view and the labels, owned by one worker while it
/// fills them, then by the consumer until its next `next()`.
final class BatchSlot {
    let views: [Tensor]
    let pixels: [PixelBatch]
    var labels: [Int32]

    init(views: [Tensor], pixels: [PixelBatch], labelCount: Int) {
        self.views = views
        self.pixels = pixels
        self.labels = [Int32](repeating: 0, count: labelCount)
    }
}

/// What the loader and its workers share.
///
/// Invariant for `@unchecked Sendable`: `dataset`, `batches`, `pipelines`, `normalize` and the `slots`
/// array are immutable after init. `nextClaim`, `freeSlots`, `readySlot` and `cancelled` are read and
/// written only under `lock`. A slot's contents (tensors, labels) are written only by the worker that
/// took its index from `freeSlots` under the lock, and read by the consumer only after that worker
/// published it in `readySlot` under the lock, until the consumer puts it back in `freeSlots`: each slot
/// has exactly one owner at a time, handed over under the lock (which orders the memory accesses).
final class LoaderState: @unchecked Sendable {
    let dataset: ImageDataset
    let batches: [[Int]]
    let epoch: Int
    let seed: UInt64
    let pipelines: [AugmentationPipeline]
    let normalize: Normalize
    let slots: [BatchSlot]
    let lock = ConditionLock()

    var nextClaim = 0
    var freeSlots: [Int]
    /// Per step: the slot holding its finished batch, until the consumer takes it.
    var readySlot: [Int?]
    var cancelled = false

    init(dataset: ImageDataset, batches: [[Int]], epoch: Int, seed: UInt64, pipelines: [AugmentationPipeline],
         normalize: Normalize, slots: [BatchSlot]) {
        self.dataset = dataset
        self.batches = batches
        self.epoch = epoch
        self.seed = seed
        self.pipelines = pipelines
        self.normalize = normalize
        self.slots = slots
        self.freeSlots = Array((0..<slots.count).reversed())
        self.readySlot = Array(repeating: nil, count: batches.count)
    }

    /// A worker's loop: claim the lowest unclaimed step when a slot is free, fill it, publish it.
    ///
    /// Why it cannot deadlock: steps are claimed in order, so the step the consumer waits for is either
    /// being filled (and will be published) or unclaimed; if unclaimed, every step before it has been
    /// delivered and the consumer has returned its slot, so all slots are free and a worker claims it.
    func work() {
        let workspace = AugmentationWorkspace()
        let source = ScratchBuffer<UInt8>(capacity: dataset.imageByteCount)
        while true {
            lock.lock()
            while !cancelled && nextClaim < batches.count && freeSlots.isEmpty { lock.wait() }
            if cancelled || nextClaim >= batches.count {
                lock.unlock()
                return
            }
            let step = nextClaim
            nextClaim += 1
            let slotIndex = freeSlots.removeLast()
            lock.unlock()

            fill(slots[slotIndex], step: step, workspace: workspace, source: source.pointer)

            lock.lock()
            readySlot[step] = slotIndex
            lock.broadcast()
            lock.unlock()
        }
    }

    /// Assembles step `step` into `slot`.
    func fill(_ slot: BatchSlot, step: Int, workspace: AugmentationWorkspace, source: UnsafeMutablePointer<UInt8>) {
        let (H, W, C, K) = (dataset.height, dataset.width, dataset.channels, dataset.labelsPerSample)
        let peaks = pipelines.map { $0.peakBytes(height: H, width: W, channels: C) }
        slot.labels.withUnsafeMutableBufferPointer { labels in
            for (position, index) in batches[step].enumerated() {
                for (k, label) in dataset.labels(at: index).enumerated() { labels[position * K + k] = label }
            }
        }
        for (position, index) in batches[step].enumerated() {
            dataset.copyImage(at: index, into: source)
            for (view, pipeline) in pipelines.enumerated() {
                var random = AugmentationPipeline.random(seed: seed, epoch: epoch, index: index, view: view)
                var image = workspace.begin(source: source, height: H, width: W, channels: C, capacity: peaks[view])
                pipeline.run(&image, random: &random, workspace: workspace)
                let shape = slot.pixels.isEmpty ? slot.views[view].shape : slot.pixels[view].shape
                precondition(shape[1] == image.height && shape[2] == image.width,
                             "view \(view) made a \(image.height)x\(image.width) image for a \(shape) batch")
                let perImage = image.byteCount
                if slot.pixels.isEmpty {
                    normalize.write(image.pixels, pixelCount: image.height * image.width,
                                    to: slot.views[view].pointer + position * perImage)
                } else {
                    (slot.pixels[view].bytes + position * perImage).update(from: image.pixels, count: perImage)
                }
            }
        }
    }
}

/// A pthread mutex with one condition variable. Heap-allocated, so the pthread objects never move.
final class ConditionLock: @unchecked Sendable {
    // Invariant for `@unchecked Sendable`: the pointers never change; pthread objects are made for
    // concurrent use.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Waits for a `broadcast` (or a spurious wake-up); the caller holds the lock and re-checks its condition.
    func wait() { pthread_cond_wait(condition, mutex) }
    func broadcast() { pthread_cond_broadcast(condition) }
}
