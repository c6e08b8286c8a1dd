/// How a flat gradient buffer of `elementCount` floats is cut into all-reduce buckets of `bucketElements`:
/// from the *end* (bucket 0 holds the last parameters), because parameters are laid out in forward order
/// and backward finishes them last-first. Shared by the host (`GradientAllReducer`) and the GPU
/// (`DeviceGradientReducer`) reducers.
public struct GradientBuckets: Sendable, Equatable {
    public let elementCount: Int
    public let bucketElements: Int

    public init(elementCount: Int, bucketBytes: Int) {
        precondition(bucketBytes >= MemoryLayout<Float>.stride, "a gradient bucket must hold at least one float")
        self.elementCount = elementCount
        bucketElements = bucketBytes / MemoryLayout<Float>.stride
    }

    public var count: Int { (elementCount + bucketElements - 1) / bucketElements }

    /// Elements `[lower, upper)` of bucket `index` (bucket 0 ends at the end of the buffer).
    public func range(_ index: Int) -> Range<Int> {
        let upper = elementCount - index * bucketElements
        return max(0, upper - bucketElements)..<upper
    }

    /// The buckets from `next` on whose gradients are final once every gradient at offsets ≥ `offset` is:
    /// those lying wholly at or above it, in launch order (the reducers launch them and move `next` past).
    public func ready(from next: Int, finalFrom offset: Int) -> Range<Int> {
        var end = next
        while end < count && range(end).lowerBound >= offset { end += 1 }
        return next..<end
    }
}
