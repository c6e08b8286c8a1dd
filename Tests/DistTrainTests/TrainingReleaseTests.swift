import Foundation
import XCTest

/// End-to-end training through the real `disttrain` binary. Release builds only: numeric Swift in a
/// debug build is 10-100x slower (launch/test.sh runs `swift test -c release --filter ReleaseTests`).
final class TrainingReleaseTests: XCTestCase {
    override func setUpWithError() throws {
        #if DEBUG
        throw XCTSkip("training tests run from a release build: swift test -c release --filter ReleaseTests")
        #endif
    }

    let fashionMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

    /// Trains the supervised baseline on 8192 Fashion-MNIST images for 2 epochs (128 steps): the engine
    /// must learn. Measured: 76.9 % test accuracy; chance is 10 %, a broken backward or optimiser stays far
    /// below 70 %.
    func testSupervisedFashionMNISTLearns() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fashionMNIST), "apt-get install dataset-fashion-mnist")
        let run = try temporaryRunDirectory()
        let result = try train(["--method", "supervised", "--subset", "8192", "--batch-size", "128", "--epochs", "2", "--no-knn", "--run-dir", run.path], timeout: 600)
        XCTAssertEqual(result.status, 0, result.output)
        let epochs = try metrics(run).filter { $0["test_acc"] != nil }
        XCTAssertEqual(epochs.count, 2, result.output)
        let accuracy = try XCTUnwrap(epochs.last?["test_acc"] as? Double)
        XCTAssertGreaterThan(accuracy, 0.70, "test accuracy after 2 epochs on 8192 images\n\(result.output)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoints/last.safetensors").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoints/best.safetensors").path))
    }

    /// The same seed reproduces losses bit for bit; another seed does not.
    func testSameSeedReproducesLossesExactly() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fashionMNIST), "apt-get install dataset-fashion-mnist")
        func losses(seed: String) throws -> [Double] {
            let run = try temporaryRunDirectory()
            let result = try train(["--method", "supervised", "--subset", "512", "--batch-size", "64", "--epochs", "3",
                                    "--max-steps", "20", "--no-knn", "--seed", seed, "--run-dir", run.path], timeout: 300)
            XCTAssertEqual(result.status, 0, result.output)
            return try metrics(run).compactMap { $0["loss"] as? Double }
        }
        let first = try losses(seed: "7"), second = try losses(seed: "7"), other = try losses(seed: "8")
        XCTAssertFalse(first.isEmpty)
        XCTAssertEqual(first, second)
        XCTAssertNotEqual(first, other)
    }

    /// N steps straight equal N/2 steps, a stop, a resume from the checkpoint and N/2 more: every step's
    /// loss and learning rate bit for bit (parameters, BN statistics, momentum and data order restored).
    func testResumeReproducesTheUninterruptedRunExactly() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fashionMNIST), "apt-get install dataset-fashion-mnist")
        let common = ["--method", "supervised", "--subset", "1024", "--batch-size", "64", "--epochs", "2", "--no-knn"]
        let straight = try temporaryRunDirectory(), interrupted = try temporaryRunDirectory()
        // 12 of 16 steps per epoch: the stop and the resume fall inside the first epoch.
        XCTAssertEqual(try train(common + ["--max-steps", "24", "--run-dir", straight.path], timeout: 300).status, 0)
        XCTAssertEqual(try train(common + ["--max-steps", "12", "--run-dir", interrupted.path], timeout: 300).status, 0)
        let resumed = try train(common + ["--max-steps", "24", "--run-dir", interrupted.path, "--resume", "auto"], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.standardOutput.contains("at epoch 1, step 12"), resumed.output)
        func steps(_ run: URL) throws -> [String] {
            try metrics(run).filter { $0["loss"] != nil }.map { "\($0["step"]!) \($0["loss"]!) \($0["lr"]!)" }
        }
        let expected = try steps(straight)
        XCTAssertEqual(expected.count, 24)
        XCTAssertEqual(try steps(interrupted), expected)
    }

    /// Every self-supervised method trains (finite losses, a collapse monitor in the metrics) and resumes
    /// bit for bit: for BYOL this also proves the EMA target and its step are restored, for MoCo v2 the
    /// momentum network and the queues with their write position (a queue of 2 batches, so the resumed
    /// steps' negatives are all keys the first run wrote).
    func testSelfSupervisedMethodsTrainAndResumeExactly() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fashionMNIST), "apt-get install dataset-fashion-mnist")
        for method in ["simclr", "vicreg", "byol", "mocov2"] {
            let common = ["--method", method, "--subset", "256", "--batch-size", "64", "--epochs", "2", "--no-knn",
                          "--proj-hidden-dim", "64", "--proj-output-dim", "32", "--pred-hidden-dim", "64"]
                + (method == "mocov2" ? ["--queue-size", "128"] : [])
            let straight = try temporaryRunDirectory(), interrupted = try temporaryRunDirectory()
            let full = try train(common + ["--max-steps", "6", "--run-dir", straight.path], timeout: 300)
            XCTAssertEqual(full.status, 0, full.output)
            XCTAssertTrue(full.standardOutput.contains("online probe acc"), full.output)
            XCTAssertEqual(try train(common + ["--max-steps", "3", "--run-dir", interrupted.path], timeout: 300).status, 0)
            let resumed = try train(common + ["--max-steps", "6", "--run-dir", interrupted.path, "--resume", "auto"], timeout: 300)
            XCTAssertEqual(resumed.status, 0, resumed.output)
            let records = try metrics(straight).filter { $0["loss"] != nil }
            XCTAssertEqual(records.count, 6, method)
            XCTAssertTrue(records.allSatisfy { ($0["loss"] as? Double)?.isFinite == true && $0["embedding_std"] != nil }, method)
            func steps(_ run: URL) throws -> [String] {
                try metrics(run).filter { $0["loss"] != nil }.map { "\($0["step"]!) \($0["loss"]!)" }
            }
            XCTAssertEqual(try steps(interrupted), try steps(straight), method)
        }
    }

    /// `--probe-dataset` trains and evaluates the online probe on a second labelled dataset; one whose
    /// images do not fit the encoder is refused by name. `--normalize auto` measures the training images.
    func testProbeDatasetAndMeasuredNormalisation() throws {
        let run = try temporaryRunDirectory()
        let result = try train(["--method", "simclr", "--dataset", "synthetic", "--probe-dataset", "synthetic",
                                "--normalize", "auto", "--batch-size", "64", "--epochs", "1", "--max-steps", "2",
                                "--proj-hidden-dim", "32", "--proj-output-dim", "16", "--no-knn", "--run-dir", run.path],
                               timeout: 300)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.standardOutput.contains("normalize: measured on"), result.output)
        XCTAssertTrue(result.standardOutput.contains("online probe acc"), result.output)
        XCTAssertNotNil(try metrics(run).last(where: { $0["test_acc"] != nil }), result.output)
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fashionMNIST), "apt-get install dataset-fashion-mnist")
        let mismatch = try train(["--method", "simclr", "--probe-dataset", "synthetic", "--subset", "256",
                                  "--batch-size", "64", "--max-steps", "1"], timeout: 120)
        XCTAssertEqual(mismatch.status, 2, mismatch.output)
        XCTAssertTrue(mismatch.standardError.contains("3-channel images, the encoder takes 1"), mismatch.output)
    }

    /// A diverging run stops at once with a message naming the step and the checkpoint to resume from.
    func testNonFiniteLossStopsWithAClearMessage() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fashionMNIST), "apt-get install dataset-fashion-mnist")
        let run = try temporaryRunDirectory()
        let result = try train(["--method", "supervised", "--subset", "512", "--batch-size", "64", "--epochs", "3",
                                "--lr", "1e30", "--warmup-epochs", "0", "--no-knn", "--run-dir", run.path], timeout: 300)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.standardError.contains("loss became"), result.output)
        XCTAssertTrue(result.standardError.contains("training stopped"), result.output)
    }

    /// `--config` supplies options and the command line overrides them; a run's config.json repeats it.
    func testConfigFileSuppliesOptionsAndFlagsOverride() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fashionMNIST), "apt-get install dataset-fashion-mnist")
        let run = try temporaryRunDirectory()
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let config = run.appendingPathComponent("options.json")
        try Data(#"{"method": "supervised", "subset": 512, "batch-size": 64, "epochs": 9, "no-knn": true}"#.utf8).write(to: config)
        let result = try train(["--config", config.path, "--epochs", "1", "--max-steps", "2", "--run-dir", run.path], timeout: 300)
        XCTAssertEqual(result.status, 0, result.output)
        let written = try String(contentsOf: run.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssertTrue(written.contains(#""epochs":1"#) && written.contains(#""batch-size":64"#), written)
        XCTAssertTrue(written.contains(#""subset":512"#), written)
    }

    /// Every recipe in `configs/` is accepted by `train --config` and every option it sets reaches the
    /// run's config.json with its value (a renamed option or a typo would stop the run or be missing).
    /// Each runs one step on 512 images, so the files cannot rot unnoticed.
    func testRecipeConfigFilesTrain() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fashionMNIST), "apt-get install dataset-fashion-mnist")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let folder = repository.appendingPathComponent("configs/fashion-mnist-5-epochs")
        let recipes = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertEqual(recipes, ["byol.json", "mocov2.json", "simclr.json", "vicreg.json"])
        for recipe in recipes {
            let file = folder.appendingPathComponent(recipe)
            let options = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
            let run = try temporaryRunDirectory()
            let result = try train(["--config", file.path, "--subset", "512", "--batch-size", "64", "--max-steps", "1",
                                    "--no-knn", "--run-dir", run.path], timeout: 300)
            XCTAssertEqual(result.status, 0, "\(recipe)\n\(result.output)")
            let written = try XCTUnwrap(JSONSerialization.jsonObject(
                with: Data(contentsOf: run.appendingPathComponent("config.json"))) as? [String: Any])
            for (key, value) in options where !["subset", "batch-size"].contains(key) {
                if let number = value as? NSNumber, !(value is String) {
                    XCTAssertEqual((written[key] as? NSNumber)?.doubleValue, number.doubleValue, "\(recipe): option \(key)")
                } else {
                    XCTAssertEqual(written[key] as? String, value as? String, "\(recipe): option \(key)")
                }
            }
        }
    }

    func testBadOptionsGiveClearErrors() throws {
        let missing = try train(["--data-dir", "/nonexistent/fmnist", "--epochs", "1"], timeout: 60)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.standardError.contains("/nonexistent/fmnist"), missing.output)
        let method = try train(["--method", "moco"], timeout: 60)
        XCTAssertEqual(method.status, 2)
        XCTAssertTrue(method.standardError.contains("--method moco"), method.output)
        let unknown = try train(["--epoch", "3"], timeout: 60)
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.standardError.contains("unknown option --epoch"), unknown.output)
        let predictor = try train(["--method", "simclr", "--pred-lr-scale", "10"], timeout: 60)
        XCTAssertEqual(predictor.status, 2)
        XCTAssertTrue(predictor.standardError.contains("--pred-lr-scale applies to BYOL's predictor"), predictor.output)
        let negative = try train(["--method", "byol", "--pred-lr-scale", "-1"], timeout: 60)
        XCTAssertEqual(negative.status, 2)
        XCTAssertTrue(negative.standardError.contains("--pred-lr-scale must be a positive number"), negative.output)
        let queue = try train(["--method", "mocov2", "--batch-size", "96", "--queue-size", "1000"], timeout: 60)
        XCTAssertEqual(queue.status, 2)
        XCTAssertTrue(queue.standardError.contains("--queue-size 1000 must be a multiple of --batch-size 96"), queue.output)
        XCTAssertTrue(queue.standardError.contains("e.g. --queue-size 960"), queue.output)
        let tau = try train(["--method", "mocov2", "--tau-base", "1.5"], timeout: 60)
        XCTAssertEqual(tau.status, 2)
        XCTAssertTrue(tau.standardError.contains("--tau-base must lie in [0, 1], got 1.5"), tau.output)
    }

    // MARK: Helpers

    func train(_ arguments: [String], timeout: TimeInterval) throws -> ProcessResult {
        try runProcess(try DistTrainBinary.locate(), ["train"] + arguments, timeout: timeout)
    }
}
