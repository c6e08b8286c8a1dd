import XCTest
import Engine

final class FNV1aTests: XCTestCase {
    /// The published FNV-1a 64-bit test vectors (Fowler–Noll–Vo reference: "" and "a", "foobar").
    func testKnownVectors() {
        func hash(_ text: String) -> UInt64 {
            var fnv = FNV1a()
            for byte in text.utf8 { fnv.combine(UInt64(byte)) }
            return fnv.value
        }
        XCTAssertEqual(hash(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(hash("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(hash("foobar"), 0x8594_4171_f739_67e8)
    }
}
