import Foundation
import XCTest

/// Decodes `Fixtures/<name>.json` (written by a script in `scripts/`) as `T`.
func loadJSONFixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
    let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
                            "Fixtures/\(name).json is missing; the scripts in scripts/ write it")
    return try JSONDecoder().decode(type, from: Data(contentsOf: url))
}
