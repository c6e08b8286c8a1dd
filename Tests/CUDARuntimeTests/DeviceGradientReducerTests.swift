import Collectives
@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// `DeviceGradientReducer` on the emulated GPU and NCCL (one rank; the sums over two ranks are checked by
/// `TrainerOnGPUReleaseTests` under mpirun): buckets queued during a simulated backward land on the
/// collectives stream in the right order, and the stream checker reports a bucket queued too early or
/// without the compute stream's event.
final class DeviceGradientReducerTests: XCTestCase {
    /// 10 gradients in buckets of 3 floats, cut from the end: [7, 10), [4, 7), [1, 4), [0, 1).
    struct Fixture {
        let gpu: EmulatedGPU
        let backend: CUDABackend
        let gradients: Tensor
        let reducer: DeviceGradientReducer

        init(device: (any GPUDevice)? = nil, emulated: EmulatedGPU? = nil, overlap: Bool = true, failAtCall: Int? = nil) throws {
            gpu = emulated ?? EmulatedGPU()
            backend = CUDABackend(device: device ?? gpu)
            gradients = backend.zeros([10])
            let nccl = CollectivesOnDevice(EmulatedNCCL(gpu: gpu, host: LocalCommunicator(), failAtCall: failAtCall), device ?? gpu)
            let communicator = try DeviceCommunicator(calls: nccl, host: LocalCommunicator(), timeout: 10)
            reducer = DeviceGradientReducer(gradients: gradients, communicator: communicator, bucketBytes: 12, overlap: overlap)
        }

        /// Backward's share: a kernel writes gradients `[range)`, then the model says they are final.
        func backward(_ range: Range<Int>, value: Float) {
            backend.fill(Tensor(view: gradients.storage, offset: range.lowerBound, shape: [range.count]), with: value)
            reducer.gradientsFinal(from: range.lowerBound)
        }
    }

    func testBucketsAreQueuedAsBackwardFinishesThem() throws {
        let f = try Fixture()
        XCTAssertEqual(f.reducer.buckets.count, 4)
        f.reducer.beginStep()
        f.backward(7..<10, value: 3)
        XCTAssertEqual(f.reducer.lastOverlappedBuckets, 1)
        f.backward(4..<7, value: 2)
        f.backward(2..<4, value: 1)
        XCTAssertEqual(f.reducer.lastOverlappedBuckets, 2, "[1, 4) is not final until offset 1 is")
        f.backward(0..<2, value: 1)
        XCTAssertEqual(f.reducer.lastOverlappedBuckets, 4)
        try f.reducer.finishStep()
        XCTAssertEqual(f.backend.download(f.gradients), [1, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    }

    func testWithoutOverlapEverythingIsQueuedAfterBackward() throws {
        let f = try Fixture(overlap: false)
        f.reducer.beginStep()
        f.backward(0..<10, value: 1)
        XCTAssertEqual(f.reducer.lastOverlappedBuckets, 0)
        try f.reducer.finishStep()
        XCTAssertEqual(f.backend.download(f.gradients), [Float](repeating: 1, count: 10))
    }

    /// A bucket handed to NCCL before backward wrote it: backward's kernel then races the sum.
    func testABucketQueuedBeforeItsGradientsIsARace() throws {
        let f = try Fixture()
        f.reducer.beginStep()
        f.reducer.gradientsFinal(from: 0)
        XCTAssertThrowsError(try f.gpu.launch(ElementwiseLaunch.fill(f.backend.address(f.gradients) + 28, count: 3, with: 1))) { error in
            XCTAssertTrue("\(error)".contains("race"), "\(error)")
            XCTAssertTrue("\(error)".contains("an NCCL collective on the collectives stream"), "\(error)")
        }
    }

    /// The collectives stream must wait for the compute stream's event before each bucket.
    func testACollectiveNotOrderedAfterBackwardIsARace() throws {
        let dropping = IgnoresCollectivesWaits()
        let f = try Fixture(device: dropping, emulated: dropping.inner)
        f.reducer.beginStep()
        f.backend.fill(Tensor(view: f.gradients.storage, offset: 7, shape: [3]), with: 3)
        // The reducer keeps the error (the model's callback cannot throw) and finishStep throws it.
        f.reducer.gradientsFinal(from: 7)
        XCTAssertThrowsError(try f.reducer.finishStep()) { error in
            XCTAssertTrue("\(error)".contains("race"), "\(error)")
            XCTAssertTrue("\(error)".contains("kernel fill_f32"), "\(error)")
        }
    }

    func testAnNCCLErrorDuringBackwardIsThrownByFinishStep() throws {
        let f = try Fixture(failAtCall: 1)
        f.reducer.beginStep()
        f.backward(7..<10, value: 3)
        XCTAssertThrowsError(try f.reducer.finishStep()) { error in
            XCTAssertTrue("\(error)".contains("all-reduce of the gradients (4 buckets)"), "\(error)")
            XCTAssertTrue("\(error)".contains("the communicator was aborted"), "\(error)")
        }
    }
}

/// Emulated NCCL whose events go through another device (one that drops some of them).
final class CollectivesOnDevice: DeviceCollectiveCalls, @unchecked Sendable {
    let inner: EmulatedNCCL
    let device: any GPUDevice
    init(_ inner: EmulatedNCCL, _ device: any GPUDevice) { self.inner = inner; self.device = device }
    var name: String { inner.name }
    func makeUniqueId() throws -> [UInt8] { try inner.makeUniqueId() }
    func join(uniqueId: [UInt8], rank: Int, worldSize: Int) throws { try inner.join(uniqueId: uniqueId, rank: rank, worldSize: worldSize) }
    func allReduceSum(send: UInt64, receive: UInt64, count: Int) throws { try inner.allReduceSum(send: send, receive: receive, count: count) }
    func allGather(send: UInt64, receive: UInt64, count: Int) throws { try inner.allGather(send: send, receive: receive, count: count) }
    func reduceScatterSum(send: UInt64, receive: UInt64, count: Int) throws {
        try inner.reduceScatterSum(send: send, receive: receive, count: count)
    }
    func isFinished() throws -> Bool { try inner.isFinished() }
    func asynchronousError() -> String? { inner.asynchronousError() }
    func abort() { inner.abort() }
    func destroy() { inner.destroy() }
}

/// An emulated GPU whose collectives stream never waits for an event.
final class IgnoresCollectivesWaits: ForwardingGPU, @unchecked Sendable {
    override func wait(_ stream: GPUStream, for event: GPUEvent) throws {
        if stream == .collectives { return }
        try super.wait(stream, for: event)
    }
}
