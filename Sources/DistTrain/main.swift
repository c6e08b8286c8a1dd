import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Every subcommand, in the order `disttrain --help` lists them.
let commands: [any Command.Type] = [
    TrainCommand.self,
    EvalCommand.self,
    FineTuneCommand.self,
    ExportCommand.self,
    BenchCommand.self,
    CommCheckCommand.self,
    GPUCheckCommand.self,
    DataStatsCommand.self,
    PlotCommand.self,
    TSNECommand.self,
    ReportCommand.self,
]

func printUsage(_ commands: [any Command.Type]) {
    var text = """
    disttrain: distributed self-supervised pretraining of ResNet encoders (MPI, CPU/GPU).

    Usage: disttrain <command> [options]      (mpirun -np N disttrain <command> ... for N ranks)

    Commands:

    """
    for command in commands {
        text += "  " + command.name + String(repeating: " ", count: max(1, 12 - command.name.count)) + command.summary + "\n"
    }
    text += "\nRun 'disttrain <command> --help' for a command's options.\n"
    print(text, terminator: "")
}

// Before anything touches OpenBLAS or MPI: on a CPU OpenBLAS does not recognise, run again with its AVX kernels.
BLASKernel.relaunchWithBetterKernelsIfNeeded()

let arguments = Array(CommandLine.arguments.dropFirst())
guard let first = arguments.first, first != "--help", first != "-h", first != "help" else {
    printUsage(commands)
    exit(arguments.isEmpty ? 1 : 0)
}
guard let command = commands.first(where: { $0.name == first }) else {
    printError("disttrain: unknown command '\(first)'. Commands: \(commands.map { $0.name }.joined(separator: ", ")).\n")
    exit(2)
}
let rest = Array(arguments.dropFirst())
if rest.contains("--help") || rest.contains("-h") {
    print(command.help(for: rest), terminator: "")
    exit(0)
}
do {
    try command.run(rest)
} catch let error as TrainingStopped {
    printError("disttrain \(command.name): \(error.description)\n")
    exit(StopSignals.preemptedExitCode)
} catch let error as UsageError {
    printError("disttrain \(command.name): \(error.description)\n")
    exit(2)
} catch {
    printError("disttrain \(command.name): error: \(error)\n")
    exit(1)
}
