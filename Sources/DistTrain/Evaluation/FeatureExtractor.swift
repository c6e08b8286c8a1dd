import Data
import Engine
import Models

/// Encoder features of a whole dataset, in evaluation mode (running BN statistics), without augmentation
/// (or, with `horizontalFlip`, of every image mirrored left-right). Returns `[N, F]` features (in host
/// memory, whatever `backend` the encoder runs on) and the labels.
///
/// On a GPU the host assembles batch i+1 while the device still runs batch i's forward (queued, not waited
/// for); then batch i's features come down, and batch i+1 goes up through the backend's `BatchUploader`.
/// The encoder reuses its output buffer, so each batch's features are downloaded before the next forward.
func extractFeatures(encoder: ResNet, mode: Mode, dataset: ImageDataset, normalization: Normalization,
                     batchSize: Int, backend: any Backend,
                     horizontalFlip: Bool = false) throws -> (features: Tensor, labels: [Int32]) {
    let wasTraining = mode.training
    mode.training = false
    defer { mode.training = wasTraining }
    let assembler = try BatchAssembler(dataset: dataset, normalization: normalization)
    let featureCount = encoder.config.featureDimension
    let features = Tensor(zeros: [dataset.count, featureCount])
    var labels: [Int32] = []
    labels.reserveCapacity(dataset.count)
    let uploader = backend.makeBatchUploader()
    /// Batch `[start, start + count)` assembled in host memory.
    func assemble(_ start: Int) -> Tensor {
        let count = min(batchSize, dataset.count - start)
        let batch = Tensor(zeros: [count, dataset.height, dataset.width, dataset.channels])
        labels += assembler.assemble(indices: Array(start..<(start + count)), epoch: 0, into: batch)
        if horizontalFlip { mirrorLeftRight(batch) }
        return batch
    }
    var start = 0
    var output = dataset.count > 0 ? encoder.forward(uploader.upload(assemble(0), view: 0)) : nil
    while let queued = output {
        let next = start + queued.shape[0]
        let nextBatch = next < dataset.count ? assemble(next) : nil  // while the device runs the queued forward
        let out = backend.onHost(queued)
        Tensor(view: features.storage, offset: start * featureCount, shape: [out.shape[0], featureCount]).assign(from: out)
        output = nextBatch.map { encoder.forward(uploader.upload($0, view: 0)) }
        start = next
    }
    return (features, labels)
}

/// Mirrors every image of an NHWC batch left-right, in place (torchvision's `hflip`).
func mirrorLeftRight(_ batch: Tensor) {
    let (n, h, w, c) = (batch.shape[0], batch.shape[1], batch.shape[2], batch.shape[3])
    let p = batch.pointer
    for row in 0..<(n * h) {
        let base = row * w * c
        for x in 0..<(w / 2) {
            for ch in 0..<c {
                let a = base + x * c + ch, b = base + (w - 1 - x) * c + ch
                (p[a], p[b]) = (p[b], p[a])
            }
        }
    }
}
