import Engine
import Foundation
import Models
import XCTest
@testable import DistTrain

/// Weights to and from torchvision (`scripts/make_golden_weights.py`): a state dict saved by PyTorch and
/// converted by `scripts/convert_torchvision.py` loads into our encoder and gives PyTorch's features;
/// `export` writes exactly torchvision's state dict back; grayscale adaptation; `--init`.
final class WeightExchangeTests: XCTestCase {
    let backend = CPUBackend(threads: 2)
    let config = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 0.0625, inChannels: 3)

    func fixturePath(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures"),
                      "run scripts/make_golden_weights.py").path
    }

    /// An encoder of `config` at a random init (seed 99), then the fixture's weights loaded into it.
    func loadedEncoder(_ config: ResNetConfig) throws -> (ResNet, ParameterStore, InitialWeightsReport) {
        let store = ParameterStore()
        let encoder = ResNet(config, mode: Mode(training: false), store: store, backend: backend)
        store.allocate(seed: 99)
        let report = try loadInitialWeights(path: try fixturePath("torch_resnet18_cifar"), into: store, encoder: encoder)
        return (encoder, store, report)
    }

    /// Largest |a − b| over the largest |b|.
    func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.array, b.array).map { abs($0 - $1) }.max()! / b.array.map(abs).max()!
    }

    /// PyTorch's eval-mode features of the fixed input (float64 reference) within 1e-4 relative.
    func testTorchvisionStateDictGivesPyTorchFeatures() throws {
        let (encoder, store, report) = try loadedEncoder(config)
        XCTAssertEqual(report.ignored.sorted(), ["fc.bias", "fc.weight"])
        XCTAssertEqual(report.loaded, store.parameters.count + store.buffers.count)
        XCTAssertFalse(report.adaptedToGrayscale)
        let golden = try SafetensorsFile(path: try fixturePath("torch_features"))
        let features = encoder.forward(try golden.tensor("input"))
        XCTAssertEqual(features.shape, [2, 32])
        XCTAssertLessThan(relativeError(features, try golden.tensor("features")), 1e-4)
    }

    /// RGB weights into a 1-channel encoder: conv1 summed over its input channels gives, on a gray image,
    /// the RGB network's features of that image replicated to three channels.
    func testRGBWeightsAdaptToGrayscaleInput() throws {
        var gray = config
        gray.inChannels = 1
        let (encoder, _, report) = try loadedEncoder(gray)
        XCTAssertTrue(report.adaptedToGrayscale)
        let golden = try SafetensorsFile(path: try fixturePath("torch_features"))
        XCTAssertLessThan(relativeError(encoder.forward(try golden.tensor("gray")), try golden.tensor("gray_features")), 1e-4)
    }

    /// `export` writes back exactly the state dict PyTorch saved, less `fc`: same names (so torchvision's
    /// `load_state_dict(strict=True)` takes it once fc is Identity), shapes, OIHW values bit for bit.
    func testExportWritesTheTorchvisionStateDict() throws {
        let source = try SafetensorsFile(path: try fixturePath("torch_resnet18_cifar"))
        let exported = try exportEncoder(from: source.path, config: config)
        XCTAssertEqual(Set(exported.map(\.name)), Set(source.names.filter { !$0.hasPrefix("fc.") }))
        XCTAssertEqual(exported.count, source.names.count - 2)
        for (name, tensor) in exported {
            let want = try source.tensor(name)
            XCTAssertEqual(tensor.shape, want.shape, name)
            XCTAssertEqual(tensor.array, want.array, name)
        }
    }

    /// The command: architecture read off the file, metadata recorded, heads of a checkpoint left out.
    func testExportCommandDropsHeadsAndRecordsTheArchitecture() throws {
        let method = SimCLR(encoder: config, projectorHiddenDimension: 8, projectorOutputDimension: 4, seed: 5, backend: backend)
        let checkpoint = NSTemporaryDirectory() + "export-ckpt-\(getpid()).safetensors", out = checkpoint + ".encoder"
        defer { unlink(checkpoint); unlink(out) }
        try Checkpoint.save(path: checkpoint, parts: [CheckpointPart(prefix: "", store: method.store, optimizer: nil)],
                            epoch: 1, step: 10, metadata: ["arch": "resnet18", "stem": "cifar", "width": "0.0625", "in_channels": "3"])
        try ExportCommand.run(["--checkpoint", checkpoint, "--out", out])
        let file = try SafetensorsFile(path: out)
        XCTAssertEqual(file.metadata["arch"], "resnet18")
        XCTAssertEqual(file.metadata["width"], "0.0625")
        XCTAssertFalse(file.names.contains { $0.hasPrefix("projector.") })
        let written = Dictionary(uniqueKeysWithValues: TorchStateDict.export(method.store).map { ($0.name, $0.tensor) })
        XCTAssertEqual(file.names.count, written.keys.filter { !$0.hasPrefix("projector.") }.count)
        for name in file.names { XCTAssertEqual(try file.tensor(name).array, written[name]?.array, name) }
    }

    /// Wrong architecture: the error names the file and each mismatched, missing or foreign tensor.
    func testMismatchesAreNamed() throws {
        let path = try fixturePath("torch_resnet18_cifar")
        XCTAssertThrowsError(try loadedEncoder(ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 0.125))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(path) && text.contains("'conv1.weight' has shape [4, 3, 3, 3], the encoder needs [8, 3, 3, 3]"), text)
        }
        XCTAssertThrowsError(try loadedEncoder(ResNetConfig(depth: 34, stem: .cifar, widthMultiplier: 0.0625))) { error in
            XCTAssertTrue("\(error)".contains("missing 'layer1.2.conv1.weight'"), "\(error)")
        }
        XCTAssertThrowsError(try loadedEncoder(ResNetConfig(depth: 18, stem: .imagenet, widthMultiplier: 0.0625))) { error in
            XCTAssertTrue("\(error)".contains("'conv1.weight' has shape [4, 3, 3, 3], the encoder needs [4, 3, 7, 7]"), "\(error)")
        }
        // ResNet-34 weights into a ResNet-18: the extra blocks are not ignored silently.
        let store = ParameterStore()
        _ = ResNet(ResNetConfig(depth: 34, stem: .cifar, widthMultiplier: 0.0625), mode: Mode(), store: store, backend: backend)
        store.allocate(seed: 1)
        let deeper = NSTemporaryDirectory() + "resnet34-\(getpid()).safetensors"
        defer { unlink(deeper) }
        try SafetensorsFile.write(path: deeper, tensors: TorchStateDict.export(store))
        let target = ParameterStore()
        let encoder = ResNet(config, mode: Mode(), store: target, backend: backend)
        target.allocate(seed: 1)
        XCTAssertThrowsError(try loadInitialWeights(path: deeper, into: target, encoder: encoder)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("'layer1.2.*' (12 tensors) is not part of this encoder; 'layer2.2.*' (12 tensors)"), text)
        }
    }

    /// `train --init`: the online encoder takes the weights, the heads keep theirs, BYOL's target follows.
    func testInitLoadsTheEncoderAndBYOLTarget() throws {
        let byol = BYOL(encoder: config, projectorHiddenDimension: 8, projectorOutputDimension: 4, predictorHiddenDimension: 8,
                        tauBase: 0.99, seed: 3, backend: backend)
        let projectorBefore = byol.store.parameter(named: "projector.0.weight")!.value.array
        try loadInitialEncoder(try fixturePath("torch_resnet18_cifar"), into: byol)
        let source = try SafetensorsFile(path: try fixturePath("torch_resnet18_cifar"))
        let online = Dictionary(uniqueKeysWithValues: TorchStateDict.export(byol.store).map { ($0.name, $0.tensor.array) })
        let target = Dictionary(uniqueKeysWithValues: TorchStateDict.export(byol.extraStores[0].store).map { ($0.name, $0.tensor.array) })
        for name in ["conv1.weight", "layer4.1.conv2.weight", "layer2.0.downsample.1.bias"] {
            XCTAssertEqual(online[name], try source.tensor(name).array, name)
            XCTAssertEqual(target[name], online[name], name)
        }
        XCTAssertEqual(byol.store.parameter(named: "projector.0.weight")!.value.array, projectorBefore)
        XCTAssertEqual(target["projector.0.weight"], projectorBefore)
    }

    /// `disttrain train --init FILE` starts from the file (the log says what was loaded) and refuses a file
    /// of another architecture before training, naming it.
    func testTrainInitOption() throws {
        let weights = try fixturePath("torch_resnet18_cifar")
        let common = ["train", "--method", "byol", "--dataset", "synthetic", "--subset", "16", "--batch-size", "8", "--epochs", "1",
                      "--max-steps", "1", "--no-knn", "--no-probe", "--threads", "2", "--proj-hidden-dim", "16",
                      "--pred-hidden-dim", "16", "--init", weights]
        let ok = try runProcess(try DistTrainBinary.locate(), common + ["--width", "0.0625"], timeout: 120)
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertTrue(ok.standardOutput.contains("init: \(weights): 120 encoder tensors; 2 other tensors ignored (fc.*)"), ok.output)
        let wrong = try runProcess(try DistTrainBinary.locate(), common + ["--width", "0.125"], timeout: 120)
        XCTAssertEqual(wrong.status, 1, wrong.output)
        XCTAssertTrue(wrong.standardError.contains(weights) && wrong.standardError.contains("'conv1.weight' has shape [4, 3, 3, 3]"),
                      wrong.output)
    }
}
