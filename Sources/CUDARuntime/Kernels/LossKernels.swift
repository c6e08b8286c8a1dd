/// Softmax cross-entropy over logits `[B, K]` (fp32: losses are computed in fp32 whatever the precision),
/// forward and backward in one pass, one block per row (block of 32·k threads):
///
///     softmax_cross_entropy(logits [B, K], labels [B], losses [B], grad [B, K], K, grad_scale)
///         losses[b] = log Σ_k exp(z_bk) − z_b,label      (max-shifted)
///         grad[b, k] = grad_scale · (softmax(z_b)_k − [k == label])
///
/// A row labelled −1 (unlabelled) gets loss 0 and gradient 0. The mean loss is Σ losses / labelled rows,
/// and grad_scale is 1 / labelled rows for that mean (the caller knows the count from the host labels).
let lossKernels = KernelSource.family("loss", #"""
extern "C" __global__ void softmax_cross_entropy(const float* logits, const int* labels, float* losses, float* grad,
                                                 int K, float grad_scale) {
    const long b = blockIdx.x;
    const float* z = logits + b * K;
    float* dz = grad + b * K;
    const int label = labels[b];
    if (label < 0) {
        for (int k = threadIdx.x; k < K; k += blockDim.x) dz[k] = 0.0f;
        if (threadIdx.x == 0) losses[b] = 0.0f;
        return;
    }
    float m = __int_as_float(0xff800000);  // -infinity
    for (int k = threadIdx.x; k < K; k += blockDim.x) m = fmaxf(m, z[k]);
    m = block_max(m);
    float sum = 0.0f;
    for (int k = threadIdx.x; k < K; k += blockDim.x) sum += expf(z[k] - m);
    sum = block_sum(sum);
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        dz[k] = grad_scale * (expf(z[k] - m) / sum - (k == label ? 1.0f : 0.0f));
    }
    if (threadIdx.x == 0) losses[b] = logf(sum) + m - z[label];
}
"""#, kernels: ["softmax_cross_entropy"], synchronizing: ["softmax_cross_entropy"])

/// How the backend launches the loss family (addresses are device pointers).
public enum LossLaunch {
    /// One block per row, 32·k threads covering the classes (at most 256).
    public static func softmaxCrossEntropy(logits: UInt64, labels: UInt64, losses: UInt64, gradLogits: UInt64,
                                           rows: Int, classes: Int, gradScale: Float) -> KernelLaunch {
        let threads = min(max((classes + 31) / 32 * 32, 32), 256)
        return KernelLaunch("softmax_cross_entropy", grid: LaunchDimensions(rows), block: LaunchDimensions(threads),
                            [.address(logits), .address(labels), .address(losses), .address(gradLogits),
                             .int(classes), .float32(gradScale)])
    }
}
