import Data
import Engine
import Models

/// A second labelled dataset for the online probe (`--probe-dataset`), as InnerEye's SSL container
/// allows: every step, one batch of it (no augmentation) goes through the encoder in evaluation mode
/// and the probe trains on those features; the probe is evaluated on its test split.
final class ProbeData {
    let train: ImageDataset
    let test: ImageDataset
    let normalization: Normalization
    private let sampler: ShardedSampler
    private let assembler: BatchAssembler
    private var epoch = 0
    private var pending: [[Int]] = []
    private var batch: Tensor?

    init(name: String, directory: String?, imageSize: Int?, channels: Int, batchSize: Int, seed: UInt64) throws {
        train = try loadDataset(name: name, split: .train, directory: directory, imageSize: imageSize)
        test = try loadDataset(name: name, split: .test, directory: directory, imageSize: imageSize)
        guard train.channels == channels else {
            throw UsageError("--probe-dataset \(name) has \(train.channels)-channel images, the encoder takes \(channels)")
        }
        guard train.count >= batchSize else {
            throw UsageError("--probe-dataset \(name) has \(train.count) training images, fewer than one batch of \(batchSize)")
        }
        normalization = Normalization.standard(forDataset: train.name, channels: channels)
        sampler = try ShardedSampler(datasetCount: train.count, globalBatchSize: batchSize, rank: 0, worldSize: 1,
                                     seed: RandomGenerator.mix(seed ^ 0x5052_4F42))
        assembler = try BatchAssembler(dataset: train, normalization: normalization)
    }

    /// One probe step on the next batch of the probe dataset (its own epochs, reshuffled each time).
    func trainStep(_ probe: LinearProbe, encoder: ResNet, mode: Mode, backend: any Backend) throws
        -> (loss: Double, correct: Int, scored: Int) {
        if pending.isEmpty {
            pending = sampler.batches(epoch: epoch).reversed()
            epoch += 1
        }
        let indices = pending.removeLast()
        if batch?.shape[0] != indices.count {
            batch = Tensor(zeros: [indices.count, train.height, train.width, train.channels])
        }
        let labels = assembler.assemble(indices: indices, epoch: 0, into: batch!)
        let wasTraining = mode.training
        mode.training = false
        defer { mode.training = wasTraining }
        let features = backend.onHost(encoder.forward(backend.deviceCopy(batch!)))
        return probe.trainStep(features: features, labels: labels)
    }
}
