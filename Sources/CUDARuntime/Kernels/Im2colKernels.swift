import Engine

/// im2col for NHWC convolution with OHWI weights, as the CPU backend lays it out (see `ConvGeometry`):
///
///     im2col_T(x [N, H, W, C], col [M, K], N, H, W, C, KH, KW, stride, padding, OH, OW)
///         M = N·OH·OW output pixels (rows), K = KH·KW·C (columns, C fastest, so a row is KH·KW contiguous
///         channel runs and `out [M, Cout] = col · Wᵀ` is one GEMM with the OHWI weight as `[Cout, K]`)
///         col[m, (kh·KW + kw)·C + c] = x[n, oh·stride − padding + kh, ow·stride − padding + kw, c], or 0
///         outside the image
///
/// One thread per element of `col` (grid-stride): neighbouring threads read neighbouring channels and
/// write neighbouring columns, so both sides are coalesced.
let im2colKernels = KernelSource.family("im2col", #"""
template <typename T> __device__ void im2col(const T* x, T* col, int N, int H, int W, int C, int KH, int KW,
                                             int stride, int padding, int OH, int OW) {
    const long K = (long)KH * KW * C;
    const long total = (long)N * OH * OW * K;
    GRID_STRIDE_LOOP(i, total) {
        const long m = i / K;
        const int k = (int)(i % K);
        const int c = k % C, kw = (k / C) % KW, kh = k / (C * KW);
        const int ow = (int)(m % OW), oh = (int)((m / OW) % OH), n = (int)(m / ((long)OW * OH));
        const int ih = oh * stride - padding + kh, iw = ow * stride - padding + kw;
        const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
        col[i] = inside ? x[(((long)n * H + ih) * W + iw) * C + c] : from_float<T>(0.0f);
    }
}

#define IM2COL_ARGS(T) const T* x, T* col, int N, int H, int W, int C, int KH, int KW, int stride, int padding, \
                       int OH, int OW
extern "C" __global__ void im2col_f32(IM2COL_ARGS(float)) { im2col(x, col, N, H, W, C, KH, KW, stride, padding, OH, OW); }
extern "C" __global__ void im2col_bf16(IM2COL_ARGS(bf16)) { im2col(x, col, N, H, W, C, KH, KW, stride, padding, OH, OW); }
"""#, kernels: ["im2col_f32", "im2col_bf16"])

/// How the backend launches the im2col family (addresses are device pointers; `columns` holds
/// `geometry.outputPixels × geometry.patchSize` elements).
public enum Im2colLaunch {
    public static func im2col(input: UInt64, columns: UInt64, geometry g: ConvGeometry, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(g.outputPixels * g.patchSize)
        return KernelLaunch(type.entry("im2col"), grid: shape.grid, block: shape.block,
                            [.address(input), .address(columns), .int(g.batch), .int(g.height), .int(g.width),
                             .int(g.inChannels), .int(g.kernelHeight), .int(g.kernelWidth), .int(g.stride),
                             .int(g.padding), .int(g.outHeight), .int(g.outWidth)])
    }
}
