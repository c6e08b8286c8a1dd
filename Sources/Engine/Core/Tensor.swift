/// A dense, row-major array of Float32 values: a shape, and a view into a `Storage`.
///
/// Images are NHWC (channels last): shape `[N, H, W, C]`. Convolution weights are stored
/// `[Cout, KH, KW, Cin]` (OHWI) inside the engine; checkpoints convert to PyTorch's OIHW.
/// Several tensors may view one storage (the flat parameter and gradient buffers of a model).
public struct Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let storage: Storage
    /// Offset, in elements, of this view's first element inside `storage`.
    public let offset: Int
    public let dtype: DType

    /// Allocates a new zero-filled tensor.
    public init(zeros shape: [Int], device: Device = .cpu) {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.storage = Storage(count: count, device: device)
        self.offset = 0
        self.dtype = .float32
    }

    /// Allocates a tensor holding `values` (host only).
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) values, got \(values.count)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { source in
            pointer.update(from: source.baseAddress!, count: values.count)
        }
    }

    /// A view of `shape` starting `offset` elements into `storage`.
    public init(view storage: Storage, offset: Int, shape: [Int]) {
        precondition(offset >= 0 && offset + shape.reduce(1, *) <= storage.count,
                     "view \(shape) at offset \(offset) overruns storage of \(storage.count) elements")
        self.shape = shape
        self.storage = storage
        self.offset = offset
        self.dtype = .float32
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var device: Device { storage.device }

    /// Host pointer to the first element. Valid while `storage` is alive.
    @inline(__always)
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// The same elements seen with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(view: storage, offset: offset, shape: newShape)
    }

    /// Rows `range` of the first dimension, as a view `[range.count, …]` of the same storage (a rank's
    /// block of a gathered batch, one view of two stacked ones, …).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows \(range) of a tensor of shape \(shape)")
        let rowSize = shape.dropFirst().reduce(1, *)
        return Tensor(view: storage, offset: offset + range.lowerBound * rowSize, shape: [range.count] + shape.dropFirst())
    }

    /// Row `index` of the first dimension, as a view of the remaining shape.
    public func row(_ index: Int) -> Tensor { rows(index..<(index + 1)).reshaped(Array(shape.dropFirst())) }

    /// Overwrites this tensor's elements with `source`'s (same element count; host only).
    /// Both tensors are arguments here, so both storages are alive for the whole copy.
    public func assign(from source: Tensor) {
        precondition(source.count == count, "assign: \(source.shape) into \(shape)")
        pointer.update(from: source.pointer, count: count)
    }

    /// Copies the elements to an array (host only).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Reads element `i` of the flattened tensor.
    public subscript(flat i: Int) -> Float {
        get { pointer[i] }
        nonmutating set { pointer[i] = newValue }
    }

    /// True when `other` has the same shape: used to reuse cached activation buffers.
    public func hasShape(_ other: [Int]) -> Bool { shape == other }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(\(shape), \(dtype.rawValue), \(device))" }
}
