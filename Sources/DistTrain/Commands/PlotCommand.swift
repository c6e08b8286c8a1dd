import Engine

/// `disttrain plot RUN_DIR`: learning curves from the run's `metrics.jsonl` as SVG files in
/// `RUN_DIR/plots/` (see `RunPlots` for the list).
struct PlotCommand: Command {
    static let name = "plot"
    static let summary = "learning curves of a run as SVG: plot RUN_DIR -> RUN_DIR/plots/*.svg"
    static let options: [Option] = [
        .flag("log-lr", "draw the learning rate on a log scale"),
        .value("out", "folder for the SVG files (default: RUN_DIR/plots)"),
    ]
    static var help: String {
        helpText(command: name, summary: summary, usage: "disttrain plot RUN_DIR [--log-lr] [--out DIR]",
                 options: options, details: """
                 Reads RUN_DIR/metrics.jsonl (written by 'disttrain train --run-dir RUN_DIR') and writes:
                   loss.svg           training loss per step and its mean per epoch
                   loss_terms.svg     the loss terms per step (e.g. VICReg's invariance, variance, covariance)
                   accuracy.svg       online-probe test and train accuracy per epoch, the final kNN accuracy
                   lr.svg             learning rate per step
                   embedding_std.svg  std of the normalised embeddings per step (collapse monitor)
                   probe_loss.svg     the online probe's loss per step
                   train_acc.svg      the supervised baseline's training-batch accuracy per step
                 Charts whose values the run did not log are skipped; NaN values leave gaps in the lines.
                 A resumed run's repeated steps are plotted once (the later record wins).
                 Example: disttrain plot runs/simclr && ls runs/simclr/plots
                 """)
    }

    static func run(_ arguments: [String]) throws {
        let parsed = try ParsedArguments(arguments, options: options, command: name)
        guard parsed.positional.count == 1, let directory = parsed.positional.first else {
            throw UsageError("expected one run directory: disttrain plot RUN_DIR")
        }
        let log = try MetricsLog.read(path: directory + "/metrics.jsonl")
        let charts = RunPlots.charts(log, runName: runName(directory), logLearningRate: parsed.has("log-lr"))
        guard !charts.isEmpty else {
            throw FileError(directory + "/metrics.jsonl", "holds no step or epoch records to plot; "
                            + "has the run taken a step yet?")
        }
        let out = parsed.string("out") ?? directory + "/plots"
        try makeDirectories(out)
        for (file, chart) in charts {
            try writeFileAtomically(out + "/" + file, Array(chart.render().text.utf8))
        }
        print("plot: \(charts.count) charts from \(log.steps.count) steps and \(log.epochs.count) epochs in \(out)/: "
              + charts.map(\.file).joined(separator: " "))
    }
}

/// The last component of a run directory's path ("runs/simclr/" -> "simclr"), used in titles.
func runName(_ path: String) -> String {
    let name = path.split(separator: "/").last.map(String.init) ?? path
    return name == "." ? "run" : name
}
