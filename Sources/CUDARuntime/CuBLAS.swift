import CCUDA

/// cuBLAS and cuBLASLt (`libcublas.so.13` / `.12` and `libcublasLt.so.13` / `.12`), resolved once per
/// process on first use. cuBLASLt is opened first: libcublas needs it, and opening it from the same
/// folder makes sure the pair matches.
///
/// `@unchecked Sendable`: set once in `init`, never changed; both libraries stay open (the table keeps them).
public final class CuBLAS: @unchecked Sendable {
    public let library: DynamicLibrary
    public let lightLibrary: DynamicLibrary
    public let getStatusString: PFN_cublasGetStatusString
    public let create: PFN_cublasCreate
    public let destroy: PFN_cublasDestroy
    public let setStream: PFN_cublasSetStream
    public let setMathMode: PFN_cublasSetMathMode
    public let sgemmStridedBatched: PFN_cublasSgemmStridedBatched
    public let gemmEx: PFN_cublasGemmEx
    public let ltCreate: PFN_cublasLtCreate
    public let ltDestroy: PFN_cublasLtDestroy
    public let ltGetVersion: PFN_cublasLtGetVersion

    public init(library: DynamicLibrary, lightLibrary: DynamicLibrary) throws {
        self.library = library
        self.lightLibrary = lightLibrary
        getStatusString = try library.function("cublasGetStatusString")
        create = try library.function("cublasCreate_v2")
        destroy = try library.function("cublasDestroy_v2")
        setStream = try library.function("cublasSetStream_v2")
        setMathMode = try library.function("cublasSetMathMode")
        sgemmStridedBatched = try library.function("cublasSgemmStridedBatched")
        gemmEx = try library.function("cublasGemmEx")
        ltCreate = try lightLibrary.function("cublasLtCreate")
        ltDestroy = try lightLibrary.function("cublasLtDestroy")
        ltGetVersion = try lightLibrary.function("cublasLtGetVersion")
    }

    /// Opens cuBLASLt, then cuBLAS, from `search`.
    public convenience init(search: LibrarySearch) throws {
        let light = try DynamicLibrary.open(.cublasLt, search: search)
        try self.init(library: DynamicLibrary.open(.cublas, search: search), lightLibrary: light)
    }

    /// The process's cuBLAS table; the first call opens the libraries, later calls return it or the same error.
    public static func shared() throws -> CuBLAS { try sharedCuBLAS.get() }

    /// Throws a `GPUCallError` with `cublasGetStatusString`'s text unless `status` is `CUBLAS_STATUS_SUCCESS`.
    public func check(_ status: cublasStatus_t, _ call: @autoclosure () -> String) throws {
        guard status != CUBLAS_STATUS_SUCCESS else { return }
        let message = getStatusString(status).map { String(cString: $0) } ?? "unknown cublasStatus_t"
        throw GPUCallError(library: "cuBLAS", call: call(), code: Int(status.rawValue), message: message, hint: nil)
    }
}

private let sharedCuBLAS = Result { try CuBLAS(search: .process) }
