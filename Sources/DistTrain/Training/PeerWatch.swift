import Collectives
import Dispatch
import Engine
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Notices a stalled job and says why, so no rank waits forever in a collective whose peer is gone.
///
/// At start the ranks exchange their process ids and host ids. The trainer beats the heart at every
/// step boundary; a timer thread looks every 2 s. When the heart has not beaten for `stallSeconds`
/// (the main thread is probably waiting for a peer), it checks that every peer on the same host still
/// runs (`/proc/PID`, zombies count as gone); if one is gone it prints which rank and where to resume
/// from and exits at once; so it does when `failureCheck` reports an error (NCCL's asynchronous error: a
/// peer on another node that vanished, while this rank waits in a device call behind a collective that
/// will never finish). Without a beat for `timeoutSeconds` at all (a peer on another host died and
/// the launcher did not end the job, or a rank hangs) it exits with the same kind of message.
final class PeerWatch: @unchecked Sendable {
    struct Peer {
        let rank: Int
        let pid: Int32
        let sameHost: Bool
    }

    let peers: [Peer]
    private let lastBeat = Atomic<Int64>(0)
    private let timer: any DispatchSourceTimer
    private let timeoutSeconds: Double
    private let stallSeconds: Double
    /// Runs on the watch's thread just before it ends the rank (e.g. `ncclCommAbort`).
    var beforeExit: (@Sendable () -> Void)? {
        get { exitHook.withLock { $0 } }
        set { exitHook.withLock { $0 = newValue } }
    }
    private let exitHook = Mutex<(@Sendable () -> Void)?>(nil)
    /// Asked on the watch's thread once the job stalls: the reason it cannot continue, or nil.
    var failureCheck: (@Sendable () -> String?)? {
        get { failureHook.withLock { $0 } }
        set { failureHook.withLock { $0 = newValue } }
    }
    private let failureHook = Mutex<(@Sendable () -> String?)?>(nil)

    /// Collective: every rank must call it at the same point. `resumeHint` names the checkpoint to resume from.
    init(communicator: any Communicator, stallSeconds: Double = 10, timeoutSeconds: Double,
         resumeHint: @escaping @Sendable () -> String) throws {
        let me = getpid()
        let (high, low) = hostIdentifier()
        let all = try communicator.allGather([Float(me), high, low])
        peers = (0..<communicator.worldSize).filter { $0 != communicator.rank }.map { rank in
            Peer(rank: rank, pid: Int32(all[3 * rank]), sameHost: all[3 * rank + 1] == high && all[3 * rank + 2] == low)
        }
        self.timeoutSeconds = timeoutSeconds
        self.stallSeconds = stallSeconds
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "disttrain.peer-watch"))
        let rank = communicator.rank
        heartbeat()
        timer.setEventHandler { [unowned self] in
            let silent = Double(monotonicNanoseconds() - lastBeat.load(ordering: .acquiring)) * 1e-9
            guard let reason = self.stopReason(silentSeconds: silent) else { return }
            printError("rank \(rank): error: \(reason); stopping this rank. \(resumeHint())")
            self.beforeExit?()
            _exit(1)
        }
        timer.schedule(deadline: .now() + 2, repeating: 2)
        timer.resume()
    }

    /// Why the rank must stop after `silentSeconds` without a heartbeat, or nil to keep waiting: nothing
    /// before `stallSeconds`; then a local peer that is gone or `failureCheck`'s reason; past
    /// `timeoutSeconds`, the time-out itself.
    func stopReason(silentSeconds silent: Double) -> String? {
        guard silent >= stallSeconds else { return nil }
        if let lost = lostPeer ?? failureCheck?() { return "\(lost), so the job cannot continue" }
        guard silent >= timeoutSeconds else { return nil }
        return "no training progress for \(Int(silent)) s (--collective-timeout \(Int(timeoutSeconds))): "
            + "a rank on another node died or hangs"
    }

    /// "rank 1 (pid 4242, this node) is gone" for the first peer on this host that no longer runs, else nil.
    var lostPeer: String? {
        peers.first { $0.sameHost && !processRuns($0.pid) }.map { "rank \($0.rank) (pid \($0.pid), this node) is gone" }
    }

    /// The main thread made progress.
    func heartbeat() { lastBeat.store(monotonicNanoseconds(), ordering: .releasing) }

    deinit { timer.cancel() }
}

/// Whether process `pid` exists and is not a zombie (an exited child its parent has not reaped yet).
func processRuns(_ pid: Int32) -> Bool {
    // /proc files report size 0, so read with stdio rather than by size.
    guard let file = fopen("/proc/\(pid)/stat", "r") else { return kill(pid, 0) == 0 }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 512)
    guard fgets(&buffer, Int32(buffer.count), file) != nil else { return false }
    // "pid (command) S ...": the state follows the last ')'.
    let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let close = line.lastIndex(of: ")") else { return true }
    let state = line[line.index(after: close)...].drop { $0 == " " }.first
    return state != "Z" && state != "X"
}

/// Two 24-bit halves of a hash of the host name, each exact in a Float (for an all-gather of Floats).
func hostIdentifier() -> (Float, Float) {
    var name = [CChar](repeating: 0, count: 256)
    gethostname(&name, name.count - 1)
    var fnv = FNV1a()
    for byte in name.prefix(while: { $0 != 0 }) { fnv.combine(UInt64(UInt8(bitPattern: byte))) }
    let hash = fnv.value
    return (Float(hash >> 40), Float((hash >> 16) & 0xFF_FFFF))
}

func monotonicNanoseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}
