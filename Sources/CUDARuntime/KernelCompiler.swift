import CCUDA
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// One family of kernels as CUDA C++ source, kept as a string in the binary so a static build needs no
/// resource bundle: `kernels` are its `extern "C"` entry points (the names `cuModuleGetFunction` takes).
public struct KernelSource: Sendable {
    /// File-like name, e.g. "batch_norm" (NVRTC's log calls the source `<name>.cu`).
    public let name: String
    public let source: String
    public let kernels: [String]
    /// The entry points whose threads meet at `__syncthreads()` or warp shuffles (block reductions). The
    /// GPU ignores this; the tests' CPU emulator runs only these as fibers and every other kernel's threads
    /// as plain calls, and stops with an error if one of those reaches a barrier after all.
    public let synchronizing: [String]

    public init(name: String, source: String, kernels: [String], synchronizing: [String] = []) {
        precondition(Set(synchronizing).isSubset(of: kernels), "\(name): synchronizing kernels must be kernels of the family")
        self.name = name
        self.source = source
        self.kernels = kernels
        self.synchronizing = synchronizing
    }

    /// A family of ours: the shared prelude (`kernelPrelude`), then `body`, with `#line` markers so
    /// NVRTC's messages give lines of `<name>.cu` as written in the Swift file's string, not of the whole.
    static func family(_ name: String, _ body: String, kernels: [String], synchronizing: [String] = []) -> KernelSource {
        KernelSource(name: name, source: "#line 1 \"prelude.cuh\"\n" + kernelPrelude + "#line 1 \"\(name).cu\"\n" + body,
                     kernels: kernels, synchronizing: synchronizing)
    }
}

/// A GPU architecture NVRTC compiles for: `sm_80` (A100), `sm_90` (H100/H200), or the GPU's own.
public struct GPUArchitecture: Sendable, Equatable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    public static let sm80 = GPUArchitecture(major: 8, minor: 0)
    public static let sm90 = GPUArchitecture(major: 9, minor: 0)
    public var description: String { "sm_\(major)\(minor)" }
}

/// What NVRTC hands back: a cubin (machine code for exactly one architecture) or PTX (assembly the driver
/// can compile for newer GPUs too).
public enum CompiledFormat: String, Sendable {
    case cubin, ptx
}

/// Compiled kernels and where they came from.
public struct CompiledKernels: Sendable {
    public let bytes: [UInt8]
    /// The cache file, when a cache is used.
    public let cachePath: String?
    /// True when `bytes` were read from the cache instead of compiled.
    public let fromCache: Bool
    /// NVRTC's log of the compile (warnings); empty when read from the cache.
    public let log: String
}

/// An NVRTC program handle, destroyed in `deinit`.
public final class NVRTCProgram {
    private let nvrtc: NVRTC
    private var handle: nvrtcProgram?
    public let name: String

    public init(source: String, name: String, nvrtc: NVRTC) throws {
        self.nvrtc = nvrtc
        self.name = name
        var program: nvrtcProgram?
        try nvrtc.check(nvrtc.createProgram(&program, source, name, 0, nil, nil), "nvrtcCreateProgram(\(name))")
        handle = program
    }

    deinit { _ = nvrtc.destroyProgram(&handle) }

    /// Compiles with `options`; on failure the error carries NVRTC's log (file, line and message).
    public func compile(options: [String]) throws {
        let result = withCStrings(options) { nvrtc.compileProgram(handle, Int32(options.count), $0) }
        let text = (try? log()) ?? ""
        try nvrtc.check(result, "nvrtcCompileProgram(\(name), \(options.joined(separator: " ")))", log: text)
    }

    /// NVRTC's messages for the last compile (warnings too).
    public func log() throws -> String {
        var size = 0
        try nvrtc.check(nvrtc.getProgramLogSize(handle, &size), "nvrtcGetProgramLogSize(\(name))")
        var text = [CChar](repeating: 0, count: max(size, 1))
        try nvrtc.check(nvrtc.getProgramLog(handle, &text), "nvrtcGetProgramLog(\(name))")
        return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The compiled cubin or PTX (PTX without its terminating zero).
    public func output(_ format: CompiledFormat) throws -> [UInt8] {
        // The size and copy functions of both formats have the same C signature.
        let (getSize, get, call) = format == .cubin ? (nvrtc.getCUBINSize, nvrtc.getCUBIN, "nvrtcGetCUBIN")
                                                    : (nvrtc.getPTXSize, nvrtc.getPTX, "nvrtcGetPTX")
        var size = 0
        try nvrtc.check(getSize(handle, &size), "\(call)Size(\(name))")
        var bytes = [UInt8](repeating: 0, count: size)
        try bytes.withUnsafeMutableBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try nvrtc.check(get(handle, $0.baseAddress), "\(call)(\(name))") }
        }
        if format == .ptx { while bytes.last == 0 { bytes.removeLast() } }
        return bytes
    }
}

/// Compiles kernel sources with NVRTC for one architecture and caches the result on disk, keyed by
/// (hash of source and options, architecture, NVRTC version): `<cache>/kernels/<name>-<hash>-sm_90-nvrtc13.5.cubin`.
/// Cache files are written atomically (temporary file, fsync, rename), so concurrent ranks on one node at
/// worst compile the same kernels twice and never read half a file.
public final class KernelCompiler: Sendable {
    public let nvrtc: NVRTC
    public let version: (major: Int, minor: Int)
    /// Folder of the cache files; nil compiles every time.
    public let cacheDirectory: String?

    /// `cacheDirectory` defaults to `$DISTTRAIN_CACHE/kernels` (`~/.cache/disttrain/kernels`).
    public init(nvrtc: NVRTC, cacheDirectory: String? = KernelCompiler.defaultCacheDirectory) throws {
        self.nvrtc = nvrtc
        self.version = try nvrtc.versionNumbers()
        self.cacheDirectory = cacheDirectory
    }

    /// `$DISTTRAIN_CACHE/kernels`, else `$HOME/.cache/disttrain/kernels`.
    public static var defaultCacheDirectory: String {
        if let value = getenv("DISTTRAIN_CACHE"), value.pointee != 0 { return String(cString: value) + "/kernels" }
        let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
        return home + "/.cache/disttrain/kernels"
    }

    /// The options every kernel is compiled with: functions are device functions unless marked, C++17,
    /// no fast-math (results are compared with the CPU backend at 1e-4).
    public static func options(for architecture: GPUArchitecture) -> [String] {
        ["--gpu-architecture=\(architecture)", "-default-device", "--std=c++17"]
    }

    /// The cache file for `source` compiled for `architecture` as `format` by this NVRTC.
    public func cachePath(for source: KernelSource, architecture: GPUArchitecture, format: CompiledFormat) -> String? {
        guard let cacheDirectory else { return nil }
        let key = contentHash(source.source + "\u{0}" + Self.options(for: architecture).joined(separator: " "))
        return "\(cacheDirectory)/\(source.name)-\(key)-\(architecture)-nvrtc\(version.major).\(version.minor).\(format.rawValue)"
    }

    /// The compiled kernels, from the cache when a file for this key exists, else compiled and cached.
    public func compile(_ source: KernelSource, for architecture: GPUArchitecture,
                        format: CompiledFormat = .cubin) throws -> CompiledKernels {
        let path = cachePath(for: source, architecture: architecture, format: format)
        if let path, let cached = try? readFile(path), !cached.isEmpty {
            return CompiledKernels(bytes: cached, cachePath: path, fromCache: true, log: "")
        }
        let program = try NVRTCProgram(source: source.source, name: source.name + ".cu", nvrtc: nvrtc)
        try program.compile(options: Self.options(for: architecture))
        let bytes = try program.output(format)
        if let path, let cacheDirectory {
            do {
                try makeDirectories(cacheDirectory)
                try writeFileAtomically(path, bytes)
            } catch {
                throw GPUCallError(library: "NVRTC", call: "caching \(source.name) for \(architecture)", code: nil,
                                   message: "\(error)", hint: "Set DISTTRAIN_CACHE to a writable folder.")
            }
        }
        return CompiledKernels(bytes: bytes, cachePath: path, fromCache: false, log: try program.log())
    }
}

/// 128-bit FNV-1a-style hash (two 64-bit lanes with different seeds) as 32 hex digits: a cache key, not a
/// security measure.
func contentHash(_ text: String) -> String {
    var a: UInt64 = 0xcbf2_9ce4_8422_2325, b: UInt64 = 0x6c62_272e_07bb_0142
    for byte in text.utf8 {
        a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 &+ 0x9e37_79b9
    }
    func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
    return hex(a) + hex(b)
}


/// Calls `body` with a C array of C strings for `strings`, valid during the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let pointers = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    let constant = pointers.map { UnsafePointer<CChar>($0) }
    return constant.withUnsafeBufferPointer { body($0.baseAddress) }
}
