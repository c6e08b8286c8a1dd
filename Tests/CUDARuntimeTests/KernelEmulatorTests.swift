@testable import CUDARuntime
import GPUEmulation
import XCTest

/// The CPU emulator itself: block reductions through shared memory and shuffles give the right sums, and
/// the mistakes that hang or corrupt a GPU are reported instead (a barrier some threads never reach, a
/// shuffle over a partial warp, a write past a buffer).
final class KernelEmulatorTests: XCTestCase {
    static let probes = KernelSource.family("emulator_probes", #"""
    // out[block] = Σ x[block·n ..< (block+1)·n] through the prelude's block_sum; written by thread 5 only.
    extern "C" __global__ void row_sums(const float* x, float* out, long n) {
        float s = 0.0f;
        for (long i = threadIdx.x; i < n; i += blockDim.x) s += x[blockIdx.x * n + i];
        s = block_sum(s);
        if (threadIdx.x == 5) out[blockIdx.x] = s;
    }
    // Threads below 3 wait in __syncthreads while the rest of warp 0 waits in a shuffle: a deadlock.
    extern "C" __global__ void divergent_barrier(float* out) {
        if (threadIdx.x < 3) __syncthreads();
        else out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.0f, 0);
    }
    // Every thread writes out[threadIdx.x]: past the end when the buffer is smaller than the block.
    extern "C" __global__ void write_own_index(float* out) { out[threadIdx.x] = (float)threadIdx.x; }
    // Synchronises, but the family does not declare it: the emulator runs it directly and must object.
    extern "C" __global__ void undeclared_barrier(float* out) { __syncthreads(); out[threadIdx.x] = 1.0f; }
    """#, kernels: ["row_sums", "divergent_barrier", "write_own_index", "undeclared_barrier"],
       synchronizing: ["row_sums", "divergent_barrier"])

    func testBlockSumMatchesAHostSumForEveryBlock() throws {
        let emulator = try KernelEmulator.of(Self.probes)
        let n = 1000, rows = 3
        let values = (0..<(n * rows)).map { Float(($0 * 37) % 101) / 8 }
        let x = GuardedBuffer("x", floats: values), out = GuardedBuffer("out", floats: [Float](repeating: -1, count: rows))
        for threads in [32, 256, 1024] {
            try emulator.launch(KernelLaunch("row_sums", grid: LaunchDimensions(rows), block: LaunchDimensions(threads),
                                             [.address(x.address), .address(out.address), .long(n)]))
            for row in 0..<rows {
                let expected = values[(row * n)..<((row + 1) * n)].reduce(0, +)
                XCTAssertEqual(out.floats()[row], expected, accuracy: 1e-3, "block \(row), \(threads) threads")
            }
        }
        try out.checkGuards()
    }

    func testBarrierDivergenceIsReportedNotHung() throws {
        let emulator = try KernelEmulator.of(Self.probes)
        let out = GuardedBuffer("out", floats: [Float](repeating: 0, count: 64))
        XCTAssertThrowsError(try emulator.launch(KernelLaunch("divergent_barrier", grid: LaunchDimensions(1),
                                                              block: LaunchDimensions(64), [.address(out.address)]))) {
            XCTAssertTrue("\($0)".contains("deadlock in block (0, 0, 0): 3 threads wait in __syncthreads()"), "\($0)")
        }
    }

    /// A 40-thread block has a partial second warp: block_sum's full-mask shuffles read lanes it lacks.
    func testShuffleOverAPartialWarpIsReported() throws {
        let emulator = try KernelEmulator.of(Self.probes)
        let x = GuardedBuffer("x", floats: [Float](repeating: 1, count: 64)), out = GuardedBuffer("out", bytes: 4)
        XCTAssertThrowsError(try emulator.launch(KernelLaunch("row_sums", grid: LaunchDimensions(1),
                                                              block: LaunchDimensions(40),
                                                              [.address(x.address), .address(out.address), .long(64)]))) {
            XCTAssertTrue("\($0)".contains("warp shuffle reads a lane the block does not have"), "\($0)")
        }
    }

    func testWritesPastABufferAreCaught() throws {
        let emulator = try KernelEmulator.of(Self.probes)
        let fits = GuardedBuffer("fits", bytes: 64 * 4)
        try emulator.launch(KernelLaunch("write_own_index", grid: LaunchDimensions(1), block: LaunchDimensions(64),
                                         [.address(fits.address)]))
        try fits.checkGuards()
        XCTAssertEqual(fits.floats(), (0..<64).map(Float.init))
        let short = GuardedBuffer("short", bytes: 60 * 4)
        try emulator.launch(KernelLaunch("write_own_index", grid: LaunchDimensions(1), block: LaunchDimensions(64),
                                         [.address(short.address)]))
        XCTAssertThrowsError(try short.checkGuards()) {
            XCTAssertEqual("\($0)", "short: byte 240 (past the end of 240) was overwritten")
        }
    }

    func testABarrierInAKernelNotDeclaredSynchronizingIsReported() throws {
        let emulator = try KernelEmulator.of(Self.probes)
        let out = GuardedBuffer("out", bytes: 64 * 4)
        XCTAssertThrowsError(try emulator.launch(KernelLaunch("undeclared_barrier", grid: LaunchDimensions(1),
                                                              block: LaunchDimensions(64), [.address(out.address)]))) {
            XCTAssertTrue("\($0)".contains("__syncthreads() in a kernel its family does not list as synchronizing"), "\($0)")
        }
    }

    func testAnInvalidLaunchShapeIsRefused() throws {
        let emulator = try KernelEmulator.of(Self.probes)
        let out = GuardedBuffer("out", bytes: 4)
        XCTAssertThrowsError(try emulator.launch(KernelLaunch("write_own_index", grid: LaunchDimensions(1),
                                                              block: LaunchDimensions(2048), [.address(out.address)]))) {
            XCTAssertTrue("\($0)".contains("invalid launch: grid (1, 1, 1), block (2048, 1, 1)"), "\($0)")
        }
    }
}
