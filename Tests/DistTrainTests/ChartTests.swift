import Foundation
import XCTest
@testable import DistTrain

/// The SVG charts: nice ticks, the data-to-pixel map, gaps at NaN, escaping, well-formed XML.
final class ChartTests: XCTestCase {
    func testLinearTicksOnKnownRanges() {
        let cases: [(Double, Double, Int, [String])] = [
            (0, 1, 6, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
            (0.13, 0.87, 6, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
            (-3.7, 12.2, 6, ["-5", "0", "5", "10", "15"]),
            (0, 500, 7, ["0", "100", "200", "300", "400", "500"]),
            (2.5, 2.5, 6, ["2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8"]),  // empty range widened by 10 %
            (0.0012, 0.0047, 6, ["0.001", "0.002", "0.003", "0.004", "0.005"]),
            (0, 3e6, 6, ["0", "1e6", "2e6", "3e6"]),
            (1.02, 1.09, 6, ["1.02", "1.04", "1.06", "1.08", "1.10"]),
        ]
        for (low, high, count, expected) in cases {
            let ticks = NiceTicks.linear(minimum: low, maximum: high, count: count)
            XCTAssertEqual(ticks.values.indices.map { ticks.label($0) }, expected, "[\(low), \(high)]")
            XCTAssertLessThanOrEqual(ticks.lower, low)
            XCTAssertGreaterThanOrEqual(ticks.upper, high)
            // Equal steps of 1, 2 or 5 x 10^k.
            let step = ticks.values[1] - ticks.values[0]
            let mantissa = step / pow(10, floor(log10(step)))
            XCTAssertTrue([1, 2, 5].contains { abs(mantissa - $0) < 1e-9 }, "step \(step)")
            for (a, b) in zip(ticks.values, ticks.values.dropFirst()) { XCTAssertEqual(b - a, step, accuracy: 1e-12 * step * 10) }
        }
    }

    func testLogTicksOnKnownRanges() {
        let wide = NiceTicks.logarithmic(minimum: 0.003, maximum: 0.27)
        XCTAssertEqual(wide.values.indices.map { wide.label($0) }, ["0.001", "0.01", "0.1", "1"])
        let short = NiceTicks.logarithmic(minimum: 0.02, maximum: 0.3)
        XCTAssertEqual(short.values.indices.map { short.label($0) }, ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"])
        let tiny = NiceTicks.logarithmic(minimum: 3e-6, maximum: 0.4)
        XCTAssertEqual(tiny.values.indices.map { tiny.label($0) }, ["1e-6", "1e-5", "1e-4", "0.001", "0.01", "0.1", "1"])
        let many = NiceTicks.logarithmic(minimum: 1e-12, maximum: 1e9)
        XCTAssertEqual(many.values.map { log10($0).rounded() }, [-12, -9, -6, -3, 0, 3, 6, 9])
    }

    /// Known data on a known frame: 680 x 380 with no legend puts the plot area at x 74...662,
    /// y 38...330; ticks [0, 20] and [0, 1] are the axis bounds.
    func testPolylineCoordinatesMapTheData() throws {
        let chart = LineChart(title: "t", xLabel: "step", yLabel: "loss",
                              series: [LineSeries(name: "loss", points: [(0, 0), (10, 1), (20, 0.5), (15, 0.25)])])
        let svg = chart.render().text
        let lines = polylines(svg)
        XCTAssertEqual(lines.count, 1, svg)
        let expected: [(Double, Double)] = [(74, 330), (368, 38), (662, 184), (515, 257)]
        XCTAssertEqual(lines[0].count, expected.count)
        for (got, want) in zip(lines[0], expected) {
            XCTAssertEqual(got.0, want.0, accuracy: 0.005)
            XCTAssertEqual(got.1, want.1, accuracy: 0.005)
        }
        // The log axis: 1e-3 ... 1 over the same pixels, so 0.01 and 0.1 sit at a third and two thirds.
        let log = LineChart(title: "lr", xLabel: "step", yLabel: "lr",
                            series: [LineSeries(name: "lr", points: [(0, 0.001), (10, 0.01), (20, 0.1), (30, 1)])],
                            yScale: .logarithmic)
        let logLine = polylines(log.render().text)
        XCTAssertEqual(logLine.count, 1)
        let third: Double = 292.0 / 3
        let expectedY: [Double] = [330, 330 - third, 330 - 2 * third, 38]
        XCTAssertEqual(logLine[0].map(\.1), expectedY.map { ($0 * 100).rounded() / 100 })
    }

    func testNonFinitePointsLeaveGapsAndTheSVGStaysWellFormed() throws {
        let points: [(x: Double, y: Double)] = [(0, 0), (1, .nan), (2, 1), (3, 2), (4, .infinity), (5, 3), (6, 1), (7, -.infinity)]
        let chart = LineChart(title: "loss <diverged> & \"friends\" 'quoted'", xLabel: "x < 1", yLabel: "y & z",
                              series: [LineSeries(name: "a&b", points: points), LineSeries(name: "<c>", points: [(0, 1)])])
        let svg = chart.render().text
        let lines = polylines(svg)
        XCTAssertEqual(lines.map(\.count), [2, 2], "runs 2-3 and 5-6; the lone first point is a dot")
        XCTAssertFalse(svg.lowercased().contains("nan") || svg.contains("inf"), svg)
        XCTAssertTrue(svg.contains("loss &lt;diverged&gt; &amp; &quot;friends&quot; &#39;quoted&#39;"), svg)
        XCTAssertNil(try ReportTestSupport.xmlProblems(svg))
        // The check itself can fail: the same text unescaped is rejected.
        XCTAssertNotNil(try ReportTestSupport.xmlProblems("<svg><text>loss <diverged> & friends</text></svg>"))
    }

    func testAllNaNSeriesSaysSoInsteadOfDrawing() throws {
        let chart = LineChart(title: "t", xLabel: "x", yLabel: "y", series: [LineSeries(name: "s", points: [(0, .nan), (1, .nan)])])
        let svg = chart.render().text
        XCTAssertTrue(polylines(svg).isEmpty)
        XCTAssertTrue(svg.contains("no finite values to plot"))
        XCTAssertNil(try ReportTestSupport.xmlProblems(svg))
    }

    func testDecimationKeepsEveryColumnsExtremes() {
        var random = SystemRandomNumberGenerator()
        let run = (0..<5000).map { (x: Double($0) / 50, y: Double.random(in: -1...1, using: &random)) }
        let thinned = LineChart.decimated(run, columns: 100)
        XCTAssertLessThanOrEqual(thinned.count, 400)
        XCTAssertEqual(thinned.first!.x, run.first!.x)
        XCTAssertEqual(thinned.last!.x, run.last!.x)
        for column in 0..<100 {
            let inColumn = run.filter { Int($0.x) == column }.map(\.y)
            let kept = thinned.filter { Int($0.x) == column }.map(\.y)
            XCTAssertEqual(kept.max(), inColumn.max())
            XCTAssertEqual(kept.min(), inColumn.min())
        }
        XCTAssertEqual(thinned.map(\.x), thinned.map(\.x).sorted())
        XCTAssertEqual(LineChart.decimated(Array(run.prefix(300)), columns: 100).count, 300, "short runs are untouched")
    }

    func testScatterHasOneDotPerFinitePointAndALegendPerClass() throws {
        let points: [(x: Double, y: Double, group: Int)] = [(0, 0, 0), (1, 1, 1), (2, .nan, 1), (3, 2, 2)]
        let svg = ScatterChart(title: "t-SNE", xLabel: "t-SNE 1", yLabel: "t-SNE 2", points: points,
                               groupNames: ["T-shirt/top", "Trouser", "Pullover"]).render().text
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 3 + 3, "three points and three legend dots")
        for name in ["T-shirt/top", "Trouser", "Pullover"] { XCTAssertTrue(svg.contains(">\(name)</text>"), name) }
        XCTAssertNil(try ReportTestSupport.xmlProblems(svg))
    }

    /// Every `<polyline points="...">` as pixel pairs.
    func polylines(_ svg: String) -> [[(Double, Double)]] {
        svg.components(separatedBy: "<polyline points=\"").dropFirst().map { rest in
            rest.prefix { $0 != "\"" }.split(separator: " ").map { pair in
                let xy = pair.split(separator: ",").map { Double($0)! }
                return (xy[0], xy[1])
            }
        }
    }
}
