import Engine

/// Max pooling (PyTorch semantics: padding is −∞, the gradient goes to the first maximal input of a
/// window in row-major order) and global average pooling, NHWC, fp32 or bf16 storage:
///
///     max_pool_forward_T(x [N,H,W,C], y [N,OH,OW,C], N, H, W, C, K, stride, padding, OH, OW)
///     max_pool_backward_T(x, y, dy [N,OH,OW,C], dx [N,H,W,C], same sizes)     dx overwritten
///     global_avg_pool_forward_T(x [N, P, C], y [N, C], N, P, C)                y = mean over the P pixels
///     global_avg_pool_backward_T(dy [N, C], dx [N, P, C], N, P, C)             dx = dy / P
///
/// The max-pool backward gathers instead of scattering: one thread per input element visits the windows
/// that contain it and takes a window's gradient when it is that window's first maximum. Overlapping
/// windows then need no atomics, the sum is deterministic, and bf16 works as fp32 does.
let poolingKernels = KernelSource.family("pooling", #"""
#define POOL_ARGS int N, int H, int W, int C, int K, int stride, int padding, int OH, int OW

template <typename T> __device__ void max_pool_forward(const T* x, T* y, POOL_ARGS) {
    GRID_STRIDE_LOOP(i, (long)N * OH * OW * C) {
        const int c = (int)(i % C), ow = (int)((i / C) % OW), oh = (int)((i / ((long)C * OW)) % OH);
        const int n = (int)(i / ((long)C * OW * OH));
        float m = __int_as_float(0xff800000);  // -infinity
        for (int kh = 0; kh < K; kh++) {
            const int ih = oh * stride - padding + kh;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < K; kw++) {
                const int iw = ow * stride - padding + kw;
                if (iw < 0 || iw >= W) continue;
                m = fmaxf(m, to_float(x[(((long)n * H + ih) * W + iw) * C + c]));
            }
        }
        y[i] = from_float<T>(m);
    }
}

// Whether input (ih, iw) is the first position of window (oh, ow) whose value equals the window's max.
template <typename T> __device__ bool is_first_max(const T* x, float window_max, int n, int c, int oh, int ow,
                                                   int ih0, int iw0, POOL_ARGS) {
    for (int kh = 0; kh < K; kh++) {
        const int ih = oh * stride - padding + kh;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < K; kw++) {
            const int iw = ow * stride - padding + kw;
            if (iw < 0 || iw >= W) continue;
            if (to_float(x[(((long)n * H + ih) * W + iw) * C + c]) == window_max) return ih == ih0 && iw == iw0;
        }
    }
    return false;
}

template <typename T> __device__ void max_pool_backward(const T* x, const T* y, const T* dy, T* dx, POOL_ARGS) {
    GRID_STRIDE_LOOP(i, (long)N * H * W * C) {
        const int c = (int)(i % C), iw = (int)((i / C) % W), ih = (int)((i / ((long)C * W)) % H);
        const int n = (int)(i / ((long)C * W * H));
        // Windows containing ih: oh·stride − padding ≤ ih ≤ oh·stride − padding + K − 1.
        const int oh_first = max(0, (ih + padding - K + stride) / stride), oh_last = min(OH - 1, (ih + padding) / stride);
        const int ow_first = max(0, (iw + padding - K + stride) / stride), ow_last = min(OW - 1, (iw + padding) / stride);
        float g = 0.0f;
        for (int oh = oh_first; oh <= oh_last; oh++) {
            for (int ow = ow_first; ow <= ow_last; ow++) {
                const long o = (((long)n * OH + oh) * OW + ow) * C + c;
                if (is_first_max(x, to_float(y[o]), n, c, oh, ow, ih, iw, N, H, W, C, K, stride, padding, OH, OW)) {
                    g += to_float(dy[o]);
                }
            }
        }
        dx[i] = from_float<T>(g);
    }
}

template <typename T> __device__ void global_avg_pool_forward(const T* x, T* y, int N, int P, int C) {
    GRID_STRIDE_LOOP(i, (long)N * C) {
        const long n = i / C, c = i % C;
        float sum = 0.0f;
        for (int p = 0; p < P; p++) sum += to_float(x[(n * P + p) * C + c]);
        y[i] = from_float<T>(sum / P);
    }
}

template <typename T> __device__ void global_avg_pool_backward(const T* dy, T* dx, int N, int P, int C) {
    GRID_STRIDE_LOOP(i, (long)N * P * C) {
        const long c = i % C, n = i / ((long)P * C);
        dx[i] = from_float<T>(to_float(dy[n * C + c]) / P);
    }
}

#define POOL_PASS N, H, W, C, K, stride, padding, OH, OW
extern "C" __global__ void max_pool_forward_f32(const float* x, float* y, POOL_ARGS) { max_pool_forward(x, y, POOL_PASS); }
extern "C" __global__ void max_pool_forward_bf16(const bf16* x, bf16* y, POOL_ARGS) { max_pool_forward(x, y, POOL_PASS); }
extern "C" __global__ void max_pool_backward_f32(const float* x, const float* y, const float* dy, float* dx, POOL_ARGS) {
    max_pool_backward(x, y, dy, dx, POOL_PASS);
}
extern "C" __global__ void max_pool_backward_bf16(const bf16* x, const bf16* y, const bf16* dy, bf16* dx, POOL_ARGS) {
    max_pool_backward(x, y, dy, dx, POOL_PASS);
}
extern "C" __global__ void global_avg_pool_forward_f32(const float* x, float* y, int N, int P, int C) {
    global_avg_pool_forward(x, y, N, P, C);
}
extern "C" __global__ void global_avg_pool_forward_bf16(const bf16* x, bf16* y, int N, int P, int C) {
    global_avg_pool_forward(x, y, N, P, C);
}
extern "C" __global__ void global_avg_pool_backward_f32(const float* dy, float* dx, int N, int P, int C) {
    global_avg_pool_backward(dy, dx, N, P, C);
}
extern "C" __global__ void global_avg_pool_backward_bf16(const bf16* dy, bf16* dx, int N, int P, int C) {
    global_avg_pool_backward(dy, dx, N, P, C);
}
"""#, kernels: ["max_pool_forward_f32", "max_pool_forward_bf16", "max_pool_backward_f32", "max_pool_backward_bf16",
               "global_avg_pool_forward_f32", "global_avg_pool_forward_bf16", "global_avg_pool_backward_f32",
               "global_avg_pool_backward_bf16"])

/// How the backend launches the pooling family (addresses are device pointers).
public enum PoolingLaunch {
    static func sizes(_ g: PoolGeometry) -> [KernelArgument] {
        [.int(g.batch), .int(g.height), .int(g.width), .int(g.channels), .int(g.kernelSize), .int(g.stride),
         .int(g.padding), .int(g.outHeight), .int(g.outWidth)]
    }

    public static func maxPoolForward(input: UInt64, output: UInt64, geometry g: PoolGeometry, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(g.outputShape.reduce(1, *))
        return KernelLaunch(type.entry("max_pool_forward"), grid: shape.grid, block: shape.block,
                            [.address(input), .address(output)] + sizes(g))
    }

    public static func maxPoolBackward(input: UInt64, output: UInt64, gradOutput: UInt64, gradInput: UInt64,
                                       geometry g: PoolGeometry, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(g.batch * g.height * g.width * g.channels)
        return KernelLaunch(type.entry("max_pool_backward"), grid: shape.grid, block: shape.block,
                            [.address(input), .address(output), .address(gradOutput), .address(gradInput)] + sizes(g))
    }

    /// `[N, H, W, C] → [N, C]`, `pixels` = H·W.
    public static func globalAveragePoolForward(input: UInt64, output: UInt64, batch: Int, pixels: Int, channels: Int,
                                                type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(batch * channels)
        return KernelLaunch(type.entry("global_avg_pool_forward"), grid: shape.grid, block: shape.block,
                            [.address(input), .address(output), .int(batch), .int(pixels), .int(channels)])
    }

    public static func globalAveragePoolBackward(gradOutput: UInt64, gradInput: UInt64, batch: Int, pixels: Int,
                                                 channels: Int, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(batch * pixels * channels)
        return KernelLaunch(type.entry("global_avg_pool_backward"), grid: shape.grid, block: shape.block,
                            [.address(gradOutput), .address(gradInput), .int(batch), .int(pixels), .int(channels)])
    }
}
