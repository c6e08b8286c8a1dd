import Foundation
import XCTest

/// What the end-to-end training tests share: a run directory removed after the test, and its metrics.
extension XCTestCase {
    /// A fresh path under the temporary folder (not created: `train --run-dir` makes it), removed at teardown.
    func temporaryRunDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("disttrain-run-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Every record of `run/metrics.jsonl`, in order.
    func metrics(_ run: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }
}
