import CZlib
import Foundation
import XCTest
@testable import Data

/// A fresh directory under the system temp folder, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("disttrain-data-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

func writeFile(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// An IDX file of unsigned bytes: magic 0x000008dd, big-endian sizes, payload.
func idxBytes(dimensions: [Int], payload: [UInt8], magic: [UInt8]? = nil) -> [UInt8] {
    var bytes = magic ?? [0, 0, 0x08, UInt8(dimensions.count)]
    for size in dimensions {
        bytes += [UInt8(size >> 24 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)]
    }
    return bytes + payload
}

/// One gzip member (RFC 1952) holding `bytes`, written with zlib's deflate.
func gzip(_ bytes: [UInt8]) -> [UInt8] { deflate(bytes, windowBits: 16 + MAX_WBITS) }

/// `bytes` compressed by zlib's deflate; `windowBits` picks the wrapper (16 + 15: gzip, −15: raw).
func deflate(_ bytes: [UInt8], windowBits: Int32) -> [UInt8] {
    var stream = z_stream()
    let status = deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowBits, 8,
                               Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    precondition(status == Z_OK, "deflateInit2 failed: \(status)")
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
    var input = bytes
    let produced = input.withUnsafeMutableBufferPointer { source in
        output.withUnsafeMutableBufferPointer { target in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            stream.next_out = target.baseAddress
            stream.avail_out = UInt32(target.count)
            let result = CZlib.deflate(&stream, Z_FINISH)
            precondition(result == Z_STREAM_END, "deflate did not finish: \(result)")
            return target.count - Int(stream.avail_out)
        }
    }
    return Array(output[0..<produced])
}

/// Deterministic bytes that compress only a little.
func noiseBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
}

/// Runs `body`, which must throw a `DataError`, and returns its message.
func errorMessage(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
        try body()
        XCTFail("expected an error, none was thrown", file: file, line: line)
        return ""
    } catch {
        return String(describing: error)
    }
}

/// Asserts that `text` contains every one of `parts`.
func assertContains(_ text: String, _ parts: String..., file: StaticString = #filePath, line: UInt = #line) {
    for part in parts where !text.contains(part) {
        XCTFail("message does not contain '\(part)':\n\(text)", file: file, line: line)
    }
}

extension ImageDataset {
    /// Image `index` as `[H, W, C]` bytes, read through `copyImage(at:into:)`.
    func pixels(at index: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: imageByteCount) { buffer, initialized in
            copyImage(at: index, into: buffer.baseAddress!)
            initialized = imageByteCount
        }
    }

    /// Every image, `[N, H, W, C]`.
    var allPixels: [UInt8] { (0..<count).flatMap { pixels(at: $0) } }
}

/// Runs `body` on a workspace copy of `image` (what a loader worker does) and returns the result.
func runInWorkspace(_ image: Image8, _ body: (inout WorkingImage, AugmentationWorkspace) -> Void) -> Image8 {
    let workspace = AugmentationWorkspace()
    var working = image.pixels.withUnsafeBufferPointer {
        workspace.begin(source: $0.baseAddress!, height: image.height, width: image.width,
                        channels: image.channels, capacity: 1 << 16)
    }
    body(&working, workspace)
    return Image8(height: working.height, width: working.width, channels: working.channels,
                  pixels: Array(UnsafeBufferPointer(start: working.pixels, count: working.byteCount)))
}
