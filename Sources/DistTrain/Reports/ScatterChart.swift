/// Points coloured by group (a t-SNE embedding coloured by class), with a legend of group names.
struct ScatterChart {
    var title: String
    var xLabel: String
    var yLabel: String
    /// (x, y, group index into `groupNames`); non-finite points are skipped.
    var points: [(x: Double, y: Double, group: Int)]
    var groupNames: [String]
    var width: Double = 760
    var height: Double = 600
    var radius: Double = 2.8

    func render() -> SVGDocument {
        var svg = SVGDocument(width: width, height: height)
        let frame = ChartFrame(width: width, height: height, legendNames: groupNames)
        let x = frame.xAxis(label: xLabel, values: points.map(\.x))
        let y = frame.yAxis(label: yLabel, values: points.map(\.y))
        frame.drawAxes(&svg, title: title, x: x, y: y)
        for point in points {
            guard let px = x.pixel(point.x), let py = y.pixel(point.y) else { continue }
            svg.circle(x: px, y: py, radius: radius, fill: Palette.color(point.group), opacity: 0.75)
        }
        frame.drawLegend(&svg, groupNames.enumerated().map {
            ChartFrame.LegendEntry(name: $1, color: Palette.color($0), swatch: .dot)
        })
        return svg
    }
}
