import CCUDA
@testable import CUDARuntime
import Foundation
import XCTest

/// Every kernel in the repository compiles with NVRTC for the GPUs we run on, with no GPU present; a
/// compile error carries NVRTC's log; compiled kernels are cached on disk by (source, arch, NVRTC version).
final class KernelCompileTests: XCTestCase {
    func testEveryKernelCompilesForSM80AndSM90() throws {
        let compiler = try KernelCompiler(nvrtc: nvrtcForTests(), cacheDirectory: nil)
        XCTAssertGreaterThanOrEqual(compiler.version.major, 12)
        let clock = ContinuousClock()
        var report: [String] = []
        let total = try clock.measure {
            for architecture in [GPUArchitecture.sm80, .sm90] {
                for family in KernelLibrary.all {
                    var compiled: CompiledKernels?
                    let time = try clock.measure { compiled = try compiler.compile(family, for: architecture) }
                    let cubin = compiled!.bytes
                    XCTAssertFalse(compiled!.fromCache)
                    XCTAssertFalse(compiled!.log.contains("warning"), "\(family.name) for \(architecture):\n\(compiled!.log)")
                    XCTAssertEqual(Array(cubin.prefix(4)), [0x7f, 0x45, 0x4c, 0x46], "\(family.name): not an ELF cubin")
                    // The ELF symbol table holds every extern "C" entry point by its plain name.
                    for kernel in family.kernels {
                        XCTAssertTrue(contains(cubin, kernel + "\0"), "\(family.name) for \(architecture) lacks \(kernel)")
                    }
                    report.append("\(architecture) \(family.name): \(cubin.count) bytes, \(time)")
                }
            }
        }
        print("NVRTC \(compiler.version.major).\(compiler.version.minor) (\(compiler.nvrtc.library.path)) compiled "
              + "\(KernelLibrary.all.count) kernel families for sm_80 and sm_90 in \(total):\n  "
              + report.joined(separator: "\n  "))
    }

    func testKernelNamesListedMatchTheSource() throws {
        // The `kernels` lists are what the backend asks cuModuleGetFunction for: each must be defined as an
        // extern "C" __global__ in its source, and every such definition must be listed.
        for family in KernelLibrary.all {
            let pattern = try NSRegularExpression(pattern: #"extern "C" __global__ void (\w+)\("#)
            let text = family.source
            let defined = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
                String(text[Range($0.range(at: 1), in: text)!])
            }
            XCTAssertEqual(defined.sorted(), family.kernels.sorted(), family.name)
        }
    }

    func testPTXNamesEveryEntryPoint() throws {
        let compiler = try KernelCompiler(nvrtc: nvrtcForTests(), cacheDirectory: nil)
        let ptx = try compiler.compile(batchNormKernels, for: .sm90, format: .ptx).bytes
        let text = String(decoding: ptx, as: UTF8.self)
        XCTAssertTrue(text.contains(".target sm_90"), String(text.prefix(400)))
        for kernel in batchNormKernels.kernels { XCTAssertTrue(text.contains(".entry \(kernel)("), kernel) }
    }

    func testCompileErrorCarriesNVRTCLogWithLineNumber() throws {
        let compiler = try KernelCompiler(nvrtc: nvrtcForTests(), cacheDirectory: nil)
        let broken = KernelSource(name: "broken", source: """
            extern "C" __global__ void scale(float* x, long n) {
                long i = blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) x[i] *= undeclared_factor;
            }
            """, kernels: ["scale"])
        XCTAssertThrowsError(try compiler.compile(broken, for: .sm90)) { error in
            guard let failure = error as? GPUCallError else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(failure.library, "NVRTC")
            XCTAssertEqual(failure.code, Int(NVRTC_ERROR_COMPILATION.rawValue))
            XCTAssertEqual(failure.message, "NVRTC_ERROR_COMPILATION")
            let text = failure.description
            XCTAssertTrue(text.contains("nvrtcCompileProgram(broken.cu, --gpu-architecture=sm_90"), text)
            XCTAssertTrue(text.contains("broken.cu(3): error"), text)
            XCTAssertTrue(text.contains("undeclared_factor"), text)
        }
    }

    func testCacheIsReusedAndKeyedBySourceArchitectureAndVersion() throws {
        let folder = try temporaryFolder(self) + "/kernels"  // created by the first compile
        let compiler = try KernelCompiler(nvrtc: nvrtcForTests(), cacheDirectory: folder)
        let first = try compiler.compile(activationKernels, for: .sm90)
        XCTAssertFalse(first.fromCache)
        let path = try XCTUnwrap(first.cachePath)
        XCTAssertTrue(path.hasSuffix("-sm_90-nvrtc\(compiler.version.major).\(compiler.version.minor).cubin"), path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [(path as NSString).lastPathComponent],
                       "exactly the cache file, no temporary left behind")
        let second = try compiler.compile(activationKernels, for: .sm90)
        XCTAssertTrue(second.fromCache)
        XCTAssertEqual(second.bytes, first.bytes)

        // The cache really is read: a file planted under the key comes back as is.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try compiler.compile(activationKernels, for: .sm90).bytes, [1, 2, 3])

        let edited = KernelSource(name: activationKernels.name, source: activationKernels.source + "\n// edited\n",
                                  kernels: activationKernels.kernels)
        XCTAssertNotEqual(compiler.cachePath(for: edited, architecture: .sm90, format: .cubin), path)
        XCTAssertNotEqual(compiler.cachePath(for: activationKernels, architecture: .sm80, format: .cubin), path)
        XCTAssertNotEqual(compiler.cachePath(for: activationKernels, architecture: .sm90, format: .ptx), path)
        XCTAssertFalse(try compiler.compile(edited, for: .sm90).fromCache)
    }

    func testContentHashSeparatesNearlyEqualTexts() {
        XCTAssertEqual(contentHash("abc").count, 32)
        XCTAssertEqual(contentHash("abc"), contentHash("abc"))
        XCTAssertNotEqual(contentHash("abc"), contentHash("abd"))
        XCTAssertNotEqual(contentHash(""), contentHash("\u{0}"))
    }

    private func contains(_ bytes: [UInt8], _ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard needle.count <= bytes.count else { return false }
        return (0...(bytes.count - needle.count)).contains { start in
            bytes[start] == needle[0] && Array(bytes[start..<(start + needle.count)]) == needle
        }
    }
}

extension KernelCompileTests {
    func testErrorsInAFamilyAreReportedOnTheFamilysOwnLines() throws {
        let compiler = try KernelCompiler(nvrtc: nvrtcForTests(), cacheDirectory: nil)
        let family = KernelSource.family("typo", """
            extern "C" __global__ void fill(float* x, long n) {
                GRID_STRIDE_LOOP(i, n) x[i] = from_float<float>(1.0f);
                bad_call();
            }
            """, kernels: ["fill"])
        XCTAssertThrowsError(try compiler.compile(family, for: .sm80)) { error in
            XCTAssertTrue("\(error)".contains("typo.cu(3): error: identifier \"bad_call\" is undefined"), "\(error)")
        }
    }
}
