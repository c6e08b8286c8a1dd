import Collectives
import CUDARuntime
import Data
import Engine
import Models
#if canImport(Glibc)
import Glibc
#endif

/// The training loop shared by every method, on one rank or many: data, schedule, optimiser, gradient
/// all-reduce, online probe, metrics, checkpoints, resume and stopping.
///
/// A method turns two views into gradients (its losses and batch norms already span the global batch,
/// see `SelfSupervisedMethod.distribute`); everything else lives here. With R ranks each rank trains on
/// its shard of every global batch (`ShardedSampler`), sums the gradients with the other ranks
/// (`GradientAllReducer`, overlapped with backward) and takes the same optimiser step. Rank 0 alone trains
/// the online probe (on features gathered from every rank), evaluates, prints, writes metrics and checkpoints.
final class Trainer {
    let options: TrainOptions
    /// The ranks, through a `TimedCommunicator`: every collective the main thread makes (SyncBN, gathers,
    /// loss reductions, agreement) adds to the step's communication time.
    let communicator: TimedCommunicator
    /// Where the network trains: the CPU, or a GPU (`--device cuda`, one process).
    let backend: any Backend
    /// Where the online probe, the kNN and the losses' host side run: `backend` itself on the CPU.
    let hostBackend: any Backend
    let train: ImageDataset
    /// The test split; loaded on rank 0 only (the others never evaluate).
    let test: ImageDataset?
    let normalization: Normalization
    let method: any SelfSupervisedMethod
    let optimizer: any Optimizer
    /// The online probe: rank 0 only (its parameters are never all-reduced).
    let probe: LinearProbe?
    let run: RunDirectory?
    let sampler: ShardedSampler
    let schedule: WarmupCosineSchedule
    /// The views' augmentations; nil for the supervised default (random crop with padding and flip).
    let preset: AugmentationPreset?
    /// The online probe's data: the training set itself, or `--probe-dataset`'s splits (rank 0).
    let probeData: ProbeData?
    let faults: FaultInjection
    /// Moves each step's views to `backend`: on a GPU through pinned memory on the copy stream, so the
    /// next batch's copy overlaps the current step's backward (`PinnedBatchUploader`).
    let uploader: any BatchUploader
    /// Several ranks on GPUs: the host buffer the gradients are summed in (nil on the CPU, where they are summed in place).
    private var gradientStaging: Tensor?
    /// Several ranks on GPUs with NCCL: how the gradients are all-reduced in device memory (`fit` joins it).
    let deviceCollectives: (any DeviceCollectiveCalls)?
    private(set) var epoch = 0
    private(set) var step = 0
    /// Best test accuracy so far (online probe, or the supervised classifier): `best.safetensors` holds that state.
    private var bestAccuracy = -1.0
    var isRoot: Bool { communicator.rank == 0 }

    /// Builds everything local to this rank. Makes no collective call, so a rank that fails here (a missing
    /// file) cannot leave the others waiting: `TrainCommand` has the ranks agree on the outcome first.
    init(options: TrainOptions, communicator: any Communicator = LocalCommunicator(), device: (any Backend)? = nil,
         deviceCollectives: (any DeviceCollectiveCalls)? = nil) throws {
        self.options = options
        self.deviceCollectives = deviceCollectives
        self.communicator = TimedCommunicator(communicator)
        faults = try FaultInjection()
        let host = CPUBackend(threads: options.threads)
        backend = device ?? host
        hostBackend = backend.device == .cpu ? backend : host
        uploader = backend.makeBatchUploader()
        let isRoot = communicator.rank == 0
        var train = try loadDataset(name: options.dataset, split: .train, directory: options.dataDirectory,
                                    imageSize: options.imageSize)
        if let subset = options.subset { train = train.subset(first: min(subset, train.count)) }
        self.train = train
        test = isRoot ? try loadDataset(name: options.dataset, split: .test, directory: options.dataDirectory,
                                        imageSize: options.imageSize) : nil
        guard train.count >= options.batchSize else {
            throw UsageError("--batch-size \(options.batchSize) is larger than the \(train.count) training images")
        }
        let augment = options.augment ?? (options.method == "supervised" ? nil : options.defaultPreset(datasetName: train.name))
        preset = try augment.map { try AugmentationPreset.named($0, size: train.height) }
        switch options.normalize {
        case "auto":
            normalization = DatasetStatistics(train).normalization
            if isRoot {
                printFlushed("normalize: measured on \(train.count) training images: mean \(normalization.mean), std \(normalization.std)")
            }
        case "dataset": normalization = datasetNormalization(train)
        default: normalization = preset?.normalization(channels: train.channels) ?? datasetNormalization(train)
        }
        let config = ResNetConfig(depth: options.depth, stem: options.stem, widthMultiplier: options.width,
                                  inChannels: train.channels)
        method = try makeMethod(options, encoder: config, classCount: train.classCount,
                                multiLabel: train.labelsPerSample > 1, backend: backend)
        method.distribute(over: self.communicator, syncBatchNorm: options.syncBatchNorm, faults: faults.methodFaults)
        optimizer = try makeOptimizer(options, store: method.store, backend: backend)
        let trainsProbe = isRoot && options.probe && options.method != "supervised"
        probeData = try options.probeDataset.flatMap { name in
            try trainsProbe ? ProbeData(name: name, directory: options.probeDataDirectory, imageSize: options.imageSize,
                                        channels: train.channels, batchSize: options.batchSize, seed: options.seed) : nil
        }
        let probeClasses = probeData?.train ?? train
        probe = trainsProbe
            ? LinearProbe(featureDimension: config.featureDimension, classCount: probeClasses.classCount,
                          multiLabel: probeClasses.labelsPerSample > 1, learningRate: Float(options.probeLearningRate),
                          seed: options.seed, backend: hostBackend)
            : nil
        sampler = try ShardedSampler(datasetCount: train.count, globalBatchSize: options.batchSize,
                                     rank: communicator.rank, worldSize: communicator.worldSize, seed: options.seed)
        let stepsPerEpoch = sampler.stepsPerEpoch
        let warmup = options.warmupEpochs ?? min(10, 0.1 * Double(options.epochs))
        schedule = WarmupCosineSchedule(baseLearningRate: options.learningRate,
                                        warmupSteps: Int((warmup * Double(stepsPerEpoch)).rounded()),
                                        totalSteps: stepsPerEpoch * options.epochs,
                                        warmupStartLearningRate: options.warmupStartLearningRate,
                                        minLearningRate: options.minLearningRate)
        run = try isRoot ? options.runDirectory.map { try RunDirectory(path: $0) } : nil
        try run?.writeConfig(options.record + [("world_size", .integer(communicator.worldSize))])
        if let path = options.initWeights { try loadInitialEncoder(path, into: method, log: isRoot) }
        if let resume = options.resume { try self.resume(from: resume) }
    }

    /// What a checkpoint holds: the method's parameters with its optimiser, its EMA target if any, the probe.
    var checkpointParts: [CheckpointPart] {
        var parts = [CheckpointPart(prefix: "", store: method.store, optimizer: optimizer)]
        parts += method.extraStores.map { CheckpointPart(prefix: $0.prefix, store: $0.store, optimizer: nil) }
        if let probe { parts.append(CheckpointPart(prefix: "probe.", store: probe.store, optimizer: probe.optimizer)) }
        return parts
    }

    /// Every rank reads the checkpoint (so every replica starts from the same state); rank 0 also restores the probe.
    func resume(from argument: String) throws {
        var path = argument
        if argument == "auto" {
            guard let directory = options.runDirectory else {
                throw UsageError("--resume auto needs --run-dir (it resumes from RUN_DIR/checkpoints/last.safetensors)")
            }
            path = directory + "/checkpoints/last.safetensors"
            guard access(path, F_OK) == 0 else {
                if isRoot { printFlushed("resume: no checkpoint at \(path) yet; starting from scratch") }
                return
            }
        }
        let restored = try Checkpoint.restore(path: path, parts: checkpointParts)
        epoch = restored.epoch
        step = restored.step
        bestAccuracy = Double(restored.metadata["best_acc"] ?? "") ?? -1
        if isRoot { printFlushed("resume: \(path) at epoch \(epoch + 1), step \(step)") }
    }

    /// Trains to the end (or `--max-steps`), evaluating after every epoch. Collective: every rank calls it.
    func fit() throws {
        let stepsPerEpoch = sampler.stepsPerEpoch
        let totalSteps = stepsPerEpoch * options.epochs
        let stopStep = min(totalSteps, options.maxSteps ?? Int.max)
        let ranks = communicator.worldSize
        log0(communicator, "train: \(method.name), ResNet-\(options.depth) (\(options.stem.rawValue) stem, width \(options.width), "
             + "\(method.store.count) parameters) on \(train.name): \(train.count) images of "
             + "\(train.height)x\(train.width)x\(train.channels); batch \(options.batchSize)"
             + (ranks > 1 ? " (\(ranks) ranks x \(sampler.localBatchSize)\(options.syncBatchNorm ? ", SyncBN" : ""))" : "")
             + ", \(stepsPerEpoch) steps/epoch, "
             + "\(options.optimizer) lr \(fixed(options.learningRate, 4)) (base \(options.baseLearningRate) x batch/256), "
             + "\(options.threads) threads\(ranks > 1 ? " per rank" : ""), augment \(preset?.name ?? "crop \(options.randomCropPadding) + flip")")
        var watch: PeerWatch?
        var reducer: GradientAllReducer?
        var onDevice: DeviceCommunicator?
        var deviceReducer: DeviceGradientReducer?
        if ranks > 1 {
            watch = try PeerWatch(communicator: communicator, timeoutSeconds: options.collectiveTimeout) { [checkpointDirectory] in
                resumeHint(checkpointDirectory)
            }
            if let deviceCollectives, backend.device != .cpu {
                let joined = try DeviceCommunicator(calls: deviceCollectives, host: communicator,
                                                    timeout: options.collectiveTimeout)
                // A rank that found a peer gone ends the NCCL communicator before it exits, so no kernel is left
                // waiting for the peer; a stalled rank asks NCCL whether a peer vanished.
                watch?.beforeExit = { joined.abort() }
                watch?.failureCheck = { [calls = joined.calls] in
                    calls.asynchronousError().map { "\(calls.name) reports \"\($0)\"" }
                }
                // SyncBatchNorm's all-gathers and all-reduces, and the losses' gathered rows, then stay on the
                // GPUs, in stream order.
                communicator.deviceTensors = joined
                onDevice = joined
                deviceReducer = makeDeviceGradientReducer(joined)
            } else {
                reducer = try makeGradientReducer()
            }
        }
        defer {
            // Nothing may reach the NCCL communicator once it is destroyed: not SyncBN, not the watch's thread.
            communicator.deviceTensors = nil
            watch?.failureCheck = nil
            watch?.beforeExit = nil
            onDevice?.destroy()
        }
        let signals = StopSignals { [communicator, checkpointDirectory, watch] in
            let cause = watch?.lostPeer.map { "\($0); the launcher ends the job" }
                ?? "the launcher ends the job: a rank failed, the job was cancelled or hit its time limit"
            return "rank \(communicator.rank): error: stopped by SIGTERM (\(cause)). " + resumeHint(checkpointDirectory)
        }
        defer { withExtendedLifetime(signals) {} }
        let clock = ContinuousClock()
        let start = clock.now, startStep = step
        var stopRequested = false
        while epoch < options.epochs && step < stopStep && !stopRequested {
            let epochStart = clock.now, firstStep = step
            var lossSum = 0.0, probeCorrect = 0, probeScored = 0, seen = 0, gradientWait = 0.0, communicationWait = 0.0
            let batches = try EpochBatches(trainer: self, epoch: epoch, skip: step - epoch * stepsPerEpoch)
            while step < stopStep {
                watch?.heartbeat()
                // Every rank fetches its batch, then all agree: a failure anywhere stops everyone together.
                var batch: TrainingBatch?
                var failure: (any Error)?
                do { batch = try nextBatch(batches) } catch { failure = error }
                stopRequested = try RankAgreement.agree(communicator, failure: failure, stopRequested: signals.stopRequested,
                                                        context: "at epoch \(epoch + 1), step \(step + 1)")
                guard !stopRequested, let batch else { break }
                _ = communicator.takeSeconds()  // from here on: this step's collectives
                optimizer.learningRate = Float(schedule.learningRate(atStep: step))
                method.store.zeroGradients()
                reducer?.beginStep()
                deviceReducer?.beginStep()
                method.lastBackwardStore.beginBackward()
                let view1 = uploader.upload(batch.view1, view: 0)
                let view2 = batch.view2.isSameBuffer(as: batch.view1) ? view1 : uploader.upload(batch.view2, view: 1)
                if faults.fires("nan", rank: communicator.rank, step: step + 1) { backend.fill(view1, with: .nan) }
                let result = method.trainStep(view1: view1, view2: view2, labels: batch.labels)
                // The loss is the global batch's on every rank, so every rank stops here together.
                guard result.loss.isFinite else { throw nonFiniteLoss(result.loss) }
                var stepWait = communicator.takeSeconds()  // SyncBN, gathers, loss reductions
                if let reducer {
                    // On a GPU the gradients are summed in host memory: down, all-reduce, up.
                    if let gradientStaging { backend.download(method.store.gradients, to: gradientStaging) }
                    try reducer.finishStep()
                    if let gradientStaging { backend.upload(gradientStaging, to: method.store.gradients) }
                    gradientWait += reducer.lastWaitSeconds
                    stepWait += reducer.lastWaitSeconds
                }
                if let deviceReducer {
                    try deviceReducer.finishStep()  // buckets summed by NCCL beside backward; wait for the rest
                    gradientWait += deviceReducer.lastWaitSeconds
                    stepWait += deviceReducer.lastWaitSeconds
                }
                communicationWait += stepWait
                optimizer.step()
                method.afterOptimizerStep(step: step, totalSteps: totalSteps)
                let probeLoss = try trainProbe(features: result.features, labels: batch.labels,
                                               correct: &probeCorrect, scored: &probeScored)
                lossSum += result.loss
                seen += batch.labels.count / train.labelsPerSample * ranks
                step += 1
                if faults.fires("perturb", rank: communicator.rank, step: step) { perturbReplica() }
                if ranks > 1, options.syncCheckEvery > 0, step % options.syncCheckEvery == 0 || step == stopStep {
                    for warning in try ReplicaCheck.run(replicatedStores, communicator: communicator, step: step) {
                        log0(communicator, warning)
                    }
                }
                guard isRoot else { continue }
                var fields: [(String, JSONValue)] = [("step", .integer(step)), ("epoch", .integer(epoch + 1)),
                                                     ("loss", .number(result.loss)),
                                                     ("lr", .number(Double(optimizer.learningRate)))]
                fields += result.terms.map { ($0.name, .number($0.value)) }
                if options.method != "supervised" { fields.append(("embedding_std", .number(result.embeddingStd))) }
                if let probeLoss { fields.append(("probe_loss", .number(probeLoss))) }
                if let wait = reducer?.lastWaitSeconds ?? deviceReducer?.lastWaitSeconds {
                    fields.append(("grad_sync_wait_s", .number(wait)))
                    fields.append(("comm_wait_s", .number(stepWait)))
                }
                run?.log(fields)
                if step % 10 == 0 || step == stopStep || stdoutIsTerminal {
                    let remaining = (clock.now - start).seconds / Double(step - startStep) * Double(stopStep - step)
                    progress(progressBar(done: step, of: stopStep)
                             + " epoch \(epoch + 1)/\(options.epochs) step \(step)/\(totalSteps) loss \(fixed(result.loss, 4))"
                             + (result.embeddingStd > 0 ? " std \(fixed(result.embeddingStd, 4))" : "")
                             + "  \(fixed(Double(seen) / (clock.now - epochStart).seconds, 0)) img/s  ETA \(duration(remaining))")
                }
            }
            watch?.heartbeat()
            let finishedEpoch = step == (epoch + 1) * stepsPerEpoch
            let epochSeconds = (clock.now - epochStart).seconds
            if isRoot && stopRequested {
                // A stop request ends the epoch early: no epoch record (the resumed run writes it), only the checkpoint.
                endProgress()
                printFlushed("stop requested (SIGUSR1): stopping after step \(step) and writing the checkpoint")
                try saveCheckpoint(best: false)
            } else if isRoot {
                endProgress()
                var improved = false
                let steps = Double(max(step - firstStep, 1))
                var fields: [(String, JSONValue)] = [("epoch", .integer(epoch + 1)), ("step", .integer(step)),
                                                     ("train_loss", .number(lossSum / steps))]
                var line = "epoch \(epoch + 1)/\(options.epochs)  loss \(fixed(lossSum / steps, 4))"
                if let accuracy = try evaluate() {
                    fields.append(("test_acc", .number(accuracy)))
                    line += "  \(probe == nil ? "test" : "online probe") acc \(fixed(100 * accuracy, 2))%"
                    if probe != nil { fields.append(("probe_train_acc", .number(Double(probeCorrect) / Double(max(probeScored, 1))))) }
                    improved = accuracy > bestAccuracy
                    bestAccuracy = max(bestAccuracy, accuracy)
                }
                fields.append(("images_per_s", .number(Double(seen) / epochSeconds)))
                fields.append(("elapsed_s", .number((clock.now - start).seconds)))
                line += "  \(fixed(Double(seen) / epochSeconds, 0)) img/s  elapsed \(fixed((clock.now - start).seconds, 0)) s"
                if reducer != nil || deviceReducer != nil {
                    let gradient = gradientWait / max(epochSeconds, 1e-9), all = communicationWait / max(epochSeconds, 1e-9)
                    fields.append(("grad_sync_wait_fraction", .number(gradient)))
                    fields.append(("comm_wait_fraction", .number(all)))
                    line += "  communication wait \(fixed(100 * all, 1))% (gradient all-reduce \(fixed(100 * gradient, 1))%)"
                }
                printFlushed(line)
                run?.log(fields)
                if finishedEpoch { epoch += 1 }
                try saveCheckpoint(best: improved)
            } else if finishedEpoch {
                epoch += 1
            }
        }
        try reducer?.finish()
        if stopRequested {
            let path = checkpointDirectory.map { $0 + "/last.safetensors" }
            throw TrainingStopped(step: step, checkpoint: path)
        }
        if isRoot && options.knn && step == stopStep {
            if train.labelsPerSample == 1 { try reportKNN() } else { printFlushed("knn: skipped (multi-label dataset)") }
        }
    }

    /// The next batch of this rank's shard, with the injected faults applied.
    private func nextBatch(_ batches: EpochBatches) throws -> TrainingBatch? {
        let rank = communicator.rank, upcoming = step + 1
        if faults.fires("kill", rank: rank, step: upcoming) { kill(getpid(), SIGKILL) }
        if faults.fires("bad-sample", rank: rank, step: upcoming) {
            throw DataError("\(train.name): a sample of step \(upcoming) could not be read (injected by \(FaultInjection.variable))")
        }
        return batches.next()
    }

    /// The probe's step on the global batch: every rank's features and labels are gathered to rank 0, which
    /// alone trains. Returns the probe's loss on rank 0 (nil elsewhere, or when the batch had no labelled rows).
    private func trainProbe(features: Tensor, labels: [Int32], correct: inout Int, scored: inout Int) throws -> Double? {
        guard options.probe && options.method != "supervised" else { return nil }
        var all = (features: features, labels: labels)
        if options.probeDataset == nil && communicator.worldSize > 1 {
            let values = try communicator.gather(features.array, root: 0)
            let labelValues = try communicator.gather(labels.map(Float.init), root: 0)
            guard isRoot else { return nil }
            all = (Tensor(shape: [features.shape[0] * communicator.worldSize, features.shape[1]], values: values),
                   labelValues.map { Int32($0) })
        }
        guard let probe else { return nil }
        let result = try probeData.map { try $0.trainStep(probe, encoder: method.encoder, mode: method.mode, backend: backend) }
            ?? probe.trainStep(features: all.features, labels: all.labels)
        correct += result.correct
        scored += result.scored
        return result.scored > 0 ? result.loss : nil
    }

    /// The stores every rank must hold identically: the trained parameters and the EMA target if any.
    var replicatedStores: [(name: String, store: ParameterStore)] {
        [("parameters", method.store)] + method.extraStores.map { ("\($0.prefix)network", $0.store) }
    }

    /// `perturb` fault: this rank's replicas drift (the sync check must notice and repair it).
    private func perturbReplica() {
        for (_, store) in replicatedStores {
            let host = store.hostCopy()  // the store itself on the CPU
            host.values.pointer[0] += 1e-3
            store.upload(from: host)
        }
    }

    /// The gradient all-reduce between GPUs with NCCL: buckets queued on the collectives stream as backward
    /// finishes them (`--no-overlap`: all after backward).
    private func makeDeviceGradientReducer(_ communicator: DeviceCommunicator) -> DeviceGradientReducer {
        let reducer = DeviceGradientReducer(gradients: method.store.gradients, communicator: communicator,
                                            bucketBytes: Int(options.bucketMegabytes * 1_048_576),
                                            overlap: options.overlapGradientSync)
        if reducer.overlap {
            method.lastBackwardStore.onGradientsFinal = { [unowned reducer] in reducer.gradientsFinal(from: $0) }
        }
        return reducer
    }

    /// The gradient all-reduce: overlapped on a duplicate communicator when MPI allows concurrent calls.
    /// On a GPU it reduces a host copy of the gradients (`gradientStaging`) after backward, without overlap.
    private func makeGradientReducer() throws -> GradientAllReducer {
        var gradients = method.store.gradients
        var reduceOver: any Communicator = communicator
        var overlap = options.overlapGradientSync
        if backend.device != .cpu {
            gradients = Tensor(zeros: [gradients.count])
            gradientStaging = gradients
            overlap = false
        }
        if overlap, let mpi = communicator.base as? MPICommunicator {
            if mpi.allowsConcurrentCommunicators {
                reduceOver = try mpi.duplicate()
            } else {
                overlap = false
                log0(communicator, "note: MPI offers no MPI_THREAD_MULTIPLE; gradients are all-reduced after backward (no overlap)")
            }
        }
        let reducer = GradientAllReducer(gradients: gradients.pointer, count: gradients.count, communicator: reduceOver,
                                         bucketBytes: Int(options.bucketMegabytes * 1_048_576), overlap: overlap,
                                         ownsCommunicator: reduceOver !== communicator.base)
        if overlap {
            method.lastBackwardStore.onGradientsFinal = { [unowned reducer] in reducer.gradientsFinal(from: $0) }
        }
        return reducer
    }

    /// Test accuracy of the online probe (or of the supervised classifier), in evaluation mode. Rank 0.
    func evaluate() throws -> Double? {
        guard let test else { return nil }
        if let supervised = method as? Supervised {
            supervised.mode.training = false
            defer { supervised.mode.training = true }
            return try accuracy(on: test) { images, labels in
                let logits = backend.onHost(supervised.logits(backend.deviceCopy(images)))
                return scorePredictions(logits: logits, labels: labels, multiLabel: supervised.multiLabel)
            }
        }
        guard let probe else { return nil }
        let (features, labels) = try extractFeatures(encoder: method.encoder, mode: method.mode,
                                                     dataset: probeData?.test ?? test,
                                                     normalization: probeData?.normalization ?? normalization,
                                                     batchSize: 256, backend: backend)
        let scored = probe.correctPredictions(features: features, labels: labels)
        return Double(scored.correct) / Double(max(scored.scored, 1))
    }

    /// Weighted kNN (k 200, T 0.07) of the frozen encoder: the training images (no augmentation) vote for the test images.
    func reportKNN() throws {
        guard let test else { return }
        let trainSet = try extractFeatures(encoder: method.encoder, mode: method.mode, dataset: train,
                                           normalization: normalization, batchSize: 256, backend: backend)
        let testSet = try extractFeatures(encoder: method.encoder, mode: method.mode, dataset: test,
                                          normalization: normalization, batchSize: 256, backend: backend)
        let accuracy = WeightedKNN().accuracy(train: trainSet.features, trainLabels: trainSet.labels,
                                              test: testSet.features, testLabels: testSet.labels,
                                              classCount: train.classCount, backend: hostBackend)
        printFlushed("knn (k 200, T 0.07) test acc \(fixed(100 * accuracy, 2))%")
        run?.log([("epoch", .integer(epoch)), ("step", .integer(step)), ("knn_acc", .number(accuracy))])
    }

    /// Accuracy over `dataset` (no augmentation): `score` returns (correct, scored) for a batch.
    private func accuracy(on dataset: ImageDataset, _ score: (Tensor, [Int32]) -> (correct: Int, scored: Int)) throws -> Double {
        let assembler = try BatchAssembler(dataset: dataset, normalization: normalization)
        var hits = 0, scored = 0, start = 0
        while start < dataset.count {
            let count = min(256, dataset.count - start)
            let batch = Tensor(zeros: [count, dataset.height, dataset.width, dataset.channels])
            let labels = assembler.assemble(indices: Array(start..<(start + count)), epoch: 0, into: batch)
            let result = score(batch, labels)
            hits += result.correct
            scored += result.scored
            start += count
        }
        return Double(hits) / Double(max(scored, 1))
    }

    var checkpointDirectory: String? { options.runDirectory.map { $0 + "/checkpoints" } }

    /// Writes `last.safetensors`, and `best.safetensors` when the test accuracy improved; each atomically. Rank 0.
    func saveCheckpoint(best: Bool) throws {
        guard isRoot, let directory = checkpointDirectory else { return }
        try makeDirectories(directory)
        var metadata: [String: String] = ["method": options.method, "best_acc": String(bestAccuracy),
                                          "arch": "resnet\(options.depth)", "stem": options.stem.rawValue,
                                          "width": String(options.width), "in_channels": String(train.channels),
                                          "dataset": options.dataset]
        metadata["normalize_mean"] = normalization.mean.map { String($0) }.joined(separator: ",")
        metadata["normalize_std"] = normalization.std.map { String($0) }.joined(separator: ",")
        metadata["world_size"] = String(communicator.worldSize)
        for name in ["last"] + (best ? ["best"] : []) {
            try Checkpoint.save(path: directory + "/\(name).safetensors", parts: checkpointParts, epoch: epoch, step: step,
                                metadata: metadata, pauseHalfway: faults.checkpointPause)
        }
    }

    private func nonFiniteLoss(_ loss: Double) -> TrainingError {
        TrainingError("loss became \(loss) at epoch \(epoch + 1), step \(step + 1) (lr \(optimizer.learningRate)): "
                      + "training stopped\(communicator.worldSize > 1 ? " on every rank" : ""). Lower --lr or lengthen "
                      + "--warmup-epochs, or check the data. " + resumeHint(checkpointDirectory))
    }
}

/// Where a stopped run can resume from.
func resumeHint(_ checkpointDirectory: String?) -> String {
    guard let directory = checkpointDirectory else { return "No checkpoint was kept (no --run-dir)." }
    let last = directory + "/last.safetensors"
    return access(last, F_OK) == 0
        ? "Resume from \(last) (--resume auto)."
        : "No checkpoint was written yet (the first is written at the end of epoch 1)."
}

/// Training stopped on request (SIGUSR1) after writing `last.safetensors`: run again with `--resume auto`.
struct TrainingStopped: Error, CustomStringConvertible {
    let step: Int
    let checkpoint: String?
    var description: String {
        "stopped on request (SIGUSR1) after step \(step)"
            + (checkpoint.map { "; checkpoint \($0) written, resume with --resume auto" } ?? "; no --run-dir, nothing saved")
    }
}

/// One batch of a step: the two views (the same buffer twice for one-view methods) and the labels.
struct TrainingBatch {
    let view1: HostBatch
    let view2: HostBatch
    let labels: [Int32]
}

/// The batches of one epoch in step order, starting after `skip` steps (for a resumed epoch): from the
/// threaded loader with the preset's views, or, for the supervised default, crop-and-flip batches
/// assembled on the calling thread. Either way a view is a pure function of (seed, epoch, index, view).
final class EpochBatches {
    private let loader: TwoViewLoader?
    private var order: IndexingIterator<ArraySlice<[Int]>>
    private let assembler: BatchAssembler?
    private let epoch: Int
    private let batch: Tensor?

    init(trainer: Trainer, epoch: Int, skip: Int) throws {
        self.epoch = epoch
        let batches = trainer.sampler.batches(epoch: epoch).dropFirst(skip)
        let o = trainer.options, d = trainer.train
        if let preset = trainer.preset {
            let views = Array(preset.views.prefix(trainer.method.viewCount))
            loader = try TwoViewLoader(dataset: d, batches: Array(batches), epoch: epoch, seed: o.seed, views: views,
                                       normalization: trainer.normalization, workers: o.workers,
                                       format: trainer.uploader.takesPixels ? .pixels : .floats)
            assembler = nil
            batch = nil
        } else {
            loader = nil
            assembler = try BatchAssembler(dataset: d, normalization: trainer.normalization, randomFlip: o.randomFlip,
                                           randomCropPadding: o.randomCropPadding, seed: o.seed)
            batch = Tensor(zeros: [trainer.sampler.localBatchSize, d.height, d.width, d.channels])
        }
        order = batches.makeIterator()
    }

    /// The next batch; its tensors stay valid until the following call.
    func next() -> TrainingBatch? {
        if let loader {
            guard let next = loader.next() else { return nil }
            let views = next.hostViews
            return TrainingBatch(view1: views[0], view2: views[views.count - 1], labels: next.labels)
        }
        guard let indices = order.next(), let assembler, let batch else { return nil }
        let labels = assembler.assemble(indices: indices, epoch: epoch, into: batch)
        return TrainingBatch(view1: .floats(batch), view2: .floats(batch), labels: labels)
    }
}

/// The method named by `--method`.
func makeMethod(_ options: TrainOptions, encoder: ResNetConfig, classCount: Int, multiLabel: Bool,
                backend: any Backend) throws -> any SelfSupervisedMethod {
    switch options.method {
    case "supervised":
        return Supervised(encoder: encoder, classCount: classCount, multiLabel: multiLabel, seed: options.seed, backend: backend)
    case "simclr":
        return SimCLR(encoder: encoder, temperature: options.temperature,
                      projectorHiddenDimension: options.projectorHiddenDimension ?? 2048,
                      projectorOutputDimension: options.projectorOutputDimension ?? 256,
                      projectorBatchNorm: options.simclrProjectorBatchNorm, seed: options.seed, backend: backend)
    case "vicreg":
        return VICReg(encoder: encoder, projectorHiddenDimension: options.projectorHiddenDimension ?? 2048,
                      projectorOutputDimension: options.projectorOutputDimension ?? 2048,
                      invarianceWeight: options.vicregWeights.invariance, varianceWeight: options.vicregWeights.variance,
                      covarianceWeight: options.vicregWeights.covariance, seed: options.seed, backend: backend)
    case "mocov2":
        return MoCoV2(encoder: encoder, temperature: options.temperature,
                      projectorHiddenDimension: options.projectorHiddenDimension ?? 2048,
                      projectorOutputDimension: options.projectorOutputDimension ?? 256, queueSize: options.queueSize,
                      tauBase: options.tauBase, seed: options.seed, backend: backend)
    case "byol":
        return BYOL(encoder: encoder, projectorHiddenDimension: options.projectorHiddenDimension ?? 4096,
                    projectorOutputDimension: options.projectorOutputDimension ?? 256,
                    predictorHiddenDimension: options.predictorHiddenDimension ?? 4096, tauBase: options.tauBase,
                    seed: options.seed, backend: backend)
    default:
        throw UsageError("unknown --method '\(options.method)'; choose one of \(TrainCommand.methods.joined(separator: ", "))")
    }
}

/// The optimiser named by `--optimizer`.
func makeOptimizer(_ options: TrainOptions, store: ParameterStore, backend: any Backend) throws -> any Optimizer {
    let lr = Float(options.learningRate), wd = Float(options.weightDecay)
    let multipliers = LearningRateMultipliers(
        [("predictor.", options.predictorLearningRateScale), ("projector.", options.projectorLearningRateScale)]
            .filter { $0.1 != 1 }.map { ($0.0, Float($0.1)) })
    switch options.optimizer {
    case "sgd":
        return SGD(store: store, backend: backend, learningRate: lr, momentum: Float(options.momentum), weightDecay: wd,
                   multipliers: multipliers)
    case "lars":
        return LARS(store: store, backend: backend, learningRate: lr, momentum: Float(options.momentum), weightDecay: wd,
                    trustCoefficient: Float(options.lars.eta), clipLearningRate: options.lars.clipLR,
                    multipliers: multipliers)
    case "adamw":
        return AdamW(store: store, backend: backend, learningRate: lr, weightDecay: wd, multipliers: multipliers)
    default:
        throw UsageError("unknown --optimizer '\(options.optimizer)'; choose one of \(TrainCommand.optimizers.joined(separator: ", "))")
    }
}
