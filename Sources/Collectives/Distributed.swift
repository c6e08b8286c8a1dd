import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Distributed start-up: one call that picks the communicator for how the program was launched.
public enum Distributed {
    /// `MPICommunicator` when a launcher (mpirun, mpiexec, srun) started more than one rank,
    /// otherwise `LocalCommunicator`. MPI is not touched for a plain single process: a singleton
    /// `MPI_Init` is slow and would make MPI a requirement of every run.
    /// - Parameters:
    ///   - topology: the launcher's view; read from the process environment by default.
    ///   - maxElementsPerCall: longest buffer passed to one MPI call; tests set it small to exercise the split path.
    public static func start(topology: Topology = .fromProcessEnvironment(),
                             maxElementsPerCall: Int = Int(Int32.max)) throws -> any Communicator {
        guard topology.isLaunchedByMPI else { return LocalCommunicator() }
        return try MPICommunicator(expected: topology, maxElementsPerCall: maxElementsPerCall)
    }
}

/// Prints `text` (flushed) on rank 0 only: the one place progress and results are printed from.
public func log0(_ communicator: any Communicator, _ text: String) {
    if communicator.rank == 0 { printFlushed(text) }
}

/// Runs a collective from code that cannot throw (a layer's forward or backward): a failed collective
/// leaves the ranks out of step, so the only safe continuation is to stop this process with the error
/// (naming the call and the rank); the launcher then ends the others.
public func collectiveOrExit<T>(_ body: () throws -> T) -> T {
    do {
        return try body()
    } catch {
        printError("error: \(error)")
        exit(70)  // EX_SOFTWARE
    }
}
