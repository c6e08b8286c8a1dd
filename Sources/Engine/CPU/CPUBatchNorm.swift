// Batch normalisation over NHWC rows (Ioffe & Szegedy 2015, Alg. 1), per channel C.
// Input is viewed as [R, C] with R = N·H·W rows; statistics are accumulated in double precision.
#if canImport(Glibc)
import Glibc
#endif

extension CPUBackend {
    public func batchNormStatistics(input: Tensor, mean: Tensor, variance: Tensor) {
        let c = mean.count, rows = input.count / c
        precondition(rows > 0 && rows * c == input.count, "batch norm: input \(input.shape) is not rows of \(c) channels")
        let x = input.pointer
        // Two passes (mean, then centred squares) per thread; partials combined with Chan's formula.
        let sums = perChannelSums(rows: rows, channels: c) { row, sum in
            let r = x + row * c
            for j in 0..<c { sum[j] += Double(r[j]) }
        }
        let m = mean.pointer, v = variance.pointer
        var mu = [Double](repeating: 0, count: c)
        for j in 0..<c { mu[j] = sums[j] / Double(rows); m[j] = Float(mu[j]) }
        let squares = mu.withUnsafeBufferPointer { mu in
            perChannelSums(rows: rows, channels: c) { row, sum in
                let r = x + row * c
                for j in 0..<c { let d = Double(r[j]) - mu[j]; sum[j] += d * d }
            }
        }
        for j in 0..<c { v[j] = Float(squares[j] / Double(rows)) }
    }

    public func batchNormForward(input: Tensor, mean: Tensor, variance: Tensor, weight: Tensor, bias: Tensor,
                                 epsilon: Float, output: Tensor) {
        let c = mean.count, rows = input.count / c
        // y = x·scale + shift with scale = w/σ, shift = b − mean·w/σ.
        var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
        for j in 0..<c {
            let invStd = 1 / (variance.pointer[j] + epsilon).squareRoot()
            scale[j] = weight.pointer[j] * invStd
            shift[j] = bias.pointer[j] - mean.pointer[j] * scale[j]
        }
        let x = input.pointer, y = output.pointer
        scale.withUnsafeBufferPointer { scale in
            shift.withUnsafeBufferPointer { shift in
                pool.parallelFor(rows, grain: 256) { _, range in
                    for row in range {
                        let xr = x + row * c, yr = y + row * c
                        for j in 0..<c { yr[j] = xr[j] * scale[j] + shift[j] }
                    }
                }
            }
        }
    }

    public func batchNormBackwardReduce(gradOutput: Tensor, input: Tensor, mean: Tensor, variance: Tensor,
                                        epsilon: Float, sumGradient: Tensor, sumGradientNormalized: Tensor) {
        let c = mean.count, rows = input.count / c
        let x = input.pointer, dy = gradOutput.pointer, m = mean.pointer
        // Σ dy·x̂ = (Σ dy·x − mean·Σ dy) / σ, so one pass gives both sums.
        let sums = perChannelSums(rows: rows, channels: 2 * c) { row, sum in
            let xr = x + row * c, dyr = dy + row * c
            for j in 0..<c {
                let g = Double(dyr[j])
                sum[j] += g
                sum[c + j] += g * (Double(xr[j]) - Double(m[j]))
            }
        }
        for j in 0..<c {
            let invStd = 1 / (Double(variance.pointer[j]) + Double(epsilon)).squareRoot()
            sumGradient.pointer[j] = Float(sums[j])
            sumGradientNormalized.pointer[j] = Float(sums[c + j] * invStd)
        }
    }

    public func batchNormBackwardInput(gradOutput: Tensor, input: Tensor, mean: Tensor, variance: Tensor,
                                       weight: Tensor, epsilon: Float, sumGradient: Tensor,
                                       sumGradientNormalized: Tensor, count: Int, gradInput: Tensor) {
        let c = mean.count, rows = input.count / c
        // dx = w/σ·dy − w/σ·Σdy/R − x̂·w/σ·Σ(dy·x̂)/R, written as dx = a·dy + b·x + d per channel.
        var a = [Float](repeating: 0, count: c), b = a, d = a
        for j in 0..<c {
            let invStd = 1 / (Double(variance.pointer[j]) + Double(epsilon)).squareRoot()
            let ws = Double(weight.pointer[j]) * invStd
            let meanGrad = Double(sumGradient.pointer[j]) / Double(count)
            let meanGradNormalized = Double(sumGradientNormalized.pointer[j]) / Double(count)
            let mu = Double(mean.pointer[j])
            a[j] = Float(ws)
            b[j] = Float(-ws * meanGradNormalized * invStd)
            d[j] = Float(-ws * meanGrad + ws * meanGradNormalized * invStd * mu)
        }
        let x = input.pointer, dy = gradOutput.pointer, dx = gradInput.pointer
        a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in d.withUnsafeBufferPointer { d in
            pool.parallelFor(rows, grain: 256) { _, range in
                for row in range {
                    let xr = x + row * c, dyr = dy + row * c, dxr = dx + row * c
                    for j in 0..<c { dxr[j] = a[j] * dyr[j] + b[j] * xr[j] + d[j] }
                }
            }
        } } }
    }

    public func batchNormCombineRanks(gathered: Tensor, mean: Tensor, variance: Tensor) {
        Self.combineRanks(gathered: gathered.pointer, ranks: gathered.count / (2 * mean.count), mean: mean.pointer,
                          variance: variance.pointer, channels: mean.count)
    }

    /// `batchNormCombineRanks` on host memory (SyncBatchNorm's MPI path calls it on the gathered floats).
    public static func combineRanks(gathered all: UnsafePointer<Float>, ranks: Int, mean: UnsafeMutablePointer<Float>,
                                    variance: UnsafeMutablePointer<Float>, channels c: Int) {
        for j in 0..<c {
            var m = 0.0
            for r in 0..<ranks { m += Double(all[r * 2 * c + j]) }
            m /= Double(ranks)
            var v = 0.0
            for r in 0..<ranks {
                let d = Double(all[r * 2 * c + j]) - m
                v += Double(all[r * 2 * c + c + j]) + d * d
            }
            mean[j] = Float(m)
            variance[j] = Float(v / Double(ranks))
        }
    }

    public func batchNormUpdateRunning(mean: Tensor, variance: Tensor, count: Int, momentum: Float,
                                       runningMean: Tensor, runningVariance: Tensor) {
        let unbias = count > 1 ? Float(count) / Float(count - 1) : 1
        for j in 0..<mean.count {
            runningMean.pointer[j] = (1 - momentum) * runningMean.pointer[j] + momentum * mean.pointer[j]
            runningVariance.pointer[j] = (1 - momentum) * runningVariance.pointer[j]
                + momentum * variance.pointer[j] * unbias
        }
    }

    /// Sums `channels` per-row contributions over `rows` rows, one double partial per thread.
    func perChannelSums(rows: Int, channels: Int,
                        _ accumulate: (Int, UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        let chunks = min(pool.threadCount, max(1, rows / 64))
        var partials = [Double](repeating: 0, count: chunks * channels)
        partials.withUnsafeMutableBufferPointer { partials in
            let base = partials.baseAddress!
            pool.parallelFor(chunks) { _, chunkRange in
                for chunk in chunkRange {
                    let sum = base + chunk * channels
                    for row in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) { accumulate(row, sum) }
                }
            }
        }
        var total = [Double](repeating: 0, count: channels)
        for chunk in 0..<chunks { for j in 0..<channels { total[j] += partials[chunk * channels + j] } }
        return total
    }
}
