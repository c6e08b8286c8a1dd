/// The layout every chart shares: a title on top, the y axis on the left, the x axis below and the
/// legend to the right of the plot area (outside it, so it never hides data). Draws the background,
/// grid, ticks, tick labels, axis labels, title and legend; the chart draws its data in between.
struct ChartFrame {
    /// One legend row: a short line (series) or a dot (scatter class) in `color`, then `name`.
    struct LegendEntry {
        enum Swatch { case line, dot }
        let name: String
        let color: String
        let swatch: Swatch
    }

    let width: Double
    let height: Double
    let plotLeft: Double
    let plotTop: Double
    let plotRight: Double
    let plotBottom: Double

    /// A frame of `width` x `height` pixels that leaves room for a legend with these names.
    init(width: Double, height: Double, legendNames: [String]) {
        self.width = width
        self.height = height
        plotLeft = 74
        plotTop = 38
        plotBottom = height - 50
        // About 7 px per character at 12 px, plus the swatch; at most a third of the width.
        let longest = Double(legendNames.map { $0.count }.max() ?? 0)
        let legendWidth = legendNames.isEmpty ? 0 : min(width / 3, 40 + 7 * longest)
        plotRight = width - 18 - legendWidth
    }

    func xAxis(label: String, values: [Double], scale: ChartAxis.Scale = .linear) -> ChartAxis {
        ChartAxis(label: label, values: values, scale: scale, pixelStart: plotLeft, pixelEnd: plotRight, tickCount: 7)
    }

    func yAxis(label: String, values: [Double], scale: ChartAxis.Scale = .linear) -> ChartAxis {
        ChartAxis(label: label, values: values, scale: scale, pixelStart: plotBottom, pixelEnd: plotTop, tickCount: 6)
    }

    /// Background, grid lines and tick labels of both axes, the axis labels and the title.
    func drawAxes(_ svg: inout SVGDocument, title: String, x: ChartAxis, y: ChartAxis) {
        svg.rect(x: 0, y: 0, width: width, height: height, fill: "#ffffff")
        svg.text(title, x: width / 2, y: 22, size: 15, anchor: "middle", weight: "bold")
        for index in x.ticks.values.indices {
            guard let px = x.pixel(x.ticks.values[index]) else { continue }
            svg.line(x1: px, y1: plotTop, x2: px, y2: plotBottom, stroke: "#e5e5e5")
            svg.line(x1: px, y1: plotBottom, x2: px, y2: plotBottom + 5, stroke: "#444")
            svg.text(x.ticks.label(index), x: px, y: plotBottom + 18, size: 11, anchor: "middle", fill: "#444")
        }
        for index in y.ticks.values.indices {
            guard let py = y.pixel(y.ticks.values[index]) else { continue }
            svg.line(x1: plotLeft, y1: py, x2: plotRight, y2: py, stroke: "#e5e5e5")
            svg.line(x1: plotLeft - 5, y1: py, x2: plotLeft, y2: py, stroke: "#444")
            svg.text(y.ticks.label(index), x: plotLeft - 8, y: py + 4, size: 11, anchor: "end", fill: "#444")
        }
        svg.rect(x: plotLeft, y: plotTop, width: plotRight - plotLeft, height: plotBottom - plotTop, fill: "none",
                 stroke: "#444")
        svg.text(x.label + (x.scale == .logarithmic ? " (log scale)" : ""), x: (plotLeft + plotRight) / 2,
                 y: height - 12, size: 12, anchor: "middle")
        svg.text(y.label + (y.scale == .logarithmic ? " (log scale)" : ""), x: 16, y: (plotTop + plotBottom) / 2,
                 size: 12, anchor: "middle", rotate: -90)
    }

    /// The legend, one row per entry, top-aligned with the plot area on its right.
    func drawLegend(_ svg: inout SVGDocument, _ entries: [LegendEntry]) {
        let left = plotRight + 14
        for (row, entry) in entries.enumerated() {
            let y = plotTop + 8 + 18 * Double(row)
            switch entry.swatch {
            case .line: svg.line(x1: left, y1: y, x2: left + 22, y2: y, stroke: entry.color, width: 2.5)
            case .dot: svg.circle(x: left + 11, y: y, radius: 4.5, fill: entry.color)
            }
            svg.text(entry.name, x: left + 28, y: y + 4, size: 12)
        }
    }
}
