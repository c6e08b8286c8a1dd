import Foundation
import XCTest
@testable import DistTrain

/// `disttrain finetune`, and the evaluation commands recording their numbers in a run directory that
/// `disttrain report` then shows: a real (tiny) training run on the synthetic dataset, evaluated from
/// its checkpoint in `RUN/checkpoints/`.
final class FineTuneCommandTests: XCTestCase {
    let tiny = ["--dataset", "synthetic", "--width", "0.0625", "--threads", "2"]

    func disttrain(_ arguments: [String]) throws -> ProcessResult {
        try runProcess(try DistTrainBinary.locate(), arguments, timeout: 300)
    }

    /// The number after the last `marker` in the output, e.g. "top-1 " → 63.28.
    func number(after marker: String, in text: String) throws -> Double {
        let range = try XCTUnwrap(text.range(of: marker, options: .backwards), text)
        return try XCTUnwrap(Double(text[range.upperBound...].prefix { $0.isNumber || $0 == "." }), text)
    }

    func testEvaluationsRecordIntoTheCheckpointsRunAndTheReportShowsThem() throws {
        let root = try ReportTestSupport.temporaryDirectory("finetune")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/simclr-tiny", checkpoint = run + "/checkpoints/last.safetensors"
        let train = try disttrain(["train", "--method", "simclr", "--subset", "64", "--batch-size", "32", "--epochs", "1",
                                   "--no-knn", "--proj-hidden-dim", "16", "--proj-output-dim", "8", "--run-dir", run] + tiny)
        XCTAssertEqual(train.status, 0, train.output)

        let knn = try disttrain(["eval", "knn", "--checkpoint", checkpoint, "--subset", "256"] + tiny)
        XCTAssertEqual(knn.status, 0, knn.output)
        XCTAssertTrue(knn.standardOutput.contains("knn: knn_acc recorded in \(run)/results.json"), knn.output)
        let linear = try disttrain(["eval", "linear", "--checkpoint", checkpoint, "--subset", "256", "--weight-decays", "1e-3"] + tiny)
        XCTAssertEqual(linear.status, 0, linear.output)
        let finetune = try disttrain(["finetune", "--checkpoint", checkpoint, "--subset", "128", "--batch-size", "32",
                                      "--epochs", "1", "--warmup-epochs", "0"] + tiny)
        XCTAssertEqual(finetune.status, 0, finetune.output)
        XCTAssertTrue(finetune.standardOutput.contains("encoder: \(checkpoint): 120 encoder tensors; 8 other tensors ignored"), finetune.output)
        XCTAssertTrue(finetune.standardOutput.contains("at epoch 1 (the last; no validation split to choose on)"), finetune.output)
        // Frozen, into an explicit --run-dir (here the same run).
        let frozen = try disttrain(["finetune", "--checkpoint", checkpoint, "--freeze-encoder", "--subset", "128", "--batch-size", "32",
                                    "--epochs", "1", "--run-dir", run] + tiny)
        XCTAssertEqual(frozen.status, 0, frozen.output)
        XCTAssertTrue(frozen.standardOutput.contains("encoder frozen"), frozen.output)

        let results = try ResultsFile.numbers(path: run + "/results.json")
        XCTAssertEqual(Set(results.keys), ["knn_acc", "linear_acc", "linear_auc", "finetune_acc", "finetune_auc", "finetune_epochs",
                                           "finetune_chosen_epoch", "finetune_frozen_acc", "finetune_frozen_auc",
                                           "finetune_frozen_epochs", "finetune_frozen_chosen_epoch"])
        // The recorded fractions are the printed percentages.
        XCTAssertEqual(100 * results["knn_acc"]!, try number(after: "top-1 ", in: knn.standardOutput), accuracy: 0.005)
        XCTAssertEqual(100 * results["linear_acc"]!, try number(after: "linear: test acc ", in: linear.standardOutput), accuracy: 0.005)
        XCTAssertEqual(100 * results["finetune_acc"]!, try number(after: "finetune: test acc ", in: finetune.standardOutput), accuracy: 0.005)
        XCTAssertEqual(results["finetune_auc"]!, try number(after: "AUC ", in: finetune.standardOutput), accuracy: 0.00005)
        XCTAssertEqual(100 * results["finetune_frozen_acc"]!, try number(after: "finetune: test acc ", in: frozen.standardOutput), accuracy: 0.005)

        let report = try disttrain(["report", run])
        XCTAssertEqual(report.status, 0, report.output)
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        let row = ReportTestSupport.cells(html, run: "simclr-tiny")
        for key in ["knn_acc", "linear_acc", "linear_auc", "finetune_acc", "finetune_auc"] {
            XCTAssertEqual(row[key], RunSummary.percent(results[key]!), key)
            XCTAssertNotEqual(row[key], "—", key)
        }
        XCTAssertTrue(html.contains("<th>finetune_frozen_acc</th><td>\(RunSummary.percent(results["finetune_frozen_acc"]!)) %</td>"),
                      "the frozen probe is listed under other results, in % as the table")
        XCTAssertTrue(html.contains("<th>finetune_epochs</th><td>1</td>"), "counts stay plain numbers")
    }

    /// The random-init baseline says how to record its numbers; wrong option combinations are refused by name.
    func testBaselineAndUsageErrors() throws {
        let baseline = try disttrain(["finetune", "--random-init", "--subset", "64", "--batch-size", "32", "--epochs", "1"] + tiny)
        XCTAssertEqual(baseline.status, 0, baseline.output)
        XCTAssertTrue(baseline.standardOutput.contains("from random initialisation (seed 0)"), baseline.output)
        XCTAssertTrue(baseline.standardOutput.contains("finetune_acc, finetune_epochs, finetune_chosen_epoch, finetune_auc not recorded: give --run-dir"),
                      baseline.output)
        for (arguments, message) in [
            (["--random-init", "--checkpoint", "x.safetensors"], "give exactly one of --checkpoint FILE, --init FILE and --random-init"),
            ([String](), "give exactly one of"),
            (["--random-init", "--epochs", "2", "--warmup-epochs", "2"], "--warmup-epochs must be at least 0 and less than --epochs (2)"),
            (["--random-init", "--optimizer", "lars"], "unknown --optimizer 'lars'; choose sgd or adamw"),
            (["--random-init", "--subset", "16"], "16 training images are fewer than one batch of 256"),
        ] {
            let result = try disttrain(["finetune"] + arguments + tiny)
            XCTAssertEqual(result.status, 2, result.output)
            XCTAssertTrue(result.standardError.contains(message), "\(arguments): \(result.output)")
        }
        let help = try disttrain(["finetune", "--help"])
        XCTAssertTrue(help.standardOutput.contains("Runs in one process") && help.standardOutput.contains("--lr-encoder"), help.output)
    }

    /// Multi-label (the ChestMNIST-format fixture): BCE per finding, MedMNIST's validation split scored
    /// every epoch and the reported epoch chosen on it, the test AUC over the findings it can be defined for.
    func testMultiLabelUsesTheValidationSplit() throws {
        let medmnist = try XCTUnwrap(Bundle.module.url(forResource: "medmnist", withExtension: nil, subdirectory: "Fixtures"),
                                     "run scripts/make_tiny_medmnist.py").path
        let result = try disttrain(["finetune", "--random-init", "--dataset", "chestmnist", "--data-dir", medmnist, "--width", "0.0625",
                                    "--threads", "2", "--batch-size", "16", "--epochs", "2"])
        XCTAssertEqual(result.status, 0, result.output)
        let out = result.standardOutput
        XCTAssertTrue(out.contains("; 60 train, 30 validation, 40 test images of chestmnist"), out)
        XCTAssertEqual(out.components(separatedBy: " | val acc ").count - 1, 2, "validation scored after each epoch: \(out)")
        XCTAssertTrue(out.contains("(the best on validation)"), out)
        XCTAssertTrue(out.contains("(AUC over 13 of 14 labels; undefined for hernia"), out)
    }

    /// Out-of-distribution numbers never land in the in-distribution columns.
    func testOutOfDistributionKeysNameTheTestDataset() throws {
        let values = [("knn_acc", 0.5)]
        XCTAssertEqual(try EvaluationSetup.resultKeys(values, dataset: "stl10", testDataset: "CIFAR-10").map(\.0), ["knn_acc_cifar10"])
        XCTAssertEqual(try EvaluationSetup.resultKeys(values, dataset: "Fashion_MNIST", testDataset: "fashion-mnist").map(\.0), ["knn_acc"])
        XCTAssertEqual(try EvaluationSetup.resultKeys(values, dataset: "stl10", testDataset: nil).map(\.0), ["knn_acc"])
    }

    func testRunDirectoryOfACheckpoint() {
        XCTAssertEqual(ResultsFile.runDirectory(explicit: nil, checkpoint: "runs/a/checkpoints/last.safetensors"), "runs/a")
        XCTAssertEqual(ResultsFile.runDirectory(explicit: nil, checkpoint: "/x/checkpoints/best.safetensors"), "/x")
        XCTAssertEqual(ResultsFile.runDirectory(explicit: nil, checkpoint: "checkpoints/last.safetensors"), ".")
        XCTAssertEqual(ResultsFile.runDirectory(explicit: "other", checkpoint: "runs/a/checkpoints/last.safetensors"), "other")
        XCTAssertNil(ResultsFile.runDirectory(explicit: nil, checkpoint: "encoder.safetensors"))
        XCTAssertNil(ResultsFile.runDirectory(explicit: nil, checkpoint: "runs/a/last.safetensors"))
        XCTAssertNil(ResultsFile.runDirectory(explicit: nil, checkpoint: nil))
    }
}
