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
    /// Waits until everything queued so far has finished.
    func synchronize() throws
}
