/// What a real GPU orders and the emulator does not: the emulator runs every operation at once, in call
/// order, but on a GPU the copy and collectives streams run beside the compute stream and all of them beside
/// the host. This keeps vector clocks over the four, as CUDA defines their order: a stream's operations run
/// in order; an operation is ordered after whatever the host knew had finished when it issued it; a stream
/// that waits for an event runs after what was queued before the event's recording; the host, after a
/// synchronisation, knows what it waited for. Every operation names the byte ranges it touches, and one
/// that touches bytes another actor touched, without being ordered after that, is a race on a GPU:
/// `EmulatedGPU` throws, naming both operations.
///
/// Copies, GEMMs and collectives give their exact ranges. A kernel's pointer arguments do not say how far
/// it reaches, so a kernel touches the first byte of each: a kernel writing one tensor of the flat gradient
/// buffer does not clash with a collective summing another part of it. Every touch counts as a write, so
/// two streams reading the same bytes unordered are reported too; the code under test never does that.
struct StreamOrder {
    enum Actor: String, Hashable, CaseIterable {
        case compute = "compute stream", copy = "copy stream", collectives = "collectives stream", host
    }

    struct Touch {
        let bytes: Range<UInt64>
        let actor: Actor
        let tick: Int
        let what: String
    }

    typealias Clock = [Actor: Int]
    private var clocks: [Actor: Clock] = [.compute: [:], .copy: [:], .collectives: [:], .host: [:]]
    private var events: [Int: Clock] = [:]
    /// Per allocation (by its host base address), the touches the host does not yet know to be finished.
    private var touches: [UInt64: [Touch]] = [:]

    /// One operation of `actor` touching `ranges` (host addresses) of `allocation`s; a stream's operation
    /// is issued by the host.
    mutating func operation(_ actor: Actor, touching ranges: [(allocation: UInt64, bytes: Range<UInt64>)], _ what: String) throws {
        if actor != .host { merge(clocks[.host]!, into: actor) }
        for (allocation, bytes) in ranges {
            for last in touches[allocation] ?? [] where last.actor != actor && last.bytes.overlaps(bytes)
                && (clocks[actor]![last.actor] ?? 0) < last.tick {
                throw EmulationError("race: \(what) on the \(actor.rawValue) touches memory that \(last.what) on the "
                                     + "\(last.actor.rawValue) may still be using; order the two with an event "
                                     + "(record it after one, wait for it before the other) or a synchronisation")
            }
        }
        clocks[actor]![actor, default: 0] += 1
        let tick = clocks[actor]![actor]!, host = clocks[.host]!
        for (allocation, bytes) in ranges {
            // Touches the host knows finished can clash with nothing issued from now on.
            var kept = (touches[allocation] ?? []).filter {
                (host[$0.actor] ?? 0) < $0.tick && !($0.actor == actor && $0.bytes == bytes)
            }
            kept.append(Touch(bytes: bytes, actor: actor, tick: tick, what: what))
            touches[allocation] = kept
        }
    }

    /// `cuEventRecord(event, stream)`: the event stands for everything queued on `stream` so far.
    mutating func record(_ event: Int, on stream: Actor) {
        merge(clocks[.host]!, into: stream)
        events[event] = clocks[stream]!
    }

    /// `cuStreamWaitEvent`: `stream` runs what comes next after the event's recording. Waiting for an event
    /// never recorded does nothing, as in CUDA.
    mutating func wait(_ stream: Actor, for event: Int) {
        merge(clocks[.host]!, into: stream)
        merge(events[event] ?? [:], into: stream)
    }

    /// The host blocked until `event` completed (`cuEventSynchronize`).
    mutating func hostSynchronizes(with event: Int) { merge(events[event] ?? [:], into: .host) }

    /// The host blocked until everything queued on `stream` completed.
    mutating func hostSynchronizes(withStream stream: Actor) { merge(clocks[stream]!, into: .host) }

    /// The allocation is gone (`cuMemFree` waits for the whole device first).
    mutating func forget(_ allocation: UInt64) {
        for actor in [Actor.compute, .copy, .collectives] { hostSynchronizes(withStream: actor) }
        touches[allocation] = nil
    }

    private mutating func merge(_ clock: Clock, into actor: Actor) {
        clocks[actor]!.merge(clock) { max($0, $1) }
    }
}
