import Collectives
import CUDARuntime
@testable import DistTrain
import Engine
import Models
import Foundation
import GPUEmulation
import XCTest

/// `train` on `CUDABackend` (the emulated GPU): batches go up, losses, probe and evaluation come back,
/// checkpoints are written from and read into device memory. Small runs (synthetic 32x32 images, 32 of
/// them, a width-1/16 ResNet-18): the emulator runs every GPU thread on the CPU. Release builds only, as the other training tests.
///
/// Against the CPU the run is the first epoch, 2 steps: the warm-up's first learning rate is 0, so both
/// steps' gradients are taken at the initial parameters, where the two backends agree to ~1e-6. Longer
/// runs drift apart chaotically at these sizes: measured, after two real SGD steps of the supervised
/// baseline a 1e-7 relative nudge to the parameters moves the CPU's own gradients by 0.57 % (a ReLU in
/// layer4 sits at its kink), exactly as far as the GPU's differ from the CPU's there. The resumed-run
/// test is exact instead: the GPU against itself over 4 steps.
final class TrainerOnGPUReleaseTests: XCTestCase {
    override func setUpWithError() throws {
        #if DEBUG
        throw XCTSkip("training tests run from a release build: swift test -c release --filter ReleaseTests")
        #endif
    }

    static func arguments(_ method: String, runDirectory: String, extra: [String] = []) -> [String] {
        ["--method", method, "--dataset", "synthetic", "--subset", "32", "--batch-size", "16",
         "--epochs", "2", "--width", "0.0625", "--threads", "1", "--no-knn",
         "--proj-hidden-dim", "16", "--proj-output-dim", "8", "--pred-hidden-dim", "16",
         "--warmup-epochs", "1", "--run-dir", runDirectory] + extra
    }

    static func options(_ arguments: [String], topology: Topology = .single) throws -> TrainOptions {
        try TrainCommand.resolve(ParsedArguments(arguments, options: TrainCommand.options, command: "train"), topology: topology)
    }

    func options(_ method: String, runDirectory: String, extra: [String] = []) throws -> TrainOptions {
        try Self.options(Self.arguments(method, runDirectory: runDirectory, extra: extra))
    }

    func folder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-gpu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    /// Every record's numbers from metrics.jsonl, in order.
    func metrics(_ runDirectory: String) throws -> [[String: Double]] {
        let text = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
    }

    func checkpoint(_ runDirectory: String) throws -> [String: [Float]] {
        let file = try SafetensorsFile(path: runDirectory + "/checkpoints/last.safetensors")
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.tensor($0).array) })
    }

    func testSimCLRAndSupervisedTrainOnTheGPUAsOnTheCPU() throws {
        for method in ["simclr", "supervised"] {
            let cpuRun = try folder(), gpuRun = try folder()
            try Trainer(options: options(method, runDirectory: cpuRun, extra: ["--max-steps", "2"])).fit()
            let gpu = EmulatedGPU()
            try Trainer(options: options(method, runDirectory: gpuRun, extra: ["--max-steps", "2"]),
                        device: CUDABackend(device: gpu)).fit()
            try assertTrainsAlike(cpuRun: cpuRun, gpuRun: gpuRun, method: method)
            // The two-view batches cross as bytes and are normalised on the device; the supervised
            // default's crop-and-flip batches as floats.
            XCTAssertEqual(gpu.launches.filter { $0.kernel == "normalize_pixels" }.count, method == "supervised" ? 0 : 4, method)
        }
    }

    /// The first epoch's records and the final checkpoint of a CPU run (or the one-rank reference) and a
    /// GPU run of the same options agree: losses to 1e-5, test accuracy to one image, parameters to 1e-5 of
    /// the largest, counters exactly.
    /// `multiRankKeys`: the GPU run had several ranks, so its records also hold the communication timings.
    func assertTrainsAlike(cpuRun: String, gpuRun: String, method: String, multiRankKeys: Bool = false) throws {
        let cpu = try metrics(cpuRun), gpu = try metrics(gpuRun)
        let timings: Set = multiRankKeys ? ["comm_wait_s", "grad_sync_wait_s", "comm_wait_fraction", "grad_sync_wait_fraction"] : []
        XCTAssertEqual(gpu.map { $0.keys.filter { !timings.contains($0) }.sorted() }, cpu.map { $0.keys.sorted() },
                       "\(method): the same records")
        XCTAssertTrue(cpu.contains { $0["test_acc"] != nil }, "\(method): the epoch's evaluation ran")
        for (a, b) in zip(gpu, cpu) {
            for key in ["loss", "probe_loss", "train_loss", "embedding_std", "train_acc"] where b[key] != nil {
                XCTAssertEqual(a[key] ?? .nan, b[key]!, accuracy: 1e-5 * max(abs(b[key]!), 1e-2),
                               "\(method): \(key) at step \(b["step"] ?? -1)")
            }
            if let accuracy = b["test_acc"] {  // one of the 512 test images may sit on a decision boundary
                XCTAssertEqual(a["test_acc"] ?? .nan, accuracy, accuracy: 1.5 / 512, "\(method): test accuracy")
            }
        }
        let cpuState = try checkpoint(cpuRun), gpuState = try checkpoint(gpuRun)
        XCTAssertEqual(gpuState.keys.sorted(), cpuState.keys.sorted(), "\(method): the same checkpoint entries")
        // The saved state: parameters against the checkpoint's largest value, optimiser state (the first two
        // steps' gradients) against its own largest. Gradients of batch norms inside residual branches
        // cancel (the next BN makes its input gradient mean-free), so their bias gradients carry relative
        // rounding of ~1e-3: measured, SimCLR's gradients at this size differ by 5.4e-4 between the CPU
        // backend with 1 thread and with 2, as much as between the CPU and the GPU.
        let largest = cpuState.filter { !$0.key.contains("optimizer.") }.values.flatMap { $0 }.map { abs(Double($0)) }.max() ?? 1
        for (name, values) in cpuState {
            let got = try XCTUnwrap(gpuState[name])
            let difference = zip(got, values).map { abs(Double($0) - Double($1)) }.max() ?? 0
            if name.hasSuffix("num_batches_tracked") || name.hasSuffix("optimizer.step") {
                XCTAssertEqual(got, values, "\(method): \(name)")
            } else if name.contains("optimizer.") {
                let scale = values.map { abs(Double($0)) }.max() ?? 1
                XCTAssertLessThan(difference / scale, 1e-2, "\(method): \(name)")
            } else {
                XCTAssertLessThan(difference / largest, 1e-5, "\(method): \(name)")
            }
        }
    }

    /// Two ranks (mpirun), each on its own emulated GPU with half of the batch, train as one GPU process with
    /// the whole batch: SyncBN's statistics and sums, the losses' gathered embeddings (the losses run on the
    /// devices) and the gradient all-reduce go through host memory, or (SimCLR, VICReg) over the emulated
    /// NCCL in stream order. Same comparison as above (the first epoch, 2 steps, the first at the warm-up's
    /// lr 0), and with the replica check at every step, so a rank whose device state drifted would be
    /// reported. The reference is the GPU, not the CPU: after BYOL's one real LARS step the GPU and the CPU
    /// differ by up to 3.4e-5 of the largest parameter in one process already (LARS normalises each
    /// gradient, so the ~1e-3 relative rounding of gradients that cancel, such as BN biases', moves the
    /// weights as much as any other direction), while this test is about what distribution adds.
    func testTwoGPURanksTrainAsOneGPUProcess() throws {
        guard let mpirun = findOnPath("mpirun") else { throw XCTSkip("mpirun is not on PATH (apt-get install openmpi-bin)") }
        // The collectives through host memory (SimCLR, BYOL), and on the devices by (emulated) NCCL (SimCLR, VICReg).
        for (method, nccl) in [("simclr", false), ("byol", false), ("simclr", true), ("vicreg", true)] {
            let oneRank = try folder(), gpuRun = try folder()
            let extra = ["--max-steps", "2", "--sync-check-every", "1"]
            try Trainer(options: options(method, runDirectory: oneRank, extra: extra), device: CUDABackend(device: EmulatedGPU())).fit()
            // With NCCL, 5 KB buckets: dozens of them, queued on the collectives stream during backward.
            let result = try runGPURanks(mpirun, Self.arguments(method, runDirectory: gpuRun,
                                                                extra: extra + (nccl ? ["--bucket-mb", "0.005"] : [])),
                                         nccl: nccl ? "on" : nil)
            XCTAssertEqual(result.status, 0, result.output)
            // Both ranks ran the worker (a filter that matched nothing would also exit 0).
            XCTAssertEqual(result.output.components(separatedBy: "testGPURankWorker' passed").count - 1, 2, result.output)
            XCTAssertTrue(result.output.contains("2 ranks x 8"), result.output)
            XCTAssertFalse(result.output.contains("differed from rank 0"), result.output)
            try assertTrainsAlike(cpuRun: oneRank, gpuRun: gpuRun, method: method, multiRankKeys: true)
        }
    }

    /// An NCCL failure on one rank (the emulated communicator reports a lost peer at the second step's
    /// all-reduce on rank 1) stops the job with the call, the rank and the abort in the message, instead of
    /// leaving rank 0 waiting.
    func testAnNCCLErrorOnOneRankEndsTheJobWithItsMessage() throws {
        guard let mpirun = findOnPath("mpirun") else { throw XCTSkip("mpirun is not on PATH (apt-get install openmpi-bin)") }
        let started = Date()
        let result = try runGPURanks(mpirun, Self.arguments("simclr", runDirectory: try folder(), extra: ["--max-steps", "4"]),
                                     nccl: "fail-at-2-on-rank-1")
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("rank 1: emulated NCCL all-reduce of the gradients (1 bucket)"), result.output)
        XCTAssertTrue(result.output.contains("remote process exited or there was a network error"), result.output)
        XCTAssertTrue(result.output.contains("the communicator was aborted"), result.output)
        XCTAssertLessThan(Date().timeIntervalSince(started), 120, "the job ended instead of waiting for the lost rank")
    }

    /// Runs `testGPURankWorker` on 2 ranks under mpirun with these `train` arguments; `nccl`: nil for the
    /// host path, "on" for the emulated NCCL, "fail-at-2-on-rank-1" for its planted failure.
    func runGPURanks(_ mpirun: URL, _ arguments: [String], nccl: String?) throws -> ProcessResult {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        var environment = cleanEnvironment()
        environment[Self.workerVariable] = arguments.joined(separator: Self.separator)
        environment[Self.ncclVariable] = nccl ?? "off"
        return try runProcess(mpirun, ["--allow-run-as-root", "--oversubscribe", "-x", Self.workerVariable,
                                       "-x", Self.ncclVariable, "-np", "2", testBinary,
                                       "DistTrainTests.TrainerOnGPUReleaseTests/testGPURankWorker"],
                              environment: environment, timeout: 600)
    }

    static let workerVariable = "DISTTRAIN_GPU_RANK_ARGUMENTS"
    static let ncclVariable = "DISTTRAIN_GPU_RANK_NCCL"
    static let separator = "\u{1F}"

    /// One rank of `testTwoGPURanksTrainAsOneGPUProcess`, which launches this test under mpirun with the
    /// `train` arguments in `DISTTRAIN_GPU_RANK_ARGUMENTS`; skipped when run on its own.
    func testGPURankWorker() throws {
        guard let packed = ProcessInfo.processInfo.environment[Self.workerVariable] else {
            throw XCTSkip("a rank of testTwoGPURanksTrainAsOneGPUProcess (run by it under mpirun)")
        }
        let topology = Topology.fromProcessEnvironment()
        let options = try Self.options(packed.components(separatedBy: Self.separator), topology: topology)
        let communicator = try Distributed.start(topology: topology)
        let gpu = EmulatedGPU()
        let mode = ProcessInfo.processInfo.environment[Self.ncclVariable] ?? "off"
        let failAt = mode == "fail-at-2-on-rank-1" && topology.rank == 1 ? 2 : nil
        let nccl = mode == "off" ? nil : EmulatedNCCL(gpu: gpu, host: communicator, failAtCall: failAt)
        let trainer = try Trainer(options: options, communicator: communicator, device: CUDABackend(device: gpu), deviceCollectives: nccl)
        try trainer.fit()
        if let nccl {
            let buckets = GradientBuckets(elementCount: trainer.method.store.count, bucketBytes: Int(options.bucketMegabytes * 1_048_576))
            // SyncBatchNorm over NCCL too: per step and view, an all-gather of the statistics in every batch norm's
            // forward and an all-reduce of its two sums in backward (SimCLR's projector has no batch norm).
            let batchNorms = 2 * trainer.method.store.parameters.filter { $0.role == .normScale }.count
            XCTAssertEqual(nccl.allReduces, 2 * (buckets.count + batchNorms), "every bucket of both steps went through NCCL")
            // The SSL losses run on the devices: SimCLR and VICReg gather each view's embeddings there, BYOL each
            // view's projections for its collapse monitor.
            let lossGathers = ["simclr": 2, "vicreg": 2, "byol": 2][options.method] ?? 0
            XCTAssertEqual(nccl.allGathers, 2 * (batchNorms + lossGathers),
                           "every batch norm's statistics and the loss's rows went through NCCL")
        }
        try communicator.finalize()
    }

    /// A BYOL run stopped after 3 steps and resumed from its checkpoint on the GPU repeats the uninterrupted
    /// run exactly: parameters, optimiser state, EMA target and position all come back from device memory.
    func testResumeOnTheGPURepeatsTheUninterruptedRun() throws {
        let straight = try folder(), split = try folder()
        func run(_ directory: String, _ extra: [String]) throws {
            try Trainer(options: options("byol", runDirectory: directory, extra: ["--no-probe"] + extra),
                        device: CUDABackend(device: EmulatedGPU())).fit()
        }
        try run(straight, [])
        try run(split, ["--max-steps", "3"])
        try run(split, ["--resume", "auto"])
        let whole = try metrics(straight).filter { $0["loss"] != nil }, resumed = try metrics(split).filter { $0["loss"] != nil }
        XCTAssertEqual(whole.map { $0["step"] ?? -1 }, [1, 2, 3, 4])
        XCTAssertEqual(resumed.map { $0["step"] ?? -1 }, [1, 2, 3, 4])
        XCTAssertEqual(whole.map { $0["loss"] ?? 0 }, resumed.map { $0["loss"] ?? 0 }, "the resumed losses repeat the straight run's")
        XCTAssertEqual(try checkpoint(straight), try checkpoint(split), "the same final state, bit for bit")
    }
}

/// `bench`'s training step on the emulated GPU: it runs (no host access to device memory) and times.
final class BenchOnGPUTests: XCTestCase {
    func testBenchStepRunsOnTheGPU() throws {
        let config = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 3)
        let gpu = CUDABackend(device: EmulatedGPU())
        let benched = BenchedStep.classifier(config: config, batch: 2, size: 8, backend: gpu)
        let times = benched.time(steps: 2)
        XCTAssertEqual(times.count, 2)
        XCTAssertTrue(times.allSatisfy { $0 > 0 }, "\(times)")
        XCTAssertEqual(benched.store.values.device, .cuda(0))
        XCTAssertTrue(gpu.download(benched.store.values).allSatisfy(\.isFinite))
        XCTAssertGreaterThan(BenchCommand.deviceGEMMGFLOPs(size: 16, gpu: gpu), 0)
    }

    /// `bench --method simclr` on the GPU: the method's step (its loss on the device) runs, and the same step on
    /// the CPU moves the parameters to the same values.
    func testSimCLRBenchStepRunsOnTheGPU() throws {
        let config = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 3)
        let gpu = CUDABackend(device: EmulatedGPU())
        let onGPU = try BenchedStep.make(method: "simclr", config: config, batch: 4, size: 8, backend: gpu)
        let onCPU = try BenchedStep.make(method: "simclr", config: config, batch: 4, size: 8, backend: CPUBackend(threads: 1))
        XCTAssertEqual(onGPU.time(steps: 1).count, 1)
        _ = onCPU.time(steps: 1)
        XCTAssertEqual(onGPU.store.values.device, .cuda(0))
        let got = gpu.download(onGPU.store.values), expected = onCPU.store.values.array
        let worst = zip(got, expected).map { abs($0 - $1) }.max()!, scale = expected.map { abs($0) }.max()!
        XCTAssertLessThan(worst / scale, 1e-4, "three SimCLR steps on the GPU match the CPU's")
        XCTAssertEqual(onGPU.flops(), onCPU.flops())
    }

    /// `bench --profile`'s kernel table on the GPU: one SimCLR step with every kernel and cuBLAS call timed
    /// alone, the most time first, the fused LARS update once, and the backend detached afterwards.
    func testKernelTableTimesEveryKernelOfAStep() throws {
        let config = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 3)
        let gpu = CUDABackend(device: EmulatedGPU())
        let benched = try BenchedStep.make(method: "simclr", config: config, batch: 4, size: 8, backend: gpu)
        _ = benched.time(steps: 1)
        let lines = BenchCommand.kernelTable(benched, on: gpu, limit: 100)
        XCTAssertTrue(lines[0].hasPrefix("kernels     one step, each kernel synchronised alone: "), lines[0])
        func row(_ name: String) -> String? { lines.first { $0.hasPrefix("  \(name) ") } }
        for name in ["cuBLAS sgemm", "im2col_f32", "bn_partial_sums_f32", "bn_forward_f32", "lars_step"] {
            XCTAssertNotNil(row(name), "\(name) in\n" + lines.joined(separator: "\n"))
        }
        XCTAssertTrue(row("lars_step")?.contains(" 1 calls ") ?? false, row("lars_step") ?? "")
        let shares = lines.dropFirst().compactMap { Double($0.split(separator: " ").dropLast().last ?? "") }
        XCTAssertEqual(shares.count, lines.count - 1)
        XCTAssertEqual(shares.reduce(0, +), 100, accuracy: 1, "the shares add up to the step's kernel time")
        XCTAssertEqual(shares, shares.sorted(by: >), "the most time first")
        XCTAssertNil(gpu.kernelTimes, "the backend is not left timing")
    }

    /// `bench --profile` on the GPU: the step's forward and backward, then one row per convolution with a
    /// time for each of its three GEMM-shaped passes (the stem conv has no input gradient).
    func testProfileOnTheGPUListsEveryConvolution() throws {
        let config = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 3)
        let gpu = CUDABackend(device: EmulatedGPU())
        let benched = BenchedStep.classifier(config: config, batch: 2, size: 8, backend: gpu)
        _ = benched.time(steps: 1)
        let lines = BenchCommand.profile(net: benched.encoder, backend: gpu, input: benched.input).lines
        XCTAssertTrue(lines[0].hasPrefix("profile     forward ") && lines[0].hasSuffix("(cuda:0, synchronised per piece)"), lines[0])
        let rows = lines.dropFirst(2).dropLast()
        XCTAssertEqual(rows.count, benched.encoder.convolutions.count, lines.joined(separator: "\n"))
        XCTAssertTrue(rows.first?.hasPrefix("  conv1 ") ?? false, lines.joined(separator: "\n"))
        XCTAssertEqual(rows.first?.components(separatedBy: "ms ").count, 3, "conv1: forward and weight gradient, no input gradient")
        XCTAssertTrue(rows.dropFirst().allSatisfy { $0.components(separatedBy: "ms ").count == 4 }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.last?.hasPrefix("  convolutions ") ?? false, lines.joined(separator: "\n"))
    }
}
