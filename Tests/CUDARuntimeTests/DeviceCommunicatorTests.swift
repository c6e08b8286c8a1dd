import Collectives
import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// `DeviceCommunicator` in one process, on the emulated GPU and NCCL (the two-rank runs are in
/// `TrainerOnGPUReleaseTests`): the operations reach the device buffers, bad sizes are refused, and an
/// asynchronous error, a failed call or a collective that never finishes aborts the communicator and
/// throws a message naming the call, instead of hanging.
final class DeviceCommunicatorTests: XCTestCase {
    let gpu = EmulatedGPU()
    lazy var backend = CUDABackend(device: gpu)

    func device(_ values: [Float]) -> Tensor { backend.deviceCopy(Tensor(shape: [values.count], values: values)) }

    func testOneRankOperationsReachTheDeviceBuffers() throws {
        let nccl = EmulatedNCCL(gpu: gpu, host: LocalCommunicator())
        let communicator = try DeviceCommunicator(calls: nccl, host: LocalCommunicator(), timeout: 10)
        XCTAssertEqual(nccl.joinedId?.count, 128, "rank 0 made an id and joined with it")
        let values = device([1, -2, 3])
        try communicator.allReduceSum(values)
        XCTAssertEqual(backend.download(values), [1, -2, 3])
        let gathered = device([0, 0, 0])
        try communicator.allGather(values, into: gathered)
        XCTAssertEqual(backend.download(gathered), [1, -2, 3])
        let scattered = device([9, 9, 9])
        try communicator.reduceScatterSum(values, into: scattered)
        XCTAssertEqual(backend.download(scattered), [1, -2, 3])
        XCTAssertEqual(nccl.calls, 3)
        XCTAssertThrowsError(try communicator.allGather(values, into: device([0, 0]))) { error in
            XCTAssertTrue("\(error)".contains("2 elements for 1 ranks x 3"), "\(error)")
        }
    }

    /// SyncBatchNorm's collectives (`DeviceTensorCollectives`): queued in stream order, their results are
    /// there for the compute stream's next kernels with no host wait, both ways round (the collective after
    /// the kernels that wrote its input, the kernels that read its output after it). A compute stream that
    /// does not wait for the collectives stream is reported as a race.
    func testInStreamOrderCollectivesOrderTheComputeStreamAfterThem() throws {
        let nccl = EmulatedNCCL(gpu: gpu, host: LocalCommunicator())
        let communicator: any DeviceTensorCollectives = try DeviceCommunicator(calls: nccl, host: LocalCommunicator(), timeout: 10)
        let statistics = backend.zeros([4]), gathered = device([0, 0, 0, 0])
        backend.upload(Tensor(shape: [4], values: [1, 2, 3, 4]), to: statistics)
        backend.scale(statistics, by: 2)  // a kernel writes the collective's input
        try communicator.allGatherInStreamOrder(statistics, into: gathered)
        let mean = device([0, 0]), variance = device([0, 0])
        backend.batchNormCombineRanks(gathered: gathered, mean: mean, variance: variance)  // and one reads its output
        XCTAssertEqual(backend.download(mean), [2, 4])
        XCTAssertEqual(backend.download(variance), [6, 8])
        try communicator.allReduceSumInStreamOrder(statistics)
        backend.scale(statistics, by: 0.5)
        XCTAssertEqual(backend.download(statistics), [1, 2, 3, 4])
        XCTAssertEqual(nccl.allGathers, 1)
        XCTAssertEqual(nccl.allReduces, 1)

        let wrong = IgnoresComputeWaits()
        let wrongBackend = CUDABackend(device: wrong)
        let wrongCommunicator = try DeviceCommunicator(calls: CollectivesOnDevice(EmulatedNCCL(gpu: wrong.inner, host: LocalCommunicator()), wrong),
                                                       host: LocalCommunicator(), timeout: 10)
        let input = wrongBackend.tensor([4], [1, 2, 3, 4]), output = wrongBackend.zeros([4])
        try wrongCommunicator.allGatherInStreamOrder(input, into: output)
        let twoChannels = wrongBackend.zeros([2])
        XCTAssertThrowsError(try wrong.launch(BatchNormLaunch.combineRanks(gathered: wrongBackend.address(output), ranks: 1,
                                                                            mean: wrongBackend.address(twoChannels),
                                                                            variance: wrongBackend.address(twoChannels), channels: 2))) { error in
            XCTAssertTrue("\(error)".contains("race"), "\(error)")
        }
    }

    func testAnAsynchronousErrorAbortsAndNamesTheCall() throws {
        let nccl = EmulatedNCCL(gpu: gpu, host: LocalCommunicator(), failAtCall: 2)
        let communicator = try DeviceCommunicator(calls: nccl, host: LocalCommunicator(), timeout: 10)
        let values = device([1, 2])
        try communicator.allReduceSum(values)
        XCTAssertFalse(nccl.aborted)
        XCTAssertThrowsError(try communicator.allReduceSum(values)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("rank 0: emulated NCCL allReduceSum(2 floats) failed: remote process exited"), text)
            XCTAssertTrue(text.contains("the communicator was aborted"), text)
            XCTAssertTrue(text.contains("--resume auto"), text)
        }
        XCTAssertTrue(nccl.aborted)
    }

    func testACollectiveThatNeverFinishesTimesOutAndAborts() throws {
        let stuck = StuckCollectives()
        let communicator = try DeviceCommunicator(calls: stuck, host: LocalCommunicator(), timeout: 0.2)
        let started = Date()
        XCTAssertThrowsError(try communicator.allReduceSum(device([1]))) { error in
            XCTAssertTrue("\(error)".contains("not finished after 0 s (--collective-timeout): a peer rank died or hangs"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertTrue(stuck.aborted)
    }

    func testAFailedIdOnRankZeroIsThrown() {
        let stuck = StuckCollectives()
        stuck.idFails = true
        XCTAssertThrowsError(try DeviceCommunicator(calls: stuck, host: LocalCommunicator(), timeout: 1)) { error in
            XCTAssertTrue("\(error)".contains("no id today"), "\(error)")
        }
    }
}

/// Collectives that queue and never finish, as a GPU's kernel waits forever for a peer that is gone.
final class StuckCollectives: DeviceCollectiveCalls, @unchecked Sendable {
    let name = "stuck"
    let device: any GPUDevice = EmulatedGPU()
    var aborted = false
    var idFails = false
    func makeUniqueId() throws -> [UInt8] {
        if idFails { throw EmulationError("no id today") }
        return [UInt8](repeating: 7, count: 128)
    }
    func join(uniqueId: [UInt8], rank: Int, worldSize: Int) throws {}
    func allReduceSum(send: UInt64, receive: UInt64, count: Int) throws {}
    func allGather(send: UInt64, receive: UInt64, count: Int) throws {}
    func reduceScatterSum(send: UInt64, receive: UInt64, count: Int) throws {}
    func isFinished() throws -> Bool { aborted }
    func asynchronousError() -> String? { nil }
    func abort() { aborted = true }
    func destroy() {}
}

/// `gpu-check`'s NCCL check passes on a correct communicator and names the collective on a wrong one.
final class DeviceCollectiveCheckTests: XCTestCase {
    func testPassesOnTheEmulatedNCCLAndCatchesAWrongSum() throws {
        let gpu = EmulatedGPU(), backend = CUDABackend(device: gpu)
        let right = try DeviceCommunicator(calls: EmulatedNCCL(gpu: gpu, host: LocalCommunicator()), host: LocalCommunicator(), timeout: 10)
        XCTAssertEqual(try DeviceCollectiveCheck.run(right, backend: backend), [])
        let wrong = try DeviceCommunicator(calls: DoublingNCCL(gpu: gpu, host: LocalCommunicator()), host: LocalCommunicator(), timeout: 10)
        let failures = try DeviceCollectiveCheck.run(wrong, backend: backend)
        XCTAssertEqual(failures, [
            "allReduceSum(1027 floats) on rank 0: element 0 is 2.0, expected 1.0",
            "DeviceGradientReducer (11 buckets of 100 floats, 11 queued during backward) on rank 0: element 0 is 10.0, expected 5.0",
            "SyncBatchNorm sums (allReduceSum in stream order, then a kernel) on rank 0: element 0 is 4.0, expected 2.0",
        ], "every all-reduce is caught; the gathers and the combination are right")
    }
}

/// An all-reduce that counts every rank twice.
final class DoublingNCCL: DeviceCollectiveCalls, @unchecked Sendable {
    let inner: EmulatedNCCL, gpu: EmulatedGPU
    init(gpu: EmulatedGPU, host: any Communicator) { inner = EmulatedNCCL(gpu: gpu, host: host); self.gpu = gpu }
    var name: String { "doubling" }
    var device: any GPUDevice { gpu }
    func makeUniqueId() throws -> [UInt8] { try inner.makeUniqueId() }
    func join(uniqueId: [UInt8], rank: Int, worldSize: Int) throws { try inner.join(uniqueId: uniqueId, rank: rank, worldSize: worldSize) }
    func allReduceSum(send: UInt64, receive: UInt64, count: Int) throws {
        try inner.allReduceSum(send: send, receive: receive, count: count)
        _ = try inner.isFinished()  // the host learns the sum is done, so its copies below are ordered after it
        var values = [Float](repeating: 0, count: count)
        try gpu.download(receive, to: &values, bytes: count * 4)
        values = values.map { $0 * 2 }
        try gpu.upload(values, to: receive, bytes: count * 4)
    }
    func allGather(send: UInt64, receive: UInt64, count: Int) throws { try inner.allGather(send: send, receive: receive, count: count) }
    func reduceScatterSum(send: UInt64, receive: UInt64, count: Int) throws {
        try inner.reduceScatterSum(send: send, receive: receive, count: count)
    }
    func isFinished() throws -> Bool { try inner.isFinished() }
    func asynchronousError() -> String? { nil }
    func abort() { inner.abort() }
    func destroy() { inner.destroy() }
}

/// An emulated GPU whose compute stream never waits for an event.
final class IgnoresComputeWaits: ForwardingGPU, @unchecked Sendable {
    override func wait(_ stream: GPUStream, for event: GPUEvent) throws {
        if stream == .compute { return }
        try super.wait(stream, for: event)
    }
}
