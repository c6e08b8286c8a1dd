import Collectives
import Engine

/// Sums the flat gradient buffer in device memory over the GPU ranks with NCCL, in buckets queued on the
/// collectives stream while backward still runs: the GPU's twin of `GradientAllReducer`, cut the same way
/// (`GradientBuckets`). During the step's last backward pass the model reports `gradientsFinal(from: o)`
/// once every gradient at offsets ≥ o has been queued; each bucket wholly above o is then queued at once,
/// after an event on the compute stream (`DeviceCommunicator.enqueueAllReduceSum`), so NCCL sums it while
/// the GPU computes the gradients below it. The host never waits during backward; `finishStep()` queues
/// what is left and waits for all, and the time it waits is the communication the backward did not hide.
/// Without `overlap` every bucket is queued in `finishStep()`: the same sums.
///
/// An error while queueing during backward (the model's callback cannot throw) is kept and thrown by
/// `finishStep()`; the communicator is aborted by then, so nothing is left waiting.
public final class DeviceGradientReducer {
    public let buckets: GradientBuckets
    public let overlap: Bool
    /// Seconds `finishStep()` waited in the last step.
    public private(set) var lastWaitSeconds = 0.0
    /// Buckets queued from `gradientsFinal` (during backward) in the last step.
    public private(set) var lastOverlappedBuckets = 0
    let gradients: Tensor
    let communicator: DeviceCommunicator
    private var launched = 0
    private var failure: (any Error)?

    /// - Parameter gradients: the flat gradient buffer, a device tensor that outlives the reducer.
    public init(gradients: Tensor, communicator: DeviceCommunicator, bucketBytes: Int = 4 << 20, overlap: Bool) {
        precondition(gradients.device != .cpu, "DeviceGradientReducer sums device gradients, got a host tensor")
        self.gradients = gradients
        self.communicator = communicator
        buckets = GradientBuckets(elementCount: gradients.count, bucketBytes: bucketBytes)
        self.overlap = overlap
    }

    /// Starts a step: no bucket is queued yet.
    public func beginStep() {
        launched = 0
        lastOverlappedBuckets = 0
    }

    /// Every gradient at offsets ≥ `offset` is queued: queues the buckets that lie wholly above it.
    public func gradientsFinal(from offset: Int) {
        guard overlap else { return }
        let before = launched
        queueBuckets(downTo: offset)
        lastOverlappedBuckets += launched - before
    }

    /// Queues the remaining buckets and waits until every bucket is summed over the ranks.
    public func finishStep() throws {
        queueBuckets(downTo: 0)
        if let failure { throw failure }
        try communicator.waitForQueued("all-reduce of the gradients (\(buckets.count) bucket\(buckets.count == 1 ? "" : "s"))")
        lastWaitSeconds = communicator.lastWaitSeconds
    }

    private func queueBuckets(downTo offset: Int) {
        for index in buckets.ready(from: launched, finalFrom: offset) where failure == nil {
            let range = buckets.range(index)
            let bucket = Tensor(view: gradients.storage, offset: gradients.offset + range.lowerBound, shape: [range.count])
            do { try communicator.enqueueAllReduceSum(bucket) } catch { failure = error }
            launched = index + 1
        }
    }
}
