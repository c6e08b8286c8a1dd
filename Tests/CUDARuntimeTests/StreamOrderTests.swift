@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// The emulated GPU's race check (`StreamOrder`): what a real GPU would run out of order between the copy
/// stream, the compute stream and the host must be reported, and what CUDA orders must not be.
final class StreamOrderTests: XCTestCase {
    let gpu = EmulatedGPU()
    let values: [Float] = [1, 2, 3, 4]

    func buffer() throws -> UInt64 { try gpu.allocate(bytes: 16) }
    func pinned() throws -> UnsafeMutableRawPointer {
        let pointer = try gpu.allocatePinned(bytes: 16)
        values.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: 16) }
        return pointer
    }
    /// A kernel on the compute stream that reads `source`.
    func read(_ source: UInt64, into target: UInt64) throws { try gpu.launch(ElementwiseLaunch.copy(source, to: target, count: 4)) }

    func assertRace(_ body: () throws -> Void, naming words: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            for word in ["race"] + words { XCTAssertTrue("\(error)".contains(word), "'\(word)' in: \(error)", file: file, line: line) }
        }
    }

    func testAKernelReadingAnUploadWithoutWaitingForItRaces() throws {
        let batch = try buffer(), output = try buffer(), source = try pinned()
        try gpu.uploadOnCopyStream(source, to: batch, bytes: 16)
        assertRace({ try read(batch, into: output) }, naming: ["kernel copy_f32", "upload of 16 bytes", "copy stream"])
    }

    func testAnEventOrdersTheUploadBeforeTheKernel() throws {
        let batch = try buffer(), output = try buffer(), source = try pinned(), copied = try gpu.makeEvent()
        try gpu.uploadOnCopyStream(source, to: batch, bytes: 16)
        try gpu.record(copied, on: .copy)
        try gpu.wait(.compute, for: copied)
        try read(batch, into: output)
        var result = [Float](repeating: 0, count: 4)
        try result.withUnsafeMutableBytes { try gpu.download(output, to: $0.baseAddress!, bytes: 16) }
        XCTAssertEqual(result, values)
    }

    func testAnEventRecordedBeforeTheUploadDoesNotOrderIt() throws {
        let batch = try buffer(), output = try buffer(), source = try pinned(), early = try gpu.makeEvent()
        try gpu.record(early, on: .copy)
        try gpu.uploadOnCopyStream(source, to: batch, bytes: 16)
        try gpu.wait(.compute, for: early)
        assertRace({ try read(batch, into: output) }, naming: ["kernel"])
    }

    func testOverwritingABufferTheComputeStreamMayStillReadRaces() throws {
        let batch = try buffer(), output = try buffer(), source = try pinned()
        try read(batch, into: output)
        assertRace({ try gpu.uploadOnCopyStream(source, to: batch, bytes: 16) }, naming: ["upload", "copy stream", "kernel copy_f32"])
    }

    func testACopyStreamWaitingForTheComputeStreamMayOverwrite() throws {
        let batch = try buffer(), output = try buffer(), source = try pinned(), released = try gpu.makeEvent()
        try read(batch, into: output)
        try gpu.record(released, on: .compute)
        try gpu.wait(.copy, for: released)
        try gpu.uploadOnCopyStream(source, to: batch, bytes: 16)
    }

    func testRewritingAPinnedBufferBeforeItsCopyFinishedRaces() throws {
        let first = try buffer(), second = try buffer(), source = try pinned()
        try gpu.uploadOnCopyStream(source, to: first, bytes: 16)
        assertRace({ try gpu.uploadOnCopyStream(source, to: second, bytes: 16) }, naming: ["the host's write into a pinned buffer", "host"])
    }

    func testWaitingOnTheHostForTheCopyAllowsTheRewrite() throws {
        let first = try buffer(), second = try buffer(), source = try pinned(), copied = try gpu.makeEvent()
        try gpu.uploadOnCopyStream(source, to: first, bytes: 16)
        try gpu.record(copied, on: .copy)
        try gpu.synchronize(copied)
        try gpu.uploadOnCopyStream(source, to: second, bytes: 16)
    }

    func testTheSynchronousCopiesAndKernelsNeedNoEvents() throws {
        let a = try buffer(), b = try buffer()
        try values.withUnsafeBytes { try gpu.upload($0.baseAddress!, to: a, bytes: 16) }
        try read(a, into: b)
        try read(b, into: a)
        var result = [Float](repeating: 0, count: 4)
        try result.withUnsafeMutableBytes { try gpu.download(a, to: $0.baseAddress!, bytes: 16) }
        XCTAssertEqual(result, values)
    }

    func testAnAsynchronousUploadFromPageableMemoryIsRefused() throws {
        let batch = try buffer()
        XCTAssertThrowsError(try values.withUnsafeBytes { try gpu.uploadOnCopyStream($0.baseAddress!, to: batch, bytes: 16) }) { error in
            XCTAssertTrue("\(error)".contains("not inside one pinned buffer"), "\(error)")
        }
    }
}
