import CUDARuntime

/// "Device" memory for the emulator: host memory with 64 guard bytes on each side, so a test notices a
/// kernel that writes outside its buffer (`checkGuards`). Reads outside go unnoticed.
public final class GuardedBuffer {
    public static let guardBytes = 64
    public static let guardByte: UInt8 = 0xA5
    public let byteCount: Int
    public let name: String
    private let base: UnsafeMutableRawPointer

    public init(_ name: String, bytes: Int) {
        self.name = name
        byteCount = bytes
        base = UnsafeMutableRawPointer.allocate(byteCount: bytes + 2 * Self.guardBytes, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: Self.guardByte, count: bytes + 2 * Self.guardBytes)
    }

    deinit { base.deallocate() }

    public var pointer: UnsafeMutableRawPointer { base + Self.guardBytes }
    public var address: UInt64 { UInt64(UInt(bitPattern: pointer)) }

    /// Whether the `bytes` bytes from host address `start` on lie inside this buffer.
    public func holds(_ start: UInt64, bytes: Int) -> Bool {
        start >= address && start + UInt64(bytes) <= address + UInt64(byteCount)
    }

    public convenience init(_ name: String, floats: [Float]) {
        self.init(name, bytes: floats.count * 4)
        pointer.copyMemory(from: floats, byteCount: floats.count * 4)
    }

    public convenience init(_ name: String, bf16 values: [UInt16]) {
        self.init(name, bytes: values.count * 2)
        pointer.copyMemory(from: values, byteCount: values.count * 2)
    }

    public convenience init<T: FixedWidthInteger>(_ name: String, integers: [T]) {
        self.init(name, bytes: integers.count * MemoryLayout<T>.stride)
        pointer.copyMemory(from: integers, byteCount: integers.count * MemoryLayout<T>.stride)
    }

    public func floats() -> [Float] { Array(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Float.self), count: byteCount / 4)) }
    public func doubles() -> [Double] { Array(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Double.self), count: byteCount / 8)) }
    public func bf16() -> [UInt16] { Array(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: UInt16.self), count: byteCount / 2)) }

    /// Throws when a guard byte changed: something wrote before or after the buffer.
    public func checkGuards() throws {
        let all = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: byteCount + 2 * Self.guardBytes)
        for i in 0..<Self.guardBytes where all[i] != Self.guardByte {
            throw EmulationError("\(name): byte \(i - Self.guardBytes) (before the buffer) was overwritten")
        }
        for i in 0..<Self.guardBytes where all[Self.guardBytes + byteCount + i] != Self.guardByte {
            throw EmulationError("\(name): byte \(byteCount + i) (past the end of \(byteCount)) was overwritten")
        }
    }
}

/// bf16 bits of `x`, rounded to nearest even (NaN stays NaN), as the kernels' `from_float<bf16>`.
public func bf16Bits(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    if u & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: (u >> 16) | 0x40) }
    return UInt16(truncatingIfNeeded: (u &+ 0x7fff &+ ((u >> 16) & 1)) >> 16)
}

public func floatFromBF16(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
