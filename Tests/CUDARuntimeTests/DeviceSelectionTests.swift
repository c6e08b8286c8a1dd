@testable import CUDARuntime
import XCTest

final class DeviceSelectionTests: XCTestCase {
    private let h100 = CUDADeviceInfo(ordinal: 1, name: "NVIDIA H100 80GB HBM3", computeCapability: (9, 0), count: 2)
    private let noDriver = LibraryNotFound(library: .driver, attempts: [], scannedPatterns: [])

    func testCPUNeverTouchesTheDriver() throws {
        XCTAssertEqual(try selectDevice(.cpu, probe: { _ in XCTFail("probed"); throw self.noDriver }), .cpu(reason: nil))
    }

    func testCUDAWithoutDriverFailsWithTheLoadersMessage() {
        XCTAssertThrowsError(try selectDevice(.cuda, probe: { _ in throw self.noDriver })) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("--device cuda: no usable GPU: the CUDA driver library (libcuda.so.1) was not found"), text)
            XCTAssertTrue(text.contains("install the driver so that 'nvidia-smi' works"), text)
        }
    }

    func testAutoFallsBackToCPUAndSaysWhy() throws {
        XCTAssertEqual(try selectDevice(.auto, probe: { _ in throw self.noDriver }),
                       .cpu(reason: "libcuda.so.1 not found (no NVIDIA driver)"))
        let noGPU = DeviceUnavailable(description: "the CUDA driver (libcuda.so.1) reports no GPU\nsecond line")
        XCTAssertEqual(try selectDevice(.auto, probe: { _ in throw noGPU }),
                       .cpu(reason: "the CUDA driver (libcuda.so.1) reports no GPU"))
    }

    func testAGPUIsPickedByLocalRank() throws {
        var asked: Int?
        let selection = try selectDevice(.auto, localRank: 3, probe: { rank in asked = rank; return self.h100 })
        XCTAssertEqual(asked, 3)
        XCTAssertEqual(selection, .cuda(h100))
        XCTAssertEqual(try selectDevice(.cuda, probe: { _ in self.h100 }), .cuda(h100))
    }

    /// On this machine (no NVIDIA driver in CI) the real probe fails with the loader's message; where a
    /// driver exists it must describe a GPU instead.
    func testRealProbeOnThisMachine() throws {
        do {
            let device = try probeCUDADevice(localRank: 0)
            XCTAssertGreaterThan(device.count, 0)
            XCTAssertGreaterThanOrEqual(device.computeCapability.major, 5)
        } catch let missing as LibraryNotFound {
            XCTAssertEqual(missing.library, .driver)
            XCTAssertTrue(missing.description.contains("the dynamic loader's default search"), missing.description)
        }
    }
}
