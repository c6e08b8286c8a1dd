import CCUDA

/// NCCL (`libnccl.so.2`), resolved once per process on first use.
///
/// `@unchecked Sendable`: set once in `init`, never changed; the library stays open (the table keeps it).
public final class NCCL: @unchecked Sendable {
    public let library: DynamicLibrary
    public let getErrorString: PFN_ncclGetErrorString
    public let getVersion: PFN_ncclGetVersion
    public let getUniqueId: PFN_ncclGetUniqueId
    public let commInitRank: PFN_ncclCommInitRank
    public let commDestroy: PFN_ncclCommDestroy
    public let commAbort: PFN_ncclCommAbort
    public let commGetAsyncError: PFN_ncclCommGetAsyncError
    public let allReduce: PFN_ncclAllReduce
    public let allGather: PFN_ncclAllGather
    public let reduceScatter: PFN_ncclReduceScatter

    public init(library: DynamicLibrary) throws {
        self.library = library
        getErrorString = try library.function("ncclGetErrorString")
        getVersion = try library.function("ncclGetVersion")
        getUniqueId = try library.function("ncclGetUniqueId")
        commInitRank = try library.function("ncclCommInitRank")
        commDestroy = try library.function("ncclCommDestroy")
        commAbort = try library.function("ncclCommAbort")
        commGetAsyncError = try library.function("ncclCommGetAsyncError")
        allReduce = try library.function("ncclAllReduce")
        allGather = try library.function("ncclAllGather")
        reduceScatter = try library.function("ncclReduceScatter")
    }

    /// The process's NCCL table; the first call opens the library, later calls return it or the same error.
    public static func shared() throws -> NCCL { try sharedNCCL.get() }

    /// Throws a `GPUCallError` with `ncclGetErrorString`'s text unless `result` is `ncclSuccess`.
    /// `rank` goes into the message, because NCCL errors are read on every rank's log.
    public func check(_ result: ncclResult_t, _ call: @autoclosure () -> String, rank: Int? = nil) throws {
        guard result != ncclSuccess else { return }
        let message = getErrorString(result).map { String(cString: $0) } ?? "unknown ncclResult_t"
        throw GPUCallError(library: "NCCL", call: call() + (rank.map { " on rank \($0)" } ?? ""),
                           code: Int(result.rawValue), message: message,
                           hint: "Set NCCL_DEBUG=WARN (or INFO) to see NCCL's own explanation.")
    }
}

private let sharedNCCL = Result { try NCCL(library: DynamicLibrary.open(.nccl, search: .process)) }
