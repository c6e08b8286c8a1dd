@testable import Engine
import XCTest

/// Our JSON reader (it replaced Foundation's JSONDecoder): every value kind, escapes, and where it reports
/// the first problem.
final class JSONTests: XCTestCase {
    func testEveryKindOfValue() throws {
        let text = #" {"a": [1, -2.5, 3e2, 0, -0.125E-1], "b": {"c": null, "d": true, "e": false}, "f": "x", "g": [], "h": {}} "#
        XCTAssertEqual(try JSON.parse(text), .object([
            "a": .array([.number(1), .number(-2.5), .number(300), .number(0), .number(-0.0125)]),
            "b": .object(["c": .null, "d": .bool(true), "e": .bool(false)]),
            "f": .string("x"), "g": .array([]), "h": .object([:]),
        ]))
        XCTAssertEqual(try JSON.parse("7"), .number(7), "a bare value is a JSON text")
    }

    func testStringEscapesAndUnicode() throws {
        XCTAssertEqual(try JSON.parse(#""q\" b\\ s\/ \b\f\n\r\t""#), .string("q\" b\\ s/ \u{8}\u{C}\n\r\t"))
        XCTAssertEqual(try JSON.parse(#""\u00e9\u4e2d""#), .string("é中"))
        XCTAssertEqual(try JSON.parse(#""\ud83d\ude00""#), .string("😀"), "a surrogate pair is one scalar")
        XCTAssertEqual(try JSON.parse("\"naïve 😀\""), .string("naïve 😀"), "UTF-8 passes through")
    }

    func testNumbersKeepDoublePrecision() throws {
        XCTAssertEqual(try JSON.parse("0.1"), .number(0.1))
        XCTAssertEqual(try JSON.parse("123456789012345678"), .number(123456789012345678))
        XCTAssertEqual(try JSON.parse("4.9406564584124654e-324"), .number(.leastNonzeroMagnitude))
        XCTAssertEqual(JSON.number(3).integer, 3)
        XCTAssertNil(JSON.number(3.5).integer)
        XCTAssertNil(JSON.string("3").integer)
    }

    func testProblemsAreReportedWithLineAndColumn() {
        func problem(_ text: String) -> String {
            do { _ = try JSON.parse(text); return "parsed" } catch { return error.description }
        }
        XCTAssertEqual(problem("{\"a\": 1,\n \"b\": }"), "line 2, column 7: expected a value (a number, \"text\", true, false, null, [...] or {...})")
        XCTAssertEqual(problem("[1, 2"), "line 1, column 6: expected ']'")
        XCTAssertEqual(problem("[1, 2,]"), "line 1, column 7: expected a value (a number, \"text\", true, false, null, [...] or {...})")
        XCTAssertEqual(problem("{a: 1}"), "line 1, column 2: expected a \"quoted\" field name")
        XCTAssertEqual(problem("{\"a\": 1, \"a\": 2}"), "line 1, column 10: duplicate field name \"a\"")
        XCTAssertEqual(problem("012"), "line 1, column 1: a number cannot start with 0 (leading zeros are not JSON)")
        XCTAssertEqual(problem("1."), "line 1, column 3: expected digits after '.'")
        XCTAssertEqual(problem("1e400"), "line 1, column 1: number out of range")
        XCTAssertEqual(problem("\"a\nb\""), "line 1, column 3: control character inside a string (write it as an escape, e.g. \\n)")
        XCTAssertEqual(problem("\"abc"), "line 1, column 5: unterminated string")
        XCTAssertEqual(problem("\"\\x\""), "line 1, column 3: unknown escape '\\x' in a string")
        XCTAssertEqual(problem("\"\\ud800\""), "line 1, column 8: a \\u escape of a high surrogate lacks its low surrogate")
        XCTAssertEqual(problem("\"\\udc00\""), "line 1, column 8: a \\u escape of a lone low surrogate")
        XCTAssertEqual(problem("\"\\u12g4\""), "line 1, column 6: expected four hex digits after \\u")
        XCTAssertEqual(problem("{} x"), "line 1, column 4: unexpected text after the value")
        XCTAssertEqual(problem(""), "line 1, column 1: the text ends where a value should be")
        XCTAssertEqual(problem("nul"), "line 1, column 1: expected a value (a number, \"text\", true, false, null, [...] or {...})")
        XCTAssertEqual(problem(String(repeating: "[", count: 600)), "line 1, column 513: nested deeper than 512 levels")
    }

    func testInvalidUTF8InAStringIsAnError() {
        XCTAssertThrowsError(try JSON.parse([0x22, 0xFF, 0x22])) { error in
            XCTAssertEqual((error as? JSONSyntaxError)?.problem, "a string is not valid UTF-8")
        }
    }

    func testParseObjectNamesWhatTheTextHoldsInstead() {
        XCTAssertEqual(try JSON.parseObject(Array(#"{"x": 1}"#.utf8)), ["x": .number(1)])
        XCTAssertThrowsError(try JSON.parseObject(Array("[1]".utf8))) { error in
            XCTAssertEqual("\(error)", "the text holds an array, not an object")
        }
    }
}
