/// Element-wise arithmetic, bias and the squared norm, on fp32 or bf16 storage (fp32 arithmetic):
///
///     fill_f32(x [n], n, value)                         x = value
///     to_bf16(x [n], y [n], n)                          y = bf16(x), round to nearest even (GEMM operands of --precision bf16)
///     copy_f32(source [n], target [n], n)               target = source
///     normalize_pixels(p [n] bytes, table [C, 256], x [n], n, C)   x[i] = table[i % C][p[i]] (a batch's bytes, channels last)
///     add_T(a [n], b [n], out [n], n)                   out = a + b (residual joins)
///     accumulate_T(source [n], target [n], n, alpha)    target += alpha·source
///     scale_T(x [n], n, factor)                         x *= factor
///     add_bias_T(y [rows, C], bias [C], n, C)           y[r, c] += bias[c]
///     bias_gradient(dy [rows, C], rows, C, db [C])      db[c] += Σ_r dy[r, c]   (fp32: linear heads, rows = batch)
///     sum_of_squares_partial(x [n], n, partial [blocks])   partial[b] = Σ x² over block b's grid-stride share
///     sum_of_squares_total(partial [blocks], blocks, total [1])   total = Σ partial, in double
///
/// `bias_gradient` gives each channel one thread that walks the rows (neighbouring threads read
/// neighbouring channels); a head's rows are the batch, so the loop is short.
let elementwiseKernels = KernelSource.family("elementwise", #"""
template <typename T> __device__ void add(const T* a, const T* b, T* out, long n) {
    GRID_STRIDE_LOOP(i, n) out[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
}
template <typename T> __device__ void accumulate(const T* source, T* target, long n, float alpha) {
    GRID_STRIDE_LOOP(i, n) target[i] = from_float<T>(to_float(target[i]) + alpha * to_float(source[i]));
}
template <typename T> __device__ void scale(T* x, long n, float factor) {
    GRID_STRIDE_LOOP(i, n) x[i] = from_float<T>(to_float(x[i]) * factor);
}
template <typename T> __device__ void add_bias(T* y, const float* bias, long n, int C) {
    GRID_STRIDE_LOOP(i, n) y[i] = from_float<T>(to_float(y[i]) + bias[i % C]);
}

extern "C" __global__ void fill_f32(float* x, long n, float value) { GRID_STRIDE_LOOP(i, n) x[i] = value; }
extern "C" __global__ void to_bf16(const float* x, bf16* y, long n) { GRID_STRIDE_LOOP(i, n) y[i] = from_float<bf16>(x[i]); }
extern "C" __global__ void copy_f32(const float* source, float* target, long n) { GRID_STRIDE_LOOP(i, n) target[i] = source[i]; }
extern "C" __global__ void normalize_pixels(const unsigned char* pixels, const float* table, float* x, long n, int C) {
    GRID_STRIDE_LOOP(i, n) x[i] = table[(i % C) * 256 + pixels[i]];
}
extern "C" __global__ void add_f32(const float* a, const float* b, float* out, long n) { add(a, b, out, n); }
extern "C" __global__ void add_bf16(const bf16* a, const bf16* b, bf16* out, long n) { add(a, b, out, n); }
extern "C" __global__ void accumulate_f32(const float* s, float* t, long n, float alpha) { accumulate(s, t, n, alpha); }
extern "C" __global__ void accumulate_bf16(const bf16* s, bf16* t, long n, float alpha) { accumulate(s, t, n, alpha); }
extern "C" __global__ void scale_f32(float* x, long n, float factor) { scale(x, n, factor); }
extern "C" __global__ void scale_bf16(bf16* x, long n, float factor) { scale(x, n, factor); }
extern "C" __global__ void add_bias_f32(float* y, const float* bias, long n, int C) { add_bias(y, bias, n, C); }
extern "C" __global__ void add_bias_bf16(bf16* y, const float* bias, long n, int C) { add_bias(y, bias, n, C); }

extern "C" __global__ void bias_gradient(const float* dy, long rows, int C, float* db) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sum = 0.0f;
    for (long r = 0; r < rows; r++) sum += dy[r * C + c];
    db[c] += sum;
}

extern "C" __global__ void sum_of_squares_partial(const float* x, long n, double* partial) {
    double sum = 0.0;
    GRID_STRIDE_LOOP(i, n) sum += (double)x[i] * x[i];
    sum = block_sum(sum);
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

extern "C" __global__ void sum_of_squares_total(const double* partial, int blocks, double* total) {
    double sum = 0.0;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) sum += partial[b];
    sum = block_sum(sum);
    if (threadIdx.x == 0) total[0] = sum;
}
"""#, kernels: ["fill_f32", "to_bf16", "copy_f32", "normalize_pixels", "add_f32", "add_bf16", "accumulate_f32", "accumulate_bf16", "scale_f32", "scale_bf16",
               "add_bias_f32", "add_bias_bf16", "bias_gradient", "sum_of_squares_partial", "sum_of_squares_total"],
   synchronizing: ["sum_of_squares_partial", "sum_of_squares_total"])

/// How the backend launches the element-wise family (addresses are device pointers).
public enum ElementwiseLaunch {
    public static func fill(_ tensor: UInt64, count: Int, with value: Float) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch("fill_f32", grid: shape.grid, block: shape.block, [.address(tensor), .long(count), .float32(value)])
    }

    public static func copy(_ source: UInt64, to target: UInt64, count: Int) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch("copy_f32", grid: shape.grid, block: shape.block, [.address(source), .address(target), .long(count)])
    }

    /// `output[i] = table[(i % channels) * 256 + pixels[i]]`: `count` channels-last bytes through their
    /// normalisation table (`PixelBatch`).
    public static func normalizePixels(_ pixels: UInt64, table: UInt64, into output: UInt64, count: Int,
                                       channels: Int) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch("normalize_pixels", grid: shape.grid, block: shape.block,
                            [.address(pixels), .address(table), .address(output), .long(count), .int(channels)])
    }

    /// `target` (bf16, `count` elements) = `source` (fp32) rounded to nearest even.
    public static func toBF16(_ source: UInt64, into target: UInt64, count: Int) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch("to_bf16", grid: shape.grid, block: shape.block, [.address(source), .address(target), .long(count)])
    }

    public static func add(_ a: UInt64, _ b: UInt64, output: UInt64, count: Int, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch(type.entry("add"), grid: shape.grid, block: shape.block,
                            [.address(a), .address(b), .address(output), .long(count)])
    }

    public static func accumulate(_ source: UInt64, into target: UInt64, count: Int, alpha: Float,
                                  type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch(type.entry("accumulate"), grid: shape.grid, block: shape.block,
                            [.address(source), .address(target), .long(count), .float32(alpha)])
    }

    public static func scale(_ tensor: UInt64, count: Int, by factor: Float, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch(type.entry("scale"), grid: shape.grid, block: shape.block,
                            [.address(tensor), .long(count), .float32(factor)])
    }

    public static func addBias(_ bias: UInt64, to output: UInt64, rows: Int, channels: Int, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(rows * channels)
        return KernelLaunch(type.entry("add_bias"), grid: shape.grid, block: shape.block,
                            [.address(output), .address(bias), .long(rows * channels), .int(channels)])
    }

    public static func biasGradient(gradOutput: UInt64, rows: Int, channels: Int, gradBias: UInt64) -> KernelLaunch {
        let shape = LaunchShape.perIndex(channels)
        return KernelLaunch("bias_gradient", grid: shape.grid, block: shape.block,
                            [.address(gradOutput), .long(rows), .int(channels), .address(gradBias)])
    }

    /// Blocks of the first pass; `scratch` holds that many doubles.
    public static func sumOfSquaresBlocks(count: Int) -> Int { min(max((count + 255) / 256, 1), 1024) }

    /// `total[0] = Σ x²` in double, through `scratch` (`sumOfSquaresBlocks(count)` doubles).
    public static func sumOfSquares(_ tensor: UInt64, count: Int, scratch: UInt64, total: UInt64) -> [KernelLaunch] {
        let blocks = sumOfSquaresBlocks(count: count)
        return [
            KernelLaunch("sum_of_squares_partial", grid: LaunchDimensions(blocks), block: LaunchDimensions(256),
                         [.address(tensor), .long(count), .address(scratch)]),
            KernelLaunch("sum_of_squares_total", grid: LaunchDimensions(1), block: LaunchDimensions(256),
                         [.address(scratch), .int(blocks), .address(total)]),
        ]
    }
}
