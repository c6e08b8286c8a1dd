/// `report.html`: one self-contained page (inline CSS and SVG, no scripts, no external resources)
/// comparing runs: a results table, then per run its configuration, learning curves and t-SNE map.
struct HTMLReport {
    var runs: [RunSummary]
    var logLearningRate = false

    var html: String {
        let title = "disttrain report: " + runs.map { $0.name }.joined(separator: ", ")
        var page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(xmlEscaped(title))</title>
        <style>
        \(HTMLReport.css)
        </style>
        </head>
        <body>
        <h1>disttrain report</h1>

        """
        page += "<h2>Results</h2>\n<table class=\"results\" id=\"results\">\n<thead><tr>"
        page += RunSummary.columns.map { "<th data-key=\"\($0.key)\">\(xmlEscaped($0.title))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for run in runs {
            page += "<tr data-run=\"\(xmlEscaped(run.name))\">"
            page += zip(RunSummary.columns, run.cells).map { "<td data-key=\"\($0.key)\">\(xmlEscaped($1))</td>" }.joined()
            page += "</tr>\n"
        }
        page += "</tbody>\n</table>\n"
        page += "<p class=\"note\">Accuracies and AUCs in %. Online probe: the linear probe trained during pretraining, "
            + "on the test split after each epoch. kNN: weighted k-nearest neighbours of the frozen encoder. Linear, "
            + "fine-tune and AUC columns come from RUN_DIR/results.json and eval*.json (see docs/ARCHITECTURE.md).</p>\n"
        for (index, run) in runs.enumerated() { page += section(run, number: index + 1) }
        return page + "</body>\n</html>\n"
    }

    func section(_ run: RunSummary, number: Int) -> String {
        var text = "<section class=\"run\" id=\"run-\(number)\">\n<h2>\(xmlEscaped(run.name))</h2>\n"
        text += "<p class=\"path\">\(xmlEscaped(run.path))</p>\n"
        let others = run.otherResults
        if !others.isEmpty {
            // Accuracies and AUCs (`*_acc`, `*_auc`, also `*_acc_cifar10`) in %, as in the results table.
            func shown(_ key: String, _ value: Double) -> String {
                key.contains("_acc") || key.contains("_auc") ? RunSummary.percent(value) + " %" : trimmedDecimal(value, 6)
            }
            text += "<h3>Other results</h3>\n<table class=\"other\">"
                + others.map { "<tr><th>\(xmlEscaped($0.key))</th><td>\(xmlEscaped(shown($0.key, $0.value)))</td></tr>" }
                    .joined() + "</table>\n"
        }
        // Three option-value pairs per row keep a 30-option config short.
        text += "<h3>Configuration</h3>\n<table class=\"config\">"
        for start in stride(from: 0, to: run.config.count, by: 3) {
            text += "<tr>" + run.config[start..<min(start + 3, run.config.count)]
                .map { "<th>\(xmlEscaped($0.key))</th><td>\(xmlEscaped($0.value))</td>" }.joined() + "</tr>"
        }
        text += "</table>\n"
        let charts = RunPlots.charts(run.log, runName: run.name, logLearningRate: logLearningRate)
        text += "<h3>Learning curves</h3>\n<div class=\"plots\">\n"
        text += charts.isEmpty ? "<p>No steps logged yet.</p>\n" : charts.map { $0.chart.render().element }.joined()
        text += "</div>\n"
        if let tsne = run.tsneSVG { text += "<h3>t-SNE of the encoder's features</h3>\n<div class=\"plots\">\n\(tsne)</div>\n" }
        return text + "</section>\n"
    }

    static let css = """
    body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; background: #fff; }
    h1 { font-size: 24px; } h2 { font-size: 20px; margin-top: 28px; border-bottom: 1px solid #ccc; } h3 { font-size: 16px; }
    table { border-collapse: collapse; font-size: 13px; }
    th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
    table.results td { text-align: right; font-variant-numeric: tabular-nums; }
    table.results td:first-child, table.results td:nth-child(2), table.results td:nth-child(3) { text-align: left; }
    table.results thead th { background: #f0f0f0; }
    table.config th, table.other th { background: #f7f7f7; font-weight: normal; }
    .plots { display: flex; flex-wrap: wrap; gap: 12px; }
    .plots svg { border: 1px solid #ddd; max-width: 100%; height: auto; }
    .note, .path { color: #555; font-size: 13px; }
    """
}
