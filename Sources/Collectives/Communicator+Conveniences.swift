import Engine

/// The same collectives on `Tensor`s (host memory), Swift arrays and single numbers.
extension Communicator {
    public func allReduceSum(_ tensor: Tensor) throws {
        try withHostBuffer(tensor, "allReduceSum") { try allReduceSum($0) }
    }

    public func allReduceMean(_ tensor: Tensor) throws {
        try withHostBuffer(tensor, "allReduceMean") { try allReduceMean($0) }
    }

    /// `receive` has `worldSize * send.count` elements, rank-major (see the buffer version).
    public func allGather(_ send: Tensor, into receive: Tensor) throws {
        try withHostBuffer(send, "allGather") { source in
            try withHostBuffer(receive, "allGather") { try allGather(UnsafeBufferPointer(source), into: $0) }
        }
    }

    /// `send` has `worldSize * receive.count` elements; rank r receives the sum of block r.
    public func reduceScatterSum(_ send: Tensor, into receive: Tensor) throws {
        try withHostBuffer(send, "reduceScatterSum") { source in
            try withHostBuffer(receive, "reduceScatterSum") { try reduceScatterSum(UnsafeBufferPointer(source), into: $0) }
        }
    }

    public func broadcast(_ tensor: Tensor, root: Int) throws {
        try withHostBuffer(tensor, "broadcast") { try broadcast($0, root: root) }
    }

    public func allReduceSum(_ values: inout [Float]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceSum($0) }
    }

    public func allReduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceSum($0) }
    }

    public func allReduceMean(_ values: inout [Float]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceMean($0) }
    }

    public func broadcast(_ values: inout [Float], root: Int) throws {
        try values.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    /// Every rank's `values`, concatenated in rank order.
    public func allGather(_ values: [Float]) throws -> [Float] {
        var result = [Float](repeating: 0, count: worldSize * values.count)
        try values.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { try allGather(send, into: $0) }
        }
        return result
    }

    /// Every rank's `values`, concatenated in rank order, on `root`; an empty array on the other ranks.
    public func gather(_ values: [Float], root: Int) throws -> [Float] {
        var result = [Float](repeating: 0, count: rank == root ? worldSize * values.count : 0)
        try values.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { try gather(send, into: $0, root: root) }
        }
        return result
    }

    /// The sum of `value` over all ranks.
    public func allReduceSum(_ value: Double) throws -> Double {
        var values = [value]
        try allReduceSum(&values)
        return values[0]
    }

    /// Runs `body` on the tensor's elements; host collectives cannot read GPU memory.
    private func withHostBuffer(_ tensor: Tensor, _ call: String,
                                _ body: (UnsafeMutableBufferPointer<Float>) throws -> Void) throws {
        guard tensor.device == .cpu else {
            throw CollectivesError(call: call, message: "the tensor lives on \(tensor.device), not in host memory",
                                   rank: rank, hint: "Copy it to the host first, or use a GPU communicator (NCCL).")
        }
        try withExtendedLifetime(tensor.storage) {
            try body(UnsafeMutableBufferPointer(start: tensor.pointer, count: tensor.count))
        }
    }
}
