import Engine

/// `disttrain report RUN_DIR [RUN_DIR ...]`: one self-contained `report.html` comparing the runs.
struct ReportCommand: Command {
    static let name = "report"
    static let summary = "self-contained HTML report comparing runs: report RUN_DIR [RUN_DIR ...]"
    static let options: [Option] = [
        .value("out", "the HTML file (default: RUN_DIR/report.html for one run, ./report.html for several)"),
        .flag("log-lr", "draw the learning rate on a log scale"),
    ]
    static var help: String {
        helpText(command: name, summary: summary, usage: "disttrain report RUN_DIR [RUN_DIR ...] [--out FILE]",
                 options: options, details: """
                 One HTML file with everything inline (CSS, SVG; no scripts, no external resources), so it can be
                 mailed or opened offline: a table comparing the runs (method, dataset, epochs, final train loss,
                 online probe accuracy last and best, kNN, linear-probe and fine-tune accuracy and AUC), then per run
                 its config.json, its learning curves (as 'disttrain plot' draws them) and its tsne.svg when
                 'disttrain tsne' has written one.
                 Each RUN_DIR needs config.json and metrics.jsonl ('disttrain train --run-dir RUN_DIR' writes both).
                 Linear / fine-tune / AUC columns come from RUN_DIR/results.json, RUN_DIR/eval*.json or result keys
                 in metrics.jsonl: a flat JSON object such as {"linear_acc": 0.85, "linear_auc": 0.97,
                 "finetune_acc": 0.91}, fractions in 0...1 (see docs/ARCHITECTURE.md, "Reports").
                 Example: disttrain report runs/simclr runs/vicreg --out comparison.html
                 """)
    }

    static func run(_ arguments: [String]) throws {
        let parsed = try ParsedArguments(arguments, options: options, command: name)
        guard !parsed.positional.isEmpty else {
            throw UsageError("expected at least one run directory: disttrain report RUN_DIR [RUN_DIR ...]")
        }
        let runs = try parsed.positional.map { try RunSummary(path: $0) }
        let out = parsed.string("out") ?? (runs.count == 1 ? runs[0].path + "/report.html" : "report.html")
        let report = HTMLReport(runs: runs, logLearningRate: parsed.has("log-lr"))
        try writeFileAtomically(out, Array(report.html.utf8))
        print("report: \(runs.count) run\(runs.count == 1 ? "" : "s") (\(runs.map(\.name).joined(separator: ", "))) -> \(out)")
    }
}
