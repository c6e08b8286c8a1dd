import Foundation
import XCTest

/// `disttrain eval knn|linear` end to end on the synthetic dataset (no files needed; small sizes so a
/// debug build takes seconds).
final class EvalCommandTests: XCTestCase {
    let common = ["--random-init", "--dataset", "synthetic", "--width", "0.0625", "--subset", "400", "--threads", "2"]

    func eval(_ arguments: [String]) throws -> ProcessResult {
        try runProcess(try DistTrainBinary.locate(), ["eval"] + arguments, timeout: 120)
    }

    func labelMap(_ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "disttrain-labelmap-\(UUID().uuidString).json"
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { unlink(path) }
        return path
    }

    /// The number after the last `marker` in the output, e.g. "top-1 " → 63.2.
    func number(after marker: String, in text: String) throws -> Double {
        let range = try XCTUnwrap(text.range(of: marker, options: .backwards), text)
        return try XCTUnwrap(Double(text[range.upperBound...].prefix { $0.isNumber || $0 == "." }), text)
    }

    /// The probe sweeps, chooses on the held-out 10 %, refits and reports MedMNIST's metrics; a random
    /// encoder's features already separate the synthetic gratings far above chance (10 %).
    func testLinearProbeReportsTheSweepAndTestMetrics() throws {
        let result = try eval(["linear"] + common + ["--weight-decays", "1e-4,1e-2"])
        XCTAssertEqual(result.status, 0, result.output)
        let out = result.standardOutput
        XCTAssertTrue(out.contains("360 train, 40 validation (10% of the training images held out (seed 0)), 512 test images"), out)
        XCTAssertTrue(out.contains("weight decay 0.0001: validation acc") && out.contains("weight decay 0.01: validation acc"), out)
        XCTAssertTrue(out.contains("refitted on training + validation"), out)
        XCTAssertGreaterThan(try number(after: "linear: test acc ", in: out), 40)
        XCTAssertTrue(out.contains("AUC 0."), out)
    }

    /// Through a label map, test images keep only the mapped classes (the count dropped is printed) and
    /// are scored as the classes they map to: the identity map scores well, swapping two classes badly.
    func testLabelMapDropsAndRelabelsTestImages() throws {
        let identity = try eval(["knn"] + common + ["--test-dataset", "synthetic", "--label-map",
                                                    try labelMap(#"{"pattern 0": "pattern 0", "1": 1}"#)])
        XCTAssertEqual(identity.status, 0, identity.output)
        XCTAssertTrue(identity.standardOutput.contains("label map: 104 of 512 synthetic/test images kept; 408 dropped"), identity.output)
        let swapped = try eval(["knn"] + common + ["--test-dataset", "synthetic", "--label-map",
                                                   try labelMap(#"{"pattern 0": "pattern 1", "1": 0}"#)])
        XCTAssertEqual(swapped.status, 0, swapped.output)
        let right = try number(after: "top-1 ", in: identity.standardOutput)
        let wrong = try number(after: "top-1 ", in: swapped.standardOutput)
        XCTAssertGreaterThan(right, 50)
        XCTAssertLessThan(wrong, 20)
    }

    var medmnist: String {
        get throws {
            try XCTUnwrap(Bundle.module.url(forResource: "medmnist", withExtension: nil, subdirectory: "Fixtures"),
                          "run scripts/make_tiny_medmnist.py").path
        }
    }

    /// Multi-label (ChestMNIST layout): MedMNIST's own validation split, λ chosen by validation AUC, the
    /// test AUC averaged over the 13 findings present and hernia (absent from the test split) named.
    func testMultiLabelProbeUsesTheValidationSplitAndNamesUndefinedAUC() throws {
        let result = try eval(["linear", "--random-init", "--dataset", "chestmnist", "--data-dir", try medmnist, "--width", "0.0625",
                               "--threads", "2", "--weight-decays", "1e-3,1e-1"])
        XCTAssertEqual(result.status, 0, result.output)
        let out = result.standardOutput
        XCTAssertTrue(out.contains("multi-label, 32 features; 60 train, 30 validation (chestmnist/val), 40 test images"), out)
        XCTAssertTrue(out.contains("(best validation AUC); refitted on training + validation"), out)
        XCTAssertTrue(out.contains("(AUC over 13 of 14 labels; undefined for hernia: only one value among the test labels)"), out)
        XCTAssertGreaterThan(try number(after: "  AUC ", in: out), 0.7)  // chance: 0.5
    }

    /// Binary (PneumoniaMNIST layout) with mirrored training features and no refit.
    func testBinaryProbeWithFlipsAndTrainOnly() throws {
        let result = try eval(["linear", "--random-init", "--dataset", "pneumoniamnist", "--data-dir", try medmnist, "--width", "0.0625",
                               "--threads", "2", "--weight-decays", "1e-3,1e-1", "--flip-augment", "--train-only"])
        XCTAssertEqual(result.status, 0, result.output)
        let out = result.standardOutput
        XCTAssertTrue(out.contains("binary, 32 features; 60 train (+ as many mirrored), 30 validation (pneumoniamnist/val)"), out)
        XCTAssertTrue(out.contains("fitted on training only"), out)
        XCTAssertGreaterThan(try number(after: "linear: test acc ", in: out), 70)  // chance: 50 %
    }

    /// Too few images for a validation split: refused with what to change, not a NaN probe.
    func testTooFewImagesForTheProbeAreRefused() throws {
        let result = try eval(["linear", "--random-init", "--dataset", "synthetic", "--subset", "4", "--width", "0.0625", "--threads", "2"])
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.standardError.contains("4 training and 0 validation images are too few for the probe; use a larger --subset"),
                      result.output)
    }

    /// A test dataset the encoder cannot take is refused before any feature is extracted.
    func testTestDatasetWithOtherChannelsIsRefused() throws {
        let result = try eval(["knn"] + common + ["--test-dataset", "pneumoniamnist", "--test-data-dir", try medmnist])
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.standardError.contains("pneumoniamnist/test has 1-channel images but the encoder takes 3 (synthetic/train)"),
                      result.output)
    }

    func testBadLabelMapNamesTheFileAndTheClasses() throws {
        let path = try labelMap(#"{"pattern 0": "frog"}"#)
        let result = try eval(["linear"] + common + ["--label-map", path])
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.standardError.contains(path) && result.standardError.contains("'frog' is not a class of the training dataset")
                      && result.standardError.contains("0 pattern 0"), result.output)
    }

    func testHelpPerSubcommand() throws {
        let linear = try runProcess(try DistTrainBinary.locate(), ["eval", "linear", "--help"], timeout: 30)
        XCTAssertEqual(linear.status, 0)
        XCTAssertTrue(linear.standardOutput.contains("--weight-decays") && linear.standardOutput.contains("--label-map")
                      && !linear.standardOutput.contains("--temperature"), linear.output)
        let knn = try runProcess(try DistTrainBinary.locate(), ["eval", "knn", "--help"], timeout: 30)
        XCTAssertTrue(knn.standardOutput.contains("--temperature") && knn.standardOutput.contains("--test-dataset"), knn.output)
        let bare = try runProcess(try DistTrainBinary.locate(), ["eval", "nearest"], timeout: 30)
        XCTAssertEqual(bare.status, 2)
        XCTAssertTrue(bare.standardError.contains("disttrain eval linear"), bare.output)
    }
}
