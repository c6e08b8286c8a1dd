import Foundation
import XCTest

/// `--device` on the real binary: on a machine without an NVIDIA driver (CI) `cuda` stops before any work
/// with the loader's message (exit 1), `auto` runs on the CPU and says why, a wrong word is a usage error.
/// Where a driver and GPU exist, `cuda` must run on the GPU.
final class DeviceOptionTests: XCTestCase {
    private let tinyBench = ["bench", "--width", "0.125", "--batch-size", "2", "--image-size", "8", "--steps", "1",
                             "--threads", "1", "--sgemm-size", "32"]

    private func hasDriver() -> Bool {
        ["/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1", "/usr/lib/aarch64-linux-gnu/libcuda.so.1"]
            .contains { FileManager.default.fileExists(atPath: $0) }
    }

    func testCUDAFailsAtOnceOnTrainAndBench() throws {
        let runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("device-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runDirectory) }
        let train = ["train", "--device", "cuda", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "4",
                     "--subset", "8", "--no-knn", "--run-dir", runDirectory]
        for arguments in [train, tinyBench + ["--device", "cuda"]] {
            let result = try runProcess(try DistTrainBinary.locate(), arguments, environment: cleanEnvironment(), timeout: 600)
            if hasDriver() {  // a GPU machine: both run on the GPU and say which
                XCTAssertEqual(result.status, 0, result.output)
                XCTAssertTrue(result.standardOutput.contains("device: GPU 0 of "), result.output)
                continue
            }
            XCTAssertEqual(result.status, 1, result.standardError)
            let text = result.standardError
            XCTAssertTrue(text.hasPrefix("disttrain \(arguments[0]): error: --device cuda: "), text)
            XCTAssertTrue(text.contains("the CUDA driver library (libcuda.so.1) was not found. Looked in:"), text)
            XCTAssertTrue(text.contains("/usr/local/cuda/lib64 (standard folder)"), text)
            XCTAssertTrue(text.contains("To fix: libcuda.so.1 comes with the NVIDIA driver"), text)
            XCTAssertEqual(result.standardOutput, "", "nothing ran")
        }
        if !hasDriver() { XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory), "no run directory was made") }
    }

    func testAutoRunsOnTheCPUAndSaysWhy() throws {
        let result = try runProcess(try DistTrainBinary.locate(), tinyBench + ["--device", "auto"],
                                    environment: cleanEnvironment(), timeout: 120)
        XCTAssertEqual(result.status, 0, result.standardError)
        let first = result.standardOutput.split(separator: "\n").first.map(String.init) ?? ""
        if hasDriver() {
            XCTAssertTrue(first.hasPrefix("device: GPU 0 of "), first)
        } else {
            XCTAssertEqual(first, "device: cpu (auto: libcuda.so.1 not found (no NVIDIA driver))")
        }
        XCTAssertTrue(result.standardOutput.contains("throughput"), result.standardOutput)
    }

    /// `--precision bf16` is a GPU mode: with `--device cpu` a usage error (exit 2), with `auto` and no GPU
    /// an fp32 run that says so; an unknown word is a usage error.
    func testPrecisionBF16NeedsAGPU() throws {
        let binary = try DistTrainBinary.locate()
        let onCPU = try runProcess(binary, tinyBench + ["--precision", "bf16"], environment: cleanEnvironment(), timeout: 120)
        XCTAssertEqual(onCPU.status, 2, onCPU.output)
        XCTAssertTrue(onCPU.standardError.contains("--precision bf16 needs a GPU (--device cuda or auto)"), onCPU.standardError)
        let unknown = try runProcess(binary, tinyBench + ["--precision", "fp16"], environment: cleanEnvironment(), timeout: 120)
        XCTAssertEqual(unknown.status, 2, unknown.output)
        XCTAssertTrue(unknown.standardError.contains("--precision must be fp32 or bf16, got 'fp16'"), unknown.standardError)
        guard !hasDriver() else { return }
        let auto = try runProcess(binary, tinyBench + ["--device", "auto", "--precision", "bf16"],
                                  environment: cleanEnvironment(), timeout: 120)
        XCTAssertEqual(auto.status, 0, auto.output)
        XCTAssertEqual(auto.standardOutput.split(separator: "\n").first.map(String.init),
                       "device: cpu (auto: libcuda.so.1 not found (no NVIDIA driver)); fp32, as bf16 needs a GPU")
    }

    /// Without a driver `gpu-check` stops at once with the loader's message; with one it must compare every op.
    func testGPUCheckNeedsAGPU() throws {
        let result = try runProcess(try DistTrainBinary.locate(), ["gpu-check"], environment: cleanEnvironment(), timeout: 300)
        if hasDriver() {
            XCTAssertTrue(result.standardOutput.contains("op outputs match the CPU backend"), result.output)
        } else {
            XCTAssertEqual(result.status, 1, result.output)
            XCTAssertTrue(result.standardError.hasPrefix("disttrain gpu-check: error: no usable GPU: "), result.standardError)
            XCTAssertTrue(result.standardError.contains("the CUDA driver library (libcuda.so.1) was not found"), result.standardError)
            XCTAssertEqual(result.standardOutput, "")
        }
    }

    func testUnknownDeviceIsAUsageError() throws {
        let result = try runProcess(try DistTrainBinary.locate(), tinyBench + ["--device", "gpu"],
                                    environment: cleanEnvironment(), timeout: 60)
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.standardError, "disttrain bench: --device must be cpu, cuda or auto, got 'gpu'\n")
    }

    /// `--gpu-collectives` takes auto, nccl or host; on the CPU (one rank here) it changes nothing.
    func testGPUCollectivesWords() throws {
        let runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("collectives-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runDirectory) }
        let train = ["train", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "4", "--subset", "8", "--no-knn",
                     "--width", "0.125", "--run-dir", runDirectory]
        let wrong = try runProcess(try DistTrainBinary.locate(), train + ["--gpu-collectives", "gloo"],
                                   environment: cleanEnvironment(), timeout: 60)
        XCTAssertEqual(wrong.status, 2, wrong.output)
        XCTAssertEqual(wrong.standardError, "disttrain train: --gpu-collectives must be auto, nccl or host, got 'gloo'\n")
        let cpu = try runProcess(try DistTrainBinary.locate(), train + ["--gpu-collectives", "nccl", "--max-steps", "1"],
                                 environment: cleanEnvironment(), timeout: 300)
        XCTAssertEqual(cpu.status, 0, cpu.output)
        let config = try String(contentsOfFile: runDirectory + "/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"gpu-collectives\":\"nccl\""), config)
    }
}

/// The `disttrain` binary runs OpenBLAS's AVX kernels wherever the CPU has AVX2, even when OpenBLAS does
/// not recognise the CPU model (it then picks SSE3 "Prescott" kernels, 7x slower; `BLASKernel`).
final class BLASKernelRelaunchTests: XCTestCase {
    func testBenchNamesVectorKernelsOnAnAVX2Machine() throws {
        var environment = cleanEnvironment()
        environment["OPENBLAS_CORETYPE"] = nil  // test.sh pins one; here OpenBLAS (and disttrain) choose
        let result = try runProcess(try DistTrainBinary.locate(),
                                    ["bench", "--width", "0.125", "--batch-size", "2", "--image-size", "8", "--steps", "1",
                                     "--threads", "1", "--sgemm-size", "32"], environment: environment, timeout: 120)
        XCTAssertEqual(result.status, 0, result.output)
        let line = try XCTUnwrap(result.standardOutput.split(separator: "\n").first { $0.hasPrefix("sgemm ") }, result.output)
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        guard flags.contains("avx2") && flags.contains("fma") else { throw XCTSkip("this CPU has no AVX2") }
        XCTAssertFalse(line.contains("OpenBLAS Prescott kernels"), String(line))
        XCTAssertTrue(line.contains("OpenBLAS ") && line.contains(" kernels"), String(line))
    }
}
