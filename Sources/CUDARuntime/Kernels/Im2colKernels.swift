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
/// write neighbouring columns, so both sides are coalesced. `im2col_f32_bf16` reads fp32 activations and
/// writes the columns already rounded to bf16 (round to nearest even, as `to_bf16`): a bf16 GEMM's operand
/// in one pass, instead of fp32 columns (9x the input for a 3x3) written, read back and rounded.
///
///     col2im_T(col [M, K], dx [N, H, W, C], same sizes)      the adjoint, for the data gradient:
///         dx[n, ih, iw, c] = Σ over (kh, kw) with oh = (ih + padding − kh)/stride and ow likewise whole
///         and inside the output, of col[(n·OH + oh)·OW + ow, (kh·KW + kw)·C + c]; dx is overwritten
///
/// col2im gathers (one thread per input element, fp32 sum) instead of scattering with atomics, so it is
/// deterministic and needs no bf16 atomics.
///
///     transposed_conv_weight_bf16(w [Cout, KH, KW, Cin], wt [Cin, KH, KW, Cout], Cout, KH, KW, Cin)
///         wt[ci, kh, kw, co] = bf16(w[co, KH−1−kh, KW−1−kw, ci]): the weight of the stride-1 convolution whose
///         forward pass is a stride-1 convolution's data gradient (flipped in space, channels swapped)
let im2colKernels = KernelSource.family("im2col", #"""
template <typename In, typename Out> __device__ void im2col(const In* x, Out* col, int N, int H, int W, int C,
                                                           int KH, int KW, int stride, int padding, int OH, int OW) {
    const long K = (long)KH * KW * C;
    const long total = (long)N * OH * OW * K;
    GRID_STRIDE_LOOP(i, total) {
        const long m = i / K;
        const int k = (int)(i % K);
        const int c = k % C, kw = (k / C) % KW, kh = k / (C * KW);
        const int ow = (int)(m % OW), oh = (int)((m / OW) % OH), n = (int)(m / ((long)OW * OH));
        const int ih = oh * stride - padding + kh, iw = ow * stride - padding + kw;
        const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
        col[i] = from_float<Out>(inside ? to_float(x[(((long)n * H + ih) * W + iw) * C + c]) : 0.0f);
    }
}

#define IM2COL_ARGS(T) const T* x, T* col, int N, int H, int W, int C, int KH, int KW, int stride, int padding, \
                       int OH, int OW
template <typename T> __device__ void col2im(const T* col, T* dx, int N, int H, int W, int C, int KH, int KW,
                                             int stride, int padding, int OH, int OW) {
    const long K = (long)KH * KW * C;
    GRID_STRIDE_LOOP(i, (long)N * H * W * C) {
        const int c = (int)(i % C), iw = (int)((i / C) % W), ih = (int)((i / ((long)C * W)) % H);
        const int n = (int)(i / ((long)C * W * H));
        float sum = 0.0f;
        for (int kh = 0; kh < KH; kh++) {
            const int oh_stride = ih + padding - kh;
            if (oh_stride < 0 || oh_stride % stride != 0 || oh_stride / stride >= OH) continue;
            for (int kw = 0; kw < KW; kw++) {
                const int ow_stride = iw + padding - kw;
                if (ow_stride < 0 || ow_stride % stride != 0 || ow_stride / stride >= OW) continue;
                const long m = ((long)n * OH + oh_stride / stride) * OW + ow_stride / stride;
                sum += to_float(col[m * K + ((long)kh * KW + kw) * C + c]);
            }
        }
        dx[i] = from_float<T>(sum);
    }
}

extern "C" __global__ void im2col_f32(IM2COL_ARGS(float)) { im2col(x, col, N, H, W, C, KH, KW, stride, padding, OH, OW); }
extern "C" __global__ void im2col_bf16(IM2COL_ARGS(bf16)) { im2col(x, col, N, H, W, C, KH, KW, stride, padding, OH, OW); }
extern "C" __global__ void im2col_f32_bf16(const float* x, bf16* col, int N, int H, int W, int C, int KH, int KW,
                                           int stride, int padding, int OH, int OW) {
    im2col(x, col, N, H, W, C, KH, KW, stride, padding, OH, OW);
}
extern "C" __global__ void col2im_f32(const float* col, float* dx, int N, int H, int W, int C, int KH, int KW,
                                      int stride, int padding, int OH, int OW) {
    col2im(col, dx, N, H, W, C, KH, KW, stride, padding, OH, OW);
}
extern "C" __global__ void col2im_bf16(const bf16* col, bf16* dx, int N, int H, int W, int C, int KH, int KW,
                                       int stride, int padding, int OH, int OW) {
    col2im(col, dx, N, H, W, C, KH, KW, stride, padding, OH, OW);
}
extern "C" __global__ void transposed_conv_weight_bf16(const float* w, bf16* wt, int Cout, int KH, int KW, int Cin) {
    GRID_STRIDE_LOOP(i, (long)Cout * KH * KW * Cin) {
        const int co = (int)(i % Cout), kw = (int)((i / Cout) % KW), kh = (int)((i / ((long)Cout * KW)) % KH);
        const int ci = (int)(i / ((long)Cout * KW * KH));
        wt[i] = from_float<bf16>(w[(((long)co * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)) * Cin + ci]);
    }
}
"""#, kernels: ["im2col_f32", "im2col_bf16", "im2col_f32_bf16", "col2im_f32", "col2im_bf16", "transposed_conv_weight_bf16"])

/// How the backend launches the im2col family (addresses are device pointers; `columns` holds
/// `geometry.outputPixels × geometry.patchSize` elements).
public enum Im2colLaunch {
    static func sizes(_ g: ConvGeometry) -> [KernelArgument] {
        [.int(g.batch), .int(g.height), .int(g.width), .int(g.inChannels), .int(g.kernelHeight), .int(g.kernelWidth),
         .int(g.stride), .int(g.padding), .int(g.outHeight), .int(g.outWidth)]
    }

    public static func im2col(input: UInt64, columns: UInt64, geometry g: ConvGeometry, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(g.outputPixels * g.patchSize)
        return KernelLaunch(type.entry("im2col"), grid: shape.grid, block: shape.block,
                            [.address(input), .address(columns)] + sizes(g))
    }

    /// fp32 activations to bf16 columns (`columns` holds `outputPixels × patchSize` bf16 values): the A operand
    /// of a bf16 convolution GEMM, rounded as it is gathered.
    public static func im2colRoundedToBF16(input: UInt64, columns: UInt64, geometry g: ConvGeometry) -> KernelLaunch {
        let shape = LaunchShape.elementwise(g.outputPixels * g.patchSize)
        return KernelLaunch("im2col_f32_bf16", grid: shape.grid, block: shape.block, [.address(input), .address(columns)] + sizes(g))
    }

    /// The OHWI weight of geometry `g` (fp32) flipped in space with its channels swapped, rounded to bf16
    /// into `transposed` (`[inChannels, KH, KW, outChannels]`): the weight of `g.dataGradientAsConvolution`.
    public static func transposedWeightRoundedToBF16(weight: UInt64, transposed: UInt64, geometry g: ConvGeometry) -> KernelLaunch {
        let shape = LaunchShape.elementwise(g.weightShape.reduce(1, *))
        return KernelLaunch("transposed_conv_weight_bf16", grid: shape.grid, block: shape.block,
                            [.address(weight), .address(transposed), .int(g.outChannels), .int(g.kernelHeight),
                             .int(g.kernelWidth), .int(g.inChannels)])
    }

    /// The data gradient from the column gradient `dcol = dy · W` (`[outputPixels, patchSize]`).
    public static func col2im(columns: UInt64, gradInput: UInt64, geometry g: ConvGeometry, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(g.inputShape.reduce(1, *))
        return KernelLaunch(type.entry("col2im"), grid: shape.grid, block: shape.block,
                            [.address(columns), .address(gradInput)] + sizes(g))
    }
}

extension ConvGeometry {
    /// For a stride-1 convolution, the convolution whose forward pass is this one's data gradient: the
    /// adjoint of a stride-1 correlation is the correlation of dy, padded K−1−p, with the kernel flipped
    /// in space and its input and output channels swapped. It maps the output `[N, OH, OW, Cout]` back to
    /// `[N, H, W, Cin]` (OH + 2(K−1−p) − K + 1 = H). nil for a stride above 1 or padding beyond K − 1.
    public var dataGradientAsConvolution: ConvGeometry? {
        guard stride == 1, kernelHeight == kernelWidth, padding <= kernelHeight - 1 else { return nil }
        return ConvGeometry(batch: batch, height: outHeight, width: outWidth, inChannels: outChannels,
                            outChannels: inChannels, kernelSize: kernelHeight, stride: 1, padding: kernelHeight - 1 - padding)
    }
}
