@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// `CUDABackend` on the emulated GPU (kernels on the CPU emulator, cuBLAS's column-major sgemm as an
/// independent loop): its memory, and `BackendComparison` (every op against the CPU backend, what
/// `disttrain gpu-check` runs on a real GPU) passing, and failing when the device is wrong.
final class CUDABackendTests: XCTestCase {
    func testTensorsLiveOnTheDeviceAndAreFreedWithTheirStorage() throws {
        let device = EmulatedGPU(), gpu = CUDABackend(device: device)
        XCTAssertEqual(gpu.device, .cuda(0))
        let before = device.liveAllocations
        do {
            let t = gpu.tensor([2, 3], [1, 2, 3, 4, 5, 6])
            XCTAssertEqual(t.device, .cuda(0))
            XCTAssertEqual(gpu.download(t), [1, 2, 3, 4, 5, 6])
            let zero = gpu.zeros([4])
            XCTAssertEqual(gpu.download(zero), [0, 0, 0, 0])
            gpu.fill(zero, with: 2.5)
            XCTAssertEqual(gpu.download(zero), [2.5, 2.5, 2.5, 2.5])
            gpu.copy(Tensor(view: t.storage, offset: 1, shape: [4]), to: zero)  // a view: its offset is in the address
            XCTAssertEqual(gpu.download(zero), [2, 3, 4, 5])
            XCTAssertEqual(device.liveAllocations, before + 2)
        }
        XCTAssertEqual(device.liveAllocations, before, "releasing the tensors frees their device memory")
    }

    func testEveryOpMatchesTheCPUBackend() throws {
        let results = BackendComparison.run(on: CUDABackend(device: EmulatedGPU()))
        XCTAssertEqual(results.count, 43, results.map(\.operation).joined(separator: "\n"))
        for result in results { XCTAssertTrue(result.passed, "\(result)") }
    }

    /// A device whose sgemm ignores the transpose flags: the comparison must catch it in every GEMM with a
    /// transpose and in the convolutions (forward uses Wᵀ, the weight gradient dyᵀ).
    func testTheComparisonFailsOnAWrongDevice() throws {
        let results = BackendComparison.run(on: CUDABackend(device: IgnoresTransposes()))
        let failed = Set(results.filter { !$0.passed }.map(\.operation))
        XCTAssertTrue(failed.contains("gemm transposeA true transposeB false beta 0.0"), "\(failed.sorted())")
        XCTAssertTrue(failed.contains("conv 3x3/2 pad 1 forward"), "\(failed.sorted())")
        XCTAssertTrue(failed.contains("conv 3x3/2 pad 1 weight gradient (accumulated)"), "\(failed.sorted())")
        XCTAssertFalse(failed.contains("gemm transposeA false transposeB false beta 0.0"), "no transpose: unaffected")
        XCTAssertFalse(failed.contains("BN forward"), "ops without a GEMM are unaffected")
    }
}

/// An emulated GPU with a planted bug: its sgemm treats every operand as untransposed.
final class IgnoresTransposes: GPUDevice, @unchecked Sendable {
    let inner = EmulatedGPU()
    var index: Int { inner.index }
    func allocate(bytes: Int) throws -> UInt64 { try inner.allocate(bytes: bytes) }
    func free(_ address: UInt64) { inner.free(address) }
    func upload(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws {
        try inner.upload(source, to: address, bytes: bytes)
    }
    func download(_ address: UInt64, to destination: UnsafeMutableRawPointer, bytes: Int) throws {
        try inner.download(address, to: destination, bytes: bytes)
    }
    func launch(_ launch: KernelLaunch) throws { try inner.launch(launch) }
    func synchronize() throws {}
    func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UInt64, lda: Int,
                          b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        // Leading dimensions of untransposed operands of the same shapes, so the loop stays inside the buffers.
        try inner.sgemmColumnMajor(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: alpha, a: a,
                                   lda: m, b: b, ldb: k, beta: beta, c: c, ldc: ldc)
    }
}
