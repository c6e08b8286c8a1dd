import Collectives
import Data
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// The normalisation constants for a dataset: the package's known values (see `Normalization.standard`).
func datasetNormalization(_ dataset: ImageDataset) -> Normalization {
    Normalization.standard(forDataset: dataset.name, channels: dataset.channels)
}

struct TrainingError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Progress on one terminal line when stdout is a terminal, plain lines otherwise (logs, mpirun, SLURM).
func progress(_ text: String) {
    if stdoutIsTerminal { printFlushed("\r" + text + "   ", terminator: "") } else { printFlushed(text) }
}

func endProgress() { if stdoutIsTerminal { printFlushed("") } }

/// Whether stdout is a person's terminal. Not under a launcher: mpirun hands its ranks a pseudo-terminal
/// even when its own output goes to a file, and `\r` progress lines would pile up in the log.
let stdoutIsTerminal = isatty(1) != 0 && !Topology.fromProcessEnvironment().isLaunchedByMPI

/// `[#######-------]  47%`: a bar for the progress line.
func progressBar(done: Int, of total: Int, width: Int = 20) -> String {
    let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
    let filled = Int((fraction * Double(width)).rounded(.down))
    let percent = String(Int((fraction * 100).rounded(.down)))
    return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
        + String(repeating: " ", count: 3 - percent.count) + percent + "%"
}

/// Seconds as `1h02m`, `3m05s` or `42s`.
func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let total = Int(seconds.rounded())
    if total >= 3600 { return "\(total / 3600)h" + String(format2(total % 3600 / 60)) + "m" }
    if total >= 60 { return "\(total / 60)m" + format2(total % 60) + "s" }
    return "\(total)s"
}

private func format2(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
