/// Device time per kernel (and per cuBLAS call), summed over the ops a `CUDABackend` queued while it was
/// attached (`CUDABackend.kernelTimes`): `bench --profile`'s table of where a GPU step's time goes, beyond
/// the convolutions. Each timed call is bracketed by stream synchronisations and timed on the host clock,
/// so a call's time includes its launch (a few µs): a profile, not a production path.
public final class KernelTimes {
    public struct Entry: Equatable {
        public let name: String
        public var calls: Int
        public var seconds: Double
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    func add(_ name: String, seconds: Double) {
        entries[name, default: Entry(name: name, calls: 0, seconds: 0)].calls += 1
        entries[name]!.seconds += seconds
    }

    /// Every kernel seen, the most time first.
    public var byTime: [Entry] { entries.values.sorted { ($0.seconds, $1.name) > ($1.seconds, $0.name) } }

    public var totalSeconds: Double { entries.values.reduce(0) { $0 + $1.seconds } }
}
