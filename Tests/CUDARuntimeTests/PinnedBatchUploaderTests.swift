@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// `PinnedBatchUploader` on the emulated GPU, used as the trainer uses it: upload a step's views, queue the
/// step (ops that read them), upload the next. Every batch must arrive intact, and leaving out any one of
/// its three orderings must be reported as a race.
final class PinnedBatchUploaderTests: XCTestCase {
    /// `steps` steps of two views each: uploads, then a "step" that reads both views (a kernel copying each
    /// out, downloaded and compared with what was uploaded). The download synchronises the host with the
    /// compute stream, as the trainer's loss does.
    /// Without `read`, only the uploads: nothing synchronises the host with the device in between.
    /// With `pixels`, each view is a `PixelBatch` (its table a different affine map per view) and must arrive
    /// as the floats its table gives, bit for bit.
    func runSteps(on gpu: any GPUDevice, steps: Int = 5, shape: [Int] = [2, 3, 3, 1], read: Bool = true,
                  pixels: Bool = false) throws -> [Tensor] {
        let backend = CUDABackend(device: gpu), uploader = PinnedBatchUploader(backend: backend)
        let count = shape.reduce(1, *)
        var returned: [Tensor] = []
        for step in 0..<steps {
            var hosts: [Tensor] = [], bytes: [PixelBatch] = []
            for view in 0..<2 {
                let values: [Float] = (0..<count).map { Float(100 * step + 10 * view + $0) }
                hosts.append(Tensor(shape: shape, values: values))
                let table = (0..<(256 * shape[3])).map { Float($0) * (0.5 + Float(view)) - 3 }
                let batch = PixelBatch(shape: shape, table: table)
                for i in 0..<count { batch.bytes[i] = UInt8(Int(values[i]) % 256) }
                bytes.append(batch)
            }
            if pixels { hosts = bytes.map { $0.normalized() } }
            let views = try (0..<2).map { pixels ? try uploader.stage(bytes[$0], view: $0) : try uploader.stage(hosts[$0], view: $0) }
            for batch in bytes { batch.bytes.update(repeating: 7, count: count) }
            for (view, host) in zip(views, hosts) where read {
                // Straight on the device, so that a race is thrown here rather than ending the process.
                let copy = backend.zeros(shape)
                try gpu.launch(ElementwiseLaunch.copy(backend.address(view), to: backend.address(copy), count: count))
                var result = [Float](repeating: 0, count: count)
                try result.withUnsafeMutableBytes { try gpu.download(backend.address(copy), to: $0.baseAddress!, bytes: 4 * count) }
                XCTAssertEqual(result, host.array, "step \(step)")
                // The loader reuses its buffer at once; the upload must not depend on it any more.
                host.pointer.update(repeating: -1, count: host.count)
            }
            returned += views
        }
        return returned
    }

    func testEveryBatchArrivesOverTheCopyStreamInTwoAlternatingSlotsPerView() throws {
        let gpu = EmulatedGPU()
        let views = try runSteps(on: gpu)
        XCTAssertEqual(gpu.copyStreamUploads, 10)
        let storages = views.map { ObjectIdentifier($0.storage) }
        XCTAssertEqual(Set(storages).count, 4, "two views × two slots")
        XCTAssertEqual(storages[0], storages[4], "view 0 of step 0 and step 2 share a slot")
        XCTAssertNotEqual(storages[0], storages[2], "consecutive steps use different slots")
    }

    func testPixelBatchesArriveNormalisedThroughTheirTable() throws {
        let gpu = EmulatedGPU()
        _ = try runSteps(on: gpu, shape: [2, 3, 3, 3], pixels: true)
        _ = try runSteps(on: gpu, shape: [2, 3, 3, 3], read: false, pixels: true)
        XCTAssertEqual(gpu.copyStreamUploads, 20)
        XCTAssertEqual(gpu.launches.filter { $0.kernel == "normalize_pixels" }.count, 20)
        let backend = CUDABackend(device: gpu), uploader = PinnedBatchUploader(backend: backend)
        XCTAssertTrue(uploader.takesPixels)
        // A larger batch, then a new table for the same view.
        for (count, scale) in [(4, 1), (9, 1), (9, 2), (2, 2)] as [(Int, Float)] {
            let batch = PixelBatch(shape: [count, 1], table: (0..<256).map { Float($0) * scale + 0.25 })
            for i in 0..<count { batch.bytes[i] = UInt8(250 - 3 * i) }
            let view = try uploader.stage(batch, view: 0)
            XCTAssertEqual(view.shape, [count, 1])
            XCTAssertEqual(backend.download(view), (0..<count).map { Float(250 - 3 * $0) * scale + 0.25 })
        }
    }

    func testALargerBatchGetsLargerBuffers() throws {
        let gpu = EmulatedGPU()
        let backend = CUDABackend(device: gpu), uploader = PinnedBatchUploader(backend: backend)
        for count in [4, 4, 9, 9, 2] {
            let host = Tensor(shape: [count], values: (0..<count).map(Float.init))
            let view = try uploader.stage(host, view: 0)
            XCTAssertEqual(view.shape, [count])
            XCTAssertEqual(backend.download(view), host.array)
        }
    }

    /// The host's wait is checked with uploads alone: in a step, the download of the loss already tells the
    /// host that the compute stream, which waited for the copy, is done.
    func testLeavingOutAnyOrderingIsARace() {
        for dropped in DropsOneOrdering.Ordering.allCases {
            for pixels in [false, true] {
                // A bytes batch's slot is read by the uploader's own kernel: the race shows without the step's
                // download, which would order the next copy after it through the host.
                XCTAssertThrowsError(try runSteps(on: DropsOneOrdering(dropped), read: !pixels && dropped != .hostWaitsForTheCopy,
                                                  pixels: pixels), "without \(dropped), pixels \(pixels)") { error in
                    XCTAssertTrue("\(error)".contains("race"), "\(dropped), pixels \(pixels): \(error)")
                }
            }
        }
    }

    func testOnTheCPUTheBatchIsTheHostTensor() {
        let cpu = CPUBackend(threads: 1), host = Tensor(shape: [2], values: [1, 2])
        XCTAssertTrue(cpu.makeBatchUploader().upload(host, view: 0).storage === host.storage)
        XCTAssertFalse(cpu.makeBatchUploader().takesPixels)
        let bytes = PixelBatch(shape: [1, 1, 2, 1], table: (0..<256).map { Float($0) / 4 })
        bytes.bytes[1] = 6
        XCTAssertEqual(cpu.makeBatchUploader().upload(bytes, view: 0).array, [0, 1.5], "normalised on the host")
        XCTAssertTrue(CUDABackend(device: EmulatedGPU()).makeBatchUploader() is PinnedBatchUploader)
    }
}

/// An emulated GPU that ignores one of the uploader's three orderings.
final class DropsOneOrdering: ForwardingGPU, @unchecked Sendable {
    enum Ordering: CaseIterable { case computeWaitsForTheCopy, copyWaitsForTheStep, hostWaitsForTheCopy }
    let dropped: Ordering
    init(_ dropped: Ordering) { self.dropped = dropped }

    override func wait(_ stream: GPUStream, for event: GPUEvent) throws {
        if stream == .compute && dropped == .computeWaitsForTheCopy { return }
        if stream == .copy && dropped == .copyWaitsForTheStep { return }
        try super.wait(stream, for: event)
    }
    override func synchronize(_ event: GPUEvent) throws {
        if dropped == .hostWaitsForTheCopy { return }
        try super.synchronize(event)
    }
    /// The uploader, dropped after the race was thrown, frees its pinned buffers: not the case under test.
    override func freePinned(_ pointer: UnsafeMutableRawPointer) {
        inner.synchronizeAllStreams()
        super.freePinned(pointer)
    }
}

/// `gpu-check`'s upload check passes on the emulated GPU and reports a device that drops an ordering.
final class BatchUploadCheckTests: XCTestCase {
    func testPassesOnTheEmulatedGPUAndStopsOnARace() throws {
        XCTAssertEqual(try BatchUploadCheck.run(CUDABackend(device: EmulatedGPU()), steps: 3, shape: [2, 4, 4, 1], busySize: 4), [])
        XCTAssertThrowsError(try BatchUploadCheck.run(CUDABackend(device: DropsOneOrdering(.computeWaitsForTheCopy)), steps: 3,
                                                      shape: [2, 4, 4, 1], busySize: 4)) { error in
            XCTAssertTrue("\(error)".contains("race"), "\(error)")
        }
    }
}
