import Engine
#if canImport(Glibc)
import Glibc
#endif

/// One GPU library we open at run time: the sonames to try (newest first) and what a user can do
/// when none is found.
public struct GPULibrary: Sendable, Equatable {
    /// Short name for messages, e.g. "NVRTC".
    public let name: String
    /// File names tried in every folder, in order, e.g. `libnvrtc.so.13`, `libnvrtc.so.12`.
    public let sonames: [String]
    /// What to install or set when it is missing.
    public let remedy: String

    public static let driver = GPULibrary(
        name: "CUDA driver", sonames: ["libcuda.so.1"],
        remedy: "libcuda.so.1 comes with the NVIDIA driver (not with pip or the CUDA toolkit): on a GPU machine, "
            + "install the driver so that 'nvidia-smi' works, or set DISTTRAIN_CUDA_PATH to the folder that holds "
            + "libcuda.so.1. Use --device cpu to train on the CPU.")
    public static let nvrtc = GPULibrary(
        name: "NVRTC", sonames: ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"],
        remedy: "install it with 'pip install nvidia-cuda-nvrtc' (CUDA 13; 'nvidia-cuda-nvrtc-cu12' for CUDA 12) "
            + "or the CUDA toolkit, and if it is in a venv or folder not listed above, set DISTTRAIN_CUDA_PATH to it "
            + "(bash launch/setup.sh makes .venv-nvrtc in the repository).")
    public static let cublasLt = GPULibrary(
        name: "cuBLASLt", sonames: ["libcublasLt.so.13", "libcublasLt.so.12"],
        remedy: "install it with 'pip install nvidia-cublas' (CUDA 13; 'nvidia-cublas-cu12' for CUDA 12) or the "
            + "CUDA toolkit, and set DISTTRAIN_CUDA_PATH to its venv or folder if it is not found.")
    public static let cublas = GPULibrary(
        name: "cuBLAS", sonames: ["libcublas.so.13", "libcublas.so.12"],
        remedy: cublasLt.remedy)
    public static let nccl = GPULibrary(
        name: "NCCL", sonames: ["libnccl.so.2"],
        remedy: "install it with 'pip install nvidia-nccl-cu13' (or 'nvidia-nccl-cu12'), or Debian's libnccl2, "
            + "and set DISTTRAIN_CUDA_PATH to its venv or folder if it is not found.")
}

/// A place the loader looks in: a folder, or (`folder == nil`) the dynamic loader's own search.
public struct SearchPlace: Sendable, Equatable, CustomStringConvertible {
    public let folder: String?
    /// Why this place is searched, e.g. "DISTTRAIN_CUDA_PATH".
    public let origin: String

    public var description: String { "\(folder ?? "the dynamic loader's default search") (\(origin))" }
}

/// Where GPU libraries are searched, in order: `$DISTTRAIN_CUDA_PATH` (each entry, its `lib64` and
/// `lib`, and pip's `nvidia/*/lib` folders when the entry is a site-packages folder or a venv), every
/// `$LD_LIBRARY_PATH` entry, the dynamic loader's default search (ld.so.cache, the binary's RUNPATH),
/// the CUDA toolkit's and Debian's library folders, then pip's `nvidia/*/lib` folders in `$VIRTUAL_ENV`
/// and in the system Pythons' site-packages. An earlier place wins, so a user's setting overrides
/// everything found later.
public struct LibrarySearch: Sendable {
    /// The environment variables read (DISTTRAIN_CUDA_PATH, LD_LIBRARY_PATH, VIRTUAL_ENV, HOME).
    public var variables: [String: String]
    /// Folders searched after the loader's default search.
    public var standardFolders: [String]
    /// Prefixes whose `lib/python3*/{site,dist}-packages` are scanned for pip's NVIDIA wheels.
    public var pythonPrefixes: [String]

    public init(variables: [String: String], standardFolders: [String], pythonPrefixes: [String]) {
        self.variables = variables
        self.standardFolders = standardFolders
        self.pythonPrefixes = pythonPrefixes
    }

    /// This process's environment and this machine's standard folders.
    public static var process: LibrarySearch {
        var variables: [String: String] = [:]
        for name in ["DISTTRAIN_CUDA_PATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV", "HOME"] {
            if let value = getenv(name) { variables[name] = String(cString: value) }
        }
        #if arch(arm64)
        let multiarch = "/usr/lib/aarch64-linux-gnu"
        #else
        let multiarch = "/usr/lib/x86_64-linux-gnu"
        #endif
        return LibrarySearch(variables: variables, standardFolders: ["/usr/local/cuda/lib64", multiarch],
                             pythonPrefixes: ["/usr", "/usr/local"])
    }

    /// Every place searched, in order, without repeats.
    public func places() -> [SearchPlace] {
        var places: [SearchPlace] = []
        for entry in pathList("DISTTRAIN_CUDA_PATH") {
            for folder in [entry, entry + "/lib64", entry + "/lib"] {
                places.append(SearchPlace(folder: folder, origin: "DISTTRAIN_CUDA_PATH"))
            }
            for folder in nvidiaFolders(inSitePackages: entry) + nvidiaFolders(underPrefix: entry) {
                places.append(SearchPlace(folder: folder, origin: "pip wheel in DISTTRAIN_CUDA_PATH"))
            }
        }
        for entry in pathList("LD_LIBRARY_PATH") { places.append(SearchPlace(folder: entry, origin: "LD_LIBRARY_PATH")) }
        places.append(SearchPlace(folder: nil, origin: "ld.so.cache and the binary's RUNPATH"))
        for folder in standardFolders { places.append(SearchPlace(folder: folder, origin: "standard folder")) }
        if let venv = variables["VIRTUAL_ENV"], !venv.isEmpty {
            for folder in nvidiaFolders(underPrefix: venv) {
                places.append(SearchPlace(folder: folder, origin: "pip wheel in VIRTUAL_ENV"))
            }
        }
        var prefixes = pythonPrefixes
        if let home = variables["HOME"], !home.isEmpty { prefixes.append(home + "/.local") }
        for prefix in prefixes {
            for folder in nvidiaFolders(underPrefix: prefix) {
                places.append(SearchPlace(folder: folder, origin: "pip wheel"))
            }
        }
        var seen = Set<String>()
        return places.filter { place in
            guard let folder = place.folder else { return true }
            return seen.insert(normalized(folder)).inserted
        }
    }

    /// The site-packages patterns scanned, for messages.
    public var scannedPatterns: [String] {
        var prefixes = pythonPrefixes
        if let venv = variables["VIRTUAL_ENV"], !venv.isEmpty { prefixes.insert(venv, at: 0) }
        if let home = variables["HOME"], !home.isEmpty { prefixes.append(home + "/.local") }
        return prefixes.flatMap { ["\($0)/lib/python3*/site-packages/nvidia/*/lib", "\($0)/lib/python3*/dist-packages/nvidia/*/lib"] }
    }

    private func pathList(_ name: String) -> [String] {
        (variables[name] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    /// `prefix/lib/python3*/{site,dist}-packages/nvidia/*/lib` (and Debian's `lib/python3/dist-packages`).
    func nvidiaFolders(underPrefix prefix: String) -> [String] {
        let lib = prefix + "/lib"
        let pythons = subfolders(of: lib).filter { $0.hasPrefix("python3") }
        return pythons.flatMap { python in
            ["site-packages", "dist-packages"].flatMap { nvidiaFolders(inSitePackages: "\(lib)/\(python)/\($0)") }
        }
    }

    /// `sitePackages/nvidia/*/lib`: one folder per wheel (`cu13`, `cuda_nvrtc`, `cublas`, `nccl`, ...).
    func nvidiaFolders(inSitePackages sitePackages: String) -> [String] {
        let nvidia = sitePackages + "/nvidia"
        return subfolders(of: nvidia).map { "\(nvidia)/\($0)/lib" }.filter(isDirectory)
    }

    private func subfolders(of path: String) -> [String] {
        guard let names = try? directoryEntries(path) else { return [] }
        return names.sorted().filter { isDirectory(path + "/" + $0) }
    }

    private func normalized(_ path: String) -> String {
        var result = path
        while result.count > 1, result.hasSuffix("/") { result.removeLast() }
        return result
    }
}

func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}

func isFile(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFDIR
}
