import Engine

/// `--config FILE`: a JSON object whose keys are option names (`{"epochs": 5, "method": "simclr"}`)
/// supplies options; flags given on the command line override it. A run's own `config.json` has this
/// shape, so `--config runs/x/config.json` repeats a run.
enum ConfigFile {
    /// The arguments with `--config FILE` replaced by the file's options, placed first so that the
    /// command line's own flags (parsed later) win.
    static func expand(_ arguments: [String]) throws -> [String] {
        var rest: [String] = []
        var path: String?
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--config" {
                guard index + 1 < arguments.count else { throw UsageError("--config needs a file") }
                path = arguments[index + 1]
                index += 2
                continue
            }
            if argument.hasPrefix("--config=") { path = String(argument.dropFirst(9)); index += 1; continue }
            rest.append(argument)
            index += 1
        }
        guard let path else { return arguments }
        return try options(fromFile: path) + rest
    }

    static func options(fromFile path: String) throws -> [String] {
        let bytes = try readFile(path)
        let values: [String: Scalar]
        do { values = try Scalar.fields(bytes) } catch {
            throw UsageError("\(path): expected a JSON object of option names to strings, numbers or booleans (\(error))")
        }
        var arguments: [String] = []
        for key in values.keys.sorted() {
            switch values[key]! {
            case .text(let text): arguments += ["--\(key)", text]
            case .number(let number):
                arguments += ["--\(key)", number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)]
            case .flag(let on): if on { arguments.append("--\(key)") }
            case .null: break
            }
        }
        return arguments
    }

    enum Scalar {
        case text(String), number(Double), flag(Bool), null

        /// The fields of a JSON object of option names to scalars; an array or object value is an error.
        static func fields(_ bytes: [UInt8]) throws -> [String: Scalar] {
            var scalars: [String: Scalar] = [:]
            for (name, value) in try JSON.parseObject(bytes) {
                switch value {
                case .null: scalars[name] = .null
                case .bool(let flag): scalars[name] = .flag(flag)
                case .number(let number): scalars[name] = .number(number)
                case .string(let text): scalars[name] = .text(text)
                case .array, .object: throw JSONContentError("\(jsonQuoted(name)) is \(value.kind)")
                }
            }
            return scalars
        }
    }
}
