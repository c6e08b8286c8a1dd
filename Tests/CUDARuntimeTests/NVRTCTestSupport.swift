import CUDARuntime
import Foundation
import XCTest

/// NVRTC for the tests: the process's search, plus the repository's `.venv-nvrtc` (made by
/// `launch/setup.sh`) when DISTTRAIN_CUDA_PATH is not set, so a plain `swift test` after setup finds it.
/// Skips the calling test, saying where it looked, only when the library is absent (and fails then too
/// under `launch/test.sh`, which sets DISTTRAIN_REQUIRE_NVRTC=1); any other failure (a library that opens
/// but lacks a function) fails the test.
func nvrtcForTests() throws -> NVRTC {
    var search = LibrarySearch.process
    let given = search.variables["DISTTRAIN_CUDA_PATH"] ?? ""
    search.variables["DISTTRAIN_CUDA_PATH"] = (given.isEmpty ? "" : given + ":") + repositoryRoot + "/.venv-nvrtc"
    do {
        return try NVRTC(library: DynamicLibrary.open(.nvrtc, search: search))
    } catch let missing as LibraryNotFound where ProcessInfo.processInfo.environment["DISTTRAIN_REQUIRE_NVRTC"] != "1" {
        throw XCTSkip("NVRTC is not installed, so the kernels cannot be compiled here. "
                      + "Run 'bash launch/setup.sh' (it installs nvidia-cuda-nvrtc into .venv-nvrtc); "
                      + "launch/test.sh does, and fails if it is still missing.\n\(missing)")
    }
}

/// The repository's root folder (this file is Tests/CUDARuntimeTests/NVRTCTestSupport.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A fresh temporary folder, removed when the test ends.
func temporaryFolder(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("disttrain-cuda-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}
