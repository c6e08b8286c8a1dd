// Element-wise kernels and linear-layer helpers on the CPU.
#if canImport(Glibc)
import Glibc
#endif

extension CPUBackend {
    /// Splits a flat loop of `count` elements over the pool in large chunks.
    @inline(__always)
    func elementwise(_ count: Int, _ body: (Range<Int>) -> Void) {
        pool.parallelFor(count, grain: 1 << 15) { _, range in body(range) }
    }

    /// `y = max(x, 0)` (`y` may be `x`; NaN stays NaN, −0 becomes 0), 16 lanes at a time: the plain loop stays
    /// scalar, as the compiler cannot rule out a partial overlap of `x` and `y`.
    public func reluForward(input: Tensor, output: Tensor) {
        let x = input.pointer, y = output.pointer
        elementwise(input.count) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let value = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(y + i).storeBytes(of: value.replacing(with: 0, where: value .<= 0), as: SIMD16<Float>.self)
                i += 16
            }
            for j in i..<range.upperBound { y[j] = max(x[j], 0) }
        }
    }

    /// `dx = y > 0 ? dy : 0` (`dx` may be `dy`). Written as 16-wide selects: the plain loop compiles to a
    /// branch per element, which mispredicts on ReLU's random signs (it was 8 % of a VICReg step).
    public func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor) {
        let y = output.pointer, dy = gradOutput.pointer, dx = gradInput.pointer
        elementwise(output.count) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let positive = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self) .> 0
                let gradient = UnsafeRawPointer(dy + i).loadUnaligned(as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(dx + i).storeBytes(of: SIMD16<Float>().replacing(with: gradient, where: positive),
                                                          as: SIMD16<Float>.self)
                i += 16
            }
            for j in i..<range.upperBound { dx[j] = y[j] > 0 ? dy[j] : 0 }
        }
    }

    public func add(_ a: Tensor, _ b: Tensor, output: Tensor) {
        precondition(a.count == b.count && a.count == output.count, "add: \(a.shape) + \(b.shape) -> \(output.shape)")
        let pa = a.pointer, pb = b.pointer, po = output.pointer
        elementwise(a.count) { range in for i in range { po[i] = pa[i] + pb[i] } }
    }

    public func accumulate(_ source: Tensor, into target: Tensor, alpha: Float) {
        precondition(source.count == target.count, "accumulate: \(source.shape) into \(target.shape)")
        let s = source.pointer, t = target.pointer
        elementwise(source.count) { range in for i in range { t[i] += alpha * s[i] } }
    }

    public func scale(_ tensor: Tensor, by factor: Float) {
        let p = tensor.pointer
        elementwise(tensor.count) { range in for i in range { p[i] *= factor } }
    }

    public func sumOfSquares(_ tensor: Tensor) -> Double {
        let p = tensor.pointer
        var total = 0.0
        for i in 0..<tensor.count { total += Double(p[i]) * Double(p[i]) }
        return total
    }

    // MARK: Linear

    public func addBias(_ bias: Tensor, to output: Tensor) {
        let c = bias.count, rows = output.count / c, b = bias.pointer, y = output.pointer
        for row in 0..<rows { let r = y + row * c; for j in 0..<c { r[j] += b[j] } }
    }

    public func accumulateBiasGradient(gradOutput: Tensor, gradBias: Tensor) {
        let c = gradBias.count, rows = gradOutput.count / c, dy = gradOutput.pointer, db = gradBias.pointer
        for row in 0..<rows { let r = dy + row * c; for j in 0..<c { db[j] += r[j] } }
    }
}
