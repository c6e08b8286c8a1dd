/// A named series of (x, y) points for `LineChart`. Non-finite y values (NaN from a diverged run, or
/// `null` in metrics.jsonl) leave a gap in the line rather than breaking the chart.
struct LineSeries {
    var name: String
    var points: [(x: Double, y: Double)]
    var lineWidth: Double = 1.6
    var opacity: Double = 1
    /// Draw a dot at every point (for sparse series such as one value per epoch).
    var markers: Bool = false
    /// Index into `Palette`; nil takes the series' position in the chart.
    var colorIndex: Int?
}

/// Lines over a shared x axis (learning curves), with nice ticks, axis labels, a title and a legend.
struct LineChart {
    var title: String
    var xLabel: String
    var yLabel: String
    var series: [LineSeries]
    var xScale: ChartAxis.Scale = .linear
    var yScale: ChartAxis.Scale = .linear
    var width: Double = 680
    var height: Double = 380

    /// The chart as an SVG document.
    func render() -> SVGDocument {
        var svg = SVGDocument(width: width, height: height)
        let frame = ChartFrame(width: width, height: height, legendNames: series.count > 1 ? series.map(\.name) : [])
        let x = frame.xAxis(label: xLabel, values: series.flatMap { $0.points.map(\.x) }, scale: xScale)
        let y = frame.yAxis(label: yLabel, values: series.flatMap { $0.points.map(\.y) }, scale: yScale)
        frame.drawAxes(&svg, title: title, x: x, y: y)
        if series.allSatisfy({ $0.points.allSatisfy { x.pixel($0.x) == nil || y.pixel($0.y) == nil } }) {
            svg.text("no finite values to plot", x: (frame.plotLeft + frame.plotRight) / 2,
                     y: (frame.plotTop + frame.plotBottom) / 2, size: 13, anchor: "middle", fill: "#888")
        }
        for (index, line) in series.enumerated() {
            let color = Palette.color(line.colorIndex ?? index)
            for run in LineChart.segments(line.points, x: x, y: y) {
                let drawn = LineChart.decimated(run, columns: Int(frame.plotRight - frame.plotLeft))
                if drawn.count == 1 && !line.markers {
                    svg.circle(x: drawn[0].x, y: drawn[0].y, radius: line.lineWidth, fill: color, opacity: line.opacity)
                } else {
                    svg.polyline(drawn, stroke: color, width: line.lineWidth, opacity: line.opacity, label: line.name)
                }
                if line.markers {
                    for point in run { svg.circle(x: point.x, y: point.y, radius: 3, fill: color) }
                }
            }
        }
        if series.count > 1 {
            frame.drawLegend(&svg, series.enumerated().map {
                ChartFrame.LegendEntry(name: $1.name, color: Palette.color($1.colorIndex ?? $0), swatch: .line)
            })
        }
        return svg
    }

    /// The points in pixels, split into runs at every point that cannot be drawn (NaN, ±inf, ≤ 0 on a
    /// log axis), so a gap in the data is a gap in the line.
    static func segments(_ points: [(x: Double, y: Double)], x: ChartAxis, y: ChartAxis) -> [[(x: Double, y: Double)]] {
        var runs: [[(x: Double, y: Double)]] = []
        var current: [(x: Double, y: Double)] = []
        for point in points {
            if let px = x.pixel(point.x), let py = y.pixel(point.y) {
                current.append((px, py))
            } else if !current.isEmpty {
                runs.append(current)
                current = []
            }
        }
        if !current.isEmpty { runs.append(current) }
        return runs
    }

    /// A long run (x increasing) thinned to what `columns` pixel columns can show: in each column its
    /// first, lowest, highest and last point, in x order. Short runs come back unchanged.
    static func decimated(_ run: [(x: Double, y: Double)], columns: Int) -> [(x: Double, y: Double)] {
        guard columns > 0, run.count > 4 * columns else { return run }
        var out: [(x: Double, y: Double)] = []
        var start = 0
        while start < run.count {
            let column = run[start].x.rounded(.down)
            var end = start
            var lowest = start, highest = start
            while end < run.count && run[end].x.rounded(.down) == column {
                if run[end].y < run[lowest].y { lowest = end }
                if run[end].y > run[highest].y { highest = end }
                end += 1
            }
            for index in Set([start, lowest, highest, end - 1]).sorted() { out.append(run[index]) }
            start = end
        }
        return out
    }
}
