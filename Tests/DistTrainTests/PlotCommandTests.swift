import Foundation
import XCTest
@testable import DistTrain

/// Reading metrics.jsonl and `disttrain plot RUN_DIR`.
final class PlotCommandTests: XCTestCase {
    /// Steps 1-3, an epoch record, then a resume that repeats step 3 with a new value; a null loss.
    static let metrics = """
    {"step":1,"epoch":1,"loss":4.5,"lr":0.1,"invariance":1.5,"variance":0.5,"covariance":0.2,"embedding_std":0.02}
    {"step":2,"epoch":1,"loss":null,"lr":0.2,"invariance":1.25,"variance":0.5,"covariance":0.2,"embedding_std":0.03}
    {"step":3,"epoch":1,"loss":4.25,"lr":0.3,"invariance":1.0,"variance":0.5,"covariance":0.2,"embedding_std":0.04}
    {"epoch":1,"step":3,"train_loss":4.375,"test_acc":0.625,"probe_train_acc":0.5,"images_per_s":100.0,"elapsed_s":2.0}
    {"step":3,"epoch":1,"loss":4.0,"lr":0.3,"invariance":1.0,"variance":0.5,"covariance":0.2,"embedding_std":0.04}
    {"step":4,"epoch":2,"loss":3.5,"lr":0.25,"invariance":0.75,"variance":0.25,"covariance":0.1,"embedding_std":0.05,"grad_sync_wait_s":0.01}
    {"epoch":2,"step":4,"train_loss":3.5,"test_acc":0.75,"probe_train_acc":0.625,"images_per_s":110.0,"elapsed_s":4.0}
    {"epoch":2,"step":4,"knn_acc":0.8125}

    """

    func testMetricsLogKeepsTheLaterRecordOfARepeatedStep() throws {
        let log = try MetricsLog.parse(Array(Self.metrics.utf8), path: "run/metrics.jsonl")
        XCTAssertEqual(log.steps.map { $0["step"]! }, [1, 2, 3, 4])
        XCTAssertEqual(log.steps[2]["loss"], 4.0, "the resumed run's step 3 replaces the first one")
        XCTAssertEqual(log.steps[2].line, 5)
        XCTAssertTrue(log.steps[1]["loss"]!.isNaN, "null reads as NaN")
        XCTAssertEqual(log.epochs.map { $0["test_acc"]! }, [0.625, 0.75])
        XCTAssertEqual(log.knn.map { $0["knn_acc"]! }, [0.8125])
        XCTAssertEqual(log.lossTerms, ["covariance", "invariance", "variance"], "timings such as grad_sync_wait_s are not terms")
        XCTAssertEqual(MetricsLog.last("loss", in: log.steps), 3.5)
    }

    func testCorruptLineAndMissingFileAreNamed() throws {
        let cut = Self.metrics.replacingOccurrences(of: #"{"step":3,"epoch":1,"loss":4.25"#, with: #"{"step":3,"epo"#)
        XCTAssertThrowsError(try MetricsLog.parse(Array(cut.utf8), path: "runs/x/metrics.jsonl")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("runs/x/metrics.jsonl: line 3 is not a JSON object"), text)
            XCTAssertTrue(text.contains("delete or fix that line"), text)
        }
        XCTAssertThrowsError(try MetricsLog.parse(Array("[1, 2]\n".utf8), path: "m.jsonl")) { error in
            XCTAssertTrue("\(error)".contains("line 1"), "\(error)")
        }
        XCTAssertThrowsError(try MetricsLog.read(path: "/nonexistent/run/metrics.jsonl")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("/nonexistent/run/metrics.jsonl") && text.contains("disttrain train --run-dir"), text)
        }
    }

    func testRunPlotsSeriesHoldTheLoggedValues() throws {
        let log = try MetricsLog.parse(Array(Self.metrics.utf8), path: "m")
        let charts = RunPlots.charts(log, runName: "vicreg")
        XCTAssertEqual(charts.map(\.file), ["loss.svg", "loss_terms.svg", "accuracy.svg", "lr.svg", "embedding_std.svg"])
        let accuracy = charts[2].chart.series
        XCTAssertEqual(accuracy.map(\.name), ["test (online probe)", "probe train", "kNN, end of run (81.25%)"])
        XCTAssertEqual(accuracy[0].points.map(\.y), [0.625, 0.75])
        XCTAssertEqual(accuracy[2].points.map(\.x), [1, 2], "the final kNN is a level line over the epochs")
        XCTAssertEqual(accuracy[2].points.map(\.y), [0.8125, 0.8125])
        XCTAssertEqual(charts[0].chart.series[1].points.map(\.x), [3, 4], "epoch means sit at the epoch's last step")
        XCTAssertEqual(charts[1].chart.series.map(\.name), ["covariance", "invariance", "variance"])
    }

    func testSupervisedRunGetsTrainingAccuracy() throws {
        let log = try MetricsLog.parse(Array("""
        {"step":1,"epoch":1,"loss":2.25,"lr":0.1,"train_acc":0.125}
        {"step":2,"epoch":1,"loss":2.0,"lr":0.1,"train_acc":0.25}
        {"epoch":1,"step":2,"train_loss":2.125,"test_acc":0.375,"images_per_s":10.0,"elapsed_s":1.0}
        """.utf8), path: "m")
        let charts = RunPlots.charts(log, runName: "supervised")
        XCTAssertEqual(charts.map(\.file), ["loss.svg", "accuracy.svg", "lr.svg", "train_acc.svg"])
        XCTAssertEqual(charts[1].chart.series.map(\.name), ["test (classifier)"])
        XCTAssertEqual(charts[3].chart.series[0].points.map(\.y), [0.125, 0.25])
    }

    func testPlotCommandWritesWellFormedSVGs() throws {
        let binary = try DistTrainBinary.locate()
        let run = try ReportTestSupport.temporaryDirectory("plot")
        defer { try? FileManager.default.removeItem(atPath: run) }
        try ReportTestSupport.write(Self.metrics, to: run + "/metrics.jsonl")
        let result = try runProcess(binary, ["plot", run, "--log-lr"])
        XCTAssertEqual(result.status, 0, result.output)
        let files = try FileManager.default.contentsOfDirectory(atPath: run + "/plots").sorted()
        XCTAssertEqual(files, ["accuracy.svg", "embedding_std.svg", "loss.svg", "loss_terms.svg", "lr.svg"])
        for file in files {
            let text = try String(contentsOfFile: run + "/plots/" + file, encoding: .utf8)
            XCTAssertNil(try ReportTestSupport.xmlProblems(text), file)
        }
        let lr = try String(contentsOfFile: run + "/plots/lr.svg", encoding: .utf8)
        XCTAssertTrue(lr.contains("learning rate (log scale)"), lr)

        let missing = try runProcess(binary, ["plot", run + "/nothing-here"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.standardError.contains(run + "/nothing-here/metrics.jsonl"), missing.output)
        let usage = try runProcess(binary, ["plot"])
        XCTAssertEqual(usage.status, 2)
        XCTAssertTrue(usage.standardError.contains("disttrain plot RUN_DIR"), usage.output)
    }
}
