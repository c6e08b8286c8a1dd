@testable import CUDARuntime
import Foundation

/// A `GPUDevice` on the CPU for `CUDABackend`'s tests: guarded host buffers as device memory, every kernel
/// of `KernelLibrary` through `KernelEmulator`, and cuBLAS's column-major sgemm as a plain loop in double
/// (so the backend's row-major-to-column-major mapping is checked against an independent GEMM).
final class EmulatedGPU: GPUDevice, @unchecked Sendable {
    let index = 0
    private var buffers: [UInt64: GuardedBuffer] = [:]
    private var familyOfKernel: [String: KernelSource] = [:]
    /// Launches run so far, in order (the tests read the kernels an op used).
    private(set) var launches: [KernelLaunch] = []

    init() {
        for family in KernelLibrary.all { for kernel in family.kernels { familyOfKernel[kernel] = family } }
    }

    var liveAllocations: Int { buffers.count }

    func allocate(bytes: Int) throws -> UInt64 {
        let buffer = GuardedBuffer("allocation \(buffers.count) of \(bytes) bytes", bytes: bytes)
        buffers[buffer.address] = buffer
        return buffer.address
    }

    func free(_ address: UInt64) {
        guard let buffer = buffers.removeValue(forKey: address) else {
            preconditionFailure("free of \(address), which is not an allocation")
        }
        do { try buffer.checkGuards() } catch { preconditionFailure("\(error)") }
    }

    /// The allocation that holds `bytes` bytes from `address` on, or a failure naming the address.
    private func check(_ address: UInt64, bytes: Int) throws {
        let inside = buffers.values.contains { address >= $0.address && address + UInt64(bytes) <= $0.address + UInt64($0.byteCount) }
        guard inside else { throw EmulationError("\(bytes) bytes at \(address) are not inside one allocation") }
    }

    func upload(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws {
        try check(address, bytes: bytes)
        UnsafeMutableRawPointer(bitPattern: UInt(address))!.copyMemory(from: source, byteCount: bytes)
    }

    func download(_ address: UInt64, to destination: UnsafeMutableRawPointer, bytes: Int) throws {
        try check(address, bytes: bytes)
        destination.copyMemory(from: UnsafeRawPointer(bitPattern: UInt(address))!, byteCount: bytes)
    }

    func launch(_ launch: KernelLaunch) throws {
        guard let family = familyOfKernel[launch.kernel] else { throw EmulationError("no kernel called \(launch.kernel)") }
        launches.append(launch)
        try KernelEmulator.of(family).launch(launch)
        try checkGuards()
    }

    func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                          a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        // Column-major: element (i, j) of a matrix with leading dimension ld is at i + j·ld.
        guard lda >= (transposeA ? k : m), ldb >= (transposeB ? n : k), ldc >= m else {
            throw EmulationError("sgemm: leading dimensions \(lda), \(ldb), \(ldc) too small for \(m)x\(n)x\(k)")
        }
        try check(a, bytes: 4 * ((transposeA ? m : k) - 1) * lda + 4 * (transposeA ? k : m))
        try check(b, bytes: 4 * ((transposeB ? k : n) - 1) * ldb + 4 * (transposeB ? n : k))
        try check(c, bytes: 4 * ((n - 1) * ldc + m))
        let pa = UnsafePointer<Float>(bitPattern: UInt(a))!, pb = UnsafePointer<Float>(bitPattern: UInt(b))!
        let pc = UnsafeMutablePointer<Float>(bitPattern: UInt(c))!
        for j in 0..<n {
            for i in 0..<m {
                var sum = 0.0
                for p in 0..<k {
                    let aValue = transposeA ? pa[p + i * lda] : pa[i + p * lda]
                    let bValue = transposeB ? pb[j + p * ldb] : pb[p + j * ldb]
                    sum += Double(aValue) * Double(bValue)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(pc[i + j * ldc])  // beta 0 ignores C, as cuBLAS
                pc[i + j * ldc] = Float(Double(alpha) * sum + old)
            }
        }
    }

    func synchronize() throws {}

    /// Throws when any allocation's guard bytes changed.
    func checkGuards() throws { for buffer in buffers.values { try buffer.checkGuards() } }
}
