import Engine

/// Fully connected layer `y = x·Wᵀ + b`. Input `[N, in]`, weight `[out, in]` (PyTorch layout), output `[N, out]`.
public final class Linear: Layer {
    public let inFeatures, outFeatures: Int
    let backend: any Backend
    let store: ParameterStore
    let weight: ParameterHandle
    let bias: ParameterHandle?
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    public init(_ name: String, inFeatures: Int, outFeatures: Int, bias hasBias: Bool = true,
                store: ParameterStore, backend: any Backend) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures; self.store = store; self.backend = backend
        let bound = 1 / Double(inFeatures).squareRoot()
        weight = store.register(name + ".weight", shape: [outFeatures, inFeatures], role: .weight,
                                initializer: .uniform(bound: bound))
        bias = hasBias ? store.register(name + ".bias", shape: [outFeatures], role: .bias,
                                        initializer: .uniform(bound: bound)) : nil
    }

    public func forward(_ x: Tensor) -> Tensor {
        let n = x.shape[0]
        precondition(x.count == n * inFeatures, "linear expects [N, \(inFeatures)], got \(x.shape)")
        let y = reuse(&output, [n, outFeatures], backend)
        backend.gemm(transposeA: false, transposeB: true, m: n, n: outFeatures, k: inFeatures,
                     alpha: 1, a: x, b: store.value(weight), beta: 0, c: y)
        if let bias { backend.addBias(store.value(bias), to: y) }
        input = x
        return y
    }

    /// FLOPs of the last forward pass's GEMM (2·N·in·out).
    public var forwardFLOPs: Double { 2 * Double(input?.shape[0] ?? 0) * Double(inFeatures * outFeatures) }

    /// FLOPs of the last forward pass's three GEMMs in a training step.
    public var trainingFLOPs: Double { 3 * forwardFLOPs }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        let n = x.shape[0]
        // dW[out, in] += dyᵀ[out, N] · x[N, in];  db += Σ_rows dy;  dx[N, in] = dy[N, out] · W[out, in].
        backend.gemm(transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: n,
                     alpha: 1, a: dy, b: x, beta: 1, c: store.gradient(weight))
        if let bias { backend.accumulateBiasGradient(gradOutput: dy, gradBias: store.gradient(bias)) }
        let dx = reuse(&gradInput, x.shape, backend)
        backend.gemm(transposeA: false, transposeB: false, m: n, n: inFeatures, k: outFeatures,
                     alpha: 1, a: dy, b: store.value(weight), beta: 0, c: dx)
        return dx
    }
}
