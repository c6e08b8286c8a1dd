/// Grid or block dimensions of a kernel launch.
public struct LaunchDimensions: Sendable, Equatable, CustomStringConvertible {
    public let x, y, z: Int
    public init(_ x: Int, _ y: Int = 1, _ z: Int = 1) { self.x = x; self.y = y; self.z = z }
    public var count: Int { x * y * z }
    public var description: String { "(\(x), \(y), \(z))" }
}

/// One argument of a kernel, by value, as `cuLaunchKernel`'s `kernelParams` hands it over: a device
/// address (`CUdeviceptr`; a host address on the CPU emulator) or a scalar of the kernel's own C type.
public enum KernelArgument: Sendable, Equatable {
    /// A pointer parameter (`const float*`, `bf16*`, `long*`, ...).
    case address(UInt64)
    /// `int`.
    case int32(Int32)
    /// `long` (64-bit on every platform CUDA supports).
    case int64(Int64)
    /// `float`.
    case float32(Float)
    /// `double`.
    case float64(Double)

    /// `int` from a Swift `Int` (counts and flags); traps on overflow, which no tensor reaches.
    public static func int(_ value: Int) -> KernelArgument { .int32(Int32(value)) }
    /// `long` from a Swift `Int` (element counts and offsets).
    public static func long(_ value: Int) -> KernelArgument { .int64(Int64(value)) }
    /// `int` 0 or 1 for a C boolean.
    public static func flag(_ value: Bool) -> KernelArgument { .int32(value ? 1 : 0) }
}

/// Calls `body` with `kernelParams`: an array holding, for each argument, a pointer to its value (8 bytes
/// of storage each, enough for every case). The pointers live only during `body`.
public func withKernelParameters<R>(_ arguments: [KernelArgument],
                                    _ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws -> R) rethrows -> R {
    let values = UnsafeMutableRawPointer.allocate(byteCount: max(arguments.count, 1) * 8, alignment: 8)
    let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: max(arguments.count, 1))
    defer { values.deallocate(); pointers.deallocate() }
    for (index, argument) in arguments.enumerated() {
        let slot = values + index * 8
        switch argument {
        case .address(let value): slot.storeBytes(of: value, as: UInt64.self)
        case .int32(let value): slot.storeBytes(of: value, as: Int32.self)
        case .int64(let value): slot.storeBytes(of: value, as: Int64.self)
        case .float32(let value): slot.storeBytes(of: value, as: Float.self)
        case .float64(let value): slot.storeBytes(of: value, as: Double.self)
        }
        pointers[index] = slot
    }
    return try body(pointers)
}

/// One kernel launch: which entry point, its grid and block, and its arguments in order.
public struct KernelLaunch: Sendable, Equatable, CustomStringConvertible {
    public let kernel: String
    public let grid: LaunchDimensions
    public let block: LaunchDimensions
    public let arguments: [KernelArgument]

    public init(_ kernel: String, grid: LaunchDimensions, block: LaunchDimensions, _ arguments: [KernelArgument]) {
        self.kernel = kernel; self.grid = grid; self.block = block; self.arguments = arguments
    }

    public var description: String { "\(kernel)<<<\(grid), \(block)>>>" }
}

/// Something that runs kernel launches in order: the CUDA driver on a GPU, or the CPU emulator the tests
/// use to check the kernels and their launch shapes without one.
public protocol KernelLauncher {
    func launch(_ launch: KernelLaunch) throws
}

extension KernelLauncher {
    public func launch(_ launches: [KernelLaunch]) throws {
        for launch in launches { try self.launch(launch) }
    }
}

/// Storage type of activations: fp32, or bf16 for `--precision bf16` (fp32 arithmetic either way). Picks
/// the `_f32` or `_bf16` entry point of a kernel that has both.
public enum ActivationType: String, Sendable, CaseIterable {
    case f32, bf16
    public var byteCount: Int { self == .f32 ? 4 : 2 }
    func entry(_ name: String) -> String { "\(name)_\(rawValue)" }
}

/// Launch shapes shared by the families.
enum LaunchShape {
    /// Threads per block of element-wise (grid-stride) kernels.
    static let elementwiseBlock = 256
    /// Enough blocks to fill an H100 (132 SMs × 2048 threads = 1056 blocks of 256) twice; the
    /// grid-stride loops cover the rest.
    static let maximumElementwiseBlocks = 2112

    /// A 1-D grid-stride launch over `count` elements.
    static func elementwise(_ count: Int) -> (grid: LaunchDimensions, block: LaunchDimensions) {
        let blocks = min(max((count + elementwiseBlock - 1) / elementwiseBlock, 1), maximumElementwiseBlocks)
        return (LaunchDimensions(blocks), LaunchDimensions(elementwiseBlock))
    }

    /// One thread per channel (or any small index), in blocks of 256.
    static func perIndex(_ count: Int) -> (grid: LaunchDimensions, block: LaunchDimensions) {
        (LaunchDimensions(max((count + 255) / 256, 1)), LaunchDimensions(256))
    }
}
