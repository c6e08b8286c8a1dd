/// `disttrain eval knn|linear`: evaluates a frozen encoder. The subcommands share the encoder loading,
/// the datasets and the out-of-distribution options (`EvaluationSetup`).
struct EvalCommand: Command {
    static let name = "eval"
    static let summary = "evaluate a frozen encoder: eval knn (weighted kNN), eval linear (offline linear probe)"
    static let subcommands: [any Command.Type] = [EvalKNNCommand.self, EvalLinearCommand.self]

    static var help: String {
        "Usage: disttrain eval <knn|linear> [options]\n\n\(summary)\n\n"
            + subcommands.map { "  eval \($0.name)" + String(repeating: " ", count: max(1, 10 - $0.name.count)) + $0.summary }
                .joined(separator: "\n")
            + "\n\nRun 'disttrain eval knn --help' or 'disttrain eval linear --help' for the options.\n"
    }

    static func help(for arguments: [String]) -> String {
        subcommands.first { $0.name == arguments.first }?.help ?? help
    }

    static func run(_ arguments: [String]) throws {
        guard let subcommand = subcommands.first(where: { $0.name == arguments.first }) else {
            throw UsageError("expected 'disttrain eval knn ...' or 'disttrain eval linear ...'; got '\(arguments.first ?? "")'")
        }
        try subcommand.run(Array(arguments.dropFirst()))
    }
}
