/// Series and class colours: matplotlib's "tab10" for the first ten, then hues spaced by the golden
/// angle (so neighbouring indices stay apart) for any number beyond.
enum Palette {
    static let tab10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    static func color(_ index: Int) -> String {
        if index >= 0 && index < tab10.count { return tab10[index] }
        let hue = (Double(index) * 137.508).truncatingRemainder(dividingBy: 360)
        return "hsl(\(Int(hue)),65%,\(index % 2 == 0 ? 40 : 55)%)"
    }
}
