import CUDARuntime
import Foundation

/// A `GPUDevice` on the CPU for `CUDABackend`'s tests: guarded host buffers as device memory, every kernel
/// of `KernelLibrary` through `KernelEmulator`, and cuBLAS's column-major sgemm as a plain loop in double
/// (so the backend's row-major-to-column-major mapping is checked against an independent GEMM).
///
/// Device addresses are the host addresses plus `addressTag`, which makes them non-canonical on x86-64
/// and AArch64: host code that dereferences a device tensor's `pointer` (as it could not on a real GPU)
/// crashes here too, instead of quietly working. Only this device subtracts the tag (launch arguments,
/// copies, sgemm operands).
public final class EmulatedGPU: GPUDevice, @unchecked Sendable {
    public let index = 0
    public static let addressTag: UInt64 = 0x4000_0000_0000_0000
    private var buffers: [UInt64: GuardedBuffer] = [:]
    private var familyOfKernel: [String: KernelSource] = [:]
    /// Launches run so far, in order (the tests read the kernels an op used).
    public private(set) var launches: [KernelLaunch] = []

    public init() {
        for family in KernelLibrary.all { for kernel in family.kernels { familyOfKernel[kernel] = family } }
    }

    public var liveAllocations: Int { buffers.count }

    public func allocate(bytes: Int) throws -> UInt64 {
        let buffer = GuardedBuffer("allocation \(buffers.count) of \(bytes) bytes", bytes: bytes)
        buffers[buffer.address] = buffer
        return buffer.address + Self.addressTag
    }

    /// The host address behind a device address, or a failure naming it when it is not one.
    public func host(_ address: UInt64) throws -> UInt64 {
        guard address >= Self.addressTag else {
            throw EmulationError("address \(address) is a host address, not one of this device's")
        }
        return address - Self.addressTag
    }

    public func free(_ address: UInt64) {
        guard let buffer = buffers.removeValue(forKey: address &- Self.addressTag) else {
            preconditionFailure("free of \(address), which is not an allocation")
        }
        do { try buffer.checkGuards() } catch { preconditionFailure("\(error)") }
    }

    /// The allocation that holds `bytes` bytes from `address` on, or a failure naming the address.
    func check(_ device: UInt64, bytes: Int) throws -> UnsafeMutableRawPointer {
        let address = try host(device)
        let inside = buffers.values.contains { address >= $0.address && address + UInt64(bytes) <= $0.address + UInt64($0.byteCount) }
        guard inside else { throw EmulationError("\(bytes) bytes at \(device) are not inside one allocation") }
        return UnsafeMutableRawPointer(bitPattern: UInt(address))!
    }

    public func upload(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws {
        try check(address, bytes: bytes).copyMemory(from: source, byteCount: bytes)
    }

    public func download(_ address: UInt64, to destination: UnsafeMutableRawPointer, bytes: Int) throws {
        destination.copyMemory(from: try check(address, bytes: bytes), byteCount: bytes)
    }

    public func launch(_ launch: KernelLaunch) throws {
        guard let family = familyOfKernel[launch.kernel] else { throw EmulationError("no kernel called \(launch.kernel)") }
        launches.append(launch)
        let arguments = try launch.arguments.map { argument -> KernelArgument in
            if case .address(let address) = argument { return .address(try host(address)) }
            return argument
        }
        try KernelEmulator.of(family).launch(KernelLaunch(launch.kernel, grid: launch.grid, block: launch.block, arguments))
        try checkGuards()
    }

    public func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                          a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        try gemm(Float.self, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                 a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { Double($0) }
    }

    /// bf16 operands (their exact values, widened), fp32 `C`: what cublasGemmEx computes up to its
    /// fp32 accumulation order.
    public func bf16GemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                    a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        try gemm(UInt16.self, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                 a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { Double(floatFromBF16($0)) }
    }

    /// cuBLAS's column-major GEMM as a loop in double over operands of type `Element`.
    private func gemm<Element>(_: Element.Type, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                               a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int,
                               value: (Element) -> Double) throws {
        // Column-major: element (i, j) of a matrix with leading dimension ld is at i + j·ld.
        guard lda >= (transposeA ? k : m), ldb >= (transposeB ? n : k), ldc >= m else {
            throw EmulationError("gemm: leading dimensions \(lda), \(ldb), \(ldc) too small for \(m)x\(n)x\(k)")
        }
        let size = MemoryLayout<Element>.stride
        let pa = try check(a, bytes: size * (((transposeA ? m : k) - 1) * lda + (transposeA ? k : m)))
            .assumingMemoryBound(to: Element.self)
        let pb = try check(b, bytes: size * (((transposeB ? k : n) - 1) * ldb + (transposeB ? n : k)))
            .assumingMemoryBound(to: Element.self)
        let pc = try check(c, bytes: 4 * ((n - 1) * ldc + m)).assumingMemoryBound(to: Float.self)
        for j in 0..<n {
            for i in 0..<m {
                var sum = 0.0
                for p in 0..<k {
                    let aValue = transposeA ? pa[p + i * lda] : pa[i + p * lda]
                    let bValue = transposeB ? pb[j + p * ldb] : pb[p + j * ldb]
                    sum += value(aValue) * value(bValue)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(pc[i + j * ldc])  // beta 0 ignores C, as cuBLAS
                pc[i + j * ldc] = Float(Double(alpha) * sum + old)
            }
        }
    }

    public func synchronize() throws {}

    /// Throws when any allocation's guard bytes changed.
    public func checkGuards() throws { for buffer in buffers.values { try buffer.checkGuards() } }
}
