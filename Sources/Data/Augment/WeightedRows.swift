// The inner loop of the separable filters (the Gaussian blur's two passes, the resample's second pass):
// one output row as a weighted sum of `taps` input rows, `out[i] = Σ_t weights[t]·rows[t][i]`.
//
// Each output sums its taps in order t = 0, 1, … from 0 in Float, exactly as a scalar loop
// `acc[i] += rows[t][i] * weights[t]` does, so the results are the same bit for bit. The loop runs over
// blocks of outputs with the taps inside, so a block's sums stay in registers: a tap costs one load,
// where accumulating whole rows tap by tap costs a load and a store of the accumulator as well.

/// `out[i] = Σ_t weights[t]·rows[t][i]` for `i` in `0..<length`: blocks of 16 outputs, then one at a time.
/// (Blocks of 32, two sums per tap, measured no faster.)
func weightedRows(_ rows: UnsafePointer<UnsafePointer<Float>>, weights: UnsafePointer<Float>, taps: Int,
                  length: Int, into out: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 16 <= length {
        var sum = SIMD16<Float>(repeating: 0)
        for t in 0..<taps { sum += UnsafeRawPointer(rows[t] + i).loadUnaligned(as: SIMD16<Float>.self) * weights[t] }
        UnsafeMutableRawPointer(out + i).storeBytes(of: sum, as: SIMD16<Float>.self)
        i += 16
    }
    while i < length {
        var sum: Float = 0
        for t in 0..<taps { sum += rows[t][i] * weights[t] }
        out[i] = sum
        i += 1
    }
}

/// `out[i] = roundedByte(Σ_t weights[t]·rows[t][i])` for `i` in `0..<length`: a filter's last pass. The
/// sums go through `scratch` (`length` floats), then one loop rounds them (it vectorises).
func weightedRowsToBytes(_ rows: UnsafePointer<UnsafePointer<Float>>, weights: UnsafePointer<Float>, taps: Int,
                         length: Int, scratch: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<UInt8>) {
    weightedRows(rows, weights: weights, taps: taps, length: length, into: scratch)
    for i in 0..<length { out[i] = roundedByte(scratch[i]) }
}

/// 2²³: adding it to a Float in 0...255 rounds it to an integer, half to even (the FPU's rounding mode,
/// as `rounded(.toNearestOrEven)`), and leaves that integer in the low bits of the sum's bit pattern
/// (0x4B00_0000 + n). So no call to `rintf` (baseline x86-64 has no rounding instruction) and no generic
/// Float-to-integer conversion per SIMD lane.
private let roundingShift: Float = 8_388_608

/// `value` clamped to 0...255 and rounded half to even (PyTorch's `round` before the cast to uint8).
@inline(__always)
func roundedByte(_ value: Float) -> UInt8 {
    UInt8(truncatingIfNeeded: (min(max(value, 0), 255) + roundingShift).bitPattern)
}
