import Collectives
import Engine

/// The checks behind `disttrain comm-check`. Each fills buffers with values that depend on the rank,
/// runs one collective, and compares with the exact answer (small integers: exact in Float).
/// W is the world size, r this rank.
final class CollectiveChecks {
    let communicator: any Communicator
    /// A rank whose all-gather result is corrupted on purpose, to test failure reporting.
    let faultRank: Int?
    /// "check on rank(s) ...", one per failed check.
    private(set) var failures: [String] = []

    init(communicator: any Communicator, faultRank: Int?) {
        self.communicator = communicator
        self.faultRank = faultRank
    }

    private var r: Int { communicator.rank }
    private var w: Int { communicator.worldSize }
    /// 1 + 2 + ... + W: the sum over ranks of (r + 1).
    private var rankSum: Int { w * (w + 1) / 2 }

    func runAll() throws {
        try check("allreduce-sum", "float32 x 1027") {
            var values = (0..<1027).map { Float((r + 1) * ($0 % 13 + 1)) }
            try communicator.allReduceSum(&values)
            return mismatch(values) { Float(rankSum * ($0 % 13 + 1)) }
        }
        try check("allreduce-sum", "float64 x 33") {
            var values = (0..<33).map { Double((r + 1) * ($0 + 1)) }
            try communicator.allReduceSum(&values)
            return mismatch(values) { Double(rankSum * ($0 + 1)) }
        }
        try check("allreduce-mean", "float32 x 1027") {
            var values = (0..<1027).map { Float(2 * r + $0 % 5) }
            try communicator.allReduceMean(&values)
            return mismatch(values) { Float(w - 1 + $0 % 5) }
        }
        try check("allreduce-max", "float64 scalar") {
            let value = try communicator.allReduceMax(Double(r))
            return value == Double(w - 1) ? nil : "got \(value), expected \(w - 1)"
        }
        try check("allgather", "float32 257 per rank") {
            var gathered = try communicator.allGather((0..<257).map { Float(r * 1000 + $0) })
            if r == faultRank { gathered[0] += 1 }
            return mismatch(gathered) { Float(($0 / 257) * 1000 + $0 % 257) }
        }
        try check("gather", "float32 257 per rank to rank \(w - 1)") {
            let root = w - 1
            let gathered = try communicator.gather((0..<257).map { Float(r * 1000 + $0) }, root: root)
            guard r == root else { return gathered.isEmpty ? nil : "a non-root rank received \(gathered.count) values" }
            return mismatch(gathered) { Float(($0 / 257) * 1000 + $0 % 257) }
        }
        try check("reduce-scatter", "float32 257 per rank") {
            let send = (0..<(w * 257)).map { Float((r + 1) * $0) }
            var block = [Float](repeating: -1, count: 257)
            try send.withUnsafeBufferPointer { source in
                try block.withUnsafeMutableBufferPointer { try communicator.reduceScatterSum(source, into: $0) }
            }
            return mismatch(block) { Float(rankSum * (r * 257 + $0)) }
        }
        try check("broadcast", "float32 x 1027 from rank \(w - 1)") {
            let root = w - 1
            var values = (0..<1027).map { r == root ? Float(3 * $0 + 7) : -1 }
            try communicator.broadcast(&values, root: root)
            return mismatch(values) { Float(3 * $0 + 7) }
        }
        try check("broadcast-bytes", "1000 bytes from rank \(w - 1)") {
            let root = w - 1
            var bytes = (0..<1000).map { r == root ? UInt8(truncatingIfNeeded: 31 * $0 + 7) : 0 }
            try bytes.withUnsafeMutableBytes { try communicator.broadcastBytes($0, root: root) }
            return mismatch(bytes) { UInt8(truncatingIfNeeded: 31 * $0 + 7) }
        }
        try check("barrier", "") {
            try communicator.barrier()
            return nil
        }
    }

    /// Runs one check on every rank, agrees on which ranks failed, and prints the verdict from rank 0.
    private func check(_ name: String, _ detail: String, _ body: () throws -> String?) throws {
        let failure = try body()
        if let failure { printError("comm-check: rank \(r): \(name) FAILED: \(failure)") }
        var flags = [Double](repeating: 0, count: w)
        flags[r] = failure == nil ? 0 : 1
        try communicator.allReduceSum(&flags)
        let failedRanks = flags.indices.filter { flags[$0] != 0 }
        if failedRanks.isEmpty {
            log0(communicator, "ok \(name)" + (detail.isEmpty ? "" : "  \(detail)"))
        } else {
            let ranks = failedRanks.map(String.init).joined(separator: ", ")
            log0(communicator, "FAILED \(name) on rank(s) \(ranks)")
            failures.append("\(name) on rank(s) \(ranks)")
        }
    }

    /// Describes the first element that differs from `expected(index)`, or nil when all match.
    private func mismatch<T: Equatable>(_ values: [T], _ expected: (Int) -> T) -> String? {
        guard let index = values.indices.first(where: { values[$0] != expected($0) }) else { return nil }
        return "element \(index) is \(values[index]), expected \(expected(index))"
    }
}
