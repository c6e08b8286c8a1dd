import CBLAS
import CUDARuntime
import Data
import Engine
import Models
#if canImport(Glibc)
import Glibc
#endif

/// `disttrain bench`: times a ResNet training step (forward + backward + SGD) and, in the same
/// process, OpenBLAS sgemm on large square matrices, and prints their GFLOP/s ratio. Ratios measured in
/// one run are what we compare, because shared machines are noisy. `--loader` times the two-view
/// augmentation loader alone instead.
struct BenchCommand: Command {
    static let name = "bench"
    static let summary = "time a ResNet training step against the machine's own sgemm GFLOP/s, or the data loader"
    static let options: [Option] = [
        .value("method", default: "classifier", "the step timed: classifier (ResNet + 10-way head, cross-entropy, SGD) "
               + "or a method's own training step: \(TrainCommand.methods.joined(separator: ", ")) (two views, its heads, "
               + "loss and optimiser)"),
        .value("depth", default: "18", "ResNet depth: 18 or 50"),
        .value("stem", default: "cifar", "cifar (3x3 conv, no max-pool) or imagenet (7x7/2 + max-pool)"),
        .value("width", default: "1", "width multiplier of the stage widths 64-128-256-512"),
        .value("image-size", default: "32", "input height and width in pixels"),
        .value("channels", default: "3", "input channels"),
        .value("batch-size", default: "64", "images per step"),
        .value("threads", default: "2", "CPU threads for the step and for sgemm"),
        deviceOption,
        precisionOption,
        .value("steps", default: "5", "timed steps (after 2 warm-up steps)"),
        .value("sgemm-size", default: "2048", "side of the square matrices for the sgemm reference"),
        .flag("profile", "print where a step's time goes: the encoder's forward, backward and every convolution alone, "
              + "and the step's remainder beyond the encoder (heads, loss, optimiser; CPU or GPU)"),
        .flag("loader", "time the two-view augmentation loader instead of a training step"),
        .value("dataset", default: "synthetic", "--loader: dataset (\(supportedDatasetNames.joined(separator: ", ")))"),
        .value("data-dir", "--loader: folder holding the dataset files"),
        .value("source-size", "--loader: side of the synthetic images (default: --image-size)"),
        .value("preset", default: "cifar", "--loader: augmentation preset (\(AugmentationPreset.builtInNames.joined(separator: ", ")), or a .json file)"),
        .value("workers", default: "2", "--loader: worker threads"),
        .value("seconds", default: "3", "--loader: how long to time (after 2 warm-up batches)"),
        .flag("pixels", "--loader: hand out the augmented bytes and their normalisation table, as train does for a GPU, "
              + "instead of normalised floats"),
    ]
    static var help: String {
        helpText(command: name, summary: summary, usage: "disttrain bench [options]", options: options, details: """
                 FLOPs count the convolutions and linear layers: 2·M·K·N per GEMM, three GEMMs per layer
                 in a training step (forward, input gradient, weight gradient; the first conv has no input
                 gradient), one for a forward-only network (BYOL's target). The last line is the ratio of
                 the step's GFLOP/s to sgemm's GFLOP/s.

                 --method simclr (vicreg, byol, mocov2, supervised) times the method's whole step as train
                 runs it, with its default heads, loss and optimiser (LARS; SGD for MoCo v2 and supervised)
                 on two random views already on the device; images/s counts images, each seen in both views.
                 On a GPU the losses run on the device too, except MoCo v2's (on the host, against its
                 queues). --profile's table is the encoder's alone, on one view.
                   disttrain bench --device cuda --precision bf16 --method simclr --stem imagenet --image-size 224 --batch-size 256

                 With --loader: builds the dataset (synthetic: 512 images of --source-size px and --channels
                 channels), runs the loader with --workers threads on batches of --batch-size for --seconds and
                 prints images/s (each image gives two augmented --image-size views), and what copying one
                 batch into a staging buffer costs the consuming thread (the GPU uploader's copy into pinned
                 memory); --pixels hands out bytes, as train does for a GPU, instead of floats.
                   disttrain bench --loader --image-size 224 --preset imagenet --workers 2
                 """)
    }

    static func run(_ arguments: [String]) throws {
        let parsed = try ParsedArguments(arguments, options: options, command: name)
        if parsed.has("loader") { return try runLoader(parsed) }
        let device = try deviceBackend(parsed, topology: .single)
        let depth = try parsed.int("depth")!, size = try parsed.int("image-size")!, channels = try parsed.int("channels")!
        let batch = try parsed.int("batch-size")!, threads = try parsed.int("threads")!, steps = try parsed.int("steps")!
        let width = try parsed.double("width")!, sgemmSize = try parsed.int("sgemm-size")!
        let methodName = parsed.string("method")!
        guard BenchedStep.methods.contains(methodName) else {
            throw UsageError("--method must be one of \(BenchedStep.methods.joined(separator: ", ")), got '\(methodName)'")
        }
        guard let stem = Stem(rawValue: parsed.string("stem")!) else { throw UsageError("--stem must be cifar or imagenet") }
        guard [18, 34, 50, 101].contains(depth) else { throw UsageError("--depth must be 18, 34, 50 or 101") }
        guard batch >= 2, threads >= 1, steps >= 1, size >= 8, channels >= 1, width > 0 else {
            throw UsageError("--batch-size ≥ 2, --threads ≥ 1, --steps ≥ 1, --image-size ≥ 8, --channels ≥ 1 and --width > 0 are required")
        }

        let cpu = CPUBackend(threads: threads)
        let gpu = device as? CUDABackend
        let reference = { gpu.map { deviceGEMMGFLOPs(size: sgemmSize, gpu: $0) } ?? sgemmGFLOPs(size: sgemmSize, threads: threads) }
        let sgemmBefore = reference()
        let config = ResNetConfig(depth: depth, stem: stem, widthMultiplier: width, inChannels: channels)
        let benched = try BenchedStep.make(method: methodName, config: config, batch: batch, size: size, backend: device ?? cpu)
        let times = benched.time(steps: steps)
        let median = times.sorted()[times.count / 2]
        if parsed.has("profile") {
            let encoder = profile(net: benched.encoder, backend: device ?? cpu, input: benched.input)
            for line in encoder.lines { print(line) }
            print(stepBreakdown(median: median, encoderSeconds: encoder.forwardBackwardSeconds, views: benched.viewCount))
            if let gpu { for line in kernelTable(benched, on: gpu) { print(line) } }
        }
        let sgemmAfter = reference()

        let flops = benched.flops()
        let stepGFLOPs = flops / median / 1e9
        let sgemm = max(sgemmBefore, sgemmAfter)
        print("model       ResNet-\(depth) \(stem.rawValue) stem, width \(width), \(channels)x\(size)x\(size), batch \(batch), \(benched.store.count) parameters")
        print("timed       \(benched.description)")
        print(gpu.map { "device      \($0.device) (CUDA backend, \($0.precision))" } ?? "threads     \(threads)")
        print("step        median \(fixed(median * 1e3, 1)) ms over \(steps) steps (min \(fixed(times.min()! * 1e3, 1)), max \(fixed(times.max()! * 1e3, 1)))")
        print("throughput  \(fixed(Double(batch) / median, 1)) images/s"
              + (benched.viewCount > 1 ? " (\(benched.viewCount) views each, \(fixed(Double(batch * benched.viewCount) / median, 1)) views/s)" : ""))
        print("step flops  \(fixed(flops / 1e9, 2)) GFLOP per step -> \(fixed(stepGFLOPs, 1)) GFLOP/s")
        let referenceName = gpu.map { $0.precision == .bf16 ? "cuBLAS bf16 GemmEx on the GPU" : "cuBLAS sgemm on the GPU" }
            ?? "\(threads) threads, OpenBLAS \(BLASKernel.coreName) kernels"
        print("sgemm       \(fixed(sgemm, 1)) GFLOP/s (\(sgemmSize)x\(sgemmSize), \(referenceName); before \(fixed(sgemmBefore, 1)), after \(fixed(sgemmAfter, 1)))")
        print("peak memory \(fixed(Double(peakResidentBytes()) / 1_048_576, 0)) MiB resident")
        print("ratio       \(fixed(stepGFLOPs / sgemm, 3)) of sgemm GFLOP/s")
    }

    /// cuBLAS GEMM GFLOP/s on `size`² matrices on the GPU, in the backend's precision (sgemm, or bf16
    /// operands through GemmEx including their conversion): the device's reference, best of 4.
    static func deviceGEMMGFLOPs(size: Int, gpu: CUDABackend) -> Double {
        var random = RandomGenerator(seed: 2)
        let values = (0..<(size * size)).map { _ in Float(random.uniform()) }
        let a = gpu.tensor([size, size], values), b = gpu.tensor([size, size], values), c = gpu.zeros([size, size])
        let clock = ContinuousClock()
        var best = 0.0
        for _ in 0..<4 {
            let seconds = clock.measure {
                gpu.gemm(transposeA: false, transposeB: false, m: size, n: size, k: size, alpha: 1, a: a, b: b, beta: 0, c: c)
                gpu.synchronize()
            }.seconds
            best = max(best, 2 * Double(size) * Double(size) * Double(size) / seconds / 1e9)
        }
        return best
    }

    /// `disttrain bench --loader`: images/s of the two-view loader, nothing else running.
    static func runLoader(_ parsed: ParsedArguments) throws {
        let size = try parsed.int("image-size")!, channels = try parsed.int("channels")!
        let batch = try parsed.int("batch-size")!, workers = try parsed.int("workers")!
        let seconds = try parsed.double("seconds")!
        let sourceSize = try parsed.int("source-size") ?? size
        guard batch >= 1, workers >= 1, size >= 1, sourceSize >= 1, seconds > 0, [1, 3].contains(channels) else {
            throw UsageError("--batch-size ≥ 1, --workers ≥ 1, --image-size ≥ 1, --source-size ≥ 1, --seconds > 0 "
                             + "and --channels 1 or 3 are required")
        }
        let synthetic = SyntheticDataset(trainCount: 512, testCount: 0, height: sourceSize, width: sourceSize,
                                         channels: channels)
        let dataset = try loadDataset(name: parsed.string("dataset")!, split: .train,
                                      directory: parsed.string("data-dir"), synthetic: synthetic)
        let preset = try AugmentationPreset.named(parsed.string("preset")!, size: size)
        let normalization = preset.normalization(channels: dataset.channels) ?? .unit(channels: dataset.channels)
        // Two million images are more than any run gets through; the loader is cancelled when the time is up.
        let steps = max(10, 2_000_000 / batch)
        let batches = (0..<steps).map { step in (0..<batch).map { (step * batch + $0) % dataset.count } }
        let loader = try TwoViewLoader(dataset: dataset, batches: batches, epoch: 0, seed: 0, views: preset.views,
                                       normalization: normalization, workers: workers,
                                       format: parsed.has("pixels") ? .pixels : .floats)
        for _ in 0..<2 { _ = loader.next() }
        let clock = ContinuousClock()
        let start = clock.now
        var delivered = 0
        var last: TwoViewBatch?
        while (clock.now - start).seconds < seconds, let next = loader.next() {
            delivered += 1
            last = next
        }
        let elapsed = (clock.now - start).seconds
        let staging = last.map(stagingCopySeconds) ?? 0
        loader.cancel()
        let images = Double(delivered * batch)
        print("dataset     \(dataset.name): \(dataset.count) images of \(dataset.height)x\(dataset.width)x\(dataset.channels)")
        print("preset      \(preset.name), views \(loader.viewShapes.map { "\($0)" }.joined(separator: " + "))")
        print("workers     \(workers), batch \(batch), prefetch \(loader.prefetch)")
        print("batches     \(delivered) in \(fixed(elapsed, 2)) s")
        print("throughput  \(fixed(images / elapsed, 1)) images/s (\(preset.views.count) views each), "
              + "\(fixed(elapsed / max(images, 1) * 1e3 * Double(workers), 3)) ms per image per worker")
        let bytes = loader.viewShapes.map { $0.reduce(1, *) }.reduce(0, +) * (loader.format == .pixels ? 1 : 4)
        print("staging     \(fixed(Double(bytes) / 1e6, 1)) MB per batch as \(loader.format == .pixels ? "bytes" : "floats"), "
              + "copied in \(fixed(staging * 1e3, 2)) ms (\(fixed(Double(bytes) / staging / 1e9, 1)) GB/s) on the consuming thread")
    }

    /// The best of 5 copies of `batch`'s views into a staging buffer of their size, as `PinnedBatchUploader`
    /// copies a batch into pinned memory before the bus transfer.
    static func stagingCopySeconds(_ batch: TwoViewBatch) -> Double {
        let sources: [(UnsafeRawPointer, Int)] = batch.pixels.isEmpty
            ? batch.views.map { (UnsafeRawPointer($0.pointer), $0.count * 4) }
            : batch.pixels.map { (UnsafeRawPointer($0.bytes), $0.count) }
        let total = sources.map(\.1).reduce(0, +)
        let staging = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 64)
        defer { staging.deallocate() }
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<5 {
            let start = clock.now
            var offset = 0
            for (source, bytes) in sources {
                (staging + offset).copyMemory(from: source, byteCount: bytes)
                offset += bytes
            }
            best = min(best, (clock.now - start).seconds)
        }
        return best
    }

    /// Best GFLOP/s of OpenBLAS sgemm (its own threading) on `size`² matrices over a few calls.
    static func sgemmGFLOPs(size: Int, threads: Int) -> Double {
        let a = Tensor(zeros: [size, size]), b = Tensor(zeros: [size, size]), c = Tensor(zeros: [size, size])
        var random = RandomGenerator(seed: 2)
        for i in 0..<(size * size) { a.pointer[i] = Float(random.uniform()); b.pointer[i] = Float(random.uniform()) }
        openblas_set_num_threads(Int32(threads))
        defer { openblas_set_num_threads(1) }
        let clock = ContinuousClock()
        var best = 0.0
        for _ in 0..<4 {
            let seconds = clock.measure {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(size), blasint(size), blasint(size),
                            1, a.pointer, blasint(size), b.pointer, blasint(size), 0, c.pointer, blasint(size))
            }.seconds
            best = max(best, 2 * Double(size) * Double(size) * Double(size) / seconds / 1e9)
        }
        return best
    }

    /// Where one step's time goes: the encoder's whole forward and backward (best of three), then every
    /// convolution alone (forward, input gradient, weight gradient) with its GFLOP/s. `net` has trained already
    /// on `backend` (`BenchedStep.time`), so nothing is allocated or loaded for the first time here. On a GPU each
    /// timed piece ends with a synchronisation (a few µs each), so the times are the kernels' own, not
    /// their launch cost.
    static func profile(net: ResNet, backend: any Backend, input: Tensor) -> (lines: [String], forwardBackwardSeconds: Double) {
        let clock = ContinuousClock()
        let synchronize: () -> Void = { (backend as? CUDABackend)?.synchronize() }
        func time(_ work: () -> Void) -> Double {
            synchronize()
            return clock.measure { work(); synchronize() }.seconds
        }
        // The whole forward and backward: the best of three, as the step's median is a steady state.
        var logits = input, forward = Double.infinity, backward = Double.infinity
        var grad: Tensor?
        for _ in 0..<3 {
            forward = min(forward, time { logits = net.forward(input) })
            if grad == nil {
                grad = backend.zeros(logits.shape)
                backend.fill(grad!, with: 0.01)
            }
            backward = min(backward, time { _ = net.backward(grad!) })
        }
        var lines = ["profile     forward \(fixed(forward * 1e3, 1)) ms, backward \(fixed(backward * 1e3, 1)) ms"
                     + (backend.device == .cpu ? "" : " (\(backend.device), synchronised per piece)"),
                     "  conv (alone)                 forward        input grad     weight grad"]
        var convSeconds = 0.0
        for conv in net.convolutions {
            guard let g = conv.geometry else { continue }
            let x = backend.zeros(g.inputShape), w = backend.zeros(g.weightShape), y = backend.zeros(g.outputShape)
            let f = time { backend.convolutionForward(input: x, weight: w, output: y, geometry: g) }
            let d = conv.computesInputGradient
                ? time { backend.convolutionBackwardData(gradOutput: y, weight: w, gradInput: x, geometry: g) } : 0
            let b = time { backend.convolutionBackwardWeight(input: x, gradOutput: y, gradWeight: w, geometry: g) }
            convSeconds += f + d + b
            func cell(_ seconds: Double) -> String {
                seconds == 0 ? pad("-", 15) : pad(fixed(seconds * 1e3, 2) + "ms " + fixed(g.forwardFLOPs / seconds / 1e9, 0) + "G", 15)
            }
            lines.append("  " + conv.name + String(repeating: " ", count: max(1, 27 - conv.name.count)) + cell(f) + cell(d) + cell(b))
        }
        lines.append("  convolutions \(fixed(convSeconds * 1e3, 1)) ms of \(fixed((forward + backward) * 1e3, 1)) ms forward+backward")
        return (lines, forward + backward)
    }

    /// One more step with every kernel and cuBLAS call timed alone (`CUDABackend.kernelTimes`): the device
    /// time per kernel, the most first, with its share of the step's kernel time.
    static func kernelTable(_ benched: BenchedStep, on gpu: CUDABackend, limit: Int = 24) -> [String] {
        let times = KernelTimes()
        gpu.kernelTimes = times
        benched.run()
        gpu.kernelTimes = nil
        let total = max(times.totalSeconds, 1e-12), entries = times.byTime
        var lines = ["kernels     one step, each kernel synchronised alone: \(fixed(total * 1e3, 1)) ms in \(entries.count) kernels"]
        for entry in entries.prefix(limit) {
            lines.append("  " + entry.name + String(repeating: " ", count: max(1, 32 - entry.name.count))
                         + pad("\(entry.calls) calls", 11) + pad(fixed(entry.seconds * 1e3, 2) + " ms", 12)
                         + pad(fixed(100 * entry.seconds / total, 1) + " %", 8))
        }
        if entries.count > limit {
            let rest = entries.dropFirst(limit).reduce(0) { $0 + $1.seconds }
            lines.append("  (\(entries.count - limit) more: \(fixed(rest * 1e3, 2)) ms)")
        }
        return lines
    }

    /// The step's median against the encoder's own forward + backward (profiled on one view) times the views:
    /// what remains is the heads, the loss, the optimiser and BYOL's target.
    static func stepBreakdown(median: Double, encoderSeconds: Double, views: Int) -> String {
        let encoder = encoderSeconds * Double(views), rest = median - encoder
        return "  step \(fixed(median * 1e3, 1)) ms: encoder forward+backward \(views == 1 ? "" : "x \(views) views ")"
            + "\(fixed(encoder * 1e3, 1)) ms (\(fixed(100 * encoder / median, 0)) %), the rest \(fixed(rest * 1e3, 1)) ms "
            + (views == 1 ? "(head, loss, optimiser)" : "(heads, loss, optimiser, EMA target)")
    }
}

/// Peak resident set size of this process, in bytes.
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}
