@testable import Engine
import XCTest

/// The choice of OpenBLAS kernels for CPUs OpenBLAS does not recognise (`BLASKernel`).
final class BLASKernelTests: XCTestCase {
    let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
    let intel = "GenuineIntel"

    func testAFallbackCoreOnAVXHardwareGetsTheVectorKernels() {
        XCTAssertEqual(BLASKernel.betterCore(current: "Prescott", requested: nil, flags: avx512, vendor: intel), "SkylakeX")
        XCTAssertEqual(BLASKernel.betterCore(current: "Prescott", requested: nil, flags: avx512, vendor: "AuthenticAMD"), "Haswell",
                       "AVX-512 kernels only on Intel")
        XCTAssertEqual(BLASKernel.betterCore(current: "Prescott", requested: nil, flags: ["sse3", "avx", "avx2", "fma"],
                                             vendor: intel), "Haswell")
        XCTAssertEqual(BLASKernel.betterCore(current: "Nehalem", requested: nil, flags: avx512.subtracting(["avx512bw"]),
                                             vendor: intel), "Haswell")
    }

    func testOpenBLASsOwnChoiceOrTheUsersStands() {
        XCTAssertNil(BLASKernel.betterCore(current: "SkylakeX", requested: nil, flags: avx512, vendor: intel), "a vector core already")
        XCTAssertNil(BLASKernel.betterCore(current: "Zen", requested: nil, flags: avx512, vendor: "AuthenticAMD"))
        XCTAssertNil(BLASKernel.betterCore(current: "Prescott", requested: "Prescott", flags: avx512, vendor: intel),
                     "the user asked for it")
        XCTAssertNil(BLASKernel.betterCore(current: "Prescott", requested: nil, flags: ["sse3", "avx"], vendor: intel),
                     "no AVX2 on this CPU")
    }

    /// /proc/cpuinfo is read (the relaunch itself is tested on the binary: `BLASKernelRelaunchTests`).
    func testTheCPUFlagsAreRead() {
        let cpu = BLASKernel.cpuInfo()
        #if arch(x86_64)
        XCTAssertTrue(cpu.flags.contains("sse2"), "\(cpu.flags.sorted().prefix(10))")
        XCTAssertTrue(["GenuineIntel", "AuthenticAMD"].contains(cpu.vendor), cpu.vendor)
        #endif
        XCTAssertFalse(BLASKernel.coreName.isEmpty)
    }
}
