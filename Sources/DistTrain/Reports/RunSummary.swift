import Engine
#if canImport(Glibc)
import Glibc
#endif

/// What the report shows of one run directory: its configuration (`config.json`), its metrics log,
/// its evaluation results (`ResultsFile`) and its t-SNE map (`tsne.svg`) when present.
struct RunSummary {
    let path: String
    let name: String
    /// `config.json`'s options, by name.
    let config: [(key: String, value: String)]
    let log: MetricsLog
    let results: [String: Double]
    /// The `<svg>` element of `tsne.svg`, without its XML declaration.
    let tsneSVG: String?

    init(path: String) throws {
        self.path = path
        name = runName(path)
        let configPath = path + "/config.json"
        guard access(configPath, F_OK) == 0 else {
            throw FileError(configPath, "missing; 'disttrain train --run-dir DIR' writes it: is \(path) a run directory?")
        }
        let values: [String: ConfigFile.Scalar]
        do { values = try ConfigFile.Scalar.fields(try readFile(configPath)) } catch let error as FileError { throw error } catch {
            throw FileError(configPath, "expected one JSON object of option names to values (\(error))")
        }
        config = values.keys.sorted().map { key in
            switch values[key]! {
            case .text(let text): return (key, text)
            case .number(let number):
                return (key, number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number))
            case .flag(let flag): return (key, flag ? "true" : "false")
            case .null: return (key, "null")
            }
        }
        log = try MetricsLog.read(path: path + "/metrics.jsonl")
        results = try ResultsFile.read(runDirectory: path, metrics: log)
        let tsnePath = path + "/tsne.svg"
        if access(tsnePath, F_OK) == 0 {
            let text = String(decoding: try readFile(tsnePath), as: UTF8.self)
            guard let start = text.firstRange(of: "<svg") else {
                throw FileError(tsnePath, "holds no <svg> element; run 'disttrain tsne' again or delete the file")
            }
            tsneSVG = String(text[start.lowerBound...])
        } else {
            tsneSVG = nil
        }
    }

    func configValue(_ key: String) -> String? { config.first { $0.key == key }?.value }

    /// The comparison table's cells for this run, in `RunSummary.columns` order ("—" where unknown).
    var cells: [String] {
        let epochs = log.epochs
        let done = epochs.last?["epoch"].map { String(Int($0)) }
        let planned = configValue("epochs")
        let testAccuracies = epochs.compactMap { $0["test_acc"] }.filter(\.isFinite)
        var row = [name, configValue("method") ?? "—", configValue("dataset") ?? "—",
                   done.map { $0 + (planned.map { " / " + $0 } ?? "") } ?? "0" + (planned.map { " / " + $0 } ?? ""),
                   MetricsLog.last("train_loss", in: epochs).map { fixed($0, 4) } ?? "—",
                   testAccuracies.last.map(RunSummary.percent) ?? "—",
                   testAccuracies.max().map(RunSummary.percent) ?? "—"]
        for (key, _) in ResultsFile.columns {
            let value = results[key] ?? (key == "knn_acc" ? MetricsLog.last("knn_acc", in: log.knn) : nil)
            row.append(value.map(RunSummary.percent) ?? "—")
        }
        return row
    }

    /// Column keys (for `data-key`) and titles of the comparison table.
    static let columns: [(key: String, title: String)] = [
        ("run", "run"), ("method", "method"), ("dataset", "dataset"), ("epochs", "epochs done / planned"),
        ("train_loss", "final train loss"), ("test_acc", "online probe acc (last)"), ("best_test_acc", "online probe acc (best)"),
    ] + ResultsFile.columns

    /// Results beyond the table's columns (any other numeric key of the results files).
    var otherResults: [(key: String, value: Double)] {
        let shown = Set(ResultsFile.columns.map(\.key))
        return results.keys.sorted().filter { !shown.contains($0) }.map { ($0, results[$0]!) }
    }

    /// A fraction as a percentage with two decimals ("81.25").
    static func percent(_ fraction: Double) -> String { fraction.isFinite ? fixed(100 * fraction, 2) : "—" }
}
