import Engine
import XCTest
@testable import Data

final class TwoViewLoaderTests: XCTestCase {
    /// N images of 12 x 14 x C, label i % 10 (two labels per sample when `multiLabel`).
    private func dataset(count: Int = 40, channels: Int = 3, multiLabel: Bool = false) -> ImageDataset {
        let K = multiLabel ? 2 : 1
        return ImageDataset(name: "test", images: noiseBytes(count * 12 * 14 * channels, seed: 5), count: count,
                            height: 12, width: 14, channels: channels,
                            labels: (0..<(count * K)).map { Int32($0 % 10) }, labelsPerSample: K, classCount: 10,
                            classNames: (0..<10).map { "c\($0)" })
    }

    private let preset = AugmentationPreset.cifar(size: 8)
    private let normalization = Normalization(mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3])

    /// Everything a loader delivers, batch by batch: (step, indices, view values, labels).
    private func drain(_ loader: TwoViewLoader, pause: Bool = false) -> [(Int, [Int], [[Float]], [Int32])] {
        var out: [(Int, [Int], [[Float]], [Int32])] = []
        while let batch = loader.next() {
            out.append((batch.step, batch.indices, batch.views.map { $0.array }, batch.labels))
            if pause && batch.step % 3 == 0 { usleep(2000) }
        }
        return out
    }

    private func sampler(_ data: ImageDataset, batch: Int = 4) throws -> ShardedSampler {
        try ShardedSampler(datasetCount: data.count, globalBatchSize: batch, rank: 0, worldSize: 1, seed: 21)
    }

    func testDeliversEveryIndexOnceInStepOrderWithTheRightLabels() throws {
        let data = dataset(multiLabel: true)
        let sampler = try sampler(data)
        let batches = sampler.batches(epoch: 1)
        let loader = try TwoViewLoader(dataset: data, sampler: sampler, epoch: 1, preset: preset,
                                       normalization: normalization, workers: 3)
        XCTAssertEqual(loader.viewShapes, [[4, 8, 8, 3], [4, 8, 8, 3]])
        XCTAssertEqual(loader.stepCount, 10)
        let delivered = drain(loader)
        XCTAssertEqual(delivered.map { $0.0 }, Array(0..<10))
        XCTAssertEqual(delivered.map { $0.1 }, batches)
        XCTAssertEqual(delivered.flatMap { $0.1 }.sorted(), Array(0..<40))
        for (_, indices, _, labels) in delivered {
            XCTAssertEqual(labels, indices.flatMap { Array(data.labels(at: $0)) })
        }
        XCTAssertNil(loader.next(), "stays finished")
    }

    func testBatchesDoNotDependOnWorkersPrefetchOrConsumerSpeed() throws {
        let data = dataset()
        let sampler = try sampler(data)
        func run(workers: Int, prefetch: Int?, pause: Bool = false) throws -> [(Int, [Int], [[Float]], [Int32])] {
            let loader = try TwoViewLoader(dataset: data, sampler: sampler, epoch: 2, preset: preset,
                                           normalization: normalization, workers: workers, prefetch: prefetch)
            return drain(loader, pause: pause)
        }
        let reference = try run(workers: 1, prefetch: 1)
        for (workers, prefetch, pause) in [(2, nil, false), (4, nil, true), (4, 1, false), (2, 6, true)] as [(Int, Int?, Bool)] {
            let other = try run(workers: workers, prefetch: prefetch, pause: pause)
            XCTAssertEqual(other.count, reference.count)
            for (a, b) in zip(reference, other) {
                XCTAssertEqual(a.1, b.1)
                XCTAssertEqual(a.2, b.2, "step \(a.0) differs with \(workers) workers, prefetch \(String(describing: prefetch))")
            }
        }
    }

    func testEachViewIsTheSampleAugmentedAloneThenNormalised() throws {
        let data = dataset(channels: 1)
        let sampler = try sampler(data)
        let gray = Normalization(mean: [0.3], std: [0.7])
        let loader = try TwoViewLoader(dataset: data, sampler: sampler, epoch: 5, preset: preset,
                                       normalization: gray, workers: 2)
        let normalize = try Normalize(gray, channels: 1)
        var checked = 0
        while let batch = loader.next() {
            for (position, index) in batch.indices.enumerated() {
                let image = pixels(of: data, index)
                var views: [[Float]] = []
                for v in 0..<2 {
                    var random = AugmentationPipeline.random(seed: 21, epoch: 5, index: index, view: v)
                    let expected = normalize(preset.views[v].apply(to: image, random: &random))
                    let got = Array(batch.views[v].array[(position * 64)..<((position + 1) * 64)])
                    XCTAssertEqual(got, expected, "sample \(index) view \(v)")
                    views.append(got)
                }
                XCTAssertNotEqual(views[0], views[1], "the two views of sample \(index) should differ")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 40)
    }

    /// The bytes format hands out each view's augmented bytes and the normalisation table: normalised, they
    /// are bit for bit the floats format's batch, for 1 and 3 channels (and single-value normalisations
    /// broadcast to every channel).
    func testPixelBatchesNormaliseToTheFloatBatches() throws {
        for (channels, normalization) in [(3, normalization), (1, Normalization(mean: [0.3], std: [0.7])),
                                          (3, Normalization(mean: [0.5], std: [0.25]))] {
            let data = dataset(count: 12, channels: channels)
            let sampler = try sampler(data)
            /// Per step: each view's shape and floats (the bytes batch's normalised on the host).
            func run(_ format: BatchFormat) throws -> [[([Int], [Float])]] {
                let loader = try TwoViewLoader(dataset: data, sampler: sampler, epoch: 3, preset: preset,
                                               normalization: normalization, workers: 2, format: format)
                var steps: [[([Int], [Float])]] = []
                while let batch = loader.next() {
                    XCTAssertEqual(batch.views.isEmpty, format == .pixels)
                    XCTAssertEqual(batch.pixels.isEmpty, format == .floats)
                    XCTAssertEqual(batch.hostViews.count, 2)
                    for case .pixels(let view) in batch.hostViews { XCTAssertEqual(view.table.count, 256 * channels) }
                    steps.append(format == .floats ? batch.views.map { ($0.shape, $0.array) }
                                                   : batch.pixels.map { ($0.shape, $0.normalized().array) })
                }
                return steps
            }
            let floats = try run(.floats), pixels = try run(.pixels)
            XCTAssertEqual(floats.count, 3)
            XCTAssertEqual(pixels.count, 3)
            for (step, (f, p)) in zip(floats, pixels).enumerated() {
                XCTAssertEqual(p.map(\.0), f.map(\.0))
                XCTAssertEqual(p.map(\.1), f.map(\.1), "step \(step), \(channels) channel(s)")
            }
        }
    }

    func testSingleViewMode() throws {
        let data = dataset()
        let loader = try TwoViewLoader(dataset: data, batches: [[3, 1], [0, 2]], epoch: 0, seed: 1,
                                       views: [AugmentationPreset.none(size: 12).views[0]],
                                       normalization: .unit(channels: 3), workers: 1)
        let first = try XCTUnwrap(loader.next())
        XCTAssertEqual(first.views.count, 1)
        XCTAssertEqual(first.view1.shape, [2, 12, 12, 3], "preset none resizes 12x14 to 12x12")
        let image = pixels(of: data, 3)
        var random = RandomGenerator(seed: 0)
        let resized = AugmentationPipeline([.resize(Resize(size: 12, interpolation: .bilinear, antialias: true))])
            .apply(to: image, random: &random)
        XCTAssertEqual(Array(first.view1.array[0..<432]), resized.pixels.map { Float($0) / 255 })
        XCTAssertEqual(loader.next()?.indices, [0, 2])
        XCTAssertNil(loader.next())
    }

    func testCancelMidEpochAndDropWithoutDraining() throws {
        let data = dataset()
        let sampler = try sampler(data, batch: 2)
        let loader = try TwoViewLoader(dataset: data, sampler: sampler, epoch: 0, preset: preset,
                                       normalization: normalization, workers: 2, prefetch: 2)
        XCTAssertEqual(loader.next()?.step, 0)
        XCTAssertEqual(loader.next()?.step, 1)
        loader.cancel()
        XCTAssertNil(loader.next())
        loader.cancel()  // idempotent
        // Dropped after one batch while the workers are blocked on a full queue: deinit must not hang.
        for workers in [1, 2, 4] {
            var dropped: TwoViewLoader? = try TwoViewLoader(dataset: data, sampler: sampler, epoch: 0, preset: preset,
                                                            normalization: normalization, workers: workers, prefetch: 1)
            _ = dropped?.next()
            usleep(5000)
            dropped = nil
            XCTAssertNil(dropped)
        }
        // Dropped before any batch was asked for.
        _ = try TwoViewLoader(dataset: data, sampler: sampler, epoch: 0, preset: preset,
                              normalization: normalization, workers: 2)
    }

    func testEmptyEpochAndBadArguments() throws {
        let data = dataset()
        let empty = try TwoViewLoader(dataset: data, batches: [], epoch: 0, seed: 0, views: preset.views,
                                      normalization: normalization, workers: 2)
        XCTAssertNil(empty.next())
        func make(_ data: ImageDataset, _ batches: [[Int]], normalization: Normalization? = nil, workers: Int = 1) throws {
            _ = try TwoViewLoader(dataset: data, batches: batches, epoch: 0, seed: 0, views: preset.views,
                                  normalization: normalization ?? self.normalization, workers: workers)
        }
        assertContains(errorMessage { try make(data, [[0, 1], [2]]) }, "same size", "step 1 has 1")
        assertContains(errorMessage { try make(data, [[0, 40]]) }, "sample 40", "0..<40")
        assertContains(errorMessage { try make(data, [[0]], workers: 0) }, "at least 1 worker")
        assertContains(errorMessage { try make(data, [[0]], normalization: .fashionMNIST.with(mean: [0.1, 0.2])) },
                       "3 channel(s)")
        let twoChannel = ImageDataset(name: "two", images: [UInt8](repeating: 0, count: 2 * 4 * 4 * 2), count: 2,
                                      height: 4, width: 4, channels: 2, labels: [0, 1], classCount: 2,
                                      classNames: ["a", "b"])
        assertContains(errorMessage { try make(twoChannel, [[0]], normalization: .unit(channels: 2)) },
                       "1-channel", "3-channel", "2 channels")
        assertContains(errorMessage {
            _ = try TwoViewLoader(dataset: data, sampler: try self.sampler(data), epoch: 0,
                                  preset: AugmentationPreset.cifar(), workers: 1)
        }, "no normalisation")
        // A single mean and std are broadcast.
        XCTAssertNoThrow(try make(data, [[0]], normalization: Normalization(mean: [0.5], std: [0.5])))
    }
}

/// Sample `index` of `data` as an image, read the way the loader reads it.
private func pixels(of data: ImageDataset, _ index: Int) -> Image8 {
    var bytes = [UInt8](repeating: 0, count: data.imageByteCount)
    bytes.withUnsafeMutableBufferPointer { data.copyImage(at: index, into: $0.baseAddress!) }
    return Image8(height: data.height, width: data.width, channels: data.channels, pixels: bytes)
}

private extension Normalization {
    func with(mean: [Float]) -> Normalization { Normalization(mean: mean, std: mean) }
}
