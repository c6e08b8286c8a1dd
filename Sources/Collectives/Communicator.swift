/// Collective operations over the ranks of one job, on host buffers.
///
/// Every rank must make the same calls in the same order with the same sizes; a rank that skips one
/// leaves the others waiting. Methods throw `CollectivesError` naming the failed call and the rank.
/// Implementations: `LocalCommunicator` (one process) and `MPICommunicator`; `Distributed.start()` picks one.
public protocol Communicator: AnyObject, Sendable {
    var topology: Topology { get }

    /// Sums `buffer` element-wise over all ranks, in place; every rank receives the sum.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Sums `buffer` element-wise over all ranks, in place (for losses and metrics that need Double).
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// The largest `value` over all ranks: used to agree on errors and NaN flags.
    func allReduceMax(_ value: Double) throws -> Double
    /// Concatenates every rank's `send` in rank order: `receive[r * n ..< (r + 1) * n]` is rank r's send.
    /// `receive.count == worldSize * send.count`.
    func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws
    /// Concatenates every rank's `send` in rank order on `root` only: `receive` (root: `worldSize * send.count`
    /// elements, rank-major; other ranks: ignored, may be empty).
    func gather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>, root: Int) throws
    /// Sums `send` over all ranks and gives rank r block r of the sum: `receive = sum over ranks of send[r * n ..< (r + 1) * n]`.
    /// `send.count == worldSize * receive.count`.
    func reduceScatterSum(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws
    /// Copies `root`'s `buffer` to every rank.
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws
    /// Copies `root`'s bytes to every rank (configs, checkpoints, RNG state).
    func broadcastBytes(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Returns once every rank has called it.
    func barrier() throws
    /// Ends the communicator (MPI_Finalize for MPI); idempotent. Every rank calls it once at the end of the job.
    func finalize() throws
    /// The same ranks' collectives on device tensors, in stream order (NCCL), when the job has them; nil
    /// (the default) where device tensors go through host memory and the calls above.
    var deviceTensors: (any DeviceTensorCollectives)? { get }
}

extension Communicator {
    public var deviceTensors: (any DeviceTensorCollectives)? { nil }
    public var rank: Int { topology.rank }
    public var worldSize: Int { topology.worldSize }

    /// Averages `buffer` element-wise over all ranks, in place.
    public func allReduceMean(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduceSum(buffer)
        let scale = 1 / Float(worldSize)
        if worldSize > 1 { for i in buffer.indices { buffer[i] *= scale } }
    }

    /// Throws unless `receive.count == worldSize * send.count` (all-gather) or the reverse (reduce-scatter).
    func checkBlocks(_ call: String, block: Int, total: Int, blockName: String, totalName: String) throws {
        guard total == worldSize * block else {
            throw CollectivesError.badArguments(
                call, "\(totalName) holds \(total) elements but \(worldSize) ranks x \(block) (\(blockName)) = "
                    + "\(worldSize * block) were expected", rank: rank)
        }
    }

    /// Throws unless `root` is a rank of this world.
    func checkRoot(_ call: String, _ root: Int) throws {
        guard (0..<worldSize).contains(root) else {
            throw CollectivesError.badArguments(call, "root \(root) is not a rank of a world of \(worldSize)", rank: rank)
        }
    }
}
