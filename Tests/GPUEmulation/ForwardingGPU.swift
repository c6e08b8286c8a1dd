import CUDARuntime

/// An `EmulatedGPU` behind a class that tests subclass to change one thing (usually a GEMM) and keep
/// everything else: every `GPUDevice` call goes to `inner` unless overridden.
open class ForwardingGPU: GPUDevice, @unchecked Sendable {
    public let inner = EmulatedGPU()
    public init() {}
    public var index: Int { inner.index }
    public func allocate(bytes: Int) throws -> UInt64 { try inner.allocate(bytes: bytes) }
    public func free(_ address: UInt64) { inner.free(address) }
    public func upload(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws {
        try inner.upload(source, to: address, bytes: bytes)
    }
    public func download(_ address: UInt64, to destination: UnsafeMutableRawPointer, bytes: Int) throws {
        try inner.download(address, to: destination, bytes: bytes)
    }
    public func launch(_ launch: KernelLaunch) throws { try inner.launch(launch) }
    public func synchronize() throws { try inner.synchronize() }
    open func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UInt64,
                               lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        try inner.sgemmColumnMajor(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                   a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    open func bf16GemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UInt64,
                                  lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        try inner.bf16GemmColumnMajor(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}
