/// `--precision`: what `CUDABackend`'s GEMMs (every convolution and linear layer) multiply.
///
/// - `fp32`: fp32 operands, fp32 accumulation, TF32 off: the reference the equivalence checks use.
/// - `bf16`: each GEMM's two operands are rounded to bf16 (round to nearest even) and multiplied on the
///   tensor cores with fp32 accumulation into an fp32 result (`cublasGemmEx`, CUBLAS_COMPUTE_32F), as
///   PyTorch's bf16 autocast does for convolutions and linear layers. Activations, gradients, master
///   weights, batch norm, the optimiser and the losses stay fp32; storing activations in bf16 (half the
///   memory traffic) is not done yet.
public enum Precision: String, CaseIterable, Sendable {
    case fp32, bf16
}
