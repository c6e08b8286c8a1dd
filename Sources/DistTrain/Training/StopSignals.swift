import Dispatch
import Engine
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the trainer does with the signals a launcher or scheduler sends.
///
/// - `SIGUSR1` (SLURM's `--signal=USR1@T` before the time limit; `mpirun` forwards it to every rank):
///   a *request* to stop. The ranks agree on it at the next step boundary, rank 0 writes
///   `last.safetensors`, and every rank exits with `preemptedExitCode` so the batch script requeues the job.
/// - `SIGTERM` (mpirun ending the job because a rank died, `scancel`, the time limit): the job is ending
///   now and collectives may never complete, so no checkpoint is attempted; the rank says which peer is
///   gone (when it can tell) and where to resume from, then exits.
///
/// Dispatch signal sources run the handlers on a normal thread, so they may print and inspect state.
final class StopSignals: @unchecked Sendable {
    /// `EX_TEMPFAIL`: stopped on request with a checkpoint written; run again with `--resume auto`.
    static let preemptedExitCode: Int32 = 75
    private let requested = Atomic<Bool>(false)
    private let queue = DispatchQueue(label: "disttrain.signals")
    private var sources: [any DispatchSourceSignal] = []

    /// SIGUSR1 that arrived before the handlers below existed (see `catchEarlyRequests`).
    private static let earlyRequest = Atomic<Bool>(false)

    /// Records a SIGUSR1 that arrives during start-up (MPI, datasets, model, reading a checkpoint): its default
    /// action would end the rank, and a job signalled then would fail instead of being requeued. The trainer's
    /// handlers take the request over. Call first thing in a process that will train. Reinstalled when the
    /// handlers go, so a repeated request cannot kill a rank that is finishing (launchers may send it again).
    static func catchEarlyRequests() {
        _ = earlyRequest.load(ordering: .relaxed)  // initialised before the handler can run
        signal(SIGUSR1) { _ in StopSignals.earlyRequest.store(true, ordering: .relaxed) }
    }

    /// Installs the handlers; `onTerminate` returns the message to print before exiting on SIGTERM.
    init(onTerminate: @escaping @Sendable () -> String) {
        for number in [SIGUSR1, SIGTERM] {
            signal(number, SIG_IGN)  // delivered to the source instead of the default action
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            if number == SIGUSR1 {
                source.setEventHandler { [unowned self] in self.requested.store(true, ordering: .releasing) }
            } else {
                source.setEventHandler {
                    printError(onTerminate())
                    _exit(143)  // 128 + SIGTERM, as if the default action had run
                }
            }
            source.resume()
            sources.append(source)
        }
        if Self.earlyRequest.exchange(false, ordering: .relaxed) { requested.store(true, ordering: .releasing) }
    }

    /// Whether SIGUSR1 arrived.
    var stopRequested: Bool { requested.load(ordering: .acquiring) }

    deinit {
        for source in sources { source.cancel() }
        Self.catchEarlyRequests()
        signal(SIGTERM, SIG_DFL)
    }
}
