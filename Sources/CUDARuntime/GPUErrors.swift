/// A GPU library that could not be opened: which one, every place looked in and what happened there,
/// and what to do.
public struct LibraryNotFound: Error, CustomStringConvertible {
    public struct Attempt: Sendable, Equatable {
        public let place: SearchPlace
        public let outcome: String
    }

    public let library: GPULibrary
    public let attempts: [Attempt]
    /// The pip folder patterns that were scanned (those that exist appear in `attempts`).
    public let scannedPatterns: [String]

    public var description: String {
        var text = "the \(library.name) library (\(library.sonames.joined(separator: " or "))) was not found. Looked in:\n"
        for attempt in attempts { text += "  \(attempt.place): \(attempt.outcome)\n" }
        text += "  pip's NVIDIA wheels in: " + scannedPatterns.joined(separator: ", ") + "\n"
        return text + "To fix: " + library.remedy
    }
}

/// A failed call into a GPU library: the call, the library's own code and message, and a hint.
public struct GPUCallError: Error, CustomStringConvertible {
    /// "CUDA driver", "NVRTC", "cuBLAS", "NCCL".
    public let library: String
    /// The function called, e.g. "cuMemAlloc(268435456 bytes)".
    public let call: String
    /// The library's result code, when there is one.
    public let code: Int?
    /// The library's own text for the code (cuGetErrorName + cuGetErrorString, nvrtcGetErrorString, ...).
    public let message: String
    /// What to do, or extra detail (NVRTC's program log).
    public let hint: String?

    public var description: String {
        var text = "\(library): \(call) failed"
        if let code { text += " with code \(code)" }
        text += ": \(message)"
        if let hint, !hint.isEmpty { text += "\n" + hint }
        return text
    }
}
