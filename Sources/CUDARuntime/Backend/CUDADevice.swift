import CCUDA

/// `GPUDevice` on a real GPU through the driver API and cuBLAS: the primary context of GPU
/// `localRank % count`, one stream (created blocking, so the synchronous copies on the legacy default
/// stream stay in order with it), every kernel family compiled by NVRTC for the GPU's own architecture
/// (cached on disk) and loaded as a module, and cuBLAS's sgemm on the same stream with the default math
/// mode (no TF32).
///
/// Not yet run on a GPU: no session so far has had one. `disttrain gpu-check` runs `BackendComparison`
/// on it, the same op-by-op comparison with the CPU backend that CI runs on the emulated GPU.
///
/// `@unchecked Sendable`: the handles are set in `init`; one training thread uses the device.
public final class CUDADevice: GPUDevice, @unchecked Sendable {
    public let info: CUDADeviceInfo
    public var index: Int { info.ordinal }
    let driver: CUDADriver
    let cublas: CuBLAS
    private let device: CUdevice
    /// The device's primary context, current on the thread that made the device.
    let context: CUcontext
    /// The stream every operation is queued on (NCCL's collectives too, `NCCLCalls`).
    let stream: CUstream
    /// The stream of the asynchronous batch uploads, beside `stream` (non-blocking).
    let copyStream: CUstream
    /// The stream of NCCL's collectives (`NCCLCalls`), beside `stream` (non-blocking).
    let collectiveStream: CUstream
    private var events: [Int: CUevent] = [:]
    private var nextEvent = 0
    private let blas: cublasHandle_t
    private var modules: [CUmodule] = []
    private var functions: [String: CUfunction] = [:]

    /// Opens GPU `localRank % count` and loads every kernel family (compiled on first use, then cached).
    public init(localRank: Int = 0, compiler: KernelCompiler? = nil) throws {
        info = try probeCUDADevice(localRank: localRank)
        driver = try CUDADriver.shared()
        cublas = try CuBLAS.shared()
        var device: CUdevice = 0
        try driver.check(driver.deviceGet(&device, Int32(info.ordinal)), "cuDeviceGet(\(info.ordinal))")
        self.device = device
        var context: CUcontext?
        try driver.check(driver.devicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain(\(info.ordinal))")
        self.context = context!
        try driver.check(driver.ctxSetCurrent(context), "cuCtxSetCurrent")
        stream = try Self.makeStream(driver, blocking: true)
        copyStream = try Self.makeStream(driver, blocking: false)
        collectiveStream = try Self.makeStream(driver, blocking: false)
        var blas: cublasHandle_t?
        try cublas.check(cublas.create(&blas), "cublasCreate")
        self.blas = blas!
        try cublas.check(cublas.setStream(blas, stream), "cublasSetStream")
        try cublas.check(cublas.setMathMode(blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode(DEFAULT)")
        let compiler = try compiler ?? KernelCompiler(nvrtc: NVRTC.shared())
        let architecture = GPUArchitecture(major: info.computeCapability.major, minor: info.computeCapability.minor)
        for family in KernelLibrary.all {
            let compiled = try compiler.compile(family, for: architecture, format: .cubin)
            var module: CUmodule?
            try compiled.bytes.withUnsafeBytes {
                try driver.check(driver.moduleLoadData(&module, $0.baseAddress), "cuModuleLoadData(\(family.name))")
            }
            modules.append(module!)
            for kernel in family.kernels {
                var function: CUfunction?
                try driver.check(driver.moduleGetFunction(&function, module, kernel), "cuModuleGetFunction(\(kernel))")
                functions[kernel] = function
            }
        }
    }

    deinit {
        _ = driver.streamSynchronize(collectiveStream)
        _ = driver.streamSynchronize(copyStream)
        _ = driver.streamSynchronize(stream)
        for event in events.values { _ = driver.eventDestroy(event) }
        _ = driver.streamDestroy(collectiveStream)
        _ = driver.streamDestroy(copyStream)
        for module in modules { _ = driver.moduleUnload(module) }
        _ = cublas.destroy(blas)
        _ = driver.streamDestroy(stream)
        _ = driver.devicePrimaryCtxRelease(device)
    }

    public func allocate(bytes: Int) throws -> UInt64 {
        var address: CUdeviceptr = 0
        try driver.check(driver.memAlloc(&address, max(bytes, 1)), "cuMemAlloc(\(bytes) bytes)",
                         hint: "The GPU is out of memory: lower --batch-size.")
        return address
    }

    public func free(_ address: UInt64) { _ = driver.memFree(address) }

    public func upload(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws {
        try driver.check(driver.memcpyHtoD(address, source, bytes), "cuMemcpyHtoD(\(bytes) bytes)")
    }

    public func download(_ address: UInt64, to destination: UnsafeMutableRawPointer, bytes: Int) throws {
        try driver.check(driver.memcpyDtoH(destination, address, bytes), "cuMemcpyDtoH(\(bytes) bytes)")
    }

    public func launch(_ launch: KernelLaunch) throws {
        guard let function = functions[launch.kernel] else {
            throw GPUCallError(library: "disttrain", call: "launch \(launch)", code: nil,
                               message: "no kernel called \(launch.kernel) in KernelLibrary", hint: nil)
        }
        try withKernelParameters(launch.arguments) { parameters in
            try driver.check(driver.launchKernel(function, UInt32(launch.grid.x), UInt32(launch.grid.y), UInt32(launch.grid.z),
                                                 UInt32(launch.block.x), UInt32(launch.block.y), UInt32(launch.block.z),
                                                 0, stream, parameters, nil), "cuLaunchKernel(\(launch))")
        }
    }

    public func sgemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                 a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        var alpha = alpha, beta = beta
        try cublas.check(cublas.sgemmStridedBatched(
            blas, transposeA ? CUBLAS_OP_T : CUBLAS_OP_N, transposeB ? CUBLAS_OP_T : CUBLAS_OP_N,
            Int32(m), Int32(n), Int32(k), &alpha,
            UnsafePointer(bitPattern: UInt(a)), Int32(lda), 0, UnsafePointer(bitPattern: UInt(b)), Int32(ldb), 0,
            &beta, UnsafeMutablePointer(bitPattern: UInt(c)), Int32(ldc), 0, 1), "cublasSgemm(\(m)x\(n)x\(k))")
    }

    public func bf16GemmColumnMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                    a: UInt64, lda: Int, b: UInt64, ldb: Int, beta: Float, c: UInt64, ldc: Int) throws {
        var alpha = alpha, beta = beta
        try cublas.check(cublas.gemmEx(
            blas, transposeA ? CUBLAS_OP_T : CUBLAS_OP_N, transposeB ? CUBLAS_OP_T : CUBLAS_OP_N,
            Int32(m), Int32(n), Int32(k), &alpha,
            UnsafeRawPointer(bitPattern: UInt(a)), CUDA_R_16BF, Int32(lda),
            UnsafeRawPointer(bitPattern: UInt(b)), CUDA_R_16BF, Int32(ldb),
            &beta, UnsafeMutableRawPointer(bitPattern: UInt(c)), CUDA_R_32F, Int32(ldc),
            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmEx(bf16, \(m)x\(n)x\(k))")
    }

    public func synchronize() throws { try driver.check(driver.streamSynchronize(stream), "cuStreamSynchronize") }

    // MARK: Copy stream and events

    public func allocatePinned(bytes: Int) throws -> UnsafeMutableRawPointer {
        var pointer: UnsafeMutableRawPointer?
        try driver.check(driver.memAllocHost(&pointer, max(bytes, 1)), "cuMemAllocHost(\(bytes) bytes)",
                         hint: "Page-locked host memory is exhausted: lower --batch-size or --workers.")
        return pointer!
    }

    public func freePinned(_ pointer: UnsafeMutableRawPointer) { _ = driver.memFreeHost(pointer) }

    public func uploadOnCopyStream(_ source: UnsafeRawPointer, to address: UInt64, bytes: Int) throws {
        try driver.check(driver.memcpyHtoDAsync(address, source, bytes, copyStream), "cuMemcpyHtoDAsync(\(bytes) bytes)")
    }

    public func makeEvent() throws -> GPUEvent {
        var event: CUevent?
        try driver.check(driver.eventCreate(&event, UInt32(CU_EVENT_DISABLE_TIMING)), "cuEventCreate")
        nextEvent += 1
        events[nextEvent] = event
        return GPUEvent(id: nextEvent)
    }

    public func destroy(_ event: GPUEvent) {
        if let handle = events.removeValue(forKey: event.id) { _ = driver.eventDestroy(handle) }
    }

    public func record(_ event: GPUEvent, on stream: GPUStream) throws {
        try driver.check(driver.eventRecord(try handle(event), cuStream(stream)), "cuEventRecord(\(stream) stream)")
    }

    public func wait(_ stream: GPUStream, for event: GPUEvent) throws {
        try driver.check(driver.streamWaitEvent(cuStream(stream), try handle(event), 0), "cuStreamWaitEvent(\(stream) stream)")
    }

    public func synchronize(_ event: GPUEvent) throws {
        try driver.check(driver.eventSynchronize(try handle(event)), "cuEventSynchronize")
    }

    /// A new stream; a blocking one is ordered with the legacy default stream (the synchronous copies).
    private static func makeStream(_ driver: CUDADriver, blocking: Bool) throws -> CUstream {
        var stream: CUstream?
        try driver.check(driver.streamCreate(&stream, blocking ? 0 : UInt32(CU_STREAM_NON_BLOCKING)),
                         blocking ? "cuStreamCreate" : "cuStreamCreate(non-blocking)")
        return stream!
    }

    private func cuStream(_ stream: GPUStream) -> CUstream {
        switch stream {
        case .compute: return self.stream
        case .copy: return copyStream
        case .collectives: return collectiveStream
        }
    }

    private func handle(_ event: GPUEvent) throws -> CUevent {
        guard let handle = events[event.id] else {
            throw GPUCallError(library: "disttrain", call: "event \(event.id)", code: nil, message: "no such event on this device", hint: nil)
        }
        return handle
    }
}
