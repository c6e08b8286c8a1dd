#if canImport(Glibc)
import Glibc
#endif

/// Where a tensor's memory lives.
public enum Device: Equatable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .cuda(let index): return "cuda:\(index)"
        }
    }
}

/// Element type of a tensor. Float32 everywhere today; bf16 is reserved for GPU mixed precision.
public enum DType: String, Sendable {
    case float32 = "F32"
    case bfloat16 = "BF16"

    public var byteCount: Int { self == .float32 ? 4 : 2 }
}

/// A block of memory: host memory, 64-byte aligned so SIMD loops and BLAS see aligned rows, or memory
/// a GPU backend allocated and handed over (`init(adopting:)`), whose `pointer` is then a device address
/// that only that backend's kernels may dereference.
///
/// Invariant for `@unchecked Sendable`: the storage object itself is immutable (pointer, count);
/// concurrent writes to its bytes are coordinated by the kernels that split work into disjoint ranges.
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    public let device: Device
    /// Frees adopted memory; nil for host memory from `init(count:)`.
    private let release: (@Sendable (UnsafeMutablePointer<Float>) -> Void)?

    public init(count: Int, device: Device = .cpu, zeroed: Bool = true) {
        precondition(count >= 0, "storage size must be non-negative")
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let status = posix_memalign(&raw, 64, bytes)
        guard status == 0, let raw else {
            fatalError("out of memory: could not allocate \(bytes) bytes for a tensor")
        }
        if zeroed { memset(raw, 0, bytes) }
        self.pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
        self.device = device
        self.release = nil
    }

    /// Memory of `count` floats allocated elsewhere (a GPU backend's), freed by `release` in `deinit`.
    public init(adopting pointer: UnsafeMutablePointer<Float>, count: Int, device: Device,
                release: @escaping @Sendable (UnsafeMutablePointer<Float>) -> Void) {
        self.pointer = pointer
        self.count = count
        self.device = device
        self.release = release
    }

    deinit {
        if let release { release(pointer) } else { free(pointer) }
    }
}
