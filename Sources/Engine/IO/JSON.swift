/// A JSON value (RFC 8259), as config files, augmentation presets, label maps, metrics logs, results
/// files and safetensors headers hold them. Read by `JSON.parse`, our own strict reader, so that nothing
/// in the binary needs Foundation (whose JSONDecoder alone cost the static binary about 4 MB).
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// Parses one JSON text: a value with optional white space around it. Strict: no comments, no
    /// trailing commas, no duplicate field names, no numbers beyond Double's range, valid UTF-8 only.
    /// - Throws: `JSONSyntaxError` with the line and column of the first problem.
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSON {
        var reader = JSONReader(bytes: bytes)
        do {
            let value = try reader.value(depth: 0)
            reader.skipSpace()
            guard reader.at == bytes.count else { throw JSONReader.Problem(text: "unexpected text after the value") }
            return value
        } catch {
            throw reader.syntaxError(error)
        }
    }

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSON { try parse(Array(text.utf8)) }

    /// The fields of a text that must hold one object.
    /// - Throws: `JSONSyntaxError`, or `JSONContentError` when the value is not an object.
    public static func parseObject(_ bytes: [UInt8]) throws -> [String: JSON] {
        let value = try parse(bytes)
        guard let fields = value.objectFields else { throw JSONContentError("the text holds \(value.kind), not an object") }
        return fields
    }

    /// The value as an integer, nil unless it is a number with no fraction that fits an `Int`.
    public var integer: Int? {
        guard case .number(let value) = self, value.rounded() == value, abs(value) < 0x1p62 else { return nil }
        return Int(value)
    }

    /// The fields of an object, nil for any other value.
    public var objectFields: [String: JSON]? {
        if case .object(let fields) = self { return fields }
        return nil
    }

    /// What kind of value this is, for error messages ("a string", "an array", ...).
    public var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON text that parses but holds the wrong kind of value: "\"epochs\" is an array".
public struct JSONContentError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Where a text stops being JSON, and why: "line 2, column 11: expected a value (...)".
public struct JSONSyntaxError: Error, CustomStringConvertible, Equatable {
    public let line: Int
    public let column: Int
    public let problem: String
    public var description: String { "line \(line), column \(column): \(problem)" }
}

/// A recursive-descent reader over UTF-8 bytes. `at` is the byte being read; a problem is reported at it.
struct JSONReader {
    let bytes: [UInt8]
    var at = 0
    /// Deeper nesting than this is refused rather than risking the stack.
    static let maximumDepth = 512

    struct Problem: Error { let text: String }

    private var current: UInt8? { at < bytes.count ? bytes[at] : nil }

    mutating func skipSpace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { at += 1 }
    }

    private mutating func expect(_ character: Character) throws {
        skipSpace()
        guard current == character.asciiValue else { throw Problem(text: "expected '\(character)'") }
        at += 1
    }

    mutating func value(depth: Int) throws -> JSON {
        skipSpace()
        guard let byte = current else { throw Problem(text: "the text ends where a value should be") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default:
            for (word, value) in [("true", JSON.bool(true)), ("false", .bool(false)), ("null", .null)]
            where bytes[at...].starts(with: word.utf8) {
                at += word.utf8.count
                return value
            }
            throw Problem(text: "expected a value (a number, \"text\", true, false, null, [...] or {...})")
        }
    }

    private mutating func object(depth: Int) throws -> JSON {
        guard depth <= Self.maximumDepth else { throw Problem(text: "nested deeper than \(Self.maximumDepth) levels") }
        at += 1
        var fields: [String: JSON] = [:]
        skipSpace()
        if current == UInt8(ascii: "}") { at += 1; return .object(fields) }
        while true {
            skipSpace()
            guard current == UInt8(ascii: "\"") else { throw Problem(text: "expected a \"quoted\" field name") }
            let nameStart = at
            let name = try string()
            guard fields[name] == nil else {
                at = nameStart
                throw Problem(text: "duplicate field name \(jsonQuoted(name))")
            }
            try expect(":")
            fields[name] = try value(depth: depth)
            skipSpace()
            if current == UInt8(ascii: ",") { at += 1; continue }
            try expect("}")
            return .object(fields)
        }
    }

    private mutating func array(depth: Int) throws -> JSON {
        guard depth <= Self.maximumDepth else { throw Problem(text: "nested deeper than \(Self.maximumDepth) levels") }
        at += 1
        var values: [JSON] = []
        skipSpace()
        if current == UInt8(ascii: "]") { at += 1; return .array(values) }
        while true {
            values.append(try value(depth: depth))
            skipSpace()
            if current == UInt8(ascii: ",") { at += 1; continue }
            try expect("]")
            return .array(values)
        }
    }

    /// A string from its opening quote to past its closing one, escapes decoded (RFC 8259 section 7).
    private mutating func string() throws -> String {
        at += 1
        var utf8: [UInt8] = []
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                at += 1
                guard let text = String(validating: utf8, as: UTF8.self) else { throw Problem(text: "a string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                at += 1
                guard let escape = current else { break }
                let simple: [UInt8: UInt8] = [0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A,
                                              0x72: 0x0D, 0x74: 0x09]
                if let decoded = simple[escape] {
                    utf8.append(decoded)
                    at += 1
                } else if escape == UInt8(ascii: "u") {
                    at += 1
                    utf8 += Array(String(Character(try unicodeEscape())).utf8)
                } else {
                    throw Problem(text: "unknown escape '\\\(Character(Unicode.Scalar(escape)))' in a string")
                }
            case 0..<0x20:
                throw Problem(text: "control character inside a string (write it as an escape, e.g. \\n)")
            default:
                utf8.append(byte)
                at += 1
            }
        }
        throw Problem(text: "unterminated string")
    }

    /// The scalar of `XXXX` after `\u` (at the first hex digit), with a following `\uXXXX` low surrogate
    /// when the first is a high one.
    private mutating func unicodeEscape() throws -> Unicode.Scalar {
        let first = try hexQuad()
        if (0xD800..<0xDC00).contains(first) {
            guard bytes[at...].starts(with: "\\u".utf8) else { throw Problem(text: "a \\u escape of a high surrogate lacks its low surrogate") }
            at += 2
            let second = try hexQuad()
            guard (0xDC00..<0xE000).contains(second) else { throw Problem(text: "a \\u escape of a high surrogate lacks its low surrogate") }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!
        }
        guard let scalar = Unicode.Scalar(first) else { throw Problem(text: "a \\u escape of a lone low surrogate") }
        return scalar
    }

    private mutating func hexQuad() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current, let digit = UInt32(String(UnicodeScalar(byte)), radix: 16) else {
                throw Problem(text: "expected four hex digits after \\u")
            }
            value = value << 4 | digit
            at += 1
        }
        return value
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, as a Double.
    private mutating func number() throws -> Double {
        let start = at
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        func digitRun(_ reader: inout JSONReader) -> Int {
            let start = reader.at
            while let byte = reader.current, digits.contains(byte) { reader.at += 1 }
            return reader.at - start
        }
        if current == UInt8(ascii: "-") { at += 1 }
        let integerStart = at
        let integerDigits = digitRun(&self)
        guard integerDigits > 0 else { throw Problem(text: "expected digits") }
        guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else {
            at = integerStart
            throw Problem(text: "a number cannot start with 0 (leading zeros are not JSON)")
        }
        if current == UInt8(ascii: ".") {
            at += 1
            guard digitRun(&self) > 0 else { throw Problem(text: "expected digits after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            at += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { at += 1 }
            guard digitRun(&self) > 0 else { throw Problem(text: "expected digits in the exponent") }
        }
        guard let value = Double(String(decoding: bytes[start..<at], as: UTF8.self)), value.isFinite else {
            at = start
            throw Problem(text: "number out of range")
        }
        return value
    }

    /// The line and column (1-based, in bytes) of `at`.
    func syntaxError(_ error: any Error) -> JSONSyntaxError {
        let before = bytes[..<min(at, bytes.count)]
        let line = before.filter { $0 == UInt8(ascii: "\n") }.count + 1
        let column = at - (before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
        return JSONSyntaxError(line: line, column: column, problem: (error as? Problem)?.text ?? "\(error)")
    }
}
