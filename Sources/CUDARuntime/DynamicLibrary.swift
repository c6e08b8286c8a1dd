#if canImport(Glibc)
import Glibc
#endif

/// An open shared library (a `dlopen` handle), closed in `deinit`. The libraries behind the GPU path are
/// opened once per process and never released (their tables live in globals), so `deinit` matters only
/// for libraries opened by tests.
///
/// `@unchecked Sendable`: the handle is set once in `init` and never changes; `dlsym` and `dlclose` on a
/// handle are thread-safe.
public final class DynamicLibrary: @unchecked Sendable {
    public let library: GPULibrary
    /// The file that was opened, or the bare soname when the loader's default search found it.
    public let path: String
    private let handle: UnsafeMutableRawPointer

    private init(library: GPULibrary, path: String, handle: UnsafeMutableRawPointer) {
        self.library = library
        self.path = path
        self.handle = handle
    }

    deinit { dlclose(handle) }

    /// Opens the first of `library.sonames` found in `search.places()`, or throws `LibraryNotFound`
    /// naming every place and what happened there.
    public static func open(_ library: GPULibrary, search: LibrarySearch) throws -> DynamicLibrary {
        var attempts: [LibraryNotFound.Attempt] = []
        for place in search.places() {
            guard let folder = place.folder else {
                for soname in library.sonames {
                    switch dlopenNow(soname) {
                    case .success(let handle): return DynamicLibrary(library: library, path: soname, handle: handle)
                    case .failure(let reason):
                        // dlerror already starts with the name it was given ("libcuda.so.1: cannot open ...").
                        let text = "\(reason)".hasPrefix(soname) ? "\(reason)" : "\(soname): \(reason)"
                        attempts.append(.init(place: place, outcome: text))
                    }
                }
                continue
            }
            guard isDirectory(folder) else {
                attempts.append(.init(place: place, outcome: "no such folder"))
                continue
            }
            var outcome = "none of " + library.sonames.joined(separator: ", ")
            for soname in library.sonames where isFile(folder + "/" + soname) {
                let path = folder + "/" + soname
                switch dlopenNow(path) {
                case .success(let handle): return DynamicLibrary(library: library, path: path, handle: handle)
                case .failure(let reason): outcome = "\(soname) is there but could not be opened: \(reason)"
                }
                break
            }
            attempts.append(.init(place: place, outcome: outcome))
        }
        throw LibraryNotFound(library: library, attempts: attempts, scannedPatterns: search.scannedPatterns)
    }

    /// The function `name` as the `@convention(c)` type `T`; throws when the library lacks it.
    public func function<T>(_ name: String, as type: T.Type = T.self) throws -> T {
        _ = dlerror()
        guard let symbol = dlsym(handle, name) else {
            throw GPUCallError(library: library.name, call: "dlsym(\"\(name)\")", code: nil,
                               message: dlerrorText() ?? "symbol not found",
                               hint: "\(path) does not export \(name); it is probably older than disttrain needs. "
                                   + library.remedy)
        }
        return unsafeBitCast(symbol, to: T.self)
    }

    private static func dlopenNow(_ path: String) -> Result<UnsafeMutableRawPointer, DLError> {
        _ = dlerror()
        if let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) { return .success(handle) }
        return .failure(DLError(text: dlerrorText() ?? "dlopen failed"))
    }

    private struct DLError: Error, CustomStringConvertible {
        let text: String
        var description: String { text }
    }
}

private func dlerrorText() -> String? {
    guard let text = dlerror() else { return nil }
    return String(cString: text)
}
