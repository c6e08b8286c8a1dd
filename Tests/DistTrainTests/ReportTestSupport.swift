import Foundation
import XCTest

/// Helpers shared by the plot, t-SNE and report tests: temporary folders, xmllint, chromium.
enum ReportTestSupport {
    /// The results-table cells of `run` in report.html or Chromium's serialised DOM of it, by `data-key`.
    static func cells(_ dom: String, run: String) -> [String: String] {
        guard let start = dom.range(of: "<tr data-run=\"\(run)\">"), let end = dom.range(of: "</tr>", range: start.upperBound..<dom.endIndex) else {
            XCTFail("no results row for \(run)")
            return [:]
        }
        var cells: [String: String] = [:]
        for cell in dom[start.upperBound..<end.lowerBound].components(separatedBy: "<td data-key=\"").dropFirst() {
            let key = String(cell.prefix { $0 != "\"" })
            let value = cell.drop { $0 != ">" }.dropFirst().prefix { $0 != "<" }
            cells[key] = String(value)
        }
        return cells
    }

    /// A fresh empty folder under the temporary directory.
    static func temporaryDirectory(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "disttrain-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// A tool the test needs; when it is missing the test fails (it never skips) and says how to install it.
    static func requiredTool(_ name: String, package: String) throws -> URL {
        guard let tool = findOnPath(name) else {
            throw MissingTool(name: name, package: package)
        }
        return tool
    }

    struct MissingTool: Error, CustomStringConvertible {
        let name: String, package: String
        var description: String {
            "'\(name)' is not on PATH; install the Debian package \(package) (bash launch/setup.sh does)"
        }
    }

    /// xmllint's verdict on `text`: nil when it is well-formed XML, else xmllint's complaint.
    static func xmlProblems(_ text: String) throws -> String? {
        let xmllint = try requiredTool("xmllint", package: "libxml2-utils")
        let path = try temporaryDirectory("xml") + "/document.xml"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try write(text, to: path)
        let result = try runProcess(xmllint, ["--noout", path], timeout: 60)
        return result.status == 0 && result.standardError.isEmpty ? nil : result.output
    }
}
