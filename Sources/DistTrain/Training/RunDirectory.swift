import Engine
#if canImport(Glibc)
import Glibc
#endif

/// A training run's folder: `config.json`, `metrics.jsonl` (one JSON object per line) and checkpoints.
final class RunDirectory {
    let path: String
    private var metrics: UnsafeMutablePointer<FILE>?

    init(path: String) throws {
        self.path = path
        try makeDirectories(path)
        guard let file = fopen(path + "/metrics.jsonl", "a") else {
            throw FileError(path + "/metrics.jsonl", "cannot open for appending: \(String(cString: strerror(errno)))")
        }
        metrics = file
    }

    deinit { if let metrics { fclose(metrics) } }

    func writeConfig(_ fields: [(String, JSONValue)]) throws {
        try writeFileAtomically(path + "/config.json", Array((JSONValue.object(fields).text + "\n").utf8))
    }

    /// Appends one metrics record and flushes it, so a killed run keeps every line written so far.
    func log(_ fields: [(String, JSONValue)]) {
        guard let metrics else { return }
        fputs(JSONValue.object(fields).text + "\n", metrics)
        fflush(metrics)
    }
}

/// A JSON value, written without Foundation.
enum JSONValue {
    case number(Double)
    case integer(Int)
    case string(String)
    case bool(Bool)
    case object([(String, JSONValue)])

    var text: String {
        switch self {
        case .number(let value): return value.isFinite ? "\(value)" : "null"
        case .integer(let value): return "\(value)"
        case .string(let value): return jsonQuoted(value)
        case .bool(let value): return value ? "true" : "false"
        case .object(let fields): return "{" + fields.map { jsonQuoted($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

}
