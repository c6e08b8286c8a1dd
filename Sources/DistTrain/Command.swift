/// One `disttrain` subcommand. Each lives in its own file under `Commands/`.
protocol Command {
    /// The word after `disttrain`, e.g. "train".
    static var name: String { get }
    /// One line for `disttrain --help`.
    static var summary: String { get }
    /// Full text for `disttrain NAME --help`.
    static var help: String { get }
    /// Runs with the arguments after the subcommand name.
    static func run(_ arguments: [String]) throws
    /// The help for these arguments (a command with subcommands shows the named one's).
    static func help(for arguments: [String]) -> String
}

extension Command {
    static func help(for arguments: [String]) -> String { help }
}
