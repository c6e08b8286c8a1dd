import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Sums a model's flat gradient buffer over the ranks, in buckets started while backward is still running.
///
/// Buckets are cut from the *end* of the buffer (`bucketElements` each; the first bucket holds the last
/// parameters), because parameters are laid out in forward order and backward finishes them last-first.
/// During the step's last backward pass the model reports `gradientsFinal(from: o)` whenever every
/// gradient at offsets ≥ o is final; each bucket lying wholly above o is then handed to a communication
/// thread, which all-reduces it on its own communicator (a duplicate of the world, so its calls never
/// match the main thread's batch-norm and embedding collectives) while the main thread goes on with
/// backward. `finishStep()` launches what is left and waits; the time it waits is the communication the
/// backward could not hide. Every rank launches the same buckets in the same order (same code path), so
/// the serial queue issues the same MPI calls in the same order on every rank.
///
/// Without `overlap` (or where MPI lacks `MPI_THREAD_MULTIPLE`) all buckets are reduced in `finishStep()`
/// on the calling thread: the same sums, no overlap.
///
/// Concurrency invariant (why `@unchecked Sendable` is safe): once a bucket is launched, the main thread
/// never touches its elements until `finishStep()` has waited for the queue; the bucket cursor and the
/// timings are main-thread state; failures cross threads through a `Mutex`.
public final class GradientAllReducer: @unchecked Sendable {
    public let buckets: GradientBuckets
    public var bucketElements: Int { buckets.bucketElements }
    public let overlap: Bool
    public var bucketCount: Int { buckets.count }
    /// Seconds `finishStep()` waited for communication in the last step.
    public private(set) var lastWaitSeconds = 0.0
    private let buffer: UnsafeMutablePointer<Float>
    private let count: Int
    private let communicator: any Communicator
    private let queue = DispatchQueue(label: "disttrain.gradient-all-reduce")
    private var launched = 0
    private let failure = Mutex<String?>(nil)
    private let ownsCommunicator: Bool

    /// - Parameters:
    ///   - gradients: the flat gradient buffer, `count` floats; it must outlive the reducer.
    ///   - communicator: used by this reducer only (a `duplicate()` of the world when `overlap`).
    ///   - bucketBytes: bucket size; 4 MiB by default (DDP uses 25 MB for large models; small CPU models
    ///     need smaller buckets to have more than one).
    public init(gradients: UnsafeMutablePointer<Float>, count: Int, communicator: any Communicator,
                bucketBytes: Int = 4 << 20, overlap: Bool, ownsCommunicator: Bool = false) {
        self.buffer = gradients
        self.count = count
        self.communicator = communicator
        buckets = GradientBuckets(elementCount: count, bucketBytes: bucketBytes)
        self.overlap = overlap
        self.ownsCommunicator = ownsCommunicator
    }

    /// Ends the reducer: finalizes its communicator when it owns one (a duplicate). Collective.
    public func finish() throws {
        queue.sync {}
        if ownsCommunicator { try communicator.finalize() }
    }

    /// Elements `[lower, upper)` of bucket `index` (bucket 0 ends at the end of the buffer).
    public func bucketRange(_ index: Int) -> Range<Int> { buckets.range(index) }

    /// Starts a step: no bucket is launched yet.
    public func beginStep() {
        launched = 0
    }

    /// Every gradient at offsets ≥ `offset` is final for this step: launches the buckets that lie wholly above it.
    public func gradientsFinal(from offset: Int) {
        guard overlap else { return }
        let ready = buckets.ready(from: launched, finalFrom: offset)
        for index in ready {
            let range = bucketRange(index)
            queue.async { self.reduce(range) }
        }
        launched = ready.upperBound
    }

    /// Launches the remaining buckets and waits until every bucket is summed over the ranks.
    public func finishStep() throws {
        let start = monotonicSeconds()
        if overlap {
            gradientsFinal(from: 0)
            queue.sync {}
        } else {
            for index in 0..<bucketCount { reduce(bucketRange(index)) }
        }
        lastWaitSeconds = monotonicSeconds() - start
        if let message = failure.withLock({ $0 }) {
            throw CollectivesError(call: "gradient all-reduce", message: message, rank: communicator.rank,
                                   hint: mpiCollectiveHint)
        }
    }

    private func reduce(_ range: Range<Int>) {
        guard failure.withLock({ $0 == nil }) else { return }
        do {
            try communicator.allReduceSum(UnsafeMutableBufferPointer(start: buffer + range.lowerBound, count: range.count))
        } catch {
            failure.withLock { $0 = "\(error)" }
        }
    }
}

/// Seconds on the monotonic clock.
public func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}
