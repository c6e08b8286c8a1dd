import Data
import Engine
import Models
import XCTest
@testable import DistTrain

/// `FineTuneModel` and `FineTuner` in process: each part moves by its own learning rate, a frozen
/// encoder stays bit-identical, the loop learns and the reported epoch is chosen on validation.
final class FineTuneTests: XCTestCase {
    let backend = CPUBackend(threads: 2)
    let config = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 0.0625, inChannels: 3)

    func synthetic(_ split: Split, train: Int = 64) throws -> ImageDataset {
        try SyntheticDataset(trainCount: train, testCount: 64, height: 16, width: 16, channels: 3, classCount: 4).load(split: split)
    }

    /// A tuner over a fresh model and the first batch of the synthetic training set.
    func tuner(_ settings: FineTuneSettings, frozen: Bool = false) throws -> (FineTuner, Tensor, [Int32]) {
        let data = try synthetic(.train)
        let model = FineTuneModel(encoder: config, classCount: 4, multiLabel: false, frozenEncoder: frozen, seed: 3, backend: backend)
        let tuner = try FineTuner(model: model, settings: settings, trainCount: data.count, backend: backend)
        let batch = backend.zeros([settings.batchSize, 16, 16, 3])
        let labels = try BatchAssembler(dataset: data, normalization: datasetNormalization(data))
            .assemble(indices: Array(0..<settings.batchSize), epoch: 0, into: batch)
        return (tuner, batch, labels)
    }

    func plainSGD(head: Double, encoder: Double) -> FineTuneSettings {
        var s = FineTuneSettings()
        s.batchSize = 32; s.epochs = 2; s.warmupEpochs = 0; s.momentum = 0; s.weightDecay = 0
        s.headLearningRate = head; s.encoderLearningRate = encoder
        return s
    }

    /// First step of momentum-free SGD without warm-up: every head parameter moves by exactly
    /// −lr_head·g and every encoder parameter by −lr_encoder·g (the gradients stay in the stores).
    func testEachPartMovesByItsOwnLearningRate() throws {
        let (lrHead, lrEncoder): (Float, Float) = (0.5, 0.003)
        let (tuner, batch, labels) = try tuner(plainSGD(head: Double(lrHead), encoder: Double(lrEncoder)))
        let head0 = tuner.model.headStore.values.array, encoder0 = tuner.model.encoderStore.values.array
        tuner.trainStep(images: batch, labels: labels, step: 0)
        for (store, before, lr) in [(tuner.model.headStore, head0, lrHead), (tuner.model.encoderStore, encoder0, lrEncoder)] {
            let after = store.values.array, gradients = store.gradients.array
            XCTAssertGreaterThan(gradients.filter { $0 != 0 }.count, gradients.count / 2, "most parameters get a gradient")
            let expected = zip(before, gradients).map { $0 - lr * $1 }
            XCTAssertEqual(after, expected, "a store moved by another learning rate than \(lr)")
        }
    }

    /// AdamW's first step moves each parameter with a clear gradient by about its part's lr (m/√v = ±1).
    func testAdamWFirstStepSizesFollowEachLearningRate() throws {
        var settings = plainSGD(head: 0.01, encoder: 1e-4)
        settings.optimizer = "adamw"
        let (tuner, batch, labels) = try tuner(settings)
        let head0 = tuner.model.headStore.values.array, encoder0 = tuner.model.encoderStore.values.array
        tuner.trainStep(images: batch, labels: labels, step: 0)
        for (store, before, lr) in [(tuner.model.headStore, head0, 0.01), (tuner.model.encoderStore, encoder0, 1e-4)] {
            let moves = zip(zip(store.values.array, before), store.gradients.array).filter { abs($0.1) > 1e-5 }
                .map { Double(abs($0.0.0 - $0.0.1)) / lr }
            XCTAssertFalse(moves.isEmpty)
            XCTAssertEqual(moves.min()!, 1, accuracy: 0.01)
            XCTAssertEqual(moves.max()!, 1, accuracy: 0.01)
        }
    }

    /// Frozen: three steps with momentum and weight decay leave every encoder parameter and BN statistic
    /// bit-identical while the head learns. The same steps unfrozen change both (the check can fail).
    func testFrozenEncoderStaysBitIdentical() throws {
        var settings = plainSGD(head: 0.1, encoder: 0.1)
        settings.momentum = 0.9; settings.weightDecay = 1e-3
        for frozen in [true, false] {
            let (tuner, batch, labels) = try tuner(settings, frozen: frozen)
            let model = tuner.model
            let values0 = model.encoderStore.values.array, statistics0 = model.encoderStore.bufferValues.array
            let head0 = model.headStore.values.array
            for step in 0..<3 { tuner.trainStep(images: batch, labels: labels, step: step) }
            XCTAssertNotEqual(model.headStore.values.array, head0, "the head trains (frozen \(frozen))")
            if frozen {
                XCTAssertNil(tuner.encoderOptimizer)
                XCTAssertFalse(model.mode.training)
                XCTAssertEqual(model.encoderStore.values.array, values0, "encoder parameters changed")
                XCTAssertEqual(model.encoderStore.bufferValues.array, statistics0, "BN running statistics changed")
            } else {
                XCTAssertNotEqual(model.encoderStore.values.array, values0)
                XCTAssertNotEqual(model.encoderStore.bufferValues.array, statistics0)
            }
        }
    }

    /// Four epochs on the synthetic gratings from random initialisation learn far above chance (25 %),
    /// the learning rates follow warm-up then cosine, and a second run with the same seed is identical.
    func testLoopLearnsAndIsDeterministic() throws {
        var settings = FineTuneSettings()
        settings.batchSize = 32; settings.epochs = 4; settings.warmupEpochs = 0.5
        settings.headLearningRate = 0.1; settings.encoderLearningRate = 0.05
        func run() throws -> [FineTuneEpoch] {
            let train = try synthetic(.train, train: 512), test = try synthetic(.test)
            let model = FineTuneModel(encoder: config, classCount: 4, multiLabel: false, frozenEncoder: false, seed: 1, backend: backend)
            let tuner = try FineTuner(model: model, settings: settings, trainCount: train.count, backend: backend)
            XCTAssertEqual(tuner.stepsPerEpoch, 16)
            XCTAssertEqual(tuner.headSchedule.learningRate(atStep: 4), 0.05, accuracy: 1e-12, "half-way through the 8 warm-up steps")
            XCTAssertEqual(tuner.encoderSchedule.learningRate(atStep: 8), 0.05, accuracy: 1e-12, "the encoder's peak")
            return try tuner.run(train: train, validation: nil, test: test, normalization: datasetNormalization(train), log: { _ in })
        }
        let first = try run(), second = try run()
        XCTAssertEqual(first.map(\.epoch), [1, 2, 3, 4])
        XCTAssertGreaterThan(first[3].test.accuracy, 0.6)
        XCTAssertEqual(first.map(\.trainLoss), second.map(\.trainLoss))
        XCTAssertEqual(first.map(\.test.accuracy), second.map(\.test.accuracy))
        XCTAssertEqual(FineTuner.chosenEpoch(first).epoch, 4, "no validation split: the last epoch")
    }

    /// With a validation split the best validation epoch is reported (the earlier on ties), whatever
    /// the test split says; multi-label data is chosen by mean AUC.
    func testChosenEpochIsTheBestOnValidation() {
        func metrics(_ correct: Int) -> ClassificationMetrics {
            // Four samples of two classes; the first `correct` get the right class.
            let labels: [Int32] = [0, 1, 0, 1]
            let scores = labels.enumerated().flatMap { i, label -> [Double] in
                (i < correct) == (label == 0) ? [0.9, 0.1] : [0.1, 0.9]
            }
            return ClassificationMetrics(task: .multiClass, scores: scores, labels: labels, classCount: 2)
        }
        func epoch(_ n: Int, validation: Int?, test: Int) -> FineTuneEpoch {
            FineTuneEpoch(epoch: n, trainLoss: 0, trainAccuracy: 0, validation: validation.map(metrics), test: metrics(test), seconds: 0)
        }
        XCTAssertEqual(metrics(3).accuracy, 0.75)
        let epochs = [epoch(1, validation: 2, test: 4), epoch(2, validation: 3, test: 1), epoch(3, validation: 3, test: 4)]
        XCTAssertEqual(FineTuner.chosenEpoch(epochs).epoch, 2)
        XCTAssertEqual(FineTuner.chosenEpoch(epochs.map { epoch($0.epoch, validation: nil, test: 0) }).epoch, 3)

        func multiLabel(_ good: Bool) -> ClassificationMetrics {
            // AUC 1 or 0; accuracy 0.5 either way (every score on the same side of 0.5).
            ClassificationMetrics(task: .multiLabel, scores: good ? [0.6, 0.7] : [0.7, 0.6], labels: [0, 1], classCount: 1)
        }
        let chest = [FineTuneEpoch(epoch: 1, trainLoss: 0, trainAccuracy: 0, validation: multiLabel(false), test: metrics(4), seconds: 0),
                     FineTuneEpoch(epoch: 2, trainLoss: 0, trainAccuracy: 0, validation: multiLabel(true), test: metrics(0), seconds: 0)]
        XCTAssertEqual(chest.map { $0.validation!.accuracy }, [0.5, 0.5])
        XCTAssertEqual(FineTuner.chosenEpoch(chest).epoch, 2)
    }
}
