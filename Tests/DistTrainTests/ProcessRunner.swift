import Foundation

/// What a finished child process printed and returned.
struct ProcessResult {
    let status: Int32
    let standardOutput: String
    let standardError: String
    let timedOut: Bool

    /// Everything it printed, for assertion messages.
    var output: String { "--- stdout ---\n\(standardOutput)\n--- stderr ---\n\(standardError)" }
}

/// Runs `executable` with `arguments` and waits at most `timeout` seconds; a hang is killed and reported,
/// so a stuck collective fails the test instead of blocking CI. Output goes to temporary files (no pipe
/// can fill up and stall the child). `whileRunning` is called once the child started, with the child and the
/// file its standard output goes to (tests signal it from there).
func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                timeout: TimeInterval = 120, whileRunning: ((Process, URL) -> Void)? = nil) throws -> ProcessResult {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("disttrain-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let outURL = directory.appendingPathComponent("stdout"), errURL = directory.appendingPathComponent("stderr")
    try Data().write(to: outURL)
    try Data().write(to: errURL)

    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment ?? cleanEnvironment()
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    try process.run()
    whileRunning?(process, outURL)
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    let timedOut = process.isRunning
    if timedOut {
        process.terminate()  // mpirun passes SIGTERM on to its ranks
        let grace = Date().addingTimeInterval(5)
        while process.isRunning && Date() < grace { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus,
                         standardOutput: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                         standardError: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
                         timedOut: timedOut)
}

/// This process's environment without launcher variables, so a test run inside mpirun or a SLURM step
/// starts its children as plain processes.
func cleanEnvironment() -> [String: String] {
    ProcessInfo.processInfo.environment.filter { name, _ in
        !["OMPI_", "PMI_", "PMIX_", "MPI_LOCAL", "SLURM_"].contains { name.hasPrefix($0) }
    }
}

/// The first executable file called `name` on `PATH`.
func findOnPath(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").lazy
        .map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}
