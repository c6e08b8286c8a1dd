/// Every kernel family the CUDA backend will compile with NVRTC (at first use, for the GPU's own
/// architecture). CI compiles each of them for sm_80 and sm_90 (`KernelCompileTests`).
public enum KernelLibrary {
    public static let all: [KernelSource] = [
        activationKernels, batchNormKernels, optimizerKernels, lossKernels, im2colKernels, elementwiseKernels,
        poolingKernels, rowKernels,
    ]
}
