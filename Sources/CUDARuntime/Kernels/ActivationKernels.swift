/// ReLU, forward and backward, on fp32 and bf16 activations (one thread per element, grid-stride).
///
///     relu_forward_T(x [n], y [n], n)            y = max(x, 0)
///     relu_backward_T(y [n], dy [n], dx [n], n)  dx = dy where y > 0, else 0 (the Backend's convention:
///                                                 the mask comes from the output, so y may alias x)
let activationKernels = KernelSource.family("activation", #"""
template <typename T> __device__ void relu_forward(const T* x, T* y, long n) {
    GRID_STRIDE_LOOP(i, n) y[i] = from_float<T>(fmaxf(to_float(x[i]), 0.0f));
}

template <typename T> __device__ void relu_backward(const T* y, const T* dy, T* dx, long n) {
    GRID_STRIDE_LOOP(i, n) dx[i] = to_float(y[i]) > 0.0f ? dy[i] : from_float<T>(0.0f);
}

extern "C" __global__ void relu_forward_f32(const float* x, float* y, long n) { relu_forward(x, y, n); }
extern "C" __global__ void relu_forward_bf16(const bf16* x, bf16* y, long n) { relu_forward(x, y, n); }
extern "C" __global__ void relu_backward_f32(const float* y, const float* dy, float* dx, long n) {
    relu_backward(y, dy, dx, n);
}
extern "C" __global__ void relu_backward_bf16(const bf16* y, const bf16* dy, bf16* dx, long n) {
    relu_backward(y, dy, dx, n);
}
"""#, kernels: ["relu_forward_f32", "relu_forward_bf16", "relu_backward_f32", "relu_backward_bf16"])

/// How the backend launches the activation family (addresses are device pointers).
public enum ActivationLaunch {
    public static func reluForward(input: UInt64, output: UInt64, count: Int, type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch(type.entry("relu_forward"), grid: shape.grid, block: shape.block,
                            [.address(input), .address(output), .long(count)])
    }

    public static func reluBackward(output: UInt64, gradOutput: UInt64, gradInput: UInt64, count: Int,
                                    type: ActivationType) -> KernelLaunch {
        let shape = LaunchShape.elementwise(count)
        return KernelLaunch(type.entry("relu_backward"), grid: shape.grid, block: shape.block,
                            [.address(output), .address(gradOutput), .address(gradInput), .long(count)])
    }
}
