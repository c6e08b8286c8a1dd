import Engine
import Models
#if canImport(Glibc)
import Glibc
#endif

/// Faults the tests inject into a real run, read from the environment variable `DISTTRAIN_FAULT`
/// (comma-separated; empty in normal use). Each proves a failure path end to end with real processes:
///
/// | item | effect |
/// | --- | --- |
/// | `local-gather-backward` | the known-wrong gather backward (`DistributedFaults`): equivalence tests must fail |
/// | `kill:R:S` | rank R sends itself SIGKILL at the start of step S (from 1) |
/// | `nan:R:S` | rank R's first view of step S becomes NaN |
/// | `bad-sample:R:S` | rank R fails to load its batch of step S |
/// | `perturb:R:S` | rank R nudges its parameters (and BYOL target) after step S: the sync check must see it |
/// | `slow-checkpoint:SECONDS` | checkpoint writes pause half-way through the temporary file |
struct FaultInjection {
    var methodFaults = DistributedFaults()
    private var events: [(kind: String, rank: Int, step: Int)] = []
    /// Seconds a checkpoint write pauses with half its temporary file written.
    var checkpointPause: Double?

    static let variable = "DISTTRAIN_FAULT"

    init(environment text: String? = getenv(FaultInjection.variable).map { String(cString: $0) }) throws {
        for item in (text ?? "").split(separator: ",").map(String.init) {
            let parts = item.split(separator: ":").map(String.init)
            switch parts[0] {
            case "local-gather-backward" where parts.count == 1:
                methodFaults.localGatherBackward = true
            case "kill", "nan", "bad-sample", "perturb":
                guard parts.count == 3, let rank = Int(parts[1]), let step = Int(parts[2]) else { fallthrough }
                events.append((parts[0], rank, step))
            case "slow-checkpoint":
                guard parts.count == 2, let seconds = Double(parts[1]) else { fallthrough }
                checkpointPause = seconds
            default:
                throw UsageError("\(Self.variable): cannot read '\(item)'; expected local-gather-backward, kill:R:S, "
                                 + "nan:R:S, bad-sample:R:S, perturb:R:S or slow-checkpoint:SECONDS")
            }
        }
    }

    /// Whether `kind` is due on `rank` at (1-based) `step`.
    func fires(_ kind: String, rank: Int, step: Int) -> Bool {
        events.contains { $0.kind == kind && $0.rank == rank && $0.step == step }
    }
}
