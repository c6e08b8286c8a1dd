import CUDARuntime
import Foundation

/// A `GPUDevice` on the CPU for `CUDABackend`'s tests: guarded host buffers as device memory, every kernel
/// of `KernelLibrary` through `KernelEmulator`, and cuBLAS's column-major sgemm as a plain loop in double
/// (so the backend's row-major-to-column-major mapping is checked against an independent GEMM).
/// Everything runs at once, in call order; `StreamOrder` reports what would race on a GPU, where the copy
/// stream runs beside the compute stream.
///
/// Device addresses are the host addresses plus `addressTag`, which makes them non-canonical on x86-64
/// and AArch64: host code that dereferences a device tensor's `pointer` (as it could not on a real GPU)
/// crashes here too, instead of quietly working. Only this device subtracts the tag (launch arguments,
/// copies, sgemm operands).
public final class EmulatedGPU: GPUDevice, @unchecked Sendable {
    public let index = 0
    public static let addressTag: UInt64 = 0x4000_0000_0000_0000
    private var buffers: [UInt64: GuardedBuffer] = [:]
    private var pinnedBuffers: [UInt64: GuardedBuffer] = [:]
    private var order = StreamOrder()
    private var eventCount = 0
    /// Copies queued on the copy stream so far.
    public private(set) var copyStreamUploads = 0
    private var familyOfKernel: [String: KernelSource] = [:]
    /// Launches run so far, in order (the tests read the kernels an op used).
    public private(set) var launches: [KernelLaunch] = []

    public init() {
        for family in KernelLibrary.all { for kernel in family.kernels { familyOfKernel[kernel] = family } }
    }

    public var liveAllocations: Int { buffers.count }

    public func allocate(bytes: Int) throws -> UInt64 {
        let buffer = GuardedBuffer("allocation \(buffers.count) of \(bytes) bytes", bytes: bytes)
        buffers[buffer.address] = buffer
        return buffer.address + Self.addressTag
    }

    /// The host address behind a device address, or a failure naming it when it is not one.
    public func host(_ address: UInt64) throws -> UInt64 {
        guard address >= Self.addressTag else {
            throw EmulationError("address \(address) is a host address, not one of this device's")
        }
        return address - Self.addressTag
    }

    public func free(_ address: UInt64) {
        guard let buffer = buffers.removeValue(forKey: address &- Self.addressTag) else {
            preconditionFailure("free of \(address), which is not an allocation")
        }
        order.forget(buffer.address)
        do { try buffer.checkGuards() } catch { preconditionFailure("\(error)") }
    }

    /// The allocation that holds `bytes` bytes from `address` on, or a failure naming the address; the
    /// access is an operation of `actor` (the compute stream unless said otherwise) in `StreamOrder`.
    func check(_ device: UInt64, bytes: Int, by actor: StreamOrder.Actor = .compute, _ what: String = "a device operation") throws
        -> UnsafeMutableRawPointer {
        let address = try host(device)
        guard let buffer = buffers.values.first(where: { $0.holds(address, bytes: bytes) }) else {
            throw EmulationError("\(bytes) bytes at \(device) are not inside one allocation")
        }
        try order.operation(actor, touching: [(buffer.address, address..<address + UInt64(max(bytes, 1)))], what)
        return UnsafeMutableRawPointer(bitPattern: UInt(address))!
    }

    /// Synchronous, on the compute stream (cuMemcpyHtoD from pageable memory returns once it is done).
    public func upload(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws {
        try check(address, bytes: bytes, "a synchronous upload").copyMemory(from: source, byteCount: bytes)
        order.hostSynchronizes(withStream: .compute)
    }

    public func download(_ address: UInt64, to destination: UnsafeMutableRawPointer, bytes: Int) throws {
        destination.copyMemory(from: try check(address, bytes: bytes, "a download"), byteCount: bytes)
        order.hostSynchronizes(withStream: .compute)
    }

    public func launch(_ launch: KernelLaunch) throws {
        guard let family = familyOfKernel[launch.kernel] else { throw EmulationError("no kernel called \(launch.kernel)") }
        launches.append(launch)
        let arguments = try launch.arguments.map { argument -> KernelArgument in
            if case .address(let address) = argument { return .address(try host(address)) }
            return argument
        }
        let touched = arguments.compactMap { argument -> (allocation: UInt64, bytes: Range<UInt64>)? in
            guard case .address(let address) = argument,
                  let buffer = buffers.values.first(where: { address >= $0.address && address < $0.address + UInt64(max($0.byteCount, 1)) })
            else { return nil }
            return (buffer.address, address..<address + 1)  // a kernel's extent is unknown: its first byte
        }
        try order.operation(.compute, touching: touched, "kernel \(launch.kernel)")
        try KernelEmulator.of(family).launch(KernelLaunch(launch.kernel, grid: launch.grid, block: launch.block, arguments))
        try checkGuards()
    }

    public func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                          a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        try gemm(Float.self, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                 a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { Double($0) }
    }

    /// bf16 operands (their exact values, widened), fp32 `C`: what cublasGemmEx computes up to its
    /// fp32 accumulation order.
    public func bf16GemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                    a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        try gemm(UInt16.self, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                 a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { Double(floatFromBF16($0)) }
    }

    /// cuBLAS's column-major GEMM as a loop in double over operands of type `Element`.
    private func gemm<Element>(_: Element.Type, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                               a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int,
                               value: (Element) -> Double) throws {
        // Column-major: element (i, j) of a matrix with leading dimension ld is at i + j·ld.
        guard lda >= (transposeA ? k : m), ldb >= (transposeB ? n : k), ldc >= m else {
            throw EmulationError("gemm: leading dimensions \(lda), \(ldb), \(ldc) too small for \(m)x\(n)x\(k)")
        }
        let size = MemoryLayout<Element>.stride
        let pa = try check(a, bytes: size * (((transposeA ? m : k) - 1) * lda + (transposeA ? k : m)), "a GEMM")
            .assumingMemoryBound(to: Element.self)
        let pb = try check(b, bytes: size * (((transposeB ? k : n) - 1) * ldb + (transposeB ? n : k)), "a GEMM")
            .assumingMemoryBound(to: Element.self)
        let pc = try check(c, bytes: 4 * ((n - 1) * ldc + m), "a GEMM").assumingMemoryBound(to: Float.self)
        for j in 0..<n {
            for i in 0..<m {
                var sum = 0.0
                for p in 0..<k {
                    let aValue = transposeA ? pa[p + i * lda] : pa[i + p * lda]
                    let bValue = transposeB ? pb[j + p * ldb] : pb[p + j * ldb]
                    sum += value(aValue) * value(bValue)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(pc[i + j * ldc])  // beta 0 ignores C, as cuBLAS
                pc[i + j * ldc] = Float(Double(alpha) * sum + old)
            }
        }
    }

    public func synchronize() throws { order.hostSynchronizes(withStream: .compute) }

    /// `cuCtxSynchronize`: the host waits for every stream.
    public func synchronizeAllStreams() {
        for stream in GPUStream.allCases { order.hostSynchronizes(withStream: actor(stream)) }
    }

    /// `cuStreamQuery` answering "done" (the emulator finishes everything at once): the host now knows it.
    public func isIdle(_ stream: GPUStream) -> Bool {
        order.hostSynchronizes(withStream: actor(stream))
        return true
    }

    // MARK: Copy stream and events (ordered by `StreamOrder`; the data moves at once)

    public func allocatePinned(bytes: Int) throws -> UnsafeMutableRawPointer {
        let buffer = GuardedBuffer("pinned buffer \(pinnedBuffers.count) of \(bytes) bytes", bytes: bytes)
        pinnedBuffers[buffer.address] = buffer
        return UnsafeMutableRawPointer(bitPattern: UInt(buffer.address))!
    }

    public func freePinned(_ pointer: UnsafeMutableRawPointer) {
        let address = UInt64(UInt(bitPattern: pointer))
        guard let buffer = pinnedBuffers.removeValue(forKey: address) else { preconditionFailure("freePinned of \(pointer), which is not one") }
        do {
            try order.operation(.host, touching: [(address, address..<address + UInt64(max(buffer.byteCount, 1)))],
                                "freeing the pinned buffer")
            try buffer.checkGuards()
        } catch { preconditionFailure("\(error)") }
    }

    /// The host wrote `source` just before (that is what an upload is for), so the previous copy out of
    /// the same pinned buffer must be known to the host as finished; then the copy stream reads it.
    public func uploadOnCopyStream(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws {
        let start = UInt64(UInt(bitPattern: source))
        guard let pinned = pinnedBuffers.values.first(where: { $0.holds(start, bytes: bytes) }) else {
            throw EmulationError("an upload on the copy stream from \(source), which is not inside one pinned buffer "
                                 + "(from pageable memory cuMemcpyHtoDAsync would run synchronously)")
        }
        let written = [(allocation: pinned.address, bytes: start..<start + UInt64(max(bytes, 1)))]
        try order.operation(.host, touching: written, "the host's write into a pinned buffer")
        try order.operation(.copy, touching: written, "an upload of \(bytes) bytes")
        let target = try check(address, bytes: bytes, by: .copy, "an upload of \(bytes) bytes")
        target.copyMemory(from: source, byteCount: bytes)
        copyStreamUploads += 1
        try checkGuards()
    }

    public func makeEvent() throws -> GPUEvent {
        eventCount += 1
        return GPUEvent(id: eventCount)
    }

    public func destroy(_ event: GPUEvent) {}

    public func record(_ event: GPUEvent, on stream: GPUStream) throws { order.record(event.id, on: actor(stream)) }

    public func wait(_ stream: GPUStream, for event: GPUEvent) throws { order.wait(actor(stream), for: event.id) }

    public func synchronize(_ event: GPUEvent) throws { order.hostSynchronizes(with: event.id) }

    func actor(_ stream: GPUStream) -> StreamOrder.Actor {
        switch stream {
        case .compute: return .compute
        case .copy: return .copy
        case .collectives: return .collectives
        }
    }

    /// Throws when any allocation's guard bytes changed.
    public func checkGuards() throws { for buffer in Array(buffers.values) + Array(pinnedBuffers.values) { try buffer.checkGuards() } }
}
