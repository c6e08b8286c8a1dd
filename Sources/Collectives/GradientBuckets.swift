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
}
