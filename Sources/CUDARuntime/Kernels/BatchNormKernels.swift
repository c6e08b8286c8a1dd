/// Batch normalisation over NHWC activations viewed as `[M, C]` (M = N·H·W rows, C channels contiguous),
/// split like the CPU backend's so SyncBatchNorm can combine ranks between the halves:
///
///     statistics:      bn_partial_sums_T -> bn_moments            mean [C], biased var [C]
///     forward:         bn_forward_T / bn_relu_forward_T           y [M, C]
///     backward reduce: bn_backward_partial_sums_T -> bn_sum_partials   Σdy [C], Σdy·x̂ [C]
///     backward input:  bn_backward_input_T                         dx [M, C]
///     running stats:   bn_update_running
///     SyncBatchNorm:   bn_combine_ranks                            mean, var [C] from every rank's [mean; var]
///
/// The sums are a two-level reduction. Level 1: a block of 32×8 threads owns 32 neighbouring channels
/// (one coalesced 128-byte row segment per warp) and a chunk of `rows_per_block` rows, sums them in fp32
/// and writes `partial[chunk, 2, C]`. Level 2: one thread per channel adds the chunks in double. The
/// statistics sum `x − x[0, c]` (shifted by each channel's first value), so Σx² − (Σx)²/M does not
/// cancel when a channel's mean is large against its spread. Launch level 1 with grid
/// (ceil(C/32), ceil(M/rows_per_block)), block (32, 8); the element-wise kernels with any 1-D grid.
let batchNormKernels = KernelSource.family("batch_norm", #"""
#define BN_CHANNELS_PER_BLOCK 32
#define BN_ROW_THREADS 8

// Column sums over one chunk of rows: each (threadIdx.x, threadIdx.y) thread walks every 8th row of the
// chunk for channel c, then the 8 row-threads of each channel add up through shared memory.
__device__ void write_chunk_sums(float a, float b, int c, int C, float* partial) {
    __shared__ float sa[BN_ROW_THREADS][BN_CHANNELS_PER_BLOCK], sb[BN_ROW_THREADS][BN_CHANNELS_PER_BLOCK];
    sa[threadIdx.y][threadIdx.x] = a;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int r = 1; r < BN_ROW_THREADS; r++) { a += sa[r][threadIdx.x]; b += sb[r][threadIdx.x]; }
        partial[(long)blockIdx.y * 2 * C + c] = a;
        partial[(long)blockIdx.y * 2 * C + C + c] = b;
    }
}

// partial[chunk, 0, c] = Σ (x − x[0, c]),  partial[chunk, 1, c] = Σ (x − x[0, c])² over the chunk's rows.
template <typename T> __device__ void bn_partial_sums(const T* x, long rows, int C, int rows_per_block,
                                                      float* partial) {
    const int c = blockIdx.x * BN_CHANNELS_PER_BLOCK + threadIdx.x;
    float sum = 0.0f, squares = 0.0f;
    if (c < C) {
        const float shift = to_float(x[c]);
        const long first = (long)blockIdx.y * rows_per_block;
        const long last = min(first + rows_per_block, rows);
        for (long row = first + threadIdx.y; row < last; row += BN_ROW_THREADS) {
            const float d = to_float(x[row * C + c]) - shift;
            sum += d;
            squares += d * d;
        }
    }
    write_chunk_sums(sum, squares, c, C, partial);
}

extern "C" __global__ void bn_partial_sums_f32(const float* x, long rows, int C, int rows_per_block, float* partial) {
    bn_partial_sums(x, rows, C, rows_per_block, partial);
}
extern "C" __global__ void bn_partial_sums_bf16(const bf16* x, long rows, int C, int rows_per_block, float* partial) {
    bn_partial_sums(x, rows, C, rows_per_block, partial);
}

// Level 2 of the statistics: mean and biased variance per channel (one thread per channel).
template <typename T> __device__ void bn_moments(const float* partial, int chunks, const T* x, long rows, int C,
                                                 float* mean, float* variance) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double sum = 0.0, squares = 0.0;
    for (int k = 0; k < chunks; k++) {
        sum += partial[(long)k * 2 * C + c];
        squares += partial[(long)k * 2 * C + C + c];
    }
    const double shifted_mean = sum / rows;
    mean[c] = (float)(to_float(x[c]) + shifted_mean);
    variance[c] = (float)fmax(squares / rows - shifted_mean * shifted_mean, 0.0);
}

extern "C" __global__ void bn_moments_f32(const float* partial, int chunks, const float* x, long rows, int C,
                                          float* mean, float* variance) {
    bn_moments(partial, chunks, x, rows, C, mean, variance);
}
extern "C" __global__ void bn_moments_bf16(const float* partial, int chunks, const bf16* x, long rows, int C,
                                           float* mean, float* variance) {
    bn_moments(partial, chunks, x, rows, C, mean, variance);
}

// y = (x − mean)/sqrt(var + eps)·weight + bias, then max(·, 0) when RELU (BN + ReLU fused in one pass).
template <typename T, bool RELU> __device__ void bn_forward(const T* x, const float* mean, const float* variance,
                                                            const float* weight, const float* bias, float eps,
                                                            T* y, long n, int C) {
    GRID_STRIDE_LOOP(i, n) {
        const int c = (int)(i % C);
        float v = (to_float(x[i]) - mean[c]) * rsqrtf(variance[c] + eps) * weight[c] + bias[c];
        if (RELU) v = fmaxf(v, 0.0f);
        y[i] = from_float<T>(v);
    }
}

#define BN_FORWARD_ARGS(T) const T* x, const float* mean, const float* variance, const float* weight, \
                           const float* bias, float eps, T* y, long n, int C
extern "C" __global__ void bn_forward_f32(BN_FORWARD_ARGS(float)) {
    bn_forward<float, false>(x, mean, variance, weight, bias, eps, y, n, C);
}
extern "C" __global__ void bn_forward_bf16(BN_FORWARD_ARGS(bf16)) {
    bn_forward<bf16, false>(x, mean, variance, weight, bias, eps, y, n, C);
}
extern "C" __global__ void bn_relu_forward_f32(BN_FORWARD_ARGS(float)) {
    bn_forward<float, true>(x, mean, variance, weight, bias, eps, y, n, C);
}
extern "C" __global__ void bn_relu_forward_bf16(BN_FORWARD_ARGS(bf16)) {
    bn_forward<bf16, true>(x, mean, variance, weight, bias, eps, y, n, C);
}

// partial[chunk, 0, c] = Σ dy,  partial[chunk, 1, c] = Σ dy·x̂ over the chunk's rows.
template <typename T> __device__ void bn_backward_partial_sums(const T* dy, const T* x, const float* mean,
                                                               const float* variance, float eps, long rows, int C,
                                                               int rows_per_block, float* partial) {
    const int c = blockIdx.x * BN_CHANNELS_PER_BLOCK + threadIdx.x;
    float sum = 0.0f, dot = 0.0f;
    if (c < C) {
        const float m = mean[c], inv_std = rsqrtf(variance[c] + eps);
        const long first = (long)blockIdx.y * rows_per_block;
        const long last = min(first + rows_per_block, rows);
        for (long row = first + threadIdx.y; row < last; row += BN_ROW_THREADS) {
            const float g = to_float(dy[row * C + c]);
            sum += g;
            dot += g * (to_float(x[row * C + c]) - m) * inv_std;
        }
    }
    write_chunk_sums(sum, dot, c, C, partial);
}

#define BN_BACKWARD_PARTIAL_ARGS(T) const T* dy, const T* x, const float* mean, const float* variance, float eps, \
                                    long rows, int C, int rows_per_block, float* partial
extern "C" __global__ void bn_backward_partial_sums_f32(BN_BACKWARD_PARTIAL_ARGS(float)) {
    bn_backward_partial_sums(dy, x, mean, variance, eps, rows, C, rows_per_block, partial);
}
extern "C" __global__ void bn_backward_partial_sums_bf16(BN_BACKWARD_PARTIAL_ARGS(bf16)) {
    bn_backward_partial_sums(dy, x, mean, variance, eps, rows, C, rows_per_block, partial);
}

// Level 2 of the backward sums: first[c] = Σ_k partial[k, 0, c], second[c] = Σ_k partial[k, 1, c].
extern "C" __global__ void bn_sum_partials(const float* partial, int chunks, int C, float* first, float* second) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double a = 0.0, b = 0.0;
    for (int k = 0; k < chunks; k++) {
        a += partial[(long)k * 2 * C + c];
        b += partial[(long)k * 2 * C + C + c];
    }
    first[c] = (float)a;
    second[c] = (float)b;
}

// dx = weight/σ · (dy − Σdy/count − x̂·Σ(dy·x̂)/count); count is the rows over all ranks for SyncBN.
template <typename T> __device__ void bn_backward_input(const T* dy, const T* x, const float* mean,
                                                        const float* variance, const float* weight, float eps,
                                                        const float* sum_dy, const float* sum_dy_xhat, long count,
                                                        T* dx, long n, int C) {
    GRID_STRIDE_LOOP(i, n) {
        const int c = (int)(i % C);
        const float inv_std = rsqrtf(variance[c] + eps);
        const float xhat = (to_float(x[i]) - mean[c]) * inv_std;
        const float g = to_float(dy[i]) - sum_dy[c] / count - xhat * sum_dy_xhat[c] / count;
        dx[i] = from_float<T>(weight[c] * inv_std * g);
    }
}

#define BN_BACKWARD_INPUT_ARGS(T) const T* dy, const T* x, const float* mean, const float* variance, \
    const float* weight, float eps, const float* sum_dy, const float* sum_dy_xhat, long count, T* dx, long n, int C
extern "C" __global__ void bn_backward_input_f32(BN_BACKWARD_INPUT_ARGS(float)) {
    bn_backward_input(dy, x, mean, variance, weight, eps, sum_dy, sum_dy_xhat, count, dx, n, C);
}
extern "C" __global__ void bn_backward_input_bf16(BN_BACKWARD_INPUT_ARGS(bf16)) {
    bn_backward_input(dy, x, mean, variance, weight, eps, sum_dy, sum_dy_xhat, count, dx, n, C);
}

// running = (1 − momentum)·running + momentum·batch, with the unbiased variance var·count/(count − 1).
extern "C" __global__ void bn_update_running(const float* mean, const float* variance, long count, float momentum,
                                             float* running_mean, float* running_variance, int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const float unbiased = count > 1 ? variance[c] * ((float)count / (float)(count - 1)) : variance[c];
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
    running_variance[c] = (1.0f - momentum) * running_variance[c] + momentum * unbiased;
}

// SyncBatchNorm over R ranks of equal rows: gathered [R, 2, C] holds each rank's [mean; biased var].
// mean = 1/R Σ mean_r, var = 1/R Σ [var_r + (mean_r − mean)²], in double (the CPU backend's combineRanks).
extern "C" __global__ void bn_combine_ranks(const float* gathered, int R, int C, float* mean, float* variance) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double m = 0.0;
    for (int r = 0; r < R; r++) m += (double)gathered[(long)r * 2 * C + c];
    m /= (double)R;
    double v = 0.0;
    for (int r = 0; r < R; r++) {
        const double d = (double)gathered[(long)r * 2 * C + c] - m;
        v += (double)gathered[(long)r * 2 * C + C + c] + d * d;
    }
    mean[c] = (float)m;
    variance[c] = (float)(v / (double)R);
}
"""#, kernels: ["bn_partial_sums_f32", "bn_partial_sums_bf16", "bn_moments_f32", "bn_moments_bf16",
               "bn_forward_f32", "bn_forward_bf16", "bn_relu_forward_f32", "bn_relu_forward_bf16",
               "bn_backward_partial_sums_f32", "bn_backward_partial_sums_bf16", "bn_sum_partials",
               "bn_backward_input_f32", "bn_backward_input_bf16", "bn_update_running", "bn_combine_ranks"],
   synchronizing: ["bn_partial_sums_f32", "bn_partial_sums_bf16", "bn_backward_partial_sums_f32",
                   "bn_backward_partial_sums_bf16"])

/// How the backend launches the batch-norm family on `[rows, channels]` activations (addresses are device
/// pointers; `scratch` holds `scratchCount` floats of level-1 partial sums).
public enum BatchNormLaunch {
    /// Rows one level-1 block sums (each of its 8 row-threads walks 32 of them).
    public static let rowsPerBlock = 256
    static let channelsPerBlock = 32, rowThreads = 8

    static func chunks(_ rows: Int) -> Int { max((rows + rowsPerBlock - 1) / rowsPerBlock, 1) }

    /// Floats of scratch the two-level sums need.
    public static func scratchCount(rows: Int, channels: Int) -> Int { chunks(rows) * 2 * channels }

    static func levelOne(_ kernel: String, channels: Int, rows: Int, _ arguments: [KernelArgument]) -> KernelLaunch {
        KernelLaunch(kernel, grid: LaunchDimensions((channels + channelsPerBlock - 1) / channelsPerBlock, chunks(rows)),
                     block: LaunchDimensions(channelsPerBlock, rowThreads), arguments)
    }

    /// Per-channel mean and biased variance (the Backend's `batchNormStatistics`).
    public static func statistics(input: UInt64, rows: Int, channels: Int, scratch: UInt64, mean: UInt64,
                                  variance: UInt64, type: ActivationType) -> [KernelLaunch] {
        let perChannel = LaunchShape.perIndex(channels)
        return [
            levelOne(type.entry("bn_partial_sums"), channels: channels, rows: rows,
                     [.address(input), .long(rows), .int(channels), .int(rowsPerBlock), .address(scratch)]),
            KernelLaunch(type.entry("bn_moments"), grid: perChannel.grid, block: perChannel.block,
                         [.address(scratch), .int(chunks(rows)), .address(input), .long(rows), .int(channels),
                          .address(mean), .address(variance)]),
        ]
    }

    /// `y = x̂·weight + bias`, and `max(y, 0)` when `relu` (BN + ReLU fused).
    public static func forward(input: UInt64, mean: UInt64, variance: UInt64, weight: UInt64, bias: UInt64,
                               epsilon: Float, output: UInt64, rows: Int, channels: Int, relu: Bool,
                               type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(rows * channels)
        return KernelLaunch(type.entry(relu ? "bn_relu_forward" : "bn_forward"), grid: shape.grid, block: shape.block,
                            [.address(input), .address(mean), .address(variance), .address(weight), .address(bias),
                             .float32(epsilon), .address(output), .long(rows * channels), .int(channels)])
    }

    /// Per-channel `Σ dy` and `Σ dy·x̂` (the Backend's `batchNormBackwardReduce`).
    public static func backwardReduce(gradOutput: UInt64, input: UInt64, mean: UInt64, variance: UInt64,
                                      epsilon: Float, rows: Int, channels: Int, scratch: UInt64, sumGradient: UInt64,
                                      sumGradientNormalized: UInt64, type: ActivationType) -> [KernelLaunch] {
        let perChannel = LaunchShape.perIndex(channels)
        return [
            levelOne(type.entry("bn_backward_partial_sums"), channels: channels, rows: rows,
                     [.address(gradOutput), .address(input), .address(mean), .address(variance), .float32(epsilon),
                      .long(rows), .int(channels), .int(rowsPerBlock), .address(scratch)]),
            KernelLaunch("bn_sum_partials", grid: perChannel.grid, block: perChannel.block,
                         [.address(scratch), .int(chunks(rows)), .int(channels), .address(sumGradient),
                          .address(sumGradientNormalized)]),
        ]
    }

    /// `dx` from the two sums over `count` rows (all ranks' rows under SyncBN).
    public static func backwardInput(gradOutput: UInt64, input: UInt64, mean: UInt64, variance: UInt64,
                                     weight: UInt64, epsilon: Float, sumGradient: UInt64, sumGradientNormalized: UInt64,
                                     count: Int, gradInput: UInt64, rows: Int, channels: Int,
                                     type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(rows * channels)
        return KernelLaunch(type.entry("bn_backward_input"), grid: shape.grid, block: shape.block,
                            [.address(gradOutput), .address(input), .address(mean), .address(variance),
                             .address(weight), .float32(epsilon), .address(sumGradient),
                             .address(sumGradientNormalized), .long(count), .address(gradInput),
                             .long(rows * channels), .int(channels)])
    }

    /// SyncBatchNorm: `mean`, `variance` `[channels]` from `gathered` `[ranks, 2, channels]`.
    public static func combineRanks(gathered: UInt64, ranks: Int, mean: UInt64, variance: UInt64, channels: Int) -> KernelLaunch {
        let shape = LaunchShape.perIndex(channels)
        return KernelLaunch("bn_combine_ranks", grid: shape.grid, block: shape.block,
                            [.address(gathered), .int(ranks), .int(channels), .address(mean), .address(variance)])
    }

    public static func updateRunning(mean: UInt64, variance: UInt64, count: Int, momentum: Float, runningMean: UInt64,
                                     runningVariance: UInt64, channels: Int) -> KernelLaunch {
        let shape = LaunchShape.perIndex(channels)
        return KernelLaunch("bn_update_running", grid: shape.grid, block: shape.block,
                            [.address(mean), .address(variance), .long(count), .float32(momentum),
                             .address(runningMean), .address(runningVariance), .int(channels)])
    }
}
