import Engine
#if canImport(Glibc)
import Glibc
#endif

/// The `Backend` protocol on a GPU: tensors live in device memory (`Storage(adopting:)`, so `pointer` is a
/// device address the host never dereferences) and every op is a few launches of the kernel families in
/// `Kernels/` or a cuBLAS GEMM, queued in order on the device's stream. fp32 storage; the GEMMs multiply
/// fp32 operands (TF32 off, the reference the on-GPU equivalence checks use) or, with `precision` bf16,
/// operands rounded to bf16 on the tensor cores with fp32 accumulation (see `Precision`).
///
/// Results that come back to the host (`sumOfSquares`, the cross-entropy's mean) synchronise. A device
/// error inside an op cannot be thrown through the non-throwing `Backend` methods; it stops the process
/// with the library's message (`onDeviceError`), as a lost GPU leaves nothing to continue with.
///
/// `@unchecked Sendable`: one training thread drives a backend; `scratch` is only touched from it.
public final class CUDABackend: FusedLARSBackend, @unchecked Sendable {
    public let gpu: any GPUDevice
    public var device: Device { .cuda(gpu.index) }
    public var threadCount: Int { 1 }
    public let precision: Precision
    /// Reusable device memory for im2col columns, BN partial sums, labels and reductions.
    private var scratch: (address: UInt64, bytes: Int) = (0, 0)
    /// Reusable device memory for the bf16 copies of a GEMM's two operands (`precision` bf16).
    private var operandScratch: [(address: UInt64, bytes: Int)] = [(0, 0), (0, 0)]
    /// This backend in fp32, or for bf16 an fp32 twin on the same device (and so the same stream).
    public var fullPrecision: any Backend { precision == .fp32 ? self : fp32Twin }
    private lazy var fp32Twin = CUDABackend(device: gpu, precision: .fp32)
    /// When set, every kernel launch and cuBLAS call is synchronised and timed into it (`bench --profile`),
    /// the fp32 twin's too.
    public var kernelTimes: KernelTimes? {
        didSet { if precision != .fp32 { fp32Twin.kernelTimes = kernelTimes } }
    }
    /// What a device error does; the default prints it and exits with status 1.
    public var onDeviceError: (Error, String) -> Never = { error, operation in
        printError("disttrain: GPU error in \(operation): \(error)")
        exit(1)
    }

    public init(device: any GPUDevice, precision: Precision = .fp32) {
        gpu = device
        self.precision = precision
    }

    deinit { for buffer in [scratch] + operandScratch where buffer.bytes > 0 { gpu.free(buffer.address) } }

    // MARK: Memory

    public func zeros(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        let address = run("allocate \(shape)") { try gpu.allocate(bytes: max(count, 1) * 4) }
        let pointer = UnsafeMutablePointer<Float>(bitPattern: UInt(address))!
        let storage = Storage(adopting: pointer, count: count, device: device) { [gpu] in
            gpu.free(UInt64(UInt(bitPattern: $0)))
        }
        let tensor = Tensor(view: storage, offset: 0, shape: shape)
        fill(tensor, with: 0)
        return tensor
    }

    /// A device tensor holding `values`.
    public func tensor(_ shape: [Int], _ values: [Float]) -> Tensor {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) holds \(shape.reduce(1, *)) values, got \(values.count)")
        let tensor = zeros(shape)
        run("upload \(shape)") { try values.withUnsafeBytes { try gpu.upload($0.baseAddress!, to: address(tensor), bytes: $0.count) } }
        return tensor
    }

    /// A host copy of a device tensor; a host tensor (an optimiser's step counter) is returned as it is.
    public func onHost(_ tensor: Tensor) -> Tensor {
        tensor.device == .cpu ? tensor : Tensor(shape: tensor.shape, values: download(tensor))
    }

    /// Host to device; into a host destination (an optimiser's step counter) it is a host copy.
    public func upload(_ source: Tensor, to destination: Tensor) {
        precondition(source.device == .cpu && source.count == destination.count,
                     "upload: \(source) into \(destination)")
        if destination.device == .cpu { destination.assign(from: source); return }
        run("upload \(source.shape)") {
            try gpu.upload(UnsafeRawPointer(source.pointer), to: address(destination), bytes: source.count * 4)
        }
    }

    /// Device to host into an existing host tensor (synchronises); from a host source it is a host copy.
    public func download(_ source: Tensor, to destination: Tensor) {
        precondition(destination.device == .cpu && source.count == destination.count,
                     "download: \(source) into \(destination)")
        if source.device == .cpu { destination.assign(from: source); return }
        run("download \(source.shape)") {
            try gpu.download(address(source), to: UnsafeMutableRawPointer(destination.pointer), bytes: source.count * 4)
        }
    }

    /// Waits for every op queued so far (benchmarks time whole steps with it).
    public func synchronize() { run("synchronize") { try gpu.synchronize() } }

    /// The tensor's values on the host (synchronises).
    public func download(_ tensor: Tensor) -> [Float] {
        var values = [Float](repeating: 0, count: tensor.count)
        run("download \(tensor.shape)") {
            try values.withUnsafeMutableBytes { try gpu.download(address(tensor), to: $0.baseAddress!, bytes: $0.count) }
        }
        return values
    }

    public func fill(_ tensor: Tensor, with value: Float) {
        launch(ElementwiseLaunch.fill(address(tensor), count: tensor.count, with: value))
    }

    public func copy(_ source: Tensor, to destination: Tensor) {
        precondition(source.count == destination.count, "copy: \(source.shape) to \(destination.shape)")
        launch(ElementwiseLaunch.copy(address(source), to: address(destination), count: source.count))
    }

    // MARK: GEMM and convolution

    /// Row-major `C = alpha·op(A)·op(B) + beta·C` through column-major cuBLAS: a row-major `m×n` matrix is
    /// the column-major `n×m` matrix of its transpose, so cuBLAS computes `Cᵀ = op(B)ᵀ·op(A)ᵀ` with the
    /// operands swapped, each with its row-major row length as leading dimension.
    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, a: Tensor, b: Tensor, beta: Float, c: Tensor) {
        gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
             a: address(a), b: address(b), beta: beta, c: address(c))
    }

    func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UInt64, b: UInt64,
              beta: Float, c: UInt64) {
        // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands, keep the flags.
        guard precision == .bf16 else {
            run("gemm \(m)x\(n)x\(k)") {
                try timed("cuBLAS sgemm") {
                    try gpu.sgemmColumnMajor(transposeA: transposeB, transposeB: transposeA, m: n, n: m, k: k, alpha: alpha,
                                         a: b, lda: transposeB ? k : n, b: a, ldb: transposeA ? m : k,
                                         beta: beta, c: c, ldc: n)
                }
            }
            return
        }
        bf16GEMM(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                 a16: bf16Copy(a, count: m * k, slot: 0), b16: bf16Copy(b, count: k * n, slot: 1), beta: beta, c: c)
    }

    /// The bf16 GEMM on operands already rounded to bf16 (`a16`, `b16`), row-major as `gemm`.
    private func bf16GEMM(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a16: UInt64, b16: UInt64,
                          beta: Float, c: UInt64) {
        run("bf16 gemm \(m)x\(n)x\(k)") {
            try timed("cuBLAS GemmEx bf16") {
                try gpu.bf16GemmColumnMajor(transposeA: transposeB, transposeB: transposeA, m: n, n: m, k: k, alpha: alpha,
                                            a: b16, lda: transposeB ? k : n, b: a16, ldb: transposeA ? m : k,
                                            beta: beta, c: c, ldc: n)
            }
        }
    }

    /// `count` fp32 values at `source` rounded to bf16 into operand buffer `slot` (0: A, 1: B).
    private func bf16Copy(_ source: UInt64, count: Int, slot: Int) -> UInt64 {
        let buffer = bf16Operand(count: count, slot: slot)
        launch(ElementwiseLaunch.toBF16(source, into: buffer, count: count))
        return buffer
    }

    /// Operand buffer `slot` (0: A, 1: B), grown to at least `count` bf16 values.
    private func bf16Operand(count: Int, slot: Int) -> UInt64 {
        let bytes = max(count, 1) * 2
        if bytes > operandScratch[slot].bytes {
            run("grow the bf16 operand buffer to \(bytes) bytes") {
                try gpu.synchronize()
                if operandScratch[slot].bytes > 0 { gpu.free(operandScratch[slot].address) }
                operandScratch[slot] = (try gpu.allocate(bytes: bytes), bytes)
            }
        }
        return operandScratch[slot].address
    }

    /// `out [M, Cout] = col [M, K] · Wᵀ` with the OHWI weight as `[Cout, K]`; a 1x1 convolution's `col` is
    /// the input itself. In bf16 the columns are gathered straight into the GEMM's bf16 operand.
    public func convolutionForward(input: Tensor, weight: Tensor, output: Tensor, geometry g: ConvGeometry) {
        if precision == .bf16 && !g.isPointwise {
            bf16GEMM(transposeA: false, transposeB: true, m: g.outputPixels, n: g.outChannels, k: g.patchSize, alpha: 1,
                     a16: bf16Columns(input, g, slot: 0), b16: bf16Copy(address(weight), count: weight.count, slot: 1),
                     beta: 0, c: address(output))
            return
        }
        let columns = g.isPointwise ? address(input) : im2col(input, g)
        gemm(transposeA: false, transposeB: true, m: g.outputPixels, n: g.outChannels, k: g.patchSize, alpha: 1,
             a: columns, b: address(weight), beta: 0, c: address(output))
    }

    /// `dcol [M, K] = dy [M, Cout] · W [Cout, K]`, then col2im (a 1x1's `dcol` is the input gradient).
    /// In bf16 a stride-1 convolution's gradient is instead the forward convolution of dy with the flipped,
    /// channel-swapped weight (`dataGradientAsConvolution`): dy's columns gathered straight into bf16 and
    /// the GEMM writing fp32 dx, so neither fp32 columns (4 bytes written and read per column value) nor
    /// col2im's pass.
    public func convolutionBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry g: ConvGeometry) {
        if precision == .bf16 && !g.isPointwise, let t = g.dataGradientAsConvolution {
            let transposed = bf16Operand(count: weight.count, slot: 1)
            launch(Im2colLaunch.transposedWeightRoundedToBF16(weight: address(weight), transposed: transposed, geometry: g))
            bf16GEMM(transposeA: false, transposeB: true, m: t.outputPixels, n: t.outChannels, k: t.patchSize, alpha: 1,
                     a16: bf16Columns(gradOutput, t, slot: 0), b16: transposed, beta: 0, c: address(gradInput))
            return
        }
        if g.isPointwise {
            gemm(transposeA: false, transposeB: false, m: g.outputPixels, n: g.patchSize, k: g.outChannels, alpha: 1,
                 a: address(gradOutput), b: address(weight), beta: 0, c: address(gradInput))
            return
        }
        let columns = scratchSpace(floats: g.outputPixels * g.patchSize, "convolution columns")
        gemm(transposeA: false, transposeB: false, m: g.outputPixels, n: g.patchSize, k: g.outChannels, alpha: 1,
             a: address(gradOutput), b: address(weight), beta: 0, c: columns)
        launch(Im2colLaunch.col2im(columns: columns, gradInput: address(gradInput), geometry: g, type: .f32))
    }

    /// `dW [Cout, K] += dyᵀ [Cout, M] · col [M, K]` (in bf16 with the columns gathered straight into bf16).
    public func convolutionBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, geometry g: ConvGeometry) {
        if precision == .bf16 && !g.isPointwise {
            bf16GEMM(transposeA: true, transposeB: false, m: g.outChannels, n: g.patchSize, k: g.outputPixels, alpha: 1,
                     a16: bf16Copy(address(gradOutput), count: gradOutput.count, slot: 0), b16: bf16Columns(input, g, slot: 1),
                     beta: 1, c: address(gradWeight))
            return
        }
        let columns = g.isPointwise ? address(input) : im2col(input, g)
        gemm(transposeA: true, transposeB: false, m: g.outChannels, n: g.patchSize, k: g.outputPixels, alpha: 1,
             a: address(gradOutput), b: columns, beta: 1, c: address(gradWeight))
    }

    /// The im2col columns of `input`, rounded to bf16 as they are gathered, in operand buffer `slot`.
    private func bf16Columns(_ input: Tensor, _ g: ConvGeometry, slot: Int) -> UInt64 {
        let columns = bf16Operand(count: g.outputPixels * g.patchSize, slot: slot)
        launch(Im2colLaunch.im2colRoundedToBF16(input: address(input), columns: columns, geometry: g))
        return columns
    }

    private func im2col(_ input: Tensor, _ g: ConvGeometry) -> UInt64 {
        let columns = scratchSpace(floats: g.outputPixels * g.patchSize, "convolution columns")
        launch(Im2colLaunch.im2col(input: address(input), columns: columns, geometry: g, type: .f32))
        return columns
    }

    // MARK: Batch normalisation

    public func batchNormStatistics(input: Tensor, mean: Tensor, variance: Tensor) {
        let (rows, channels) = rowsAndChannels(input, mean)
        let partial = scratchSpace(floats: BatchNormLaunch.scratchCount(rows: rows, channels: channels), "BN partial sums")
        launch(BatchNormLaunch.statistics(input: address(input), rows: rows, channels: channels, scratch: partial,
                                          mean: address(mean), variance: address(variance), type: .f32))
    }

    public func batchNormForward(input: Tensor, mean: Tensor, variance: Tensor, weight: Tensor, bias: Tensor,
                                 epsilon: Float, output: Tensor) {
        let (rows, channels) = rowsAndChannels(input, mean)
        launch(BatchNormLaunch.forward(input: address(input), mean: address(mean), variance: address(variance),
                                       weight: address(weight), bias: address(bias), epsilon: epsilon,
                                       output: address(output), rows: rows, channels: channels, relu: false, type: .f32))
    }

    public func batchNormBackwardReduce(gradOutput: Tensor, input: Tensor, mean: Tensor, variance: Tensor, epsilon: Float,
                                        sumGradient: Tensor, sumGradientNormalized: Tensor) {
        let (rows, channels) = rowsAndChannels(input, mean)
        let partial = scratchSpace(floats: BatchNormLaunch.scratchCount(rows: rows, channels: channels), "BN partial sums")
        launch(BatchNormLaunch.backwardReduce(gradOutput: address(gradOutput), input: address(input), mean: address(mean),
                                              variance: address(variance), epsilon: epsilon, rows: rows,
                                              channels: channels, scratch: partial, sumGradient: address(sumGradient),
                                              sumGradientNormalized: address(sumGradientNormalized), type: .f32))
    }

    public func batchNormBackwardInput(gradOutput: Tensor, input: Tensor, mean: Tensor, variance: Tensor, weight: Tensor,
                                       epsilon: Float, sumGradient: Tensor, sumGradientNormalized: Tensor, count: Int,
                                       gradInput: Tensor) {
        let (rows, channels) = rowsAndChannels(input, mean)
        launch(BatchNormLaunch.backwardInput(gradOutput: address(gradOutput), input: address(input), mean: address(mean),
                                             variance: address(variance), weight: address(weight), epsilon: epsilon,
                                             sumGradient: address(sumGradient),
                                             sumGradientNormalized: address(sumGradientNormalized), count: count,
                                             gradInput: address(gradInput), rows: rows, channels: channels, type: .f32))
    }

    public func batchNormCombineRanks(gathered: Tensor, mean: Tensor, variance: Tensor) {
        precondition(mean.count == variance.count && gathered.count % (2 * mean.count) == 0,
                     "batchNormCombineRanks: \(gathered.shape) for \(mean.count) channels")
        launch(BatchNormLaunch.combineRanks(gathered: address(gathered), ranks: gathered.count / (2 * mean.count),
                                            mean: address(mean), variance: address(variance), channels: mean.count))
    }

    public func batchNormUpdateRunning(mean: Tensor, variance: Tensor, count: Int, momentum: Float,
                                       runningMean: Tensor, runningVariance: Tensor) {
        launch(BatchNormLaunch.updateRunning(mean: address(mean), variance: address(variance), count: count,
                                             momentum: momentum, runningMean: address(runningMean),
                                             runningVariance: address(runningVariance), channels: mean.count))
    }

    private func rowsAndChannels(_ input: Tensor, _ perChannel: Tensor) -> (Int, Int) {
        let channels = perChannel.count
        precondition(channels > 0 && input.count % channels == 0, "batch norm: \(input.shape) with \(channels) channels")
        return (input.count / channels, channels)
    }

    // MARK: Element-wise

    public func reluForward(input: Tensor, output: Tensor) {
        launch(ActivationLaunch.reluForward(input: address(input), output: address(output), count: input.count, type: .f32))
    }

    public func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor) {
        launch(ActivationLaunch.reluBackward(output: address(output), gradOutput: address(gradOutput),
                                             gradInput: address(gradInput), count: output.count, type: .f32))
    }

    public func add(_ a: Tensor, _ b: Tensor, output: Tensor) {
        precondition(a.count == b.count && a.count == output.count, "add: \(a.shape) + \(b.shape) -> \(output.shape)")
        launch(ElementwiseLaunch.add(address(a), address(b), output: address(output), count: a.count, type: .f32))
    }

    public func accumulate(_ source: Tensor, into target: Tensor, alpha: Float) {
        precondition(source.count == target.count, "accumulate: \(source.shape) into \(target.shape)")
        launch(ElementwiseLaunch.accumulate(address(source), into: address(target), count: source.count, alpha: alpha, type: .f32))
    }

    public func scale(_ tensor: Tensor, by factor: Float) {
        launch(ElementwiseLaunch.scale(address(tensor), count: tensor.count, by: factor, type: .f32))
    }

    public func sumOfSquares(_ tensor: Tensor) -> Double {
        let blocks = ElementwiseLaunch.sumOfSquaresBlocks(count: tensor.count)
        let partial = scratchSpace(floats: 2 * blocks + 2, "squared-norm partial sums")
        let total = partial + UInt64(8 * blocks)  // after the blocks' doubles
        launch(ElementwiseLaunch.sumOfSquares(address(tensor), count: tensor.count, scratch: partial, total: total))
        var result = 0.0
        run("download the squared norm") { try gpu.download(total, to: &result, bytes: 8) }
        return result
    }

    // MARK: Pooling

    public func maxPoolForward(input: Tensor, output: Tensor, geometry: PoolGeometry) {
        launch(PoolingLaunch.maxPoolForward(input: address(input), output: address(output), geometry: geometry, type: .f32))
    }

    public func maxPoolBackward(input: Tensor, output: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: PoolGeometry) {
        launch(PoolingLaunch.maxPoolBackward(input: address(input), output: address(output), gradOutput: address(gradOutput),
                                             gradInput: address(gradInput), geometry: geometry, type: .f32))
    }

    public func globalAveragePoolForward(input: Tensor, output: Tensor) {
        launch(PoolingLaunch.globalAveragePoolForward(input: address(input), output: address(output), batch: input.shape[0],
                                                      pixels: input.shape[1] * input.shape[2], channels: input.shape[3],
                                                      type: .f32))
    }

    public func globalAveragePoolBackward(gradOutput: Tensor, gradInput: Tensor) {
        launch(PoolingLaunch.globalAveragePoolBackward(gradOutput: address(gradOutput), gradInput: address(gradInput),
                                                       batch: gradInput.shape[0],
                                                       pixels: gradInput.shape[1] * gradInput.shape[2],
                                                       channels: gradInput.shape[3], type: .f32))
    }

    // MARK: Linear layers

    public func addBias(_ bias: Tensor, to output: Tensor) {
        launch(ElementwiseLaunch.addBias(address(bias), to: address(output), rows: output.count / bias.count,
                                         channels: bias.count, type: .f32))
    }

    public func accumulateBiasGradient(gradOutput: Tensor, gradBias: Tensor) {
        launch(ElementwiseLaunch.biasGradient(gradOutput: address(gradOutput), rows: gradOutput.count / gradBias.count,
                                              channels: gradBias.count, gradBias: address(gradBias)))
    }

    // MARK: Losses

    /// The labels go up and the per-row losses come back (synchronises); the mean is taken on the host in
    /// double, as the CPU backend's.
    public func softmaxCrossEntropy(logits: Tensor, labels: [Int32], gradLogits: Tensor) -> Double {
        let rows = logits.shape[0], classes = logits.count / rows
        precondition(labels.count == rows, "cross-entropy: \(rows) rows of logits, \(labels.count) labels")
        precondition(labels.allSatisfy { $0 >= 0 && Int($0) < classes }, "cross-entropy: a label outside 0..<\(classes)")
        let space = scratchSpace(floats: 2 * rows, "cross-entropy labels and losses")
        let labelAddress = space, lossAddress = space + UInt64(4 * rows)
        run("upload labels") { try labels.withUnsafeBytes { try gpu.upload($0.baseAddress!, to: labelAddress, bytes: $0.count) } }
        launch(LossLaunch.softmaxCrossEntropy(logits: address(logits), labels: labelAddress, losses: lossAddress,
                                              gradLogits: address(gradLogits), rows: rows, classes: classes,
                                              gradScale: 1 / Float(rows)))
        var losses = [Float](repeating: 0, count: rows)
        run("download losses") { try losses.withUnsafeMutableBytes { try gpu.download(lossAddress, to: $0.baseAddress!, bytes: $0.count) } }
        return losses.reduce(0.0) { $0 + Double($1) } / Double(rows)
    }

    // MARK: Rows

    public func l2NormalizeRows(input: Tensor, output: Tensor, norms: Tensor) {
        let rows = norms.count, columns = input.count / max(rows, 1)
        precondition(input.count == rows * columns && output.count == input.count, "l2NormalizeRows: \(input.shape), \(norms.shape)")
        launch(RowLaunch.l2Normalize(input: address(input), output: address(output), norms: address(norms),
                                     rows: rows, columns: columns))
    }

    public func l2NormalizeRowsBackward(gradOutput: Tensor, output: Tensor, norms: Tensor, gradInput: Tensor) {
        let rows = norms.count, columns = output.count / max(rows, 1)
        launch(RowLaunch.l2NormalizeBackward(gradOutput: address(gradOutput), output: address(output), norms: address(norms),
                                             gradInput: address(gradInput), rows: rows, columns: columns))
    }

    public func covarianceRegularizer(scatter: Tensor, count: Int, epsilon: Double, varianceWeight: Double,
                                      covarianceWeight: Double, gradient: Tensor, rowTerms: Tensor) {
        let d = scatter.shape[0]
        precondition(scatter.count == d * d && gradient.count == d * d && rowTerms.count == 2 * d && count >= 2,
                     "covarianceRegularizer: \(scatter.shape), \(gradient.shape), \(rowTerms.shape), \(count) rows")
        launch(RowLaunch.covarianceRegularizer(scatter: address(scatter), gradient: address(gradient),
                                               rowTerms: address(rowTerms), size: d, count: count, epsilon: epsilon,
                                               varianceWeight: varianceWeight, covarianceWeight: covarianceWeight))
    }

    public func fillDiagonal(_ matrix: Tensor, with value: Float) {
        let n = matrix.shape[0]
        precondition(matrix.count == n * n, "fillDiagonal: \(matrix.shape) is not square")
        launch(RowLaunch.fillDiagonal(address(matrix), size: n, with: value))
    }

    // MARK: Optimisers

    public func sgdStep(parameters: Tensor, gradients: Tensor, momentumBuffer: Tensor, learningRate: Float,
                        momentum: Float, weightDecay: Float, nesterov: Bool) {
        launch(OptimizerLaunch.sgd(parameters: address(parameters), gradients: address(gradients),
                                   momentumBuffer: address(momentumBuffer), count: parameters.count,
                                   learningRate: learningRate, momentum: momentum, weightDecay: weightDecay,
                                   nesterov: nesterov))
    }

    public func larsStep(parameters: Tensor, gradients: Tensor, momentumBuffer: Tensor, learningRate: Float,
                         momentum: Float, weightDecay: Float, trustRatio: Float) {
        launch(OptimizerLaunch.larsTensor(parameters: address(parameters), gradients: address(gradients),
                                          momentumBuffer: address(momentumBuffer), count: parameters.count,
                                          learningRate: learningRate, momentum: momentum, weightDecay: weightDecay,
                                          trustRatio: trustRatio))
    }

    /// LARS over the whole flat buffer in two launches (per-tensor squared norms in double, then the update),
    /// the trust ratios formed on the device: no norm comes back to the host, so the step does not
    /// synchronise. The plan's offsets, flags and rates are uploaded on first use and kept with the plan.
    public func larsStep(parameters: Tensor, gradients: Tensor, momentumBuffer: Tensor, plan: LARSPlan,
                         learningRate: Float, momentum: Float, weightDecay: Float, trustCoefficient: Float,
                         epsilon: Float, clipLearningRate: Bool) {
        precondition(plan.offsets.last == parameters.count && parameters.count == gradients.count
                         && parameters.count == momentumBuffer.count,
                     "larsStep: a plan for \(plan.offsets.last ?? 0) elements over \(parameters.count)")
        guard plan.tensorCount > 0 else { return }
        let onDevice = run("upload the LARS plan") { () throws -> LARSPlanOnDevice in
            if let copy = plan.deviceCopy as? LARSPlanOnDevice, copy.gpu === gpu { return copy }
            let copy = try LARSPlanOnDevice(plan, gpu: gpu)
            plan.deviceCopy = copy
            return copy
        }
        launch(OptimizerLaunch.lars(parameters: address(parameters), gradients: address(gradients),
                                    momentumBuffer: address(momentumBuffer), offsets: onDevice.offsets,
                                    adapted: onDevice.adapted, learningRateScales: onDevice.learningRateScales,
                                    norms: onDevice.norms, tensorCount: plan.tensorCount,
                                    largestTensor: plan.largestTensor, learningRate: learningRate, momentum: momentum,
                                    weightDecay: weightDecay, trustCoefficient: trustCoefficient, epsilon: epsilon,
                                    clipLearningRate: clipLearningRate))
    }

    public func adamwStep(parameters: Tensor, gradients: Tensor, firstMoment: Tensor, secondMoment: Tensor,
                          learningRate: Float, beta1: Double, beta2: Double, epsilon: Float, weightDecay: Float, step: Int) {
        launch(OptimizerLaunch.adamw(parameters: address(parameters), gradients: address(gradients),
                                     firstMoment: address(firstMoment), secondMoment: address(secondMoment),
                                     count: parameters.count, learningRate: learningRate, beta1: beta1, beta2: beta2,
                                     epsilon: epsilon, weightDecay: weightDecay, step: step))
    }

    // MARK: Plumbing

    /// The device address of the tensor's first element; the tensor must live on this backend's device.
    public func address(_ tensor: Tensor) -> UInt64 {
        precondition(tensor.device == device, "a \(tensor.device) tensor \(tensor.shape) passed to the \(device) backend")
        return UInt64(UInt(bitPattern: tensor.pointer))
    }

    /// At least `floats` × 4 bytes of scratch, grown (never shrunk) as ops ask. Ops are queued in order on one
    /// stream, so one op's scratch is free again when the next starts; freeing the old block waits for the
    /// device first.
    private func scratchSpace(floats: Int, _ purpose: String) -> UInt64 {
        let bytes = max(floats, 1) * 4
        if bytes > scratch.bytes {
            run("grow scratch for \(purpose) to \(bytes) bytes") {
                try gpu.synchronize()
                if scratch.bytes > 0 { gpu.free(scratch.address) }
                scratch = (try gpu.allocate(bytes: bytes), bytes)
            }
        }
        return scratch.address
    }

    private func launch(_ launch: KernelLaunch) { run("\(launch)") { try timed(launch.kernel) { try gpu.launch(launch) } } }

    /// `body`, timed into `kernelTimes` between two synchronisations when it is set.
    func timed(_ name: String, _ body: () throws -> Void) throws {
        guard let kernelTimes else { return try body() }
        try gpu.synchronize()
        let clock = ContinuousClock(), start = clock.now
        try body()
        try gpu.synchronize()
        let elapsed = clock.now - start
        kernelTimes.add(name, seconds: elapsed.seconds)
    }
    private func launch(_ launches: [KernelLaunch]) { for launch in launches { self.launch(launch) } }

    func run<R>(_ operation: @autoclosure () -> String, _ body: () throws -> R) -> R {
        do { return try body() } catch { onDeviceError(error, operation()) }
    }
}

/// A `LARSPlan` in device memory: offsets (int64), adapted flags (int32), learning-rate scales (fp32) and
/// the norms' scratch (2 doubles per tensor); freed with the plan.
final class LARSPlanOnDevice: @unchecked Sendable {
    let gpu: any GPUDevice
    let offsets, adapted, learningRateScales, norms: UInt64

    init(_ plan: LARSPlan, gpu: any GPUDevice) throws {
        self.gpu = gpu
        func upload<T>(_ values: [T]) throws -> UInt64 {
            let bytes = max(values.count, 1) * MemoryLayout<T>.stride
            let address = try gpu.allocate(bytes: bytes)
            try values.withUnsafeBytes { try gpu.upload($0.baseAddress!, to: address, bytes: $0.count) }
            return address
        }
        offsets = try upload(plan.offsets.map { Int64($0) })
        adapted = try upload(plan.adapted.map { Int32($0 ? 1 : 0) })
        learningRateScales = try upload(plan.learningRateScales)
        norms = try gpu.allocate(bytes: 2 * plan.tensorCount * MemoryLayout<Double>.stride)
    }

    deinit { for address in [offsets, adapted, learningRateScales, norms] { gpu.free(address) } }
}
