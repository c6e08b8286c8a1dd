/// The communicator of a single process (world size 1): reductions leave buffers as they are,
/// gathers and scatters copy. Lets training code take the same path with or without `mpirun`.
public final class LocalCommunicator: Communicator {
    public let topology = Topology.single

    public init() {}

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}

    public func allReduceMax(_ value: Double) throws -> Double { value }

    public func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {
        try checkBlocks("allGather", block: send.count, total: receive.count, blockName: "send", totalName: "receive")
        if let source = send.baseAddress { receive.baseAddress!.update(from: source, count: send.count) }
    }

    public func gather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>,
                       root: Int) throws {
        try checkRoot("gather", root)
        try allGather(send, into: receive)
    }

    public func reduceScatterSum(_ send: UnsafeBufferPointer<Float>,
                                 into receive: UnsafeMutableBufferPointer<Float>) throws {
        try checkBlocks("reduceScatterSum", block: receive.count, total: send.count,
                        blockName: "receive", totalName: "send")
        if let source = send.baseAddress { receive.baseAddress!.update(from: source, count: receive.count) }
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        try checkRoot("broadcast", root)
    }

    public func broadcastBytes(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try checkRoot("broadcastBytes", root)
    }

    public func barrier() throws {}

    public func finalize() throws {}
}
