import CCUDA
@testable import CUDARuntime
import Foundation
import XCTest

/// The loader's search order and its error message, on a fake directory tree (no CUDA needed), and the
/// function tables on whatever real libraries this machine has.
final class LibrarySearchTests: XCTestCase {
    /// root/custom (a CUDA install), root/venv (a venv with the cu13 wheel), root/sp (a bare site-packages
    /// with cu12-style wheels), root/ld, root/usr (a system Python's dist-packages), root/home/.local.
    private func fakeTree() throws -> (root: String, search: LibrarySearch) {
        let root = try temporaryFolder(self)
        for folder in ["custom/lib64", "venv/lib/python3.11/site-packages/nvidia/cu13/lib",
                       "venv/lib/python3.11/site-packages/nvidia/cu13/include",
                       "sp/nvidia/cuda_nvrtc/lib", "sp/nvidia/cublas/lib", "sp/nvidia/notalib", "ld",
                       "usr/lib/python3.12/dist-packages/nvidia/nccl/lib",
                       "home/.local/lib/python3.11/site-packages/nvidia/cublas/lib"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        let search = LibrarySearch(
            variables: ["DISTTRAIN_CUDA_PATH": "\(root)/custom:\(root)/sp", "LD_LIBRARY_PATH": "\(root)/ld::\(root)/custom",
                        "VIRTUAL_ENV": "\(root)/venv", "HOME": "\(root)/home"],
            standardFolders: ["\(root)/usr/local/cuda/lib64", "\(root)/usr/lib/x86_64-linux-gnu"],
            pythonPrefixes: ["\(root)/usr", "\(root)/usr/local"])
        return (root, search)
    }

    func testPlacesAreSearchedInDocumentedOrderWithoutRepeats() throws {
        let (root, search) = try fakeTree()
        let places = search.places()
        XCTAssertEqual(places.map { $0.folder.map { $0.replacingOccurrences(of: root, with: "R") } ?? "<default>" }, [
            "R/custom", "R/custom/lib64", "R/custom/lib",           // DISTTRAIN_CUDA_PATH entry and its lib folders
            "R/sp", "R/sp/lib64", "R/sp/lib",
            "R/sp/nvidia/cublas/lib", "R/sp/nvidia/cuda_nvrtc/lib", // the entry is a site-packages folder
            "R/ld",                                                 // LD_LIBRARY_PATH (R/custom already listed)
            "<default>",                                            // dlopen's own search
            "R/usr/local/cuda/lib64", "R/usr/lib/x86_64-linux-gnu",
            "R/venv/lib/python3.11/site-packages/nvidia/cu13/lib",  // VIRTUAL_ENV
            "R/usr/lib/python3.12/dist-packages/nvidia/nccl/lib",   // system Python
            "R/home/.local/lib/python3.11/site-packages/nvidia/cublas/lib",
        ])
        XCTAssertEqual(places.first?.origin, "DISTTRAIN_CUDA_PATH")
        XCTAssertEqual(places.first { $0.folder == nil }?.origin, "ld.so.cache and the binary's RUNPATH")
    }

    func testVenvGivenInDisttrainCudaPathIsScannedForWheels() throws {
        let (root, base) = try fakeTree()
        var search = base
        search.variables = ["DISTTRAIN_CUDA_PATH": root + "/venv"]
        XCTAssertTrue(search.places().contains {
            $0.folder == root + "/venv/lib/python3.11/site-packages/nvidia/cu13/lib" && $0.origin == "pip wheel in DISTTRAIN_CUDA_PATH"
        })
    }

    func testMissingLibraryMessageNamesLibraryEveryPlaceAndRemedy() throws {
        let (root, search) = try fakeTree()
        // A file with the soname that is not a library: found, but dlopen refuses it.
        let fake = root + "/venv/lib/python3.11/site-packages/nvidia/cu13/lib/libdisttrain-fake.so.13"
        FileManager.default.createFile(atPath: fake, contents: Data("not an ELF file".utf8))
        let library = GPULibrary(name: "FakeRT", sonames: ["libdisttrain-fake.so.13", "libdisttrain-fake.so.12"],
                                 remedy: "pip install fake-runtime")
        XCTAssertThrowsError(try DynamicLibrary.open(library, search: search)) { error in
            guard let missing = error as? LibraryNotFound else { return XCTFail("unexpected \(error)") }
            let text = missing.description
            XCTAssertTrue(text.hasPrefix("the FakeRT library (libdisttrain-fake.so.13 or libdisttrain-fake.so.12) was not found"), text)
            for place in search.places() {
                if let folder = place.folder { XCTAssertTrue(text.contains(folder + " ("), "\(folder) missing from:\n\(text)") }
            }
            XCTAssertTrue(text.contains("\(root)/custom/lib (DISTTRAIN_CUDA_PATH): no such folder"), text)
            XCTAssertTrue(text.contains("\(root)/ld (LD_LIBRARY_PATH): none of libdisttrain-fake.so.13, libdisttrain-fake.so.12"), text)
            XCTAssertTrue(text.contains("libdisttrain-fake.so.13 is there but could not be opened: "), text)
            XCTAssertTrue(text.contains("the dynamic loader's default search (ld.so.cache and the binary's RUNPATH): libdisttrain-fake.so.12: "), text)
            XCTAssertTrue(text.contains("\(root)/venv/lib/python3*/site-packages/nvidia/*/lib"), text)
            XCTAssertTrue(text.hasSuffix("To fix: pip install fake-runtime"), text)
            XCTAssertEqual(missing.attempts.count, search.places().count + 1, "one line per folder, one per soname for the default search")
        }
    }

    func testFirstPlaceHoldingTheLibraryWinsAndFunctionsResolve() throws {
        let (root, search) = try fakeTree()
        // A real library (zlib, which the package already needs) under a made-up soname, in two places.
        let zlib = try XCTUnwrap(["/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1",
                                  "/usr/lib/aarch64-linux-gnu/libz.so.1"].first { FileManager.default.fileExists(atPath: $0) })
        for folder in ["ld", "venv/lib/python3.11/site-packages/nvidia/cu13/lib"] {
            try FileManager.default.createSymbolicLink(atPath: "\(root)/\(folder)/libdisttrain-z.so.2", withDestinationPath: zlib)
        }
        let library = GPULibrary(name: "zlib", sonames: ["libdisttrain-z.so.3", "libdisttrain-z.so.2"], remedy: "none")
        let opened = try DynamicLibrary.open(library, search: search)
        XCTAssertEqual(opened.path, root + "/ld/libdisttrain-z.so.2")
        typealias Version = @convention(c) () -> UnsafePointer<CChar>?
        let version: Version = try opened.function("zlibVersion")
        XCTAssertTrue(String(cString: version()!).hasPrefix("1."))
        XCTAssertThrowsError(try opened.function("cuInit", as: PFN_cuInit.self)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("dlsym(\"cuInit\")"), text)
            XCTAssertTrue(text.contains("\(root)/ld/libdisttrain-z.so.2 does not export cuInit"), text)
        }
    }

    /// Every function of every table resolves in the real libraries this machine has (NVRTC in CI; cuBLAS
    /// and NCCL where DISTTRAIN_CUDA_PATH points at their wheels), and each checker turns a failure code
    /// into the library's own message. Absent libraries are reported, not failed; NVRTC is required by
    /// KernelCompileTests.
    func testFunctionTablesResolveInTheLibrariesPresent() throws {
        let nvrtc = try nvrtcForTests()
        XCTAssertThrowsError(try nvrtc.check(NVRTC_ERROR_INVALID_OPTION, "nvrtcCompileProgram", log: "the log")) { error in
            XCTAssertEqual("\(error)", "NVRTC: nvrtcCompileProgram failed with code 5: NVRTC_ERROR_INVALID_OPTION\nNVRTC's log:\nthe log")
        }
        var absent: [String] = []
        do {
            let cublas = try CuBLAS(search: .process)
            XCTAssertGreaterThan(cublas.ltGetVersion(), 12_0000)
            XCTAssertThrowsError(try cublas.check(CUBLAS_STATUS_NOT_INITIALIZED, "cublasSgemm")) { error in
                XCTAssertTrue("\(error)".hasPrefix("cuBLAS: cublasSgemm failed with code 1: "), "\(error)")
                XCTAssertTrue("\(error)".lowercased().contains("not initialized"), "\(error)")
            }
        } catch let missing as LibraryNotFound { absent.append(missing.library.name) }
        do {
            let nccl = try NCCL(library: DynamicLibrary.open(.nccl, search: .process))
            var version: Int32 = 0
            try nccl.check(nccl.getVersion(&version), "ncclGetVersion")
            XCTAssertGreaterThan(version, 2_0000)
            XCTAssertThrowsError(try nccl.check(ncclInvalidArgument, "ncclAllReduce", rank: 3)) { error in
                XCTAssertTrue("\(error)".hasPrefix("NCCL: ncclAllReduce on rank 3 failed with code 4: "), "\(error)")
                XCTAssertTrue("\(error)".contains("invalid argument"), "\(error)")
            }
        } catch let missing as LibraryNotFound { absent.append(missing.library.name) }
        if !absent.isEmpty {
            print("not installed here, so their tables were not checked: \(absent.joined(separator: ", "))")
        }
    }
}
