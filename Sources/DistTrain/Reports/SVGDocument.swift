/// A minimal SVG 1.1 writer: elements are appended as text, every attribute value and text node is
/// XML-escaped, every coordinate is written with two decimals. No Foundation.
///
/// Coordinates are pixels with the origin at the top left (SVG's convention); charts map data to
/// pixels through `ChartAxis` before calling these methods.
struct SVGDocument {
    let width: Double
    let height: Double
    private(set) var body: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// The whole document: XML declaration, `<svg>` root with the SVG namespace, the elements in order.
    var text: String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + element
    }

    /// The `<svg>` element alone (what an HTML page inlines).
    var element: String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" "
            + "viewBox=\"0 0 \(svgNumber(width)) \(svgNumber(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil) {
        body.append("<rect x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(width))\" "
                    + "height=\"\(svgNumber(height))\" fill=\"\(xmlEscaped(fill))\""
                    + (stroke.map { " stroke=\"\(xmlEscaped($0))\"" } ?? "") + "/>")
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1,
                       dash: String? = nil) {
        body.append("<line x1=\"\(svgNumber(x1))\" y1=\"\(svgNumber(y1))\" x2=\"\(svgNumber(x2))\" y2=\"\(svgNumber(y2))\" "
                    + "stroke=\"\(xmlEscaped(stroke))\" stroke-width=\"\(svgNumber(width))\""
                    + (dash.map { " stroke-dasharray=\"\(xmlEscaped($0))\"" } ?? "") + "/>")
    }

    /// One connected run of points; callers split a series at its gaps into several polylines.
    mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, width: Double, opacity: Double = 1,
                           label: String? = nil) {
        let coordinates = points.map { svgNumber($0.x) + "," + svgNumber($0.y) }.joined(separator: " ")
        body.append("<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(xmlEscaped(stroke))\" "
                    + "stroke-width=\"\(svgNumber(width))\" stroke-linejoin=\"round\""
                    + (opacity < 1 ? " stroke-opacity=\"\(svgNumber(opacity))\"" : "")
                    + (label.map { " data-series=\"\(xmlEscaped($0))\"" } ?? "") + "/>")
    }

    mutating func circle(x: Double, y: Double, radius: Double, fill: String, opacity: Double = 1) {
        body.append("<circle cx=\"\(svgNumber(x))\" cy=\"\(svgNumber(y))\" r=\"\(svgNumber(radius))\" "
                    + "fill=\"\(xmlEscaped(fill))\"" + (opacity < 1 ? " fill-opacity=\"\(svgNumber(opacity))\"" : "") + "/>")
    }

    /// Text at (x, y) (the baseline); `anchor` is start, middle or end; `rotate` turns it about (x, y).
    mutating func text(_ content: String, x: Double, y: Double, size: Double = 12, anchor: String = "start",
                       weight: String? = nil, rotate: Double? = nil, fill: String = "#222") {
        body.append("<text x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" font-size=\"\(svgNumber(size))\" "
                    + "text-anchor=\"\(anchor)\" fill=\"\(xmlEscaped(fill))\""
                    + (weight.map { " font-weight=\"\($0)\"" } ?? "")
                    + (rotate.map { " transform=\"rotate(\(svgNumber($0)) \(svgNumber(x)) \(svgNumber(y)))\"" } ?? "")
                    + ">\(xmlEscaped(content))</text>")
    }
}

/// `text` safe inside XML (and HTML) text and double- or single-quoted attribute values. Control
/// characters that XML 1.0 forbids are dropped.
func xmlEscaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        default: if scalar.value >= 0x20 { out.unicodeScalars.append(scalar) }
        }
    }
    return out
}

/// A coordinate with at most two decimals and no trailing zeros ("12.5", "-3", "0.07").
func svgNumber(_ value: Double) -> String { trimmedDecimal(value, 2) }
