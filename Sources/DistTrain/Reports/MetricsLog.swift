import Engine

/// A run's `metrics.jsonl` as written by `RunDirectory.log`: one JSON object per line, of three kinds.
///
/// - per step: `step`, `epoch`, `loss`, `lr`, the loss terms (`nt_xent`; `invariance`, `variance`,
///   `covariance`; `neg_cos_sim`; `train_acc` for the supervised baseline), `embedding_std`, `probe_loss`
/// - per epoch: `epoch`, `step`, `train_loss`, `test_acc`, `probe_train_acc`, `images_per_s`, `elapsed_s`
/// - end of run: `epoch`, `step`, `knn_acc`
///
/// A resumed run appends to the same file, so a step (or epoch) can appear twice; the later record
/// wins. `null` (how a non-finite number is written) reads as NaN.
struct MetricsLog {
    /// One line's numeric fields (strings and booleans are dropped) and its 1-based line number.
    struct Record {
        let line: Int
        let values: [String: Double]
        subscript(_ key: String) -> Double? { values[key] }
    }

    /// Per-step records, by step.
    let steps: [Record]
    /// Per-epoch records, by epoch.
    let epochs: [Record]
    /// Records holding `knn_acc`, in file order.
    let knn: [Record]
    /// Result keys (`ResultsFile.columns`, e.g. `linear_acc` from a later evaluation) of any record,
    /// the last value of each.
    var results: [String: Double] = [:]

    /// Fields of the step records other than bookkeeping and timing: the loss terms, in first-seen order.
    /// Timings (`grad_sync_wait_s` and anything else ending in `_s` or `_fraction`) are not terms.
    var lossTerms: [String] {
        let skipped: Set<String> = ["step", "epoch", "loss", "lr", "embedding_std", "probe_loss", "train_acc"]
        func isTerm(_ key: String) -> Bool { !skipped.contains(key) && !key.hasSuffix("_s") && !key.hasSuffix("_fraction") }
        var seen: [String] = []
        for record in steps {
            for key in record.values.keys.sorted() where isTerm(key) && !seen.contains(key) { seen.append(key) }
        }
        return seen
    }

    /// The last finite value of `key` over `records`.
    static func last(_ key: String, in records: [Record]) -> Double? {
        records.reversed().lazy.compactMap { $0[key] }.first { $0.isFinite }
    }

    /// (x, y) of every record that has `key`, with x from `xKey`; NaN where `key` is null.
    static func series(_ key: String, in records: [Record], x xKey: String) -> [(x: Double, y: Double)] {
        records.compactMap { record in
            guard let y = record[key], let x = record[xKey] else { return nil }
            return (x, y)
        }
    }

    /// Reads `path`; an unreadable file or a line that is not a JSON object is an error naming the
    /// file and the line.
    static func read(path: String) throws -> MetricsLog {
        let bytes: [UInt8]
        do { bytes = try readFile(path) } catch {
            throw FileError(path, "cannot read the metrics log (\(error)); "
                            + "it is written by 'disttrain train --run-dir DIR': is this a run directory?")
        }
        return try parse(bytes, path: path)
    }

    static func parse(_ bytes: [UInt8], path: String) throws -> MetricsLog {
        var steps: [Int: Record] = [:], epochs: [Int: Record] = [:], knn: [Record] = [], results: [String: Double] = [:]
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) {
                continue
            }
            let fields: [String: Field]
            do { fields = try Field.fields(Array(line)) } catch {
                let preview = String(decoding: line.prefix(80), as: UTF8.self)
                throw FileError(path, "line \(index + 1) is not a JSON object of metrics: '\(preview)"
                                + (line.count > 80 ? "...'" : "'")
                                + "; a run killed while writing can leave a cut line: delete or fix that line")
            }
            var values: [String: Double] = [:]
            for (key, field) in fields {
                switch field {
                case .number(let number): values[key] = number
                case .null: values[key] = .nan
                case .other: break
                }
            }
            let record = Record(line: index + 1, values: values)
            for (key, _) in ResultsFile.columns { if let value = values[key], value.isFinite { results[key] = value } }
            if values["knn_acc"] != nil {
                knn.append(record)
            } else if values["train_loss"] != nil, let epoch = values["epoch"], epoch.isFinite {
                epochs[Int(epoch)] = record
            } else if values["loss"] != nil, let step = values["step"], step.isFinite {
                steps[Int(step)] = record
            }
        }
        return MetricsLog(steps: steps.keys.sorted().map { steps[$0]! }, epochs: epochs.keys.sorted().map { epochs[$0]! },
                          knn: knn, results: results)
    }

    /// A JSON value in a metrics line: a number, null, or anything else (ignored).
    enum Field {
        case number(Double), null, other

        /// The fields of one JSON object whose values are numbers, strings, booleans or null.
        static func fields(_ bytes: [UInt8]) throws -> [String: Field] {
            var fields: [String: Field] = [:]
            for (name, value) in try JSON.parseObject(bytes) {
                switch value {
                case .number(let number): fields[name] = .number(number)
                case .null: fields[name] = .null
                case .string, .bool: fields[name] = .other
                case .array, .object:
                    throw JSONContentError("\(jsonQuoted(name)) is \(value.kind); expected a number, string, boolean or null")
                }
            }
            return fields
        }
    }
}
