/// What `CUDABackend` needs from a GPU: device memory, copies, kernel launches and cuBLAS's column-major
/// single-precision GEMM, all in stream order. The CUDA driver implements it on a GPU; the tests implement
/// it on the CPU (host memory, the kernel emulator, a plain loop for the GEMM), so every line of the
/// backend above this protocol runs in CI.
///
/// Addresses are `CUdeviceptr`s (`UInt64`). Errors are thrown with the library's own message.
public protocol GPUDevice: KernelLauncher, AnyObject, Sendable {
    /// The CUDA ordinal this device stands for (`Device.cuda(index)`).
    var index: Int { get }
    func allocate(bytes: Int) throws -> UInt64
    func free(_ address: UInt64)
    func upload(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws
    func download(_ address: UInt64, to destination: UnsafeMutableRawPointer, bytes: Int) throws
    /// cuBLAS's `sgemm` in column-major terms: `C = alpha·op(A)·op(B) + beta·C`, `op(A)` is `m×k`, `op(B)` is
    /// `k×n`, `C` is `m×n` with leading dimension `ldc`; fp32 accumulation (TF32 off).
    func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                          a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws
    /// The same GEMM with bf16 `A` and `B` (CUDA_R_16BF) and an fp32 `C`, products accumulated in fp32
    /// (`cublasGemmEx`, CUBLAS_COMPUTE_32F: tensor cores): the GEMMs of `--precision bf16`.
    func bf16GemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws
    /// Waits until everything queued so far on the compute stream has finished.
    func synchronize() throws

    // MARK: Streams beside the compute stream (`PinnedBatchUploader`, `DeviceCommunicator`)
    //
    // Everything above runs on the compute stream, and the synchronous copies (`upload`, `download`) are
    // ordered with it. The copy and collectives streams are not: they run beside it (CU_STREAM_NON_BLOCKING),
    // so work on one that uses memory another touched must be ordered by an event, as in CUDA.

    /// Page-locked host memory (`cuMemAllocHost`), which an asynchronous copy reads while the host runs on.
    func allocatePinned(bytes: Int) throws -> UnsafeMutableRawPointer
    func freePinned(_ pointer: UnsafeMutableRawPointer)
    /// Queues a copy of `bytes` from pinned host memory to `address` on the copy stream.
    func uploadOnCopyStream(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws
    /// A new event (`cuEventCreate`, no timing); freed with `destroy`.
    func makeEvent() throws -> GPUEvent
    func destroy(_ event: GPUEvent)
    /// Records `event` on `stream`: it completes once everything queued there before it has.
    func record(_ event: GPUEvent, on stream: GPUStream) throws
    /// Makes `stream` wait, on the device, for `event`'s last recording before it runs what comes after.
    func wait(_ stream: GPUStream, for event: GPUEvent) throws
    /// Blocks the host until `event`'s last recording has completed.
    func synchronize(_ event: GPUEvent) throws
}

/// The device's streams: the compute stream (kernels, GEMMs, the synchronous copies), the copy stream
/// (host-to-device batch uploads) and the collectives stream (NCCL).
public enum GPUStream: String, Sendable, CaseIterable {
    case compute, copy, collectives
}

/// A CUDA event, by the number its device gave it.
public struct GPUEvent: Hashable, Sendable {
    public let id: Int
    public init(id: Int) { self.id = id }
}
