/// Row-wise operations on `[N, D]` matrices, for losses that run on the device (SimCLR's NT-Xent):
///
///     l2_normalize_rows(x [N, D], y [N, D], norms [N], D)        norms = max(‖x‖, 1e-12), y = x / norms
///     l2_normalize_rows_backward(dy, y, norms, dx, D)            dx = (dy − y·(y·dy)) / norms (a clamped row
///                                                                  is scaled, not projected: PyTorch's gradient)
///     fill_diagonal(m [N, N], N, value)                          m[i, i] = value
///     covariance_regularizer(S [D, D], G [D, D], terms [D, 2], D, unbias, eps, mu, nu)
///         VICReg's G = ∂(μ·v/2 + ν·c)/∂C for C = S·unbias, and per row [relu(1 − s_d), Σ_{j≠d} C_dj²]
///
/// One block per row (32·k threads), norms and dot products summed in double (as the CPU backend's).
let rowKernels = KernelSource.family("rows", #"""
extern "C" __global__ void l2_normalize_rows(const float* x, float* y, float* norms, int D) {
    const long row = blockIdx.x;
    const float* xr = x + row * D;
    double sum = 0.0;
    for (int j = threadIdx.x; j < D; j += blockDim.x) sum += (double)xr[j] * (double)xr[j];
    sum = block_sum(sum);
    const double norm = fmax(sqrt(sum), 1e-12);
    for (int j = threadIdx.x; j < D; j += blockDim.x) y[row * D + j] = (float)((double)xr[j] / norm);
    if (threadIdx.x == 0) norms[row] = (float)norm;
}

extern "C" __global__ void l2_normalize_rows_backward(const float* dy, const float* y, const float* norms, float* dx,
                                                      int D) {
    const long row = blockIdx.x;
    const double norm = (double)norms[row];
    double dot = 0.0;
    for (int j = threadIdx.x; j < D; j += blockDim.x) dot += (double)y[row * D + j] * (double)dy[row * D + j];
    dot = block_sum(dot);
    if (!(norm > 1e-12)) dot = 0.0;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        dx[row * D + j] = (float)(((double)dy[row * D + j] - (double)y[row * D + j] * dot) / norm);
    }
}

extern "C" __global__ void fill_diagonal(float* m, long N, float value) {
    GRID_STRIDE_LOOP(i, N) m[i * N + i] = value;
}

extern "C" __global__ void covariance_regularizer(const float* S, float* G, float* terms, int D, double unbias,
                                                  double eps, double mu, double nu) {
    const long i = blockIdx.x;
    double covariance = 0.0;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        if (j == i) continue;
        const double c = (double)S[i * D + j] * unbias;
        covariance += c * c;
        G[i * D + j] = (float)(nu * 2.0 * c / (double)D);
    }
    covariance = block_sum(covariance);
    if (threadIdx.x == 0) {
        const double s = sqrt((double)S[i * D + i] * unbias + eps);
        G[i * D + i] = s < 1.0 ? (float)(-mu / 2.0 / (2.0 * (double)D * s)) : 0.0f;
        terms[2 * i] = (float)fmax(0.0, 1.0 - s);
        terms[2 * i + 1] = (float)covariance;
    }
}
"""#, kernels: ["l2_normalize_rows", "l2_normalize_rows_backward", "fill_diagonal", "covariance_regularizer"],
   synchronizing: ["l2_normalize_rows", "l2_normalize_rows_backward", "covariance_regularizer"])

/// How the backend launches the row family (addresses are device pointers).
public enum RowLaunch {
    static func perRow(_ rows: Int, _ columns: Int) -> (grid: LaunchDimensions, block: LaunchDimensions) {
        (LaunchDimensions(rows), LaunchDimensions(min(max((columns + 31) / 32 * 32, 32), 256)))
    }

    public static func l2Normalize(input: UInt64, output: UInt64, norms: UInt64, rows: Int, columns: Int) -> KernelLaunch {
        let shape = perRow(rows, columns)
        return KernelLaunch("l2_normalize_rows", grid: shape.grid, block: shape.block,
                            [.address(input), .address(output), .address(norms), .int(columns)])
    }

    public static func l2NormalizeBackward(gradOutput: UInt64, output: UInt64, norms: UInt64, gradInput: UInt64,
                                           rows: Int, columns: Int) -> KernelLaunch {
        let shape = perRow(rows, columns)
        return KernelLaunch("l2_normalize_rows_backward", grid: shape.grid, block: shape.block,
                            [.address(gradOutput), .address(output), .address(norms), .address(gradInput), .int(columns)])
    }

    public static func covarianceRegularizer(scatter: UInt64, gradient: UInt64, rowTerms: UInt64, size: Int, count: Int,
                                             epsilon: Double, varianceWeight: Double, covarianceWeight: Double) -> KernelLaunch {
        let shape = perRow(size, size)
        return KernelLaunch("covariance_regularizer", grid: shape.grid, block: shape.block,
                            [.address(scatter), .address(gradient), .address(rowTerms), .int(size),
                             .float64(1 / Double(count - 1)), .float64(epsilon), .float64(varianceWeight),
                             .float64(covarianceWeight)])
    }

    public static func fillDiagonal(_ matrix: UInt64, size: Int, with value: Float) -> KernelLaunch {
        let shape = LaunchShape.elementwise(size)
        return KernelLaunch("fill_diagonal", grid: shape.grid, block: shape.block, [.address(matrix), .long(size), .float32(value)])
    }
}
