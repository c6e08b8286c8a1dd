import Engine

// Custom presets as JSON. A file holds an object:
//
//   {
//     "name": "my-preset",                                  (optional; default: the file name)
//     "normalize": {"mean": [0.5], "std": [0.5]},           (optional; one value = every channel)
//     "views": [ [op, op, ...], [op, op, ...] ]             (1 view = symmetric: used for both)
//   }
//
// Each op is an object with "op" (torchvision's class name) and torchvision's parameter names:
//
//   {"op": "RandomResizedCrop", "size": 32 | [h, w], "scale": [0.08, 1], "ratio": [0.75, 1.3333],
//                               "interpolation": "bilinear" | "bicubic", "antialias": true}
//   {"op": "Resize", "size": 64 | [h, w], "interpolation": "bilinear", "antialias": true}
//   {"op": "RandomHorizontalFlip", "p": 0.5}
//   {"op": "ColorJitter", "brightness": 0.4 | [min, max], "contrast": ..., "saturation": ..., "hue": 0.1 | [min, max]}
//   {"op": "RandomGrayscale", "p": 0.2}
//   {"op": "GaussianBlur", "kernel_size": 23 (optional), "sigma": [0.1, 2.0] | 1.0}
//   {"op": "RandomSolarize", "threshold": 128, "p": 0.2}
//   {"op": "RandomRotation", "degrees": 10 | [min, max], "fill": 0}
//   {"op": "RandomInvert", "p": 0.5}
//   {"op": "RandomApply", "p": 0.8, "transforms": [op, ...]}
//
// Omitted parameters take torchvision's defaults, except "size" (the caller's output size) and the
// resizes' "antialias" (true, torchvision's default). Unknown ops and unknown fields are errors, so a
// misspelt field never silently falls back to a default. `jsonText()` writes a preset in this format,
// ranges always as [min, max], so `load` of it gives the same preset back.

extension AugmentationPreset {
    /// Reads a custom preset from a JSON file (format above).
    /// - Parameter defaultSize: the size of crops and resizes whose "size" is omitted (nil: required).
    /// - Throws: `DataError` naming the file and the field, e.g.
    ///   `aug.json: views[1][2].transforms[0].brightness: expected a number ≥ 0 or [min, max], got "high"`.
    public static func load(path: String, defaultSize: Int? = nil) throws -> AugmentationPreset {
        let bytes = try FileBytes.read(path: path)
        let value: JSON
        do { value = try JSON.parse(bytes) } catch { throw DataError(path: path, "not valid JSON: \(error)") }
        let fileName = String(path.split(separator: "/").last ?? Substring(path))
        let defaultName = fileName.hasSuffix(".json") ? String(fileName.dropLast(5)) : fileName
        do {
            return try PresetParser(defaultSize: defaultSize).preset(value, defaultName: defaultName)
        } catch let error as PresetFieldError {
            throw DataError(path: path, "\(error.path): \(error.message)")
        }
    }

    /// Parses a preset from JSON text (the format above); errors name `source` as the file.
    public static func parse(json: String, source: String = "<json>", defaultSize: Int? = nil) throws -> AugmentationPreset {
        let value: JSON
        do { value = try JSON.parse(json) } catch { throw DataError(path: source, "not valid JSON: \(error)") }
        do {
            return try PresetParser(defaultSize: defaultSize).preset(value, defaultName: "custom")
        } catch let error as PresetFieldError {
            throw DataError(path: source, "\(error.path): \(error.message)")
        }
    }

    /// The preset in the JSON format `load` reads.
    public func jsonText() -> String {
        var text = "{\n  \"name\": \(jsonQuoted(name)),\n"
        if let normalization {
            text += "  \"normalize\": {\"mean\": \(jsonNumbers(normalization.mean.map(Double.init))), "
                + "\"std\": \(jsonNumbers(normalization.std.map(Double.init)))},\n"
        }
        text += "  \"views\": [\n"
        for (v, view) in views.enumerated() {
            text += "    [\n"
            for (i, step) in view.steps.enumerated() {
                text += "      " + jsonObject(step) + (i + 1 < view.steps.count ? ",\n" : "\n")
            }
            text += "    ]" + (v + 1 < views.count ? ",\n" : "\n")
        }
        return text + "  ]\n}\n"
    }
}

// MARK: - Writing

/// Shortest text that reads back as the same Double (Swift's `description`), integers without ".0".
private func jsonNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    return value.description
}

private func jsonNumbers(_ values: [Double]) -> String { "[" + values.map(jsonNumber).joined(separator: ", ") + "]" }

private func jsonRange(_ range: ClosedRange<Double>) -> String { jsonNumbers([range.lowerBound, range.upperBound]) }

private func jsonObject(_ step: Augmentation) -> String {
    var fields: [(String, String)]
    switch step {
    case .randomResizedCrop(let crop):
        fields = [("op", "\"RandomResizedCrop\""), ("size", jsonNumbers([Double(crop.height), Double(crop.width)])),
                  ("scale", jsonRange(crop.scale)), ("ratio", jsonRange(crop.ratio)),
                  ("interpolation", jsonQuoted(crop.interpolation.rawValue)), ("antialias", "\(crop.antialias)")]
    case .resize(let resize):
        fields = [("op", "\"Resize\""), ("size", jsonNumbers([Double(resize.height), Double(resize.width)])),
                  ("interpolation", jsonQuoted(resize.interpolation.rawValue)), ("antialias", "\(resize.antialias)")]
    case .horizontalFlip(let flip):
        fields = [("op", "\"RandomHorizontalFlip\""), ("p", jsonNumber(flip.p))]
    case .colorJitter(let jitter):
        fields = [("op", "\"ColorJitter\"")]
        if let range = jitter.brightness { fields.append(("brightness", jsonRange(range))) }
        if let range = jitter.contrast { fields.append(("contrast", jsonRange(range))) }
        if let range = jitter.saturation { fields.append(("saturation", jsonRange(range))) }
        if let range = jitter.hue { fields.append(("hue", jsonRange(range))) }
    case .grayscale(let grayscale):
        fields = [("op", "\"RandomGrayscale\""), ("p", jsonNumber(grayscale.p))]
    case .gaussianBlur(let blur):
        fields = [("op", "\"GaussianBlur\"")]
        if let size = blur.kernelSize { fields.append(("kernel_size", String(size))) }
        fields.append(("sigma", jsonRange(blur.sigma)))
    case .solarize(let solarize):
        fields = [("op", "\"RandomSolarize\""), ("threshold", String(solarize.threshold)), ("p", jsonNumber(solarize.p))]
    case .rotation(let rotation):
        fields = [("op", "\"RandomRotation\""), ("degrees", jsonRange(rotation.degrees)), ("fill", String(rotation.fill))]
    case .invert(let invert):
        fields = [("op", "\"RandomInvert\""), ("p", jsonNumber(invert.p))]
    case .randomApply(let group):
        fields = [("op", "\"RandomApply\""), ("p", jsonNumber(group.p)),
                  ("transforms", "[" + group.transforms.map(jsonObject).joined(separator: ", ") + "]")]
    }
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}

// MARK: - Reading

extension JSON {
    /// A short rendering for error messages.
    var summary: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return "\(value)"
        case .number(let value): return jsonNumber(value)
        case .string(let value): return jsonQuoted(value)
        case .array(let values): return values.count <= 4 ? "[" + values.map(\.summary).joined(separator: ", ") + "]"
                                                          : "an array of \(values.count) values"
        case .object: return "an object"
        }
    }
}

/// A bad field: `path` like `views[0][2].brightness`.
struct PresetFieldError: Error {
    let path: String
    let message: String
}

/// Turns a `JSON` into a preset, checking every field against torchvision's rules.
struct PresetParser {
    let defaultSize: Int?

    func preset(_ value: JSON, defaultName: String) throws -> AugmentationPreset {
        let root = try object(value, at: "top level", allowed: ["name", "normalize", "views"], what: "the preset")
        var name = defaultName
        if let field = root["name"] {
            guard case .string(let text) = field else { throw fail("name", "expected a string, got \(field.summary)") }
            name = text
        }
        var normalization: Normalization?
        if let field = root["normalize"] {
            let fields = try object(field, at: "normalize", allowed: ["mean", "std"], what: "normalize")
            let mean = try numbers(fields["mean"], at: "normalize.mean")
            let std = try numbers(fields["std"], at: "normalize.std")
            guard mean.count == std.count, !mean.isEmpty else {
                throw fail("normalize", "mean and std need the same number of values (one per channel, or one "
                           + "for all), got \(mean.count) and \(std.count)")
            }
            guard std.allSatisfy({ $0 > 0 }) else { throw fail("normalize.std", "every std must be positive, got \(std)") }
            normalization = Normalization(mean: mean.map(Float.init), std: std.map(Float.init))
        }
        guard let viewsField = root["views"] else {
            throw fail("top level", "missing \"views\": a list of one (symmetric) or two lists of ops")
        }
        guard case .array(let viewValues) = viewsField, (1...2).contains(viewValues.count) else {
            throw fail("views", "expected a list of one (symmetric) or two lists of ops, got \(viewsField.summary)")
        }
        var views: [AugmentationPipeline] = []
        for (v, viewValue) in viewValues.enumerated() {
            let path = "views[\(v)]"
            guard case .array(let opValues) = viewValue else {
                throw fail(path, "expected a list of ops, got \(viewValue.summary)")
            }
            let pipeline = AugmentationPipeline(try ops(opValues, at: path))
            do {
                try pipeline.validate(channels: 3)
            } catch let error as DataError {
                throw fail(path, error.description)
            }
            views.append(pipeline)
        }
        if views.count == 1 { views.append(views[0]) }
        return AugmentationPreset(name: name, views: views, normalization: normalization)
    }

    private func ops(_ values: [JSON], at path: String) throws -> [Augmentation] {
        try values.enumerated().map { try op($1, at: "\(path)[\($0)]") }
    }

    private static let fields: [String: [String]] = [
        "RandomResizedCrop": ["size", "scale", "ratio", "interpolation", "antialias"],
        "Resize": ["size", "interpolation", "antialias"],
        "RandomHorizontalFlip": ["p"],
        "ColorJitter": ["brightness", "contrast", "saturation", "hue"],
        "RandomGrayscale": ["p"],
        "GaussianBlur": ["kernel_size", "sigma"],
        "RandomSolarize": ["threshold", "p"],
        "RandomRotation": ["degrees", "fill"],
        "RandomInvert": ["p"],
        "RandomApply": ["p", "transforms"],
    ]

    private func op(_ value: JSON, at path: String) throws -> Augmentation {
        guard case .object(let fields) = value else {
            throw fail(path, "expected an op object like {\"op\": \"RandomHorizontalFlip\", \"p\": 0.5}, got \(value.summary)")
        }
        guard let opField = fields["op"] else { throw fail(path, "missing \"op\" (the transform's name)") }
        guard case .string(let name) = opField, let allowed = PresetParser.fields[name] else {
            throw fail("\(path).op", "unknown op \(opField.summary); known: "
                       + PresetParser.fields.keys.sorted().joined(separator: ", "))
        }
        _ = try object(value, at: path, allowed: Set(allowed + ["op"]), what: name)
        let at = { (field: String) in "\(path).\(field)" }
        switch name {
        case "RandomResizedCrop":
            let (h, w) = try size(fields["size"], at: at("size"))
            let scale = try range(fields["scale"], at: at("scale"), default: 0.08...1, minimum: 0, positive: true)
            let ratio = try range(fields["ratio"], at: at("ratio"), default: 0.75...(4.0 / 3), minimum: 0, positive: true)
            return .randomResizedCrop(RandomResizedCrop(height: h, width: w, scale: scale, ratio: ratio,
                                                        interpolation: try interpolation(fields["interpolation"], at: at("interpolation")),
                                                        antialias: try bool(fields["antialias"], at: at("antialias"), default: true)))
        case "Resize":
            let (h, w) = try size(fields["size"], at: at("size"))
            return .resize(Resize(height: h, width: w,
                                  interpolation: try interpolation(fields["interpolation"], at: at("interpolation")),
                                  antialias: try bool(fields["antialias"], at: at("antialias"), default: true)))
        case "RandomHorizontalFlip":
            return .horizontalFlip(RandomHorizontalFlip(p: try probability(fields["p"], at: at("p"), default: 0.5)))
        case "ColorJitter":
            return .colorJitter(ColorJitter(brightness: try jitter(fields["brightness"], at: at("brightness")),
                                            contrast: try jitter(fields["contrast"], at: at("contrast")),
                                            saturation: try jitter(fields["saturation"], at: at("saturation")),
                                            hue: try hue(fields["hue"], at: at("hue"))))
        case "RandomGrayscale":
            return .grayscale(RandomGrayscale(p: try probability(fields["p"], at: at("p"), default: 0.1)))
        case "GaussianBlur":
            var kernelSize: Int?
            if let field = fields["kernel_size"], field != .null {
                guard case .number(let k) = field, k == k.rounded(), k >= 1, Int(k) % 2 == 1 else {
                    throw fail(at("kernel_size"), "expected an odd positive integer, got \(field.summary)")
                }
                kernelSize = Int(k)
            }
            let sigma = try range(fields["sigma"], at: at("sigma"), default: 0.1...2.0, minimum: 0, positive: true)
            return .gaussianBlur(GaussianBlur(kernelSize: kernelSize, sigma: sigma))
        case "RandomSolarize":
            guard let field = fields["threshold"] else {
                throw fail(path, "missing \"threshold\" (bytes at or above it are inverted; PIL's solarize uses 128)")
            }
            guard case .number(let t) = field, t == t.rounded(), t >= 0, t <= 256 else {
                throw fail(at("threshold"), "expected an integer in 0...256, got \(field.summary)")
            }
            return .solarize(RandomSolarize(threshold: Int(t), p: try probability(fields["p"], at: at("p"), default: 0.5)))
        case "RandomRotation":
            guard let field = fields["degrees"] else { throw fail(path, "missing \"degrees\" (a number d for -d...d, or [min, max])") }
            let degrees: ClosedRange<Double>
            if case .number(let d) = field {
                guard d >= 0, d.isFinite else { throw fail(at("degrees"), "a single number must be ≥ 0, got \(field.summary)") }
                degrees = -d...d
            } else {
                degrees = try range(field, at: at("degrees"), default: 0...0, minimum: nil, positive: false)
            }
            var fill: UInt8 = 0
            if let fillField = fields["fill"] {
                guard case .number(let f) = fillField, f == f.rounded(), f >= 0, f <= 255 else {
                    throw fail(at("fill"), "expected an integer in 0...255, got \(fillField.summary)")
                }
                fill = UInt8(f)
            }
            return .rotation(RandomRotation(degrees: degrees, fill: fill))
        case "RandomInvert":
            return .invert(RandomInvert(p: try probability(fields["p"], at: at("p"), default: 0.5)))
        default: // RandomApply
            guard let field = fields["transforms"] else { throw fail(path, "missing \"transforms\": the list of ops to apply") }
            guard case .array(let inner) = field else {
                throw fail(at("transforms"), "expected a list of ops, got \(field.summary)")
            }
            return .randomApply(RandomApply(try ops(inner, at: at("transforms")),
                                            p: try probability(fields["p"], at: at("p"), default: 0.5)))
        }
    }

    // MARK: field readers

    private func fail(_ path: String, _ message: String) -> PresetFieldError { PresetFieldError(path: path, message: message) }

    private func object(_ value: JSON, at path: String, allowed: Set<String>, what: String) throws -> [String: JSON] {
        guard case .object(let fields) = value else { throw fail(path, "expected an object, got \(value.summary)") }
        for key in fields.keys.sorted() where !allowed.contains(key) {
            let prefix = path == "top level" ? "" : path + "."
            throw fail(prefix + key, "unknown field for \(what); expected one of " + allowed.sorted().joined(separator: ", "))
        }
        return fields
    }

    private func number(_ value: JSON, at path: String) throws -> Double {
        guard case .number(let number) = value, number.isFinite else { throw fail(path, "expected a number, got \(value.summary)") }
        return number
    }

    private func numbers(_ value: JSON?, at path: String) throws -> [Double] {
        guard let value else { throw fail(path, "missing") }
        if case .number = value { return [try number(value, at: path)] }
        guard case .array(let values) = value else { throw fail(path, "expected a number or a list of numbers, got \(value.summary)") }
        return try values.enumerated().map { try number($1, at: "\(path)[\($0)]") }
    }

    private func probability(_ value: JSON?, at path: String, default fallback: Double) throws -> Double {
        guard let value else { return fallback }
        guard case .number(let p) = value, p >= 0, p <= 1 else {
            throw fail(path, "expected a probability in 0...1, got \(value.summary)")
        }
        return p
    }

    private func bool(_ value: JSON?, at path: String, default fallback: Bool) throws -> Bool {
        guard let value else { return fallback }
        guard case .bool(let flag) = value else { throw fail(path, "expected true or false, got \(value.summary)") }
        return flag
    }

    private func interpolation(_ value: JSON?, at path: String) throws -> Interpolation {
        guard let value else { return .bilinear }
        guard case .string(let text) = value, let mode = Interpolation(rawValue: text.lowercased()) else {
            throw fail(path, "expected \"bilinear\" or \"bicubic\", got \(value.summary)")
        }
        return mode
    }

    private func size(_ value: JSON?, at path: String) throws -> (Int, Int) {
        guard let value else {
            guard let defaultSize else { throw fail(path, "missing: give the output size, e.g. 32 or [32, 32]") }
            return (defaultSize, defaultSize)
        }
        func side(_ value: JSON) -> Int? {
            guard case .number(let n) = value, n == n.rounded(), n >= 1, n <= 65536 else { return nil }
            return Int(n)
        }
        if let s = side(value) { return (s, s) }
        if case .array(let sides) = value, sides.count == 2, let h = side(sides[0]), let w = side(sides[1]) { return (h, w) }
        throw fail(path, "expected a positive integer or [height, width], got \(value.summary)")
    }

    /// `[min, max]` with min ≤ max (and ≥ `minimum`; > 0 when `positive`), or the default when absent.
    private func range(_ value: JSON?, at path: String, default fallback: ClosedRange<Double>,
                       minimum: Double?, positive: Bool) throws -> ClosedRange<Double> {
        guard let value else { return fallback }
        let bound = positive ? "> 0" : minimum.map { "≥ \(jsonNumber($0))" }
        let expected = "expected [min, max] with min ≤ max" + (bound.map { ", both \($0)" } ?? "")
        var pair: (Double, Double)?
        if case .number(let single) = value, path.hasSuffix("sigma") { pair = (single, single) }
        if case .array(let values) = value, values.count == 2, case .number(let a) = values[0], case .number(let b) = values[1] {
            pair = (a, b)
        }
        guard let (low, high) = pair, low.isFinite, high.isFinite, low <= high else {
            throw fail(path, "\(expected), got \(value.summary)")
        }
        if positive && low <= 0 { throw fail(path, "\(expected), got \(value.summary)") }
        if let minimum, low < minimum { throw fail(path, "\(expected), got \(value.summary)") }
        return low...high
    }

    /// A ColorJitter factor: a strength s ≥ 0 (-> max(0, 1 - s)...1 + s; 0 = off) or [min, max] with min ≥ 0.
    private func jitter(_ value: JSON?, at path: String) throws -> ClosedRange<Double>? {
        guard let value, value != .null else { return nil }
        if case .number(let s) = value {
            guard s >= 0, s.isFinite else { throw fail(path, "expected a number ≥ 0 or [min, max], got \(value.summary)") }
            return ColorJitter.factorRange(s)
        }
        guard case .array(let values) = value, values.count == 2, case .number(let a) = values[0],
              case .number(let b) = values[1], a >= 0, a <= b, b.isFinite else {
            throw fail(path, "expected a number ≥ 0 or [min, max] with 0 ≤ min ≤ max, got \(value.summary)")
        }
        return a...b
    }

    /// A hue shift: h in 0...0.5 (-> -h...h; 0 = off) or [min, max] within -0.5...0.5.
    private func hue(_ value: JSON?, at path: String) throws -> ClosedRange<Double>? {
        guard let value, value != .null else { return nil }
        if case .number(let h) = value {
            guard h >= 0, h <= 0.5 else { throw fail(path, "expected a number in 0...0.5 or [min, max] within -0.5...0.5, got \(value.summary)") }
            return h == 0 ? nil : -h...h
        }
        guard case .array(let values) = value, values.count == 2, case .number(let a) = values[0],
              case .number(let b) = values[1], a >= -0.5, a <= b, b <= 0.5 else {
            throw fail(path, "expected a number in 0...0.5 or [min, max] within -0.5...0.5, got \(value.summary)")
        }
        return a...b
    }
}
