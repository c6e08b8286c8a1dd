import Collectives
import CUDARuntime
import Engine

/// `disttrain gpu-check`: every op of the CUDA backend against the CPU backend on the same random inputs,
/// then a training step of each method (`MethodStepComparison`), on this machine's GPU. The first thing to run on a GPU machine; CI runs the same comparison on an
/// emulated GPU.
struct GPUCheckCommand: Command {
    static let name = "gpu-check"
    static let summary = "compare every CUDA backend op with the CPU backend on this machine's GPU"
    static let options: [Option] = [
        .value("local-rank", default: "0", "use GPU (local rank modulo the GPUs the driver reports)"),
        .value("seed", default: "0", "seed of the random inputs"),
        .flag("no-steps", "only the ops: skip the training step of each method"),
    ]
    static var help: String {
        helpText(command: name, summary: summary, usage: "disttrain gpu-check [options]", options: options, details: """
                 Opens the GPU (the NVIDIA driver, cuBLAS and NVRTC are loaded at run time; the kernels are
                 compiled for the GPU's architecture and cached in $DISTTRAIN_CACHE/kernels), runs each op
                 on both backends, and prints one 'ok' or 'FAIL' line per op output with its relative error,
                 twice: in fp32 (TF32 off; bar 1e-4, or 1e-6 where both sides do the same float operations),
                 then with --precision bf16's GEMMs (bar 1e-2 for the GEMMs and convolutions). Then one
                 training step of SimCLR, VICReg, BYOL, MoCo v2 and the supervised baseline, at a small size
                 and with ResNet-18 on 32x32 RGB views at batch 32, against the same step on the CPU: the
                 loss and its terms, the probe's features, every gradient, the BN statistics, the parameters
                 after the optimiser step, BYOL's EMA target and MoCo's momentum network and queues, in fp32
                 (bar 1e-4, the loss 1e-5; at ResNet-18 size the gradients 10x the CPU's own 1-vs-N-thread
                 spread). Then \(2 * BatchUploadCheck.defaultSteps) batch uploads through pinned
                 memory on the copy stream, each read back intact while GEMMs keep the GPU busy. Then, when
                 libnccl.so.2 can be opened, NCCL's all-reduce, all-gather and reduce-scatter on a one-rank
                 communicator with known values, and the trainer's bucketed all-reduce on its stream. Exits 1
                 when a check fails or no GPU can be opened, naming the library and where it looked.
                 """)
    }

    static func run(_ arguments: [String]) throws {
        let parsed = try ParsedArguments(arguments, options: options, command: name)
        let localRank = try parsed.require(try parsed.int("local-rank"), "local-rank")
        let seed = try parsed.require(try parsed.int("seed"), "seed")
        let steps = !parsed.has("no-steps")
        guard localRank >= 0, seed >= 0 else { throw UsageError("--local-rank and --seed must be non-negative") }
        let device: CUDADevice
        do { device = try CUDADevice(localRank: localRank) } catch {
            throw GPUCheckFailure(description: "no usable GPU: \(error)")
        }
        printFlushed("gpu-check: \(device.info)")
        var total = 0, failed: [String] = []
        func report(_ results: [OpComparison], _ precision: Precision) {
            for result in results { printFlushed("\(precision) \(result)") }
            total += results.count
            failed += results.filter { !$0.passed }.map { "\(precision) \($0.operation)" }
        }
        for precision in Precision.allCases {
            report(BackendComparison.run(on: CUDABackend(device: device, precision: precision), seed: UInt64(seed)), precision)
        }
        printFlushed("gpu-check: \(total - failed.count) of \(total) op outputs match the CPU backend")
        if steps {
            let before = (total, failed.count), cpu = CPUBackend(threads: CPUBackend.defaultThreadCount)
            for size in [MethodStepComparison.Size.small, .resnet18] {
                report(MethodStepComparison.run(on: CUDABackend(device: device, precision: .fp32), cpu: cpu, size: size), .fp32)
            }
            let count = total - before.0, bad = failed.count - before.1
            printFlushed("gpu-check: \(count - bad) of \(count) training-step outputs match the CPU backend")
        }
        let uploads = try BatchUploadCheck.run(CUDABackend(device: device))
        for line in uploads { printFlushed("FAIL \(line)") }
        printFlushed("batch upload: " + (uploads.isEmpty
            ? "\(2 * BatchUploadCheck.defaultSteps) uploads through pinned memory on the copy stream, each read intact"
            : "\(uploads.count) wrong reads"))
        failed += uploads
        failed += try checkNCCL(device)
        if !failed.isEmpty {
            throw GPUCheckFailure(description: "\(failed.count) checks failed: " + failed.joined(separator: ", "))
        }
    }

    /// NCCL's collectives on a one-rank communicator (`DeviceCollectiveCheck`): the bindings, the id, the
    /// stream and the polling, on the real library. Skipped, with the loader's reason, when NCCL is absent.
    static func checkNCCL(_ device: CUDADevice) throws -> [String] {
        let calls: NCCLCalls
        do { calls = try NCCLCalls(device: device) } catch {
            printFlushed("nccl: skipped, \(firstLine(of: "\(error)"))")
            return []
        }
        let communicator = try DeviceCommunicator(calls: calls, host: LocalCommunicator(), timeout: 60)
        defer { communicator.destroy() }
        let failures = try DeviceCollectiveCheck.run(communicator, backend: CUDABackend(device: device))
        printFlushed("nccl: \(calls.name), 1 rank: " + (failures.isEmpty ? "all-reduce, all-gather, reduce-scatter, bucketed gradients, SyncBatchNorm in stream order ok"
                                                                         : failures.joined(separator: "; ")))
        return failures.map { "nccl \($0)" }
    }
}

/// Why `gpu-check` failed: no GPU could be opened, or ops differ from the CPU backend (exit 1).
struct GPUCheckFailure: Error, CustomStringConvertible {
    let description: String
}
