#if canImport(Glibc)
import Glibc
#endif

/// One axis of a chart: a linear or logarithmic map from data values to pixels over nice ticks.
///
/// The data range (finite values only; on a log axis positive values only) is widened to the first
/// and last tick, and `[lower, upper]` maps onto `[pixelStart, pixelEnd]` (pixelStart > pixelEnd for
/// a vertical axis, whose pixels grow downwards).
struct ChartAxis {
    enum Scale: String { case linear, logarithmic }

    let label: String
    let scale: Scale
    let ticks: NiceTicks
    let pixelStart: Double
    let pixelEnd: Double

    /// An axis over `values`; non-finite values (and non-positive ones on a log axis) are ignored.
    /// With no usable value the axis spans [0, 1].
    init(label: String, values: [Double], scale: Scale = .linear, pixelStart: Double, pixelEnd: Double,
         tickCount: Int = 6) {
        self.label = label
        self.pixelStart = pixelStart
        self.pixelEnd = pixelEnd
        let usable = values.filter { $0.isFinite && (scale == .linear || $0 > 0) }
        if let low = usable.min(), let high = usable.max() {
            self.scale = scale
            ticks = scale == .linear ? NiceTicks.linear(minimum: low, maximum: high, count: tickCount)
                : NiceTicks.logarithmic(minimum: low, maximum: high)
        } else {
            self.scale = .linear
            ticks = NiceTicks.linear(minimum: 0, maximum: 1, count: tickCount)
        }
    }

    /// The pixel of `value`, or nil where it cannot be drawn (NaN, ±inf, ≤ 0 on a log axis).
    func pixel(_ value: Double) -> Double? {
        guard value.isFinite else { return nil }
        let fraction: Double
        switch scale {
        case .linear:
            fraction = (value - ticks.lower) / (ticks.upper - ticks.lower)
        case .logarithmic:
            guard value > 0 else { return nil }
            fraction = (log10(value) - log10(ticks.lower)) / (log10(ticks.upper) - log10(ticks.lower))
        }
        return pixelStart + fraction * (pixelEnd - pixelStart)
    }
}
