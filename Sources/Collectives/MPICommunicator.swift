import CMPI
import Synchronization

/// Collectives over `MPI_COMM_WORLD` (Open MPI 4.1 or any MPI-3 library), on host buffers.
///
/// Created once per process, by `Distributed.start()` when a launcher started more than one rank.
/// MPI is finalized only by an explicit `finalize()`, never in `deinit`: a rank that unwinds from an error
/// must be free to exit (so `mpirun` ends the job) instead of waiting in `MPI_Finalize` for ranks that wait for it.
/// MPI is started with `MPI_THREAD_MULTIPLE` when the library offers it: then `duplicate()` gives a second
/// communicator over the same ranks whose calls may run on another thread at the same time as this one's
/// (the gradient all-reduce thread). Each communicator's own calls come from one thread at a time.
public final class MPICommunicator: Communicator {
    public let topology: Topology
    /// The thread level MPI granted (`MPI_THREAD_SINGLE` 0 ... `MPI_THREAD_MULTIPLE` 3).
    public let threadLevel: Int
    /// Buffers longer than this go to MPI in pieces (MPI counts are 32-bit). Tests set it small.
    public let maxElementsPerCall: Int
    private let finalized = Atomic<Bool>(false)
    /// The MPI communicator: `MPI_COMM_WORLD`, or a duplicate of it. An opaque handle MPI owns; it is
    /// only passed back to MPI, never dereferenced, so sharing it between threads is MPI's business.
    nonisolated(unsafe) let comm: MPI_Comm?
    /// Whether this is a duplicate (it frees its handle in `finalize`) rather than the world.
    private let isDuplicate: Bool

    /// Starts MPI (unless already started) and checks that MPI agrees with the launcher's `expected` topology.
    public init(expected: Topology = .fromProcessEnvironment(), maxElementsPerCall: Int = Int(Int32.max)) throws {
        precondition((1...Int(Int32.max)).contains(maxElementsPerCall), "maxElementsPerCall must be in 1...Int32.max")
        let rank = expected.rank
        let startHint = "Start the job with the mpirun of the MPI this binary links (Open MPI 4.1: 'mpirun --version')."
        var flag: Int32 = 0
        try mpiCheck(MPI_Finalized(&flag), "MPI_Finalized", rank: rank, hint: startHint)
        guard flag == 0 else {
            throw CollectivesError(call: "MPI_Init_thread", message: "MPI was already finalized in this process",
                                   rank: rank, hint: "Create one communicator per process and finalize it at the end.")
        }
        try mpiCheck(MPI_Initialized(&flag), "MPI_Initialized", rank: rank, hint: startHint)
        var provided = disttrain_mpi_thread_serialized()
        if flag == 0 {
            try mpiCheck(MPI_Init_thread(nil, nil, disttrain_mpi_thread_multiple(), &provided),
                         "MPI_Init_thread", rank: rank, hint: startHint)
        } else {
            try mpiCheck(MPI_Query_thread(&provided), "MPI_Query_thread", rank: rank, hint: startHint)
        }
        let world = disttrain_mpi_comm_world()
        try mpiCheck(MPI_Comm_set_errhandler(world, disttrain_mpi_errors_return()), "MPI_Comm_set_errhandler", rank: rank)
        var mpiRank: Int32 = 0, mpiSize: Int32 = 0
        try mpiCheck(MPI_Comm_rank(world, &mpiRank), "MPI_Comm_rank", rank: rank)
        try mpiCheck(MPI_Comm_size(world, &mpiSize), "MPI_Comm_size", rank: rank)
        guard Int(mpiRank) == expected.rank, Int(mpiSize) == expected.worldSize else {
            let source = expected.launcher?.rawValue ?? "the environment"
            throw CollectivesError(
                call: "MPI_Comm_size",
                message: "\(source) says rank \(expected.rank) of world size \(expected.worldSize), "
                    + "but MPI says rank \(mpiRank) of world size \(mpiSize)",
                rank: rank,
                hint: "The launcher and the MPI library disagree: use the mpirun/srun --mpi=pmix that matches "
                    + "the linked MPI, and do not set OMPI_*/PMI_* variables by hand.")
        }
        self.topology = expected
        self.threadLevel = Int(provided)
        self.maxElementsPerCall = maxElementsPerCall
        comm = world
        isDuplicate = false
    }

    private init(duplicateOf parent: MPICommunicator, comm: MPI_Comm?) {
        topology = parent.topology
        threadLevel = parent.threadLevel
        maxElementsPerCall = parent.maxElementsPerCall
        self.comm = comm
        isDuplicate = true
    }

    /// Whether calls on two communicators may run on two threads at once (`MPI_THREAD_MULTIPLE`).
    public var allowsConcurrentCommunicators: Bool { threadLevel >= Int(disttrain_mpi_thread_multiple()) }

    /// A new communicator over the same ranks (`MPI_Comm_dup`, collective: every rank calls it), whose
    /// collectives never match this one's. Finalize it before finalizing the world.
    public func duplicate() throws -> MPICommunicator {
        try ensureActive("duplicate")
        var copy: MPI_Comm? = nil
        try mpiCheck(MPI_Comm_dup(comm, &copy), "MPI_Comm_dup", rank: rank)
        try mpiCheck(MPI_Comm_set_errhandler(copy, disttrain_mpi_errors_return()), "MPI_Comm_set_errhandler", rank: rank)
        return MPICommunicator(duplicateOf: self, comm: copy)
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                      elementSize: MemoryLayout<Float>.stride, type: disttrain_mpi_float(), op: disttrain_mpi_sum())
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                      elementSize: MemoryLayout<Double>.stride, type: disttrain_mpi_double(), op: disttrain_mpi_sum())
    }

    public func allReduceMax(_ value: Double) throws -> Double {
        var result = value
        try allReduce(&result, count: 1, elementSize: MemoryLayout<Double>.stride,
                      type: disttrain_mpi_double(), op: disttrain_mpi_max())
        return result
    }

    public func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {
        try ensureActive("allGather")
        try checkBlocks("allGather", block: send.count, total: receive.count, blockName: "send", totalName: "receive")
        guard let source = send.baseAddress, let target = receive.baseAddress else { return }
        let float = disttrain_mpi_float(), world = comm
        let n = send.count
        if receive.count <= maxElementsPerCall {
            return try mpiCheck(MPI_Allgather(source, Int32(n), float, target, Int32(n), float, world),
                                "MPI_Allgather", rank: rank)
        }
        // In pieces: gather elements [offset, offset + length) of every rank into scratch, then place each rank's piece.
        let piece = max(1, maxElementsPerCall / worldSize)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: worldSize * piece)
        defer { scratch.deallocate() }
        try forEachPiece(of: n, pieceSize: piece) { offset, length in
            try mpiCheck(MPI_Allgather(source + offset, Int32(length), float, scratch, Int32(length), float, world),
                         "MPI_Allgather", rank: rank)
            for r in 0..<worldSize { (target + r * n + offset).update(from: scratch + r * length, count: length) }
        }
    }

    public func gather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>,
                       root: Int) throws {
        try ensureActive("gather")
        try checkRoot("gather", root)
        let isRoot = rank == root
        if isRoot {
            try checkBlocks("gather", block: send.count, total: receive.count, blockName: "send", totalName: "receive")
        }
        guard let source = send.baseAddress else { return }
        let float = disttrain_mpi_float(), n = send.count
        if worldSize * n <= maxElementsPerCall {
            return try mpiCheck(MPI_Gather(source, Int32(n), float, isRoot ? receive.baseAddress : nil, Int32(n), float,
                                           Int32(root), comm), "MPI_Gather", rank: rank)
        }
        // In pieces, as allGather: gather elements [offset, offset + length) of every rank, then place them.
        let piece = max(1, maxElementsPerCall / worldSize)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: worldSize * piece)
        defer { scratch.deallocate() }
        try forEachPiece(of: n, pieceSize: piece) { offset, length in
            try mpiCheck(MPI_Gather(source + offset, Int32(length), float, scratch, Int32(length), float, Int32(root), comm),
                         "MPI_Gather", rank: rank)
            if isRoot, let target = receive.baseAddress {
                for r in 0..<worldSize { (target + r * n + offset).update(from: scratch + r * length, count: length) }
            }
        }
    }

    public func reduceScatterSum(_ send: UnsafeBufferPointer<Float>,
                                 into receive: UnsafeMutableBufferPointer<Float>) throws {
        try ensureActive("reduceScatterSum")
        try checkBlocks("reduceScatterSum", block: receive.count, total: send.count,
                        blockName: "receive", totalName: "send")
        guard let source = send.baseAddress, let target = receive.baseAddress else { return }
        let float = disttrain_mpi_float(), sum = disttrain_mpi_sum(), world = comm
        let n = receive.count
        if send.count <= maxElementsPerCall {
            return try mpiCheck(MPI_Reduce_scatter_block(source, target, Int32(n), float, sum, world),
                                "MPI_Reduce_scatter_block", rank: rank)
        }
        // In pieces: pack elements [offset, offset + length) of every block into scratch, then reduce-scatter that.
        let piece = max(1, maxElementsPerCall / worldSize)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: worldSize * piece)
        defer { scratch.deallocate() }
        try forEachPiece(of: n, pieceSize: piece) { offset, length in
            for r in 0..<worldSize { (scratch + r * length).update(from: source + r * n + offset, count: length) }
            try mpiCheck(MPI_Reduce_scatter_block(scratch, target + offset, Int32(length), float, sum, world),
                         "MPI_Reduce_scatter_block", rank: rank)
        }
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        try broadcast(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                      elementSize: MemoryLayout<Float>.stride, type: disttrain_mpi_float(), root: root)
    }

    public func broadcastBytes(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try broadcast(buffer.baseAddress, count: buffer.count, elementSize: 1, type: disttrain_mpi_byte(), root: root)
    }

    public func barrier() throws {
        try ensureActive("barrier")
        try mpiCheck(MPI_Barrier(comm), "MPI_Barrier", rank: rank)
    }

    public func finalize() throws {
        guard !finalized.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if isDuplicate {
            var handle = comm
            return try mpiCheck(MPI_Comm_free(&handle), "MPI_Comm_free", rank: rank)
        }
        var done: Int32 = 0
        try mpiCheck(MPI_Finalized(&done), "MPI_Finalized", rank: rank)
        if done == 0 { try mpiCheck(MPI_Finalize(), "MPI_Finalize", rank: rank) }
    }

    /// In-place all-reduce (`MPI_IN_PLACE`) of `count` elements, in pieces of at most `maxElementsPerCall`.
    private func allReduce(_ base: UnsafeMutableRawPointer?, count: Int, elementSize: Int,
                           type: MPI_Datatype, op: MPI_Op) throws {
        try ensureActive("allReduce")
        guard let base else { return }
        try forEachPiece(of: count, pieceSize: maxElementsPerCall) { offset, length in
            try mpiCheck(MPI_Allreduce(disttrain_mpi_in_place(), base + offset * elementSize, Int32(length), type, op,
                                       comm), "MPI_Allreduce", rank: rank)
        }
    }

    private func broadcast(_ base: UnsafeMutableRawPointer?, count: Int, elementSize: Int,
                           type: MPI_Datatype, root: Int) throws {
        try ensureActive("broadcast")
        try checkRoot("broadcast", root)
        guard let base else { return }
        try forEachPiece(of: count, pieceSize: maxElementsPerCall) { offset, length in
            try mpiCheck(MPI_Bcast(base + offset * elementSize, Int32(length), type, Int32(root),
                                   comm), "MPI_Bcast", rank: rank)
        }
    }

    private func ensureActive(_ call: String) throws {
        guard !finalized.load(ordering: .acquiring) else {
            throw CollectivesError(call: call, message: "the communicator was already finalized", rank: rank,
                                   hint: "Call finalize() once, after the last collective.")
        }
    }
}

/// Calls `body(offset, length)` for consecutive pieces of `0..<count`, each at most `pieceSize` long.
func forEachPiece(of count: Int, pieceSize: Int, _ body: (_ offset: Int, _ length: Int) throws -> Void) rethrows {
    var offset = 0
    while offset < count {
        let length = min(pieceSize, count - offset)
        try body(offset, length)
        offset += length
    }
}
