import Synchronization
import XCTest
@testable import Collectives

/// A communicator of a pretend world of `worldSize` ranks whose all-reduce doubles every element (as if
/// an identical peer added its copy) and records which elements each call covered, in call order.
final class RecordingCommunicator: Communicator, @unchecked Sendable {
    let topology: Topology
    let base: UnsafeMutablePointer<Float>
    let calls = Mutex<[Range<Int>]>([])
    let failing: Bool

    init(base: UnsafeMutablePointer<Float>, failing: Bool = false) {
        topology = Topology(rank: 0, worldSize: 2, localRank: 0, localSize: 2)
        self.base = base
        self.failing = failing
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        if failing { throw CollectivesError(call: "MPI_Allreduce", message: "injected", rank: 0, hint: "") }
        let start = buffer.baseAddress! - base
        calls.withLock { $0.append(start..<(start + buffer.count)) }
        for i in buffer.indices { buffer[i] *= 2 }
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    func allReduceMax(_ value: Double) throws -> Double { value }
    func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {}
    func gather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>, root: Int) throws {}
    func reduceScatterSum(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {}
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {}
    func broadcastBytes(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    func barrier() throws {}
    func finalize() throws {}
}

final class GradientAllReducerTests: XCTestCase {
    /// 10 floats in buckets of 4 (16 bytes): [6, 10), [2, 6), [0, 2), cut from the end.
    func testBucketsAreCutFromTheEnd() {
        var gradients = [Float](repeating: 0, count: 10)
        gradients.withUnsafeMutableBufferPointer { buffer in
            let reducer = GradientAllReducer(gradients: buffer.baseAddress!, count: 10,
                                             communicator: RecordingCommunicator(base: buffer.baseAddress!),
                                             bucketBytes: 16, overlap: true)
            XCTAssertEqual(reducer.bucketCount, 3)
            XCTAssertEqual((0..<3).map { reducer.bucketRange($0) }, [6..<10, 2..<6, 0..<2])
        }
    }

    /// Buckets of 4 over 10 elements are [6, 10), [2, 6), [0, 2): which are ready as gradients become final.
    func testReadyBucketsAreThoseWhollyAboveTheFinalOffset() {
        let buckets = GradientBuckets(elementCount: 10, bucketBytes: 16)
        XCTAssertEqual(buckets.ready(from: 0, finalFrom: 7), 0..<0, "bucket 0 starts at 6, below 7")
        XCTAssertEqual(buckets.ready(from: 0, finalFrom: 6), 0..<1)
        XCTAssertEqual(buckets.ready(from: 1, finalFrom: 2), 1..<2)
        XCTAssertEqual(buckets.ready(from: 0, finalFrom: 0), 0..<3)
        XCTAssertEqual(buckets.ready(from: 3, finalFrom: 0), 3..<3, "nothing left")
    }

    /// During backward only the buckets wholly above the reported offset go out, in order; `finishStep`
    /// sends the rest, and every element is reduced exactly once.
    func testBucketsLaunchAsTheirGradientsBecomeFinal() throws {
        var gradients = (0..<10).map { Float($0) }
        try gradients.withUnsafeMutableBufferPointer { buffer in
            let recorder = RecordingCommunicator(base: buffer.baseAddress!)
            let reducer = GradientAllReducer(gradients: buffer.baseAddress!, count: 10, communicator: recorder,
                                             bucketBytes: 16, overlap: true)
            reducer.beginStep()
            reducer.gradientsFinal(from: 7)  // nothing lies wholly above 7
            reducer.gradientsFinal(from: 5)  // [6, 10)
            reducer.gradientsFinal(from: 3)  // still only [6, 10): [2, 6) reaches below 3
            try reducer.finishStep()
            XCTAssertEqual(recorder.calls.withLock { $0 }, [6..<10, 2..<6, 0..<2])
        }
        XCTAssertEqual(gradients, (0..<10).map { Float(2 * $0) })
    }

    /// A bucket goes out during backward, before `finishStep`: that is the overlap.
    func testABucketIsReducedBeforeTheStepFinishes() throws {
        var gradients = [Float](repeating: 1, count: 8)
        try gradients.withUnsafeMutableBufferPointer { buffer in
            let recorder = RecordingCommunicator(base: buffer.baseAddress!)
            let reducer = GradientAllReducer(gradients: buffer.baseAddress!, count: 8, communicator: recorder,
                                             bucketBytes: 16, overlap: true)
            reducer.beginStep()
            reducer.gradientsFinal(from: 4)
            let deadline = ContinuousClock.now + .seconds(10)
            while recorder.calls.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline { usleep(1000) }
            XCTAssertEqual(recorder.calls.withLock { $0 }, [4..<8], "the first bucket was not reduced during backward")
            try reducer.finishStep()
        }
    }

    /// Without overlap nothing goes out during backward; `finishStep` reduces every bucket.
    func testWithoutOverlapEverythingWaitsForFinish() throws {
        var gradients = [Float](repeating: 1, count: 8)
        try gradients.withUnsafeMutableBufferPointer { buffer in
            let recorder = RecordingCommunicator(base: buffer.baseAddress!)
            let reducer = GradientAllReducer(gradients: buffer.baseAddress!, count: 8, communicator: recorder,
                                             bucketBytes: 16, overlap: false)
            reducer.beginStep()
            reducer.gradientsFinal(from: 0)
            XCTAssertTrue(recorder.calls.withLock { $0 }.isEmpty)
            try reducer.finishStep()
            XCTAssertEqual(recorder.calls.withLock { $0 }, [4..<8, 0..<4])
        }
        XCTAssertEqual(gradients, [Float](repeating: 2, count: 8))
    }

    /// A failed bucket surfaces as an error from `finishStep`, naming the call.
    func testAFailedBucketThrowsFromFinish() throws {
        var gradients = [Float](repeating: 1, count: 8)
        try gradients.withUnsafeMutableBufferPointer { buffer in
            let reducer = GradientAllReducer(gradients: buffer.baseAddress!, count: 8,
                                             communicator: RecordingCommunicator(base: buffer.baseAddress!, failing: true),
                                             bucketBytes: 16, overlap: true)
            reducer.beginStep()
            reducer.gradientsFinal(from: 4)
            XCTAssertThrowsError(try reducer.finishStep()) { error in
                XCTAssertTrue("\(error)".contains("gradient all-reduce failed: rank 0: MPI_Allreduce failed: injected"), "\(error)")
            }
        }
    }
}
