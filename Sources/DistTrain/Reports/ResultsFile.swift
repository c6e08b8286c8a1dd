import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Evaluation results kept beside a run: `RUN_DIR/results.json`, one flat JSON object of numbers,
/// which evaluation commands update and `disttrain report` reads.
///
/// ```json
/// {"linear_acc": 0.8512, "linear_auc": 0.9731, "finetune_acc": 0.9104, "finetune_auc": 0.9822, "knn_acc": 0.8023}
/// ```
///
/// Keys ending in `_acc` are top-1 accuracies and `_auc` areas under the ROC curve (mean over labels
/// for multi-label data), both as fractions in 0...1. `linear_*` is the offline linear probe on frozen
/// features, `finetune_*` fine-tuning of the whole encoder, `knn_acc` weighted kNN. Other numeric keys
/// are allowed and listed in the report; strings, booleans and null are ignored.
///
/// The report merges, later winning: result keys in `metrics.jsonl` records, every `eval*.json` in
/// the run directory (by name), then `results.json`.
enum ResultsFile {
    /// Result columns of the report's comparison table, after the training columns.
    static let columns: [(key: String, title: String)] = [
        ("knn_acc", "kNN acc"), ("linear_acc", "linear acc"), ("linear_auc", "linear AUC"),
        ("finetune_acc", "fine-tune acc"), ("finetune_auc", "fine-tune AUC"),
    ]

    /// The merged results of `runDirectory` (see the type's documentation for the order).
    static func read(runDirectory: String, metrics: MetricsLog) throws -> [String: Double] {
        var merged = metrics.results
        for file in try evalFiles(in: runDirectory) + ["results.json"] {
            let path = runDirectory + "/" + file
            guard access(path, F_OK) == 0 else { continue }
            for (key, value) in try numbers(path: path) { merged[key] = value }
        }
        return merged
    }

    /// Sets `values` in `RUN_DIR/results.json`, keeping its other keys; written atomically.
    static func record(_ values: [(String, Double)], runDirectory: String) throws {
        let path = runDirectory + "/results.json"
        var current = access(path, F_OK) == 0 ? try numbers(path: path) : [:]
        for (key, value) in values { current[key] = value }
        let fields = current.keys.sorted().map { ($0, JSONValue.number(current[$0]!)) }
        try writeFileAtomically(path, Array((JSONValue.object(fields).text + "\n").utf8))
    }

    /// The run directory an evaluation's numbers belong to: `--run-dir` when given, else the run that
    /// wrote `checkpoint` when it lies in `RUN/checkpoints/` (as `train` writes it), else nil.
    static func runDirectory(explicit: String?, checkpoint: String?) -> String? {
        if let explicit { return explicit }
        guard let checkpoint else { return nil }
        let parts = checkpoint.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[parts.count - 2] == "checkpoints" else { return nil }
        let run = parts.dropLast(2).joined(separator: "/")
        return run.isEmpty ? (checkpoint.hasPrefix("/") ? "/" : ".") : run
    }

    /// Records an evaluation's `values` in `runDirectory`'s results.json (creating the directory) and
    /// prints where; with no run directory prints how to get the numbers into a report instead.
    static func recordEvaluation(_ values: [(String, Double)], runDirectory: String?, command: String) throws {
        let names = values.map(\.0).joined(separator: ", ")
        guard let runDirectory else {
            printFlushed("\(command): \(names) not recorded: give --run-dir RUN_DIR (or a checkpoint in RUN_DIR/checkpoints/) "
                         + "to add them to RUN_DIR/results.json for disttrain report")
            return
        }
        try makeDirectories(runDirectory)
        try record(values, runDirectory: runDirectory)
        printFlushed("\(command): \(names) recorded in \(runDirectory)/results.json")
    }

    /// The numeric fields of a flat JSON object file.
    static func numbers(path: String) throws -> [String: Double] {
        let bytes = try readFile(path)
        let fields: [String: MetricsLog.Field]
        do { fields = try MetricsLog.Field.fields(bytes) } catch {
            throw FileError(path, "expected one JSON object of result names to numbers, e.g. "
                            + "{\"linear_acc\": 0.85}; fix or delete the file (\(error))")
        }
        var values: [String: Double] = [:]
        for (key, field) in fields { if case .number(let number) = field { values[key] = number } }
        return values
    }

    /// `eval*.json` files in `directory`, sorted by name.
    static func evalFiles(in directory: String) throws -> [String] {
        try directoryEntries(directory).filter { $0.hasPrefix("eval") && $0.hasSuffix(".json") }.sorted()
    }
}
