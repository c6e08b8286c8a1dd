#if canImport(Glibc)
import Glibc
#endif

/// Axis ticks at "nice" numbers: steps of 1, 2 or 5 × 10^k (Heckbert, "Nice numbers for graph labels",
/// Graphics Gems, 1990), and decades (with 2 and 5 between them over short ranges) on a log axis.
/// The ticks' first and last values are the axis bounds, so data never lies outside the frame.
struct NiceTicks: Equatable {
    /// Tick values, increasing; the first and last are the axis's lower and upper bounds.
    let values: [Double]
    /// Decimals that show every tick exactly (linear ticks) or -1 where labels use exponent notation.
    let decimals: Int

    var lower: Double { values[0] }
    var upper: Double { values[values.count - 1] }

    /// The nice number near `value` > 0: with `round`, the closest of 1, 2, 5, 10 × 10^k; without, the
    /// smallest of them not below `value` (Heckbert's `nicenum`).
    static func niceNumber(_ value: Double, round: Bool) -> Double {
        let exponent = floor(log10(value))
        let power = pow(10, exponent)
        let fraction = value / power
        let nice: Double
        if round {
            nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        } else {
            nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        }
        return nice * power
    }

    /// Loose linear ticks around [minimum, maximum] (finite) with about `count` ticks. An empty range is
    /// widened by 10 % of its value each way (by 1 around zero).
    static func linear(minimum: Double, maximum: Double, count: Int = 6) -> NiceTicks {
        precondition(minimum.isFinite && maximum.isFinite && minimum <= maximum, "ticks need a finite range")
        var low = minimum, high = maximum
        if low == high {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            low -= pad
            high += pad
        }
        let range = niceNumber(high - low, round: false)
        let step = niceNumber(range / Double(max(count - 1, 1)), round: true)
        // Ticks are whole multiples of the step, so 0.1 * 3 never drifts into 0.30000000000000004 twice.
        let first = (low / step).rounded(.down), last = (high / step).rounded(.up)
        let values = stride(from: first, through: last, by: 1).map { $0 * step }
        let magnitude = max(abs(values[0]), abs(values[values.count - 1]))
        let decimals = Int(max(0, -floor(log10(step))))
        return NiceTicks(values: values, decimals: decimals > 4 || magnitude >= 1e6 ? -1 : decimals)
    }

    /// Log-scale ticks around [minimum, maximum] (both > 0): every decade, with 2 and 5 × 10^k added
    /// when the range spans at most two decades, and every n-th decade when it spans more than ten.
    static func logarithmic(minimum: Double, maximum: Double) -> NiceTicks {
        precondition(minimum > 0 && maximum.isFinite && minimum <= maximum, "log ticks need 0 < minimum <= maximum")
        let low = Int(floor(log10(minimum)))
        var high = Int(ceil(log10(maximum)))
        if high == low { high += 1 }
        let every = max(1, (high - low + 9) / 10)
        var values: [Double] = []
        var exponent = low
        while exponent <= high {
            values.append(pow(10, Double(exponent)))
            if high - low <= 2 && exponent < high {
                values += [2, 5].map { $0 * pow(10, Double(exponent)) }
            }
            exponent += every
        }
        if values.last! < maximum { values.append(pow(10, Double(exponent))) }
        return NiceTicks(values: values, decimals: -1)
    }

    /// The label of tick `index`: fixed decimals on a linear axis ("0.25", "4000"), otherwise plain
    /// numbers from 0.001 to 99999 and exponent notation beyond ("1e-4", "2e-5", "1.5e6").
    func label(_ index: Int) -> String {
        let value = values[index]
        if decimals >= 0 { return fixed(value, decimals) }
        if value == 0 { return "0" }
        let exponent = Int(floor(log10(abs(value)) + 1e-9))
        if exponent >= -3 && exponent < 5 { return trimmedDecimal(value, max(0, -exponent + 2)) }
        return trimmedDecimal(value / pow(10, Double(exponent)), 3) + "e" + String(exponent)
    }
}

/// `value` with at most `digits` decimals, trailing zeros removed ("2.5", "3", "0.05").
func trimmedDecimal(_ value: Double, _ digits: Int) -> String {
    var text = fixed(value, digits)
    if text.contains(".") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text == "-0" ? "0" : text
}
