@testable import Engine
import XCTest

/// The choice of OpenBLAS kernels for CPUs OpenBLAS does not recognise (`BLASKernel`).
final class BLASKernelTests: XCTestCase {
    let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]

    func testAFallbackCoreOnAVXHardwareGetsTheVectorKernels() {
        XCTAssertEqual(BLASKernel.betterCore(current: "Prescott", requested: nil, flags: avx512), "SkylakeX")
        XCTAssertEqual(BLASKernel.betterCore(current: "Prescott", requested: nil, flags: ["sse3", "avx", "avx2", "fma"]), "Haswell")
        XCTAssertEqual(BLASKernel.betterCore(current: "Nehalem", requested: nil, flags: avx512.subtracting(["avx512bw"])), "Haswell")
    }

    func testOpenBLASsOwnChoiceOrTheUsersStands() {
        XCTAssertNil(BLASKernel.betterCore(current: "SkylakeX", requested: nil, flags: avx512), "a vector core already")
        XCTAssertNil(BLASKernel.betterCore(current: "Zen", requested: nil, flags: avx512))
        XCTAssertNil(BLASKernel.betterCore(current: "Prescott", requested: "Prescott", flags: avx512), "the user asked for it")
        XCTAssertNil(BLASKernel.betterCore(current: "Prescott", requested: nil, flags: ["sse3", "avx"]), "no AVX2 on this CPU")
    }

    /// This process's kernels are never an SSE-only fallback on a CPU with AVX2 unless someone asked for them
    /// (the test binary does not relaunch itself; the `disttrain` binary does, see DeviceOptionTests).
    func testTheCPUFlagsAreRead() {
        let flags = BLASKernel.cpuFlags()
        #if arch(x86_64)
        XCTAssertTrue(flags.contains("sse2"), "\(flags.sorted().prefix(10))")
        #endif
        XCTAssertFalse(BLASKernel.coreName.isEmpty)
    }
}
