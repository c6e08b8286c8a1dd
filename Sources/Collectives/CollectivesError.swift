/// A failed collective operation: which call, what the library said, on which rank, and what to do about it.
public struct CollectivesError: Error, CustomStringConvertible {
    /// The MPI function (`MPI_Allreduce`) or communicator method (`allGather`) that failed.
    public let call: String
    /// The library's own message (`MPI_Error_string`) or what was wrong with the arguments.
    public let message: String
    /// The rank that saw the failure.
    public let rank: Int
    /// What the user can do about it.
    public let hint: String

    public init(call: String, message: String, rank: Int, hint: String) {
        self.call = call
        self.message = message
        self.rank = rank
        self.hint = hint
    }

    public var description: String { "rank \(rank): \(call) failed: \(message). \(hint)" }

    /// A caller passed buffers or a root that do not fit the operation (a bug in the calling code).
    public static func badArguments(_ call: String, _ message: String, rank: Int) -> CollectivesError {
        CollectivesError(call: call, message: message, rank: rank,
                         hint: "Every rank must call the same collective with matching sizes; this is a bug in the caller.")
    }
}
