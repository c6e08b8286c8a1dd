/// A batch of 8-bit images, `[B, H, W, C]` channels last, with the table that turns each byte into the float
/// the network reads: byte b of channel c becomes `table[c * 256 + b]` (torchvision's `ToTensor()` +
/// `Normalize`, built by `Normalization.lookupTable()`).
///
/// The loader hands these to a GPU's `BatchUploader` (`takesPixels`): a quarter of a Float32 batch's bytes
/// cross the host's memory and the bus, and the device looks the floats up in the same table, so they are
/// bit-identical to the ones the host would have written.
public final class PixelBatch: @unchecked Sendable {
    // Invariant for `@unchecked Sendable`: shape and table never change; the bytes have one writer at a
    // time (a loader worker, then the consumer reads), handed over under the loader's lock.
    public let shape: [Int]
    /// `[C, 256]`.
    public let table: [Float]
    public let bytes: UnsafeMutablePointer<UInt8>
    public var count: Int { shape.reduce(1, *) }
    public var channels: Int { shape[shape.count - 1] }

    /// Zero bytes of `shape`, whose last entry is the channel count `table` holds 256 values for.
    public init(shape: [Int], table: [Float]) {
        precondition(!shape.isEmpty && shape.allSatisfy { $0 >= 0 } && table.count == 256 * shape[shape.count - 1],
                     "PixelBatch: shape \(shape) with a table of \(table.count) values (256 per channel)")
        self.shape = shape
        self.table = table
        let count = shape.reduce(1, *)
        bytes = .allocate(capacity: max(count, 1))
        bytes.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { bytes.deallocate() }

    /// The normalised batch as a new host tensor of `shape`.
    public func normalized() -> Tensor {
        let tensor = Tensor(zeros: shape)
        Self.normalize(bytes, count: count, table: table, into: tensor.pointer)
        return tensor
    }

    /// `output[i] = table[(i % C) * 256 + pixels[i]]` for `count` channels-last bytes (C = `table.count / 256`).
    public static func normalize(_ pixels: UnsafePointer<UInt8>, count: Int, table: [Float],
                                 into output: UnsafeMutablePointer<Float>) {
        let channels = table.count / 256
        precondition(channels > 0 && count % channels == 0, "normalize: \(count) bytes of \(channels) channel(s)")
        table.withUnsafeBufferPointer { table in
            let lookup = table.baseAddress!
            switch channels {
            case 1:
                for i in 0..<count { output[i] = lookup[Int(pixels[i])] }
            case 3:
                for i in stride(from: 0, to: count, by: 3) {
                    output[i] = lookup[Int(pixels[i])]
                    output[i + 1] = lookup[256 + Int(pixels[i + 1])]
                    output[i + 2] = lookup[512 + Int(pixels[i + 2])]
                }
            default:
                for i in stride(from: 0, to: count, by: channels) {
                    for c in 0..<channels { output[i + c] = lookup[c * 256 + Int(pixels[i + c])] }
                }
            }
        }
    }
}

/// One view of a batch in host memory, as a loader made it: normalised floats, or bytes and their table.
public enum HostBatch {
    case floats(Tensor)
    case pixels(PixelBatch)

    /// Whether both are the same buffer (a one-view method's batch is its view twice).
    public func isSameBuffer(as other: HostBatch) -> Bool {
        switch (self, other) {
        case (.floats(let a), .floats(let b)): a.storage === b.storage
        case (.pixels(let a), .pixels(let b)): a === b
        default: false
        }
    }
}
