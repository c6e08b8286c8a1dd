/// Shape of one 2-D convolution over an NHWC batch.
///
/// Input `[N, H, W, Cin]`, weight `[Cout, KH, KW, Cin]` (OHWI), output `[N, OH, OW, Cout]`, with
/// `OH = (H + 2·padding − KH) / stride + 1` (PyTorch's formula with dilation 1).
public struct ConvGeometry: Equatable, Sendable {
    public let batch, height, width, inChannels: Int
    public let outChannels, kernelHeight, kernelWidth, stride, padding: Int

    public init(batch: Int, height: Int, width: Int, inChannels: Int,
                outChannels: Int, kernelSize: Int, stride: Int, padding: Int) {
        self.batch = batch; self.height = height; self.width = width; self.inChannels = inChannels
        self.outChannels = outChannels; self.kernelHeight = kernelSize; self.kernelWidth = kernelSize
        self.stride = stride; self.padding = padding
    }

    public var outHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    /// Rows of the im2col matrix: one per output pixel.
    public var outputPixels: Int { batch * outHeight * outWidth }
    /// Columns of the im2col matrix: one per weight of one output channel.
    public var patchSize: Int { kernelHeight * kernelWidth * inChannels }
    public var inputShape: [Int] { [batch, height, width, inChannels] }
    public var outputShape: [Int] { [batch, outHeight, outWidth, outChannels] }
    public var weightShape: [Int] { [outChannels, kernelHeight, kernelWidth, inChannels] }
    /// A 1x1, stride-1, unpadded convolution is a plain GEMM on the NHWC rows.
    public var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0 }
    /// Multiply-adds of the forward pass, times two: the FLOP count benchmarks use.
    public var forwardFLOPs: Double { 2 * Double(outputPixels) * Double(patchSize) * Double(outChannels) }
}

/// Shape of a max-pool window over NHWC input (square window; PyTorch semantics, padding is −∞).
public struct PoolGeometry: Equatable, Sendable {
    public let batch, height, width, channels, kernelSize, stride, padding: Int

    public init(batch: Int, height: Int, width: Int, channels: Int, kernelSize: Int, stride: Int, padding: Int) {
        self.batch = batch; self.height = height; self.width = width; self.channels = channels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
    }

    public var outHeight: Int { (height + 2 * padding - kernelSize) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernelSize) / stride + 1 }
    public var outputShape: [Int] { [batch, outHeight, outWidth, channels] }
}

/// Every kernel the models need, on tensors of one device.
///
/// Conventions: activations are NHWC; "rows" means all leading dimensions flattened, so a
/// `[N, H, W, C]` tensor is `N·H·W` rows of `C` channels. Backward kernels that produce a parameter
/// gradient *accumulate* into it; kernels that produce an activation gradient overwrite it.
public protocol Backend: AnyObject, Sendable {
    var device: Device { get }
    /// Threads the backend uses for its own loops (CPU) — informational on GPU.
    var threadCount: Int { get }

    /// A zero-filled tensor on this device.
    func zeros(_ shape: [Int]) -> Tensor
    func fill(_ tensor: Tensor, with value: Float)
    func copy(_ source: Tensor, to destination: Tensor)
    /// `tensor`'s values in host memory, for code that reads them there (losses, metrics, checkpoints): on
    /// the CPU the tensor itself (no copy; do not write through it), on a GPU a fresh host copy.
    func onHost(_ tensor: Tensor) -> Tensor
    /// Copies the host tensor `source` into `destination`, a tensor of this backend (CPU: a plain copy).
    func upload(_ source: Tensor, to destination: Tensor)
    /// Copies `source`, a tensor of this backend, into the host tensor `destination` (CPU: a plain copy).
    func download(_ source: Tensor, to destination: Tensor)
    /// What moves the training batches from host memory to this backend (default: `CopyingBatchUploader`).
    func makeBatchUploader() -> any BatchUploader
    /// The backend for work that stays fp32 whatever the precision (the losses): this backend, or for a
    /// reduced-precision GPU backend an fp32 one on the same device and stream.
    var fullPrecision: any Backend { get }

    /// `c = alpha · op(a) · op(b) + beta · c`, row-major, `op(a)` is `m×k`, `op(b)` is `k×n`.
    func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
              alpha: Float, a: Tensor, b: Tensor, beta: Float, c: Tensor)

    // MARK: Convolution (NHWC, weight OHWI)
    func convolutionForward(input: Tensor, weight: Tensor, output: Tensor, geometry: ConvGeometry)
    /// Overwrites `gradInput` with ∂L/∂input.
    func convolutionBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: ConvGeometry)
    /// Adds ∂L/∂weight to `gradWeight`.
    func convolutionBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, geometry: ConvGeometry)

    // MARK: Batch normalisation over rows, per channel
    /// Per-channel mean and biased variance of `input` viewed as `[rows, C]`.
    func batchNormStatistics(input: Tensor, mean: Tensor, variance: Tensor)
    /// `output = (input − mean) / sqrt(variance + epsilon) · weight + bias`, per channel.
    func batchNormForward(input: Tensor, mean: Tensor, variance: Tensor, weight: Tensor, bias: Tensor,
                          epsilon: Float, output: Tensor)
    /// Per-channel `Σ dy` and `Σ dy · x̂` where `x̂ = (x − mean)/sqrt(var + eps)`.
    func batchNormBackwardReduce(gradOutput: Tensor, input: Tensor, mean: Tensor, variance: Tensor, epsilon: Float,
                                 sumGradient: Tensor, sumGradientNormalized: Tensor)
    /// `dx = w/σ · (dy − Σdy/count − x̂ · Σ(dy·x̂)/count)`, with sums over `count` rows (all ranks for SyncBN).
    func batchNormBackwardInput(gradOutput: Tensor, input: Tensor, mean: Tensor, variance: Tensor, weight: Tensor,
                                epsilon: Float, sumGradient: Tensor, sumGradientNormalized: Tensor, count: Int,
                                gradInput: Tensor)
    /// SyncBatchNorm's combination of R ranks' statistics, each rank holding the same number of rows:
    /// `gathered` is `[R, 2, C]` (every rank's `[mean; biased variance]` in rank order); `mean` and
    /// `variance` `[C]` become the global batch's, `mean = 1/R Σ mean_r`, `var = 1/R Σ [var_r + (mean_r − mean)²]`
    /// (Chan et al.'s pairwise combination: no E[x²] − E[x]² cancellation), in double.
    func batchNormCombineRanks(gathered: Tensor, mean: Tensor, variance: Tensor)
    /// `running = (1 − momentum)·running + momentum·batch`, with the unbiased variance `var·count/(count−1)`.
    func batchNormUpdateRunning(mean: Tensor, variance: Tensor, count: Int, momentum: Float,
                                runningMean: Tensor, runningVariance: Tensor)

    // MARK: Rows (losses on the device)
    /// `output = x / max(‖x‖, 1e-12)` per row of `input` `[N, D]` (PyTorch's `F.normalize(x, dim=1)`); `norms`
    /// `[N]` gets the clamped norms, which the backward needs. Sums in double.
    func l2NormalizeRows(input: Tensor, output: Tensor, norms: Tensor)
    /// Overwrites `gradInput` with `(dy − y·(y·dy)) / norm` per row (`y` the forward's output); a row whose
    /// norm was clamped is only scaled.
    func l2NormalizeRowsBackward(gradOutput: Tensor, output: Tensor, norms: Tensor, gradInput: Tensor)
    /// Sets the diagonal of the square `[N, N]` `matrix` to `value`.
    func fillDiagonal(_ matrix: Tensor, with value: Float)
    /// VICReg's variance and covariance terms of one branch from its centred scatter `S` `[D, D]` over `count`
    /// rows (Bardes et al. 2022, eqs. 1-4; `VICRegLoss.regularizer` on the host): with `C = S/(count − 1)`,
    /// `s_d = sqrt(C_dd + epsilon)`, writes `G = ∂(μ·v/2 + ν·c)/∂C` into `gradient` (`ν·2·C_ij/D` off the
    /// diagonal, `−μ/2 / (2·D·s_d)` where `s_d < 1`, else 0) and per row into `rowTerms` `[D, 2]`:
    /// `[max(0, 1 − s_d), Σ_{j≠d} C_dj²]`, which sum (over D, then ÷ D) to v and c. Each row in double.
    func covarianceRegularizer(scatter: Tensor, count: Int, epsilon: Double, varianceWeight: Double,
                               covarianceWeight: Double, gradient: Tensor, rowTerms: Tensor)

    // MARK: Element-wise
    func reluForward(input: Tensor, output: Tensor)
    /// `gradInput = gradOutput` where `output > 0`, else 0.
    func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor)
    /// `output = a + b`.
    func add(_ a: Tensor, _ b: Tensor, output: Tensor)
    /// `target += alpha · source`.
    func accumulate(_ source: Tensor, into target: Tensor, alpha: Float)
    /// `tensor *= factor`.
    func scale(_ tensor: Tensor, by factor: Float)
    /// `Σ x²` in double precision.
    func sumOfSquares(_ tensor: Tensor) -> Double

    // MARK: Pooling
    func maxPoolForward(input: Tensor, output: Tensor, geometry: PoolGeometry)
    /// Routes each output gradient to the first maximal input of its window (PyTorch's tie rule).
    func maxPoolBackward(input: Tensor, output: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: PoolGeometry)
    /// `[N, H, W, C] → [N, C]` mean over H and W.
    func globalAveragePoolForward(input: Tensor, output: Tensor)
    func globalAveragePoolBackward(gradOutput: Tensor, gradInput: Tensor)

    // MARK: Linear layers
    /// `output[r, :] += bias` for every row.
    func addBias(_ bias: Tensor, to output: Tensor)
    /// `gradBias += Σ_rows gradOutput`.
    func accumulateBiasGradient(gradOutput: Tensor, gradBias: Tensor)

    // MARK: Losses
    /// Mean softmax cross-entropy of `logits [N, K]` against class `labels`; writes ∂loss/∂logits.
    func softmaxCrossEntropy(logits: Tensor, labels: [Int32], gradLogits: Tensor) -> Double

    // MARK: Optimisers
    /// PyTorch SGD: `g = grad + wd·p; v = momentum·v + g; p −= lr·(nesterov ? g + momentum·v : v)`.
    func sgdStep(parameters: Tensor, gradients: Tensor, momentumBuffer: Tensor, learningRate: Float,
                 momentum: Float, weightDecay: Float, nesterov: Bool)
    /// LARS for one tensor (solo-learn's `LARS.step`, PyTorch momentum convention): the caller computes the
    /// tensor's `trustRatio` from its norms; then `d = trustRatio·(grad + wd·p); v = momentum·v + d; p −= lr·v`.
    /// A tensor excluded from adaptation passes `trustRatio` 1 and `weightDecay` 0 (plain momentum SGD).
    func larsStep(parameters: Tensor, gradients: Tensor, momentumBuffer: Tensor, learningRate: Float,
                  momentum: Float, weightDecay: Float, trustRatio: Float)
    /// PyTorch AdamW (decoupled weight decay, bias-corrected moments), optimiser step `step` (1-based):
    /// `p −= lr·wd·p; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
    ///  p −= lr/(1−β1^step) · m / (sqrt(v)/sqrt(1−β2^step) + eps)`.
    /// The betas are doubles because PyTorch forms 1 − β in double: 1 − Float(0.999) is 1.3e-5 off 0.001.
    func adamwStep(parameters: Tensor, gradients: Tensor, firstMoment: Tensor, secondMoment: Tensor,
                   learningRate: Float, beta1: Double, beta2: Double, epsilon: Float, weightDecay: Float, step: Int)
}

extension Backend {
    public func makeBatchUploader() -> any BatchUploader { CopyingBatchUploader(backend: self) }
    public var fullPrecision: any Backend { self }

    /// `host` as a tensor of this backend: the tensor itself on the CPU, an uploaded copy on a GPU.
    public func deviceCopy(_ host: Tensor) -> Tensor {
        guard device != .cpu else { return host }
        let onDevice = zeros(host.shape)
        upload(host, to: onDevice)
        return onDevice
    }
}
