import CCUDA

/// The CUDA driver API (`libcuda.so.1`), resolved once per process on first use.
///
/// `@unchecked Sendable`: every property is set in `init` and never changes; the function pointers point
/// into a library that stays open for the life of the process (the table keeps `library`).
public final class CUDADriver: @unchecked Sendable {
    public let library: DynamicLibrary
    public let getErrorString: PFN_cuGetErrorString
    public let getErrorName: PFN_cuGetErrorName
    public let initialize: PFN_cuInit
    public let driverGetVersion: PFN_cuDriverGetVersion
    public let deviceGet: PFN_cuDeviceGet
    public let deviceGetCount: PFN_cuDeviceGetCount
    public let deviceGetName: PFN_cuDeviceGetName
    public let deviceGetAttribute: PFN_cuDeviceGetAttribute
    public let deviceTotalMem: PFN_cuDeviceTotalMem
    public let devicePrimaryCtxRetain: PFN_cuDevicePrimaryCtxRetain
    public let devicePrimaryCtxRelease: PFN_cuDevicePrimaryCtxRelease
    public let ctxCreate: PFN_cuCtxCreate
    public let ctxDestroy: PFN_cuCtxDestroy
    public let ctxSetCurrent: PFN_cuCtxSetCurrent
    public let memAlloc: PFN_cuMemAlloc
    public let memFree: PFN_cuMemFree
    public let memAllocHost: PFN_cuMemAllocHost
    public let memFreeHost: PFN_cuMemFreeHost
    public let memcpyHtoD: PFN_cuMemcpyHtoD
    public let memcpyDtoH: PFN_cuMemcpyDtoH
    public let memcpyHtoDAsync: PFN_cuMemcpyHtoDAsync
    public let memcpyDtoHAsync: PFN_cuMemcpyDtoHAsync
    public let streamCreate: PFN_cuStreamCreate
    public let streamSynchronize: PFN_cuStreamSynchronize
    public let streamQuery: PFN_cuStreamQuery
    public let streamWaitEvent: PFN_cuStreamWaitEvent
    public let streamDestroy: PFN_cuStreamDestroy
    public let eventCreate: PFN_cuEventCreate
    public let eventRecord: PFN_cuEventRecord
    public let eventSynchronize: PFN_cuEventSynchronize
    public let eventElapsedTime: PFN_cuEventElapsedTime
    public let eventDestroy: PFN_cuEventDestroy
    public let moduleLoadData: PFN_cuModuleLoadData
    public let moduleGetFunction: PFN_cuModuleGetFunction
    public let moduleUnload: PFN_cuModuleUnload
    public let launchKernel: PFN_cuLaunchKernel

    /// Resolves every function (versioned names as cuda.h's macros map them) from an opened library.
    public init(library: DynamicLibrary) throws {
        self.library = library
        getErrorString = try library.function("cuGetErrorString")
        getErrorName = try library.function("cuGetErrorName")
        initialize = try library.function("cuInit")
        driverGetVersion = try library.function("cuDriverGetVersion")
        deviceGet = try library.function("cuDeviceGet")
        deviceGetCount = try library.function("cuDeviceGetCount")
        deviceGetName = try library.function("cuDeviceGetName")
        deviceGetAttribute = try library.function("cuDeviceGetAttribute")
        deviceTotalMem = try library.function("cuDeviceTotalMem_v2")
        devicePrimaryCtxRetain = try library.function("cuDevicePrimaryCtxRetain")
        devicePrimaryCtxRelease = try library.function("cuDevicePrimaryCtxRelease_v2")
        ctxCreate = try library.function("cuCtxCreate_v2")
        ctxDestroy = try library.function("cuCtxDestroy_v2")
        ctxSetCurrent = try library.function("cuCtxSetCurrent")
        memAlloc = try library.function("cuMemAlloc_v2")
        memFree = try library.function("cuMemFree_v2")
        memAllocHost = try library.function("cuMemAllocHost_v2")
        memFreeHost = try library.function("cuMemFreeHost")
        memcpyHtoD = try library.function("cuMemcpyHtoD_v2")
        memcpyDtoH = try library.function("cuMemcpyDtoH_v2")
        memcpyHtoDAsync = try library.function("cuMemcpyHtoDAsync_v2")
        memcpyDtoHAsync = try library.function("cuMemcpyDtoHAsync_v2")
        streamCreate = try library.function("cuStreamCreate")
        streamSynchronize = try library.function("cuStreamSynchronize")
        streamQuery = try library.function("cuStreamQuery")
        streamWaitEvent = try library.function("cuStreamWaitEvent")
        streamDestroy = try library.function("cuStreamDestroy_v2")
        eventCreate = try library.function("cuEventCreate")
        eventRecord = try library.function("cuEventRecord")
        eventSynchronize = try library.function("cuEventSynchronize")
        eventElapsedTime = try library.function("cuEventElapsedTime")
        eventDestroy = try library.function("cuEventDestroy_v2")
        moduleLoadData = try library.function("cuModuleLoadData")
        moduleGetFunction = try library.function("cuModuleGetFunction")
        moduleUnload = try library.function("cuModuleUnload")
        launchKernel = try library.function("cuLaunchKernel")
    }

    /// The process's driver table; the first call opens `libcuda.so.1`, later calls return it or the
    /// same load error.
    public static func shared() throws -> CUDADriver { try sharedDriver.get() }

    /// Throws a `GPUCallError` with the driver's name and text for `result` unless it is `CUDA_SUCCESS`.
    public func check(_ result: CUresult, _ call: @autoclosure () -> String, hint: String? = nil) throws {
        guard result != CUDA_SUCCESS else { return }
        var name: UnsafePointer<CChar>?, text: UnsafePointer<CChar>?
        _ = getErrorName(result, &name)
        _ = getErrorString(result, &text)
        let message = [name, text].compactMap { $0.map { String(cString: $0) } }.joined(separator: ": ")
        throw GPUCallError(library: "CUDA driver", call: call(), code: Int(result.rawValue),
                           message: message.isEmpty ? "unknown CUresult" : message, hint: hint)
    }
}

private let sharedDriver = Result { try CUDADriver(library: DynamicLibrary.open(.driver, search: .process)) }
