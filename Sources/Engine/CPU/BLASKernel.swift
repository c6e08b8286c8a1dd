import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Which OpenBLAS kernels this process runs, and a correction for CPUs OpenBLAS does not recognise.
///
/// OpenBLAS (built with DYNAMIC_ARCH, as Debian's) picks its kernels from the CPU's family and model when
/// the library loads. A model it does not know falls back to "Prescott", SSE3 kernels: OpenBLAS 0.3.21 on
/// an Intel Xeon of family 6, model 207 (Emerald Rapids, 2023) runs sgemm at 21 GFLOP/s on one core
/// where its SkylakeX (AVX-512) kernels reach 144 and its Haswell (AVX2) kernels 64, and a BYOL step
/// spends 70 % of its time in `sgemm_kernel_PRESCOTT`. The choice is made before `main` and read from
/// `OPENBLAS_CORETYPE` only, so `relaunchWithBetterKernelsIfNeeded` sets that variable and executes the
/// program again, once, when the CPU has AVX2 or AVX-512 and the user did not choose a core.
public enum BLASKernel {
    /// The core OpenBLAS chose for this process ("SkylakeX", "Haswell", "Prescott", ...).
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// Cores OpenBLAS falls back to, none of which uses AVX.
    static let fallbackCores: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai",
                                            "Coppermine", "Northwood", "Banias", "Unknown"]

    /// The core to ask for instead of `current`, or nil when OpenBLAS's own choice stands: the user named one
    /// (`requested`), OpenBLAS chose a vector core already, or the CPU (`flags` from /proc/cpuinfo) lacks AVX2.
    /// SkylakeX's AVX-512 kernels only on Intel: the AMD EPYC (Zen 5) machines this project used before set
    /// Haswell's in their image because older OpenBLAS builds misbehave there, so AMD gets Haswell's.
    public static func betterCore(current: String, requested: String?, flags: Set<String>, vendor: String) -> String? {
        guard requested == nil, fallbackCores.contains(current) else { return nil }
        if vendor == "GenuineIntel", ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) {
            return "SkylakeX"
        }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// The first processor's `flags` and `vendor_id` from /proc/cpuinfo (empty where there is none).
    static func cpuInfo() -> (flags: Set<String>, vendor: String) {
        guard let file = fopen("/proc/cpuinfo", "r") else { return ([], "") }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var vendor = ""
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            let value = text.split(separator: ":", maxSplits: 1).last ?? ""
            let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
            if text.hasPrefix("vendor_id") { vendor = words.first ?? "" }
            if text.hasPrefix("flags") { return (Set(words), vendor) }
        }
        return ([], vendor)
    }

    static let relaunchMarker = "DISTTRAIN_BLAS_RELAUNCHED"

    /// Executes this program again with `OPENBLAS_CORETYPE` set when `betterCore` finds one (same process id,
    /// arguments and environment otherwise; before MPI starts, so launchers do not notice). Returns when
    /// nothing needs to change, when this is already the relaunched process, or when the exec fails.
    public static func relaunchWithBetterKernelsIfNeeded() {
        let cpu = cpuInfo()
        guard getenv(relaunchMarker) == nil,
              let core = betterCore(current: coreName, requested: getenv("OPENBLAS_CORETYPE").map { String(cString: $0) },
                                    flags: cpu.flags, vendor: cpu.vendor)
        else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(relaunchMarker, "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")  // the exec failed: go on with OpenBLAS's own choice
    }
}
