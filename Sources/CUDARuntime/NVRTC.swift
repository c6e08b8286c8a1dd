import CCUDA

/// NVRTC, the run-time CUDA C++ compiler (`libnvrtc.so.13` / `.12`), resolved once per process on first use.
///
/// `@unchecked Sendable`: set once in `init`, never changed; the library stays open (the table keeps it).
/// NVRTC's functions are thread-safe for distinct programs.
public final class NVRTC: @unchecked Sendable {
    public let library: DynamicLibrary
    public let getErrorString: PFN_nvrtcGetErrorString
    public let version: PFN_nvrtcVersion
    public let createProgram: PFN_nvrtcCreateProgram
    public let destroyProgram: PFN_nvrtcDestroyProgram
    public let compileProgram: PFN_nvrtcCompileProgram
    public let getProgramLogSize: PFN_nvrtcGetProgramLogSize
    public let getProgramLog: PFN_nvrtcGetProgramLog
    public let getPTXSize: PFN_nvrtcGetPTXSize
    public let getPTX: PFN_nvrtcGetPTX
    public let getCUBINSize: PFN_nvrtcGetCUBINSize
    public let getCUBIN: PFN_nvrtcGetCUBIN

    public init(library: DynamicLibrary) throws {
        self.library = library
        getErrorString = try library.function("nvrtcGetErrorString")
        version = try library.function("nvrtcVersion")
        createProgram = try library.function("nvrtcCreateProgram")
        destroyProgram = try library.function("nvrtcDestroyProgram")
        compileProgram = try library.function("nvrtcCompileProgram")
        getProgramLogSize = try library.function("nvrtcGetProgramLogSize")
        getProgramLog = try library.function("nvrtcGetProgramLog")
        getPTXSize = try library.function("nvrtcGetPTXSize")
        getPTX = try library.function("nvrtcGetPTX")
        getCUBINSize = try library.function("nvrtcGetCUBINSize")
        getCUBIN = try library.function("nvrtcGetCUBIN")
    }

    /// The process's NVRTC table; the first call opens the library, later calls return it or the same error.
    public static func shared() throws -> NVRTC { try sharedNVRTC.get() }

    /// `(major, minor)`, e.g. (13, 5).
    public func versionNumbers() throws -> (major: Int, minor: Int) {
        var major: Int32 = 0, minor: Int32 = 0
        try check(version(&major, &minor), "nvrtcVersion")
        return (Int(major), Int(minor))
    }

    /// Throws a `GPUCallError` with `nvrtcGetErrorString`'s text (and `log`, NVRTC's program log, when
    /// given) unless `result` is `NVRTC_SUCCESS`.
    public func check(_ result: nvrtcResult, _ call: @autoclosure () -> String, log: String? = nil) throws {
        guard result != NVRTC_SUCCESS else { return }
        let message = getErrorString(result).map { String(cString: $0) } ?? "unknown nvrtcResult"
        throw GPUCallError(library: "NVRTC", call: call(), code: Int(result.rawValue), message: message,
                           hint: log.map { "NVRTC's log:\n" + $0 })
    }
}

private let sharedNVRTC = Result { try NVRTC(library: DynamicLibrary.open(.nvrtc, search: .process)) }
