import CUDARuntime
import Foundation


/// Runs a kernel family's CUDA C++ on the CPU: the source, behind `cuda_emulation.h` (CUDA's built-ins as
/// cooperative fibers, one per GPU thread), compiled by the host's C++ compiler into a shared library
/// with one `emu_launch_<kernel>` entry per kernel, which takes `cuLaunchKernel`'s grid, block and
/// `kernelParams`. So the tests check each kernel's arithmetic, indexing, barriers and launch shape
/// against the CPU backend without a GPU; timing, memory coalescing and the real CUDA compiler are left
/// to a GPU machine (NVRTC compiles the same sources in `KernelCompileTests`).
public final class KernelEmulator: KernelLauncher {
    typealias EntryPoint = @convention(c) (UnsafePointer<UInt32>, UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                           UnsafeMutablePointer<CChar>, Int32) -> Int32
    public let family: KernelSource
    private let handle: UnsafeMutableRawPointer
    private let entries: [String: EntryPoint]

    /// Families compiled so far in this process (each compile takes a second or two).
    nonisolated(unsafe) private static var compiled: [String: KernelEmulator] = [:]
    private static let lock = NSLock()

    /// The emulator of `family`, compiled on first use.
    public static func of(_ family: KernelSource) throws -> KernelEmulator {
        lock.lock()
        defer { lock.unlock() }
        if let emulator = compiled[family.name] { return emulator }
        let emulator = try KernelEmulator(family)
        compiled[family.name] = emulator
        return emulator
    }

    public static let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("cuda_emulation.h").path

    /// The C++ compiler: `$CXX`, else the first of clang++ (which every Swift toolchain ships), g++, c++ on
    /// `PATH`, else the clang++ of the toolchain a `swift` on `PATH` links to.
    public static func compiler() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let given = environment["CXX"], !given.isEmpty { return given }
        let folders = (environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        for folder in folders {
            for name in ["clang++", "g++", "c++"] where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
                return "\(folder)/\(name)"
            }
        }
        // A `swift` reached through a symbolic link: its toolchain's clang++ sits beside the real file.
        for folder in folders where FileManager.default.isExecutableFile(atPath: folder + "/swift") {
            let real = URL(fileURLWithPath: folder + "/swift").resolvingSymlinksInPath().deletingLastPathComponent().path
            if FileManager.default.isExecutableFile(atPath: real + "/clang++") { return real + "/clang++" }
        }
        throw EmulationError("no C++ compiler found (tried $CXX, clang++, g++ and c++ on PATH, and clang++ beside swift); "
                             + "the Swift toolchain's clang++ is enough")
    }

    public init(_ family: KernelSource) throws {
        self.family = family
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("disttrain-emulation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("\(family.name).cpp"), library = folder.appendingPathComponent("lib\(family.name).so")
        var text = "#include \"\(Self.header)\"\n" + family.source + "\n#line 1 \"launchers.cpp\"\n"
        for kernel in family.kernels {
            let direct = family.synchronizing.contains(kernel) ? "false" : "true"
            text += "extern \"C\" int emu_launch_\(kernel)(const unsigned* dims, void** params, char* error, int size) "
                + "{ return emu::launch(\(kernel), dims, params, error, size, \(direct)); }\n"
        }
        try text.write(to: source, atomically: true, encoding: .utf8)
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: try Self.compiler())
        compile.arguments = ["-std=c++17", "-O1", "-fPIC", "-shared", "-o", library.path, source.path]
        let messages = Pipe()
        compile.standardError = messages
        compile.standardOutput = messages
        try compile.run()
        let log = String(decoding: messages.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        compile.waitUntilExit()
        guard compile.terminationStatus == 0 else {
            throw EmulationError("compiling \(family.name) for the CPU emulator failed:\n\(log)")
        }
        guard let handle = dlopen(library.path, RTLD_NOW | RTLD_LOCAL) else {
            throw EmulationError("dlopen \(library.path): \(String(cString: dlerror()))")
        }
        self.handle = handle
        var entries: [String: EntryPoint] = [:]
        for kernel in family.kernels {
            guard let symbol = dlsym(handle, "emu_launch_\(kernel)") else {
                throw EmulationError("\(family.name): no launcher for \(kernel)")
            }
            entries[kernel] = unsafeBitCast(symbol, to: EntryPoint.self)
        }
        self.entries = entries
    }

    deinit { dlclose(handle) }

    public func launch(_ launch: KernelLaunch) throws {
        guard let entry = entries[launch.kernel] else {
            throw EmulationError("\(launch.kernel) is not a kernel of the \(family.name) family")
        }
        let dims = [launch.grid.x, launch.grid.y, launch.grid.z, launch.block.x, launch.block.y, launch.block.z].map(UInt32.init)
        var message = [CChar](repeating: 0, count: 512)
        let status = withKernelParameters(launch.arguments) { parameters in
            dims.withUnsafeBufferPointer { entry($0.baseAddress!, parameters, &message, Int32(message.count)) }
        }
        guard status == 0 else {
            throw EmulationError("\(launch): " + message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
    }
}

public struct EmulationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
