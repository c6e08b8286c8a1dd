// Number formatting for tables and progress lines (the binary links no Foundation formatters).

/// `value` right-aligned in `width` columns.
func pad(_ value: some CustomStringConvertible, _ width: Int) -> String {
    let text = value.description
    return String(repeating: " ", count: max(0, width - text.count)) + text
}

/// `value` with `digits` decimals (no Foundation formatter in the binary).
func fixed(_ value: Double, _ digits: Int) -> String {
    // Beyond what an Int holds at this precision, Swift's own shortest representation is clearer anyway.
    guard value.isFinite, abs(value) < 1e15 else { return value.description }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((abs(value) * scale).rounded())
    let fraction = String(scaled % Int(scale))
    let whole = String(scaled / Int(scale))
    return (value < 0 ? "-" : "") + whole
        + (digits > 0 ? "." + String(repeating: "0", count: digits - fraction.count) + fraction : "")
}
