import Foundation
import XCTest
@testable import DistTrain

/// `disttrain report`: run directories written by hand, the HTML rendered by headless Chromium.
final class ReportCommandTests: XCTestCase {
    /// A SimCLR run of 2 epochs with a final kNN; a VICReg run cut after 1 of 3 epochs with eval files.
    func makeRuns() throws -> (root: String, simclr: String, vicreg: String) {
        let root = try ReportTestSupport.temporaryDirectory("report")
        let simclr = root + "/simclr-a", vicreg = root + "/vicreg <b>"
        for run in [simclr, vicreg] { try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true) }
        try ReportTestSupport.write(#"{"method":"simclr","dataset":"fashion-mnist","epochs":2,"lr":0.4,"no-flip":true}"#,
                                    to: simclr + "/config.json")
        try ReportTestSupport.write(PlotCommandTests.metrics.replacingOccurrences(of: "\"invariance\"", with: "\"nt_xent_extra\""),
                                    to: simclr + "/metrics.jsonl")
        try ReportTestSupport.write(#"{"method":"vicreg","dataset":"cifar10","epochs":3,"lr":0.3}"#, to: vicreg + "/config.json")
        try ReportTestSupport.write("""
        {"step":1,"epoch":1,"loss":30.5,"lr":0.1,"invariance":1.0,"variance":0.2,"covariance":0.1,"embedding_std":0.05}
        {"step":2,"epoch":1,"loss":28.25,"lr":0.2,"invariance":0.9,"variance":0.2,"covariance":0.1,"embedding_std":0.06}
        {"epoch":1,"step":2,"train_loss":29.375,"test_acc":0.4375,"probe_train_acc":0.375,"images_per_s":50.0,"elapsed_s":3.0}
        {"linear_acc":0.25}

        """, to: vicreg + "/metrics.jsonl")
        // eval*.json over metrics.jsonl, results.json over both.
        try ReportTestSupport.write(#"{"linear_acc":0.5,"linear_auc":0.9731,"linear_epochs":100}"#, to: vicreg + "/eval_linear.json")
        try ReportTestSupport.write(#"{"linear_acc":0.8512,"finetune_acc":0.9104,"note":"text is ignored"}"#,
                                    to: vicreg + "/results.json")
        let tsne = ScatterChart(title: "t-SNE", xLabel: "t-SNE 1", yLabel: "t-SNE 2",
                                points: [(0, 0, 0), (1, 2, 1), (2, 1, 1)], groupNames: ["cat", "dog"]).render()
        try ReportTestSupport.write(tsne.text, to: vicreg + "/tsne.svg")
        return (root, simclr, vicreg)
    }

    func testResultsMergeOrderAndRecord() throws {
        let (root, _, vicreg) = try makeRuns()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let summary = try RunSummary(path: vicreg)
        XCTAssertEqual(summary.results, ["linear_acc": 0.8512, "linear_auc": 0.9731, "linear_epochs": 100, "finetune_acc": 0.9104])
        XCTAssertEqual(summary.otherResults.map(\.key), ["linear_epochs"])
        try ResultsFile.record([("finetune_auc", 0.5), ("finetune_acc", 0.75)], runDirectory: vicreg)
        let written = try ResultsFile.numbers(path: vicreg + "/results.json")
        XCTAssertEqual(written, ["linear_acc": 0.8512, "finetune_acc": 0.75, "finetune_auc": 0.5])
        try ReportTestSupport.write("{\"linear_acc\": }", to: vicreg + "/eval_bad.json")
        XCTAssertThrowsError(try RunSummary(path: vicreg)) { error in
            XCTAssertTrue("\(error)".contains(vicreg + "/eval_bad.json: expected one JSON object"), "\(error)")
        }
    }

    func testReportRendersInChromiumWithTheRunsNumbers() throws {
        let chromium = try ReportTestSupport.requiredTool("chromium", package: "chromium")
        let binary = try DistTrainBinary.locate()
        let (root, simclr, vicreg) = try makeRuns()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/report.html"
        let result = try runProcess(binary, ["report", simclr, vicreg, "--out", out])
        XCTAssertEqual(result.status, 0, result.output)
        let html = try String(contentsOfFile: out, encoding: .utf8)
        // Self-contained: nothing to fetch, nothing to run.
        for forbidden in ["<script", "<link", "src=", "url(", "@import", "<img", "<iframe"] {
            XCTAssertFalse(html.contains(forbidden), "report.html contains \(forbidden)")
        }
        XCTAssertEqual(html.components(separatedBy: "http").count - 1, html.components(separatedBy: "xmlns=\"http://www.w3.org/2000/svg\"").count - 1,
                       "the only URLs are SVG namespace names")

        let profile = root + "/chromium-profile"
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile, "--hide-scrollbars"]
        let dom = try runProcess(chromium, common + ["--dump-dom", "file://" + out], timeout: 120)
        XCTAssertEqual(dom.status, 0, dom.output)
        let simclrRow = ReportTestSupport.cells(dom.standardOutput, run: "simclr-a")
        XCTAssertEqual(simclrRow["method"], "simclr")
        XCTAssertEqual(simclrRow["dataset"], "fashion-mnist")
        XCTAssertEqual(simclrRow["epochs"], "2 / 2")
        XCTAssertEqual(simclrRow["train_loss"], "3.5000")
        XCTAssertEqual(simclrRow["test_acc"], "75.00")
        XCTAssertEqual(simclrRow["best_test_acc"], "75.00")
        XCTAssertEqual(simclrRow["knn_acc"], "81.25")
        XCTAssertEqual(simclrRow["linear_acc"], "—")
        let vicregRow = ReportTestSupport.cells(dom.standardOutput, run: "vicreg &lt;b&gt;")
        XCTAssertEqual(vicregRow["run"], "vicreg &lt;b&gt;", "the name is text, not markup")
        XCTAssertEqual(vicregRow["epochs"], "1 / 3")
        XCTAssertEqual(vicregRow["train_loss"], "29.3750")
        XCTAssertEqual(vicregRow["test_acc"], "43.75")
        XCTAssertEqual(vicregRow["knn_acc"], "—")
        XCTAssertEqual(vicregRow["linear_acc"], "85.12", "results.json wins over eval_linear.json and metrics.jsonl")
        XCTAssertEqual(vicregRow["linear_auc"], "97.31")
        XCTAssertEqual(vicregRow["finetune_acc"], "91.04")
        XCTAssertEqual(vicregRow["finetune_auc"], "—")
        XCTAssertTrue(dom.standardOutput.contains("<th>linear_epochs</th><td>100</td>"), "other results listed")
        XCTAssertTrue(dom.standardOutput.contains("<th>no-flip</th><td>true</td>"), "config listed")
        // Learning curves of both runs and the one t-SNE map are inline SVG.
        XCTAssertEqual(dom.standardOutput.components(separatedBy: "<svg").count - 1, 5 + 5 + 1)
        XCTAssertTrue(dom.standardOutput.contains(">dog</text>"))

        let shot = root + "/report.png"
        let screenshot = try runProcess(chromium, common + ["--screenshot=" + shot, "--window-size=1280,1600", "file://" + out],
                                        timeout: 120)
        XCTAssertEqual(screenshot.status, 0, screenshot.output)
        let image = try PNGImage(path: shot)
        XCTAssertEqual([image.width, image.height], [1280, 1600])
        let colors = image.colors
        let distinct = Set(colors)
        XCTAssertGreaterThan(distinct.count, 50, "text and anti-aliased lines give many colours; a blank page has one")
        let ink = colors.filter { $0 != 0xFFFFFF }.count
        XCTAssertGreaterThan(Double(ink) / Double(colors.count), 0.02, "\(ink) of \(colors.count) pixels are not white")
        XCTAssertTrue(distinct.contains(0x1F77B4), "the first series colour (tab10 blue) is drawn")
        XCTAssertTrue(distinct.contains(0xFF7F0E), "the second series colour (tab10 orange) is drawn")
    }

    func testReportErrorsNameTheFileAndDefaultOutput() throws {
        let binary = try DistTrainBinary.locate()
        let (root, simclr, _) = try makeRuns()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let single = try runProcess(binary, ["report", simclr])
        XCTAssertEqual(single.status, 0, single.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: simclr + "/report.html"), "one run: RUN_DIR/report.html")

        let empty = root + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let missing = try runProcess(binary, ["report", empty])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.standardError.contains(empty + "/config.json: missing"), missing.output)
        try ReportTestSupport.write("{}", to: empty + "/config.json")
        try ReportTestSupport.write("{\"step\":1,\"loss\":2}\n{\"step\":2,\"lo", to: empty + "/metrics.jsonl")
        let cut = try runProcess(binary, ["report", empty])
        XCTAssertEqual(cut.status, 1)
        XCTAssertTrue(cut.standardError.contains(empty + "/metrics.jsonl: line 2 is not a JSON object"), cut.output)
        let none = try runProcess(binary, ["report"])
        XCTAssertEqual(none.status, 2)
    }
}

/// `--help` of the three report commands, and their place in `disttrain --help`.
final class ReportHelpTests: XCTestCase {
    func testHelpTexts() throws {
        let binary = try DistTrainBinary.locate()
        for (command, expected) in [("plot", "RUN_DIR/metrics.jsonl"), ("tsne", "--perplexity"), ("report", "results.json")] {
            let help = try runProcess(binary, [command, "--help"])
            XCTAssertEqual(help.status, 0, help.output)
            XCTAssertTrue(help.standardOutput.hasPrefix("Usage: disttrain \(command)"), help.output)
            XCTAssertTrue(help.standardOutput.contains(expected), help.output)
            XCTAssertTrue(help.standardOutput.contains("Example: disttrain \(command)"), help.output)
        }
        let overview = try runProcess(binary, ["--help"])
        for command in ["plot", "tsne", "report"] { XCTAssertTrue(overview.standardOutput.contains("\n  \(command) "), overview.output) }
    }
}
