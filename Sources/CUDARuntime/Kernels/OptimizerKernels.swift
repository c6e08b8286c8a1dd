#if canImport(Glibc)
import Glibc
#endif

/// Optimiser updates over the flat parameter, gradient and momentum buffers (fp32 master weights).
///
///     sgd_momentum_step(p, g, v, n, lr, momentum, wd, nesterov)   PyTorch SGD, as the CPU backend:
///         d = g + wd·p;  v = momentum·v + d;  p −= lr·(nesterov ? d + momentum·v : v)
///     lars_squared_norms(p, g, offsets, norms)     one block per tensor: norms[s] = (Σp², Σg²) in double
///     lars_step(p, g, v, offsets, adapted, lr_scale, norms, lr, momentum, wd, eta, eps, clip)
///         per tensor s (elements offsets[s] ..< offsets[s+1], learning rate lr_s = lr·lr_scale[s]),
///         solo-learn's LARS as Models/LARS.swift: r = η‖p‖/(‖g‖ + wd‖p‖ + ε), min(r/lr_s, 1) when clip;
///         d = r·(g + wd·p); a tensor not adapted (bias, BN) or with a zero norm gets r = 1 and no decay;
///         then v = momentum·v + d; p −= lr_s·v
///     lars_tensor_step(p, g, v, n, lr, momentum, wd, ratio)   one tensor, ratio from the host (the Backend's
///         per-tensor `larsStep`): d = ratio·(g + wd·p); v = momentum·v + d; p −= lr·v
///     ema_update(target, online, n, tau)           target = τ·target + (1 − τ)·online (BYOL, MoCo)
///     adamw_step(p, g, m, v, n, decay, gain1, keep2, gain2, step_size, inverse_correction2, eps)
///         PyTorch's AdamW as the CPU backend, with the step's constants formed on the host in double:
///         p *= decay; m += gain1·(g − m); v = keep2·v + gain2·g²; p −= step_size·m/(sqrt(v)·inverse_correction2 + eps)
///
/// `lars_squared_norms` launches with grid (tensor count), block 256; `lars_step` with grid
/// (chunks, tensor count), so each block knows its tensor without a search.
let optimizerKernels = KernelSource.family("optimizer", #"""
extern "C" __global__ void sgd_momentum_step(float* p, const float* g, float* v, long n, float lr, float momentum,
                                             float wd, int nesterov) {
    GRID_STRIDE_LOOP(i, n) {
        const float d = g[i] + wd * p[i];
        const float velocity = momentum * v[i] + d;
        v[i] = velocity;
        p[i] -= lr * (nesterov ? d + momentum * velocity : velocity);
    }
}

extern "C" __global__ void lars_squared_norms(const float* p, const float* g, const long* offsets, double* norms) {
    const int s = blockIdx.x;
    double pp = 0.0, gg = 0.0;
    for (long i = offsets[s] + threadIdx.x; i < offsets[s + 1]; i += blockDim.x) {
        pp += (double)p[i] * p[i];
        gg += (double)g[i] * g[i];
    }
    pp = block_sum(pp);
    gg = block_sum(gg);
    if (threadIdx.x == 0) { norms[2 * s] = pp; norms[2 * s + 1] = gg; }
}

extern "C" __global__ void lars_step(float* p, const float* g, float* v, const long* offsets, const int* adapted,
                                     const float* lr_scale, const double* norms, float base_lr, float momentum,
                                     float wd, float eta, float eps, int clip) {
    const int s = blockIdx.y;
    const float lr = base_lr * lr_scale[s];
    const double p_norm = sqrt(norms[2 * s]), g_norm = sqrt(norms[2 * s + 1]);
    float ratio = 1.0f, decay = 0.0f;
    if (adapted[s] && p_norm != 0.0 && g_norm != 0.0) {
        double r = (double)eta * p_norm / (g_norm + p_norm * (double)wd + (double)eps);
        if (clip) r = fmin(r / (double)lr, 1.0);
        ratio = (float)r;
        decay = wd;
    }
    for (long i = offsets[s] + (long)blockIdx.x * blockDim.x + threadIdx.x; i < offsets[s + 1];
         i += (long)gridDim.x * blockDim.x) {
        const float d = ratio * (g[i] + decay * p[i]);
        v[i] = momentum * v[i] + d;
        p[i] -= lr * v[i];
    }
}

extern "C" __global__ void lars_tensor_step(float* p, const float* g, float* v, long n, float lr, float momentum,
                                            float wd, float ratio) {
    GRID_STRIDE_LOOP(i, n) {
        v[i] = momentum * v[i] + ratio * (g[i] + wd * p[i]);
        p[i] -= lr * v[i];
    }
}

extern "C" __global__ void ema_update(float* target, const float* online, long n, float tau) {
    GRID_STRIDE_LOOP(i, n) target[i] = tau * target[i] + (1.0f - tau) * online[i];
}

extern "C" __global__ void adamw_step(float* p, const float* g, float* m, float* v, long n, float decay, float gain1,
                                      float keep2, float gain2, float step_size, float inverse_correction2, float eps) {
    GRID_STRIDE_LOOP(i, n) {
        p[i] *= decay;
        m[i] += gain1 * (g[i] - m[i]);
        v[i] = keep2 * v[i] + gain2 * g[i] * g[i];
        p[i] -= step_size * m[i] / (sqrtf(v[i]) * inverse_correction2 + eps);
    }
}
"""#, kernels: ["sgd_momentum_step", "lars_squared_norms", "lars_step", "lars_tensor_step", "ema_update", "adamw_step"],
   synchronizing: ["lars_squared_norms"])

/// How the backend launches the optimiser family over flat fp32 buffers (addresses are device pointers).
public enum OptimizerLaunch {
    public static func sgd(parameters: UInt64, gradients: UInt64, momentumBuffer: UInt64, count: Int,
                           learningRate: Float, momentum: Float, weightDecay: Float, nesterov: Bool) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch("sgd_momentum_step", grid: shape.grid, block: shape.block,
                            [.address(parameters), .address(gradients), .address(momentumBuffer), .long(count),
                             .float32(learningRate), .float32(momentum), .float32(weightDecay), .flag(nesterov)])
    }

    /// LARS over `tensorCount` tensors: `offsets` holds `tensorCount + 1` longs (tensor s is elements
    /// `offsets[s] ..< offsets[s+1]`), `adapted` one int per tensor, `learningRateScales` one float per
    /// tensor (its rate is `learningRate` times it), `norms` 2 doubles per tensor (scratch);
    /// `largestTensor` sizes the step's grid.
    public static func lars(parameters: UInt64, gradients: UInt64, momentumBuffer: UInt64, offsets: UInt64,
                            adapted: UInt64, learningRateScales: UInt64, norms: UInt64, tensorCount: Int,
                            largestTensor: Int, learningRate: Float,
                            momentum: Float, weightDecay: Float, trustCoefficient: Float, epsilon: Float,
                            clipLearningRate: Bool) -> [KernelLaunch] {
        let chunks = min(max((largestTensor + 255) / 256, 1), 1024)
        return [
            KernelLaunch("lars_squared_norms", grid: LaunchDimensions(tensorCount), block: LaunchDimensions(256),
                         [.address(parameters), .address(gradients), .address(offsets), .address(norms)]),
            KernelLaunch("lars_step", grid: LaunchDimensions(chunks, tensorCount), block: LaunchDimensions(256),
                         [.address(parameters), .address(gradients), .address(momentumBuffer), .address(offsets),
                          .address(adapted), .address(learningRateScales), .address(norms), .float32(learningRate),
                          .float32(momentum),
                          .float32(weightDecay), .float32(trustCoefficient), .float32(epsilon),
                          .flag(clipLearningRate)]),
        ]
    }

    /// LARS on one tensor with the trust ratio the caller computed (`Backend.larsStep`).
    public static func larsTensor(parameters: UInt64, gradients: UInt64, momentumBuffer: UInt64, count: Int,
                                  learningRate: Float, momentum: Float, weightDecay: Float, trustRatio: Float) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch("lars_tensor_step", grid: shape.grid, block: shape.block,
                            [.address(parameters), .address(gradients), .address(momentumBuffer), .long(count),
                             .float32(learningRate), .float32(momentum), .float32(weightDecay), .float32(trustRatio)])
    }

    /// AdamW step `step` (from 1); the constants are formed in double as the CPU backend's (PyTorch forms
    /// 1 − β and the bias corrections on Python floats).
    public static func adamw(parameters: UInt64, gradients: UInt64, firstMoment: UInt64, secondMoment: UInt64, count: Int,
                             learningRate: Float, beta1: Double, beta2: Double, epsilon: Float, weightDecay: Float,
                             step: Int) -> KernelLaunch {
        precondition(step >= 1, "AdamW steps count from 1")
        let stepSize = Float(Double(learningRate) / (1 - pow(beta1, Double(step))))
        let inverseCorrection2 = Float(1 / (1 - pow(beta2, Double(step))).squareRoot())
        let decay = Float(1 - Double(learningRate) * Double(weightDecay))
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch("adamw_step", grid: shape.grid, block: shape.block,
                            [.address(parameters), .address(gradients), .address(firstMoment), .address(secondMoment),
                             .long(count), .float32(decay), .float32(Float(1 - beta1)), .float32(Float(beta2)),
                             .float32(Float(1 - beta2)), .float32(stepSize), .float32(inverseCorrection2),
                             .float32(epsilon)])
    }

    public static func ema(target: UInt64, online: UInt64, count: Int, tau: Float) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch("ema_update", grid: shape.grid, block: shape.block,
                            [.address(target), .address(online), .long(count), .float32(tau)])
    }
}
