import Data
import Engine
import Foundation
import Models
import XCTest
@testable import DistTrain

/// The offline probe protocol (sweep, choice, refit, hold-out), label maps and feature helpers.
final class LinearEvaluationTests: XCTestCase {
    let backend = CPUBackend(threads: 2)

    /// Gaussian blobs, `[n, f]`, label i % k, centres ±1.5 on a few features.
    func blobs(_ n: Int, f: Int = 6, k: Int = 3, seed: UInt64) -> LabelledFeatures {
        var random = RandomGenerator(seed: seed)
        var values: [Float] = [], labels: [Int32] = []
        for i in 0..<n {
            let c = i % k
            for j in 0..<f { values.append(Float(random.normal() + (j % k == c ? 1.5 : 0))) }
            labels.append(Int32(c))
        }
        return LabelledFeatures(features: Tensor(shape: [n, f], values: values), labels: labels, labelsPerSample: 1)
    }

    /// The chosen weight decay is the one with the best validation accuracy (ties: the lower validation loss); with
    /// `retrainWithValidation` off the reported classifier is exactly that sweep fit, and with it on it is
    /// the fit on train + validation at that decay.
    func testSweepChoosesOnValidationAndRefits() {
        let train = blobs(60, seed: 1), validation = blobs(45, seed: 2), test = blobs(90, seed: 3)
        var evaluation = LinearEvaluation()
        evaluation.weightDecays = [0, 1e-2, 1, 10]
        evaluation.retrainWithValidation = false
        let outcome = evaluation.run(train: train, validation: validation, test: test, task: .multiClass, classCount: 3,
                                     backend: backend)
        XCTAssertEqual(outcome.sweep.map(\.weightDecay), [0, 1e-2, 1, 10])
        let best = outcome.sweep.map(\.validation.accuracy).max()!
        let tied = outcome.sweep.filter { $0.validation.accuracy == best }
        XCTAssertEqual(outcome.chosenWeightDecay, tied.min { $0.loss < $1.loss }!.weightDecay)
        // λ = 10 shrinks the logits to almost nothing: whatever its accuracy, its loss is the worst.
        XCTAssertEqual(outcome.sweep.max { $0.loss < $1.loss }!.weightDecay, 10)
        XCTAssertNotEqual(outcome.chosenWeightDecay, 10)
        let direct = evaluation.fit(train, weightDecay: outcome.chosenWeightDecay, task: .multiClass, classCount: 3, backend: backend)
        XCTAssertEqual(outcome.final.classifier.weight, direct.classifier.weight)
        XCTAssertEqual(outcome.test.accuracy, evaluation.score(direct, test, task: .multiClass, classCount: 3, backend: backend).accuracy)
        XCTAssertGreaterThan(outcome.test.accuracy, 0.6)  // chance is 1/3

        evaluation.retrainWithValidation = true
        let refit = evaluation.run(train: train, validation: validation, test: test, task: .multiClass, classCount: 3, backend: backend)
        let both = evaluation.fit(LabelledFeatures.concatenated([train, validation]), weightDecay: refit.chosenWeightDecay,
                                  task: .multiClass, classCount: 3, backend: backend)
        XCTAssertEqual(refit.final.classifier.weight, both.classifier.weight)
        XCTAssertNotEqual(refit.final.classifier.weight, direct.classifier.weight)
    }

    func testHoldOutIsSeededDisjointAndComplete() {
        let set = blobs(50, seed: 4)
        let a = LinearEvaluation.holdOut(set, fraction: 0.1, seed: 7), b = LinearEvaluation.holdOut(set, fraction: 0.1, seed: 7)
        XCTAssertEqual(a.heldOut, b.heldOut)
        XCTAssertEqual(a.heldOut.count, 5)
        XCTAssertEqual(Set(a.train).union(a.heldOut), Set(0..<50))
        XCTAssertTrue(Set(a.train).isDisjoint(with: a.heldOut))
        XCTAssertNotEqual(LinearEvaluation.holdOut(set, fraction: 0.1, seed: 8).heldOut, a.heldOut)
    }

    func testLabelMapByNameAndIndexDropsUnmappedClasses() throws {
        let path = NSTemporaryDirectory() + "labelmap-\(getpid()).json"
        defer { unlink(path) }
        try Data(#"{"automobile": "car", "bird": 1, "2": "cat"}"#.utf8).write(to: URL(fileURLWithPath: path))
        let cifar = ["airplane", "automobile", "bird", "cat", "frog"], stl = ["airplane", "bird", "car", "cat"]
        // "2" is no CIFAR class name, so it is index 2, bird, which "bird" already maps: an error.
        XCTAssertThrowsError(try LabelMap(path: path, evaluationClasses: cifar, trainingClasses: stl,
                                          evaluationName: "cifar10/test", trainingName: "stl10/train")) { error in
            XCTAssertTrue("\(error)".contains("'bird' is mapped twice"), "\(error)")
        }
        try Data(#"{"automobile": "car", "bird": 1, "3": "cat"}"#.utf8).write(to: URL(fileURLWithPath: path))
        let resolved = try LabelMap(path: path, evaluationClasses: cifar, trainingClasses: stl, evaluationName: "cifar10/test",
                                    trainingName: "stl10/train")
        XCTAssertEqual(resolved.target, [nil, 2, 1, 3, nil])
        let set = LabelledFeatures(features: Tensor(shape: [5, 1], values: [0, 1, 2, 3, 4]), labels: [0, 1, 2, 3, 4], labelsPerSample: 1)
        let (kept, dropped) = resolved.apply(to: set)
        XCTAssertEqual(dropped, 2)
        XCTAssertEqual(kept.labels, [2, 1, 3])
        XCTAssertEqual(kept.features.array, [1, 2, 3])
    }

    /// The maps shipped in docs/label-maps resolve against the real class lists: the nine shared classes,
    /// CIFAR's frog and STL's monkey dropped.
    func testShippedCIFARSTLMapsResolve() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/label-maps").path
        let toSTL = try LabelMap(path: docs + "/cifar10-to-stl10.json", evaluationClasses: CIFAR.cifar10ClassNames,
                                 trainingClasses: STL10.classNames, evaluationName: "cifar10", trainingName: "stl10")
        XCTAssertEqual(toSTL.target, [0, 2, 1, 3, 4, 5, nil, 6, 8, 9])
        let toCIFAR = try LabelMap(path: docs + "/stl10-to-cifar10.json", evaluationClasses: STL10.classNames,
                                   trainingClasses: CIFAR.cifar10ClassNames, evaluationName: "stl10", trainingName: "cifar10")
        XCTAssertEqual(toCIFAR.target, [0, 2, 1, 3, 4, 5, 7, nil, 8, 9])
    }

    func testLabelMapErrorsNameTheFileAndTheClasses() throws {
        let path = NSTemporaryDirectory() + "labelmap-bad-\(getpid()).json"
        defer { unlink(path) }
        for (text, expected) in [(#"{"automobile": "truck"}"#, "'truck' is not a class of the training dataset stl10/train; its classes are 0 car, 1 cat"),
                                 (#"{"horse": "car"}"#, "'horse' is not a class of the evaluation dataset"),
                                 (#"{"automobile": "car", "1": "cat"}"#, "class 'automobile' is mapped twice"),
                                 (#"["car"]"#, "expected a JSON object mapping")] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try LabelMap(path: path, evaluationClasses: ["airplane", "automobile"], trainingClasses: ["car", "cat"],
                                              evaluationName: "cifar10/test", trainingName: "stl10/train")) { error in
                XCTAssertTrue("\(error)".contains(path) && "\(error)".contains(expected), "\(error)")
            }
        }
    }

    func testMirrorReversesColumnsKeepingChannels() {
        let batch = Tensor(shape: [1, 2, 3, 2], values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        mirrorLeftRight(batch)
        XCTAssertEqual(batch.array, [5, 6, 3, 4, 1, 2, 11, 12, 9, 10, 7, 8])
    }

    /// Depth, stem, width and input channels read back from the names and shapes of exported weights.
    func testArchitectureIsInferredFromTorchvisionNames() throws {
        for config in [ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 0.125, inChannels: 1),
                       ResNetConfig(depth: 34, stem: .imagenet, widthMultiplier: 0.0625, inChannels: 3),
                       ResNetConfig(depth: 50, stem: .imagenet, widthMultiplier: 0.0625, inChannels: 3)] {
            let store = ParameterStore()
            _ = ResNet(config, mode: Mode(training: false), store: store, backend: backend)
            store.allocate(seed: 0)
            let path = NSTemporaryDirectory() + "arch-\(getpid()).safetensors"
            defer { unlink(path) }
            try SafetensorsFile.write(path: path, tensors: TorchStateDict.export(store))
            XCTAssertEqual(EncoderArchitecture.infer(try SafetensorsFile(path: path)), config)
        }
    }

    /// Test images of another size are resized on access: sizes, labels and classes pass through, and a
    /// flat image stays flat (bilinear weights sum to one); a left-to-right ramp stays monotone.
    func testResizedDatasetKeepsLabelsAndResamples() {
        var pixels: [UInt8] = Array(repeating: 77, count: 4 * 4)
        for _ in 0..<4 { for x in 0..<4 { pixels.append(UInt8(40 * x + 10)) } }
        let source = ImageDataset(name: "tiny/test", images: pixels, count: 2, height: 4, width: 4, channels: 1,
                                  labels: [1, 0], classCount: 2, classNames: ["a", "b"])
        let resized = ResizedPixels.resized(source, height: 8, width: 6)
        XCTAssertEqual([resized.height, resized.width, resized.channels, resized.count], [8, 6, 1, 2])
        XCTAssertEqual(resized.labels, [1, 0])
        XCTAssertEqual(resized.classNames, ["a", "b"])
        var out = [UInt8](repeating: 0, count: 48)
        out.withUnsafeMutableBufferPointer { resized.copyImage(at: 0, into: $0.baseAddress!) }
        XCTAssertEqual(Set(out), [77])
        out.withUnsafeMutableBufferPointer { resized.copyImage(at: 1, into: $0.baseAddress!) }
        let row = Array(out[0..<6])
        XCTAssertEqual(row, row.sorted())
        XCTAssertLessThan(row[0], row[5])
    }
}
