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
    public func allocatePinned(bytes: Int) throws -> UnsafeMutableRawPointer { try inner.allocatePinned(bytes: bytes) }
    open func freePinned(_ pointer: UnsafeMutableRawPointer) { inner.freePinned(pointer) }
    open func uploadOnCopyStream(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws {
        try inner.uploadOnCopyStream(source, to: address, bytes: bytes)
    }
    public func makeEvent() throws -> GPUEvent { try inner.makeEvent() }
    public func destroy(_ event: GPUEvent) { inner.destroy(event) }
    open func record(_ event: GPUEvent, on stream: GPUStream) throws { try inner.record(event, on: stream) }
    open func wait(_ stream: GPUStream, for event: GPUEvent) throws { try inner.wait(stream, for: event) }
    open func synchronize(_ event: GPUEvent) throws { try inner.synchronize(event) }
}
