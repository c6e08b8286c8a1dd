/// The learning-curve charts of one run, from its metrics log: each is a file name (under
/// `RUN_DIR/plots/`) and a chart. Charts whose data the run did not log are left out.
///
/// | file | what |
/// | --- | --- |
/// | `loss.svg` | the training loss per step and its mean per epoch |
/// | `loss_terms.svg` | the loss terms per step (VICReg's three, BYOL's, ...) when they differ from the loss |
/// | `accuracy.svg` | online-probe (or supervised) test accuracy and probe training accuracy per epoch, final kNN |
/// | `lr.svg` | the learning rate per step (log scale with `logLearningRate`) |
/// | `embedding_std.svg` | std of the L2-normalised embeddings per step (collapse monitor; 1/sqrt(D) when healthy) |
/// | `probe_loss.svg` | the online probe's loss per step |
/// | `train_acc.svg` | the supervised baseline's accuracy on its training batches, per step |
enum RunPlots {
    static func charts(_ log: MetricsLog, runName: String, logLearningRate: Bool = false) -> [(file: String, chart: LineChart)] {
        var charts: [(file: String, chart: LineChart)] = []
        let steps = log.steps, epochs = log.epochs
        func stepSeries(_ key: String) -> [(x: Double, y: Double)] { MetricsLog.series(key, in: steps, x: "step") }

        let loss = stepSeries("loss")
        if !loss.isEmpty {
            var lines = [LineSeries(name: "loss per step", points: loss, lineWidth: 1, opacity: 0.45)]
            // Each epoch's mean, drawn at the epoch's last step.
            let means = MetricsLog.series("train_loss", in: epochs, x: "step")
            if !means.isEmpty { lines.append(LineSeries(name: "epoch mean", points: means, lineWidth: 2.2, markers: true)) }
            charts.append(("loss.svg", LineChart(title: "\(runName): training loss", xLabel: "step", yLabel: "loss",
                                                 series: lines)))
        }
        let terms = log.lossTerms.filter { term in
            let values = stepSeries(term)
            return values.count != loss.count || zip(values, loss).contains { $0.y != $1.y && !($0.y.isNaN && $1.y.isNaN) }
        }
        if !terms.isEmpty {
            charts.append(("loss_terms.svg", LineChart(title: "\(runName): loss terms", xLabel: "step", yLabel: "term value",
                                                       series: terms.map { LineSeries(name: $0, points: stepSeries($0)) })))
        }
        var accuracy: [LineSeries] = []
        let test = MetricsLog.series("test_acc", in: epochs, x: "epoch")
        // The supervised baseline logs train_acc per step and its classifier's (not a probe's) test accuracy.
        let supervised = steps.contains { $0["train_acc"] != nil }
        if !test.isEmpty {
            accuracy.append(LineSeries(name: supervised ? "test (classifier)" : "test (online probe)", points: test,
                                       lineWidth: 2.2, markers: true))
        }
        let probeTrain = MetricsLog.series("probe_train_acc", in: epochs, x: "epoch")
        if !probeTrain.isEmpty { accuracy.append(LineSeries(name: "probe train", points: probeTrain, markers: true)) }
        // One number at the last epoch: a level line across the epochs (a lone dot hid behind the test
        // curve's last marker), its value in the legend.
        if let knn = log.knn.last, let epoch = knn["epoch"], let value = knn["knn_acc"] {
            let first = (test + probeTrain).map(\.x).min() ?? epoch
            accuracy.append(LineSeries(name: "kNN, end of run (\(fixed(100 * value, 2))%)",
                                       points: first < epoch ? [(first, value), (epoch, value)] : [(epoch, value)], lineWidth: 2.2))
        }
        if !accuracy.isEmpty {
            charts.append(("accuracy.svg", LineChart(title: "\(runName): accuracy per epoch", xLabel: "epoch",
                                                     yLabel: "accuracy", series: accuracy)))
        }
        for (key, file, title, label) in [("lr", "lr.svg", "learning rate", "learning rate"),
                                          ("embedding_std", "embedding_std.svg", "embedding std (collapse monitor)", "std"),
                                          ("probe_loss", "probe_loss.svg", "online probe loss", "cross-entropy"),
                                          ("train_acc", "train_acc.svg", "training accuracy per step", "accuracy")] {
            let points = stepSeries(key)
            guard !points.isEmpty else { continue }
            charts.append((file, LineChart(title: "\(runName): \(title)", xLabel: "step", yLabel: label,
                                           series: [LineSeries(name: key, points: points)],
                                           yScale: key == "lr" && logLearningRate ? .logarithmic : .linear)))
        }
        return charts
    }
}
