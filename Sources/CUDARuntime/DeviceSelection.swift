import CCUDA

/// What `--device` asked for.
public enum DeviceRequest: String, CaseIterable, Sendable {
    case cpu, cuda, auto
}

/// A GPU the driver reported.
public struct CUDADeviceInfo: Sendable, Equatable, CustomStringConvertible {
    public let ordinal: Int
    public let name: String
    public let computeCapability: (major: Int, minor: Int)
    public let count: Int

    public var description: String {
        "GPU \(ordinal) of \(count): \(name), compute capability \(computeCapability.major).\(computeCapability.minor)"
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.ordinal == b.ordinal && a.name == b.name && a.count == b.count
            && a.computeCapability == b.computeCapability
    }
}

/// The device a command runs on, and for `auto` why.
public enum DeviceSelection: Sendable, Equatable {
    /// The CPU backend; `reason` says why when `auto` chose it (nil for `--device cpu`).
    case cpu(reason: String?)
    /// A GPU (`--device cuda`, or `auto` where the driver reports one).
    case cuda(CUDADeviceInfo)
}

/// Why `--device cuda` cannot run here.
public struct DeviceUnavailable: Error, CustomStringConvertible {
    public let description: String
}

/// Resolves `--device` (`cpu`, `cuda`, `auto`) for a process whose GPU is `localRank` modulo the GPUs it
/// sees. `cuda` throws at once when the driver is missing or reports no GPU (the message names the library
/// and every place looked in); `auto` then picks the CPU and says why. `probe` asks the driver (tests pass
/// their own).
public func selectDevice(_ request: DeviceRequest, localRank: Int = 0,
                         probe: (Int) throws -> CUDADeviceInfo = probeCUDADevice) throws -> DeviceSelection {
    switch request {
    case .cpu:
        return .cpu(reason: nil)
    case .cuda:
        do { return .cuda(try probe(localRank)) } catch {
            throw DeviceUnavailable(description: "--device cuda: no usable GPU: \(error)")
        }
    case .auto:
        do { return .cuda(try probe(localRank)) } catch let missing as LibraryNotFound {
            return .cpu(reason: "\(missing.library.sonames.joined(separator: "/")) not found (no NVIDIA driver)")
        } catch {
            return .cpu(reason: firstLine(of: "\(error)"))
        }
    }
}

/// Initialises the driver and describes GPU `localRank % count`; throws when the driver is missing,
/// fails to start, or reports no GPU.
public func probeCUDADevice(localRank: Int) throws -> CUDADeviceInfo {
    let driver = try CUDADriver.shared()
    try driver.check(driver.initialize(0), "cuInit(0)",
                     hint: "The driver loaded but could not start; 'nvidia-smi' shows whether it sees a GPU.")
    var count: Int32 = 0
    try driver.check(driver.deviceGetCount(&count), "cuDeviceGetCount")
    guard count > 0 else {
        throw DeviceUnavailable(description: "the CUDA driver (\(driver.library.path)) reports no GPU")
    }
    let ordinal = localRank % Int(count)
    var device: CUdevice = 0
    try driver.check(driver.deviceGet(&device, Int32(ordinal)), "cuDeviceGet(\(ordinal))")
    var name = [CChar](repeating: 0, count: 256)
    try driver.check(driver.deviceGetName(&name, Int32(name.count), device), "cuDeviceGetName")
    var major: Int32 = 0, minor: Int32 = 0
    try driver.check(driver.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
                     "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MAJOR)")
    try driver.check(driver.deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
                     "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MINOR)")
    let text = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return CUDADeviceInfo(ordinal: ordinal, name: text, computeCapability: (Int(major), Int(minor)), count: Int(count))
}

/// The text up to its first line break (a one-line summary of a multi-line error).
public func firstLine(of text: String) -> String {
    String(text.split(separator: "\n", maxSplits: 1).first ?? Substring(text))
}
