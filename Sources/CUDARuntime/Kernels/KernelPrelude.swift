/// CUDA C++ shared by every kernel family, put in front of each family's source: the bf16 storage type
/// with round-to-nearest-even conversion, and block-wide reductions. Written out here rather than taken
/// from `cuda_bf16.h` so a source compiles with nothing but libnvrtc (pip's wheel ships no CUDA headers);
/// the bits are the same as `__nv_bfloat16`'s, so cuBLAS and NCCL read these buffers as CUDA_R_16BF /
/// ncclBfloat16.
///
/// Conventions in every family: `long` element counts and offsets (activations pass 2^31 elements at
/// ImageNet batch sizes), grid-stride loops for element-wise kernels, `extern "C"` entry points named
/// `<op>_<f32|bf16>` so `cuModuleGetFunction` finds them without C++ name mangling, and fp32 arithmetic
/// whatever the storage type.
let kernelPrelude = #"""
// ---- prelude: bf16 storage and block reductions -------------------------------------------------
struct bf16 { unsigned short bits; };

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(bf16 x) { return __uint_as_float(((unsigned int)x.bits) << 16); }

template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
// Round to nearest, ties to even; a NaN stays a (quiet) NaN instead of rounding into infinity.
template <> __device__ __forceinline__ bf16 from_float<bf16>(float x) {
    unsigned int u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{(unsigned short)((u >> 16) | 0x0040u)};
    u += 0x7fffu + ((u >> 16) & 1u);
    return bf16{(unsigned short)(u >> 16)};
}

// Sum (or max) of v over a one-dimensional block of 32·k ≤ 1024 threads; the result is returned to
// every thread. Starts with a barrier so one kernel may call it several times.
template <typename T> __device__ T block_sum(T v) {
    __shared__ T warp_values[32];
    __syncthreads();
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) warp_values[warp] = v;
    __syncthreads();
    v = lane < warps ? warp_values[lane] : T(0);
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    return __shfl_sync(0xffffffffu, v, 0);  // every warp reduced the same values; lane 0 holds the total
}

__device__ float block_max(float v) {
    __shared__ float warp_values[32];
    __syncthreads();
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, offset));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) warp_values[warp] = v;
    __syncthreads();
    v = lane < warps ? warp_values[lane] : __int_as_float(0xff800000);  // -infinity
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, offset));
    return __shfl_sync(0xffffffffu, v, 0);
}

#define GRID_STRIDE_LOOP(i, n) \
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)
// ---- end of prelude -----------------------------------------------------------------------------

"""#
