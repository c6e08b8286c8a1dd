#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Whole-file reads and writes, and folders, on POSIX calls (no Foundation), with errors that name the path.

/// Errors reading or writing files, naming the path and what was wrong.
public struct FileError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public init(_ path: String, _ problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
}

/// Reads a whole regular file, with errors that name it (retrying reads interrupted by signals).
public func readFile(_ path: String) throws -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw FileError(path, "cannot open: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw FileError(path, "cannot stat: \(String(cString: strerror(errno)))") }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        throw FileError(path, "expected a regular file, found a directory or device")
    }
    let size = Int(info.st_size)
    if size == 0 { return [] }
    return try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        while initialized < size {
            let got = read(descriptor, buffer.baseAddress! + initialized, size - initialized)
            if got < 0 {
                if errno == EINTR { continue }
                throw FileError(path, "read failed after \(initialized) of \(size) bytes: " + String(cString: strerror(errno)))
            }
            if got == 0 { throw FileError(path, "file shrank while reading: expected \(size) bytes, got \(initialized)") }
            initialized += got
        }
    }
}

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one.
/// `halfway` runs once half the bytes are in the temporary file (tests pause there to kill the writer).
public func writeFileAtomically(_ path: String, _ bytes: [UInt8], halfway: (() -> Void)? = nil) throws {
    let temporary = path + ".tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw FileError(temporary, "cannot create: \(String(cString: strerror(errno)))") }
    var done = 0
    let failure: String? = bytes.withUnsafeBytes { raw in
        let half = bytes.count / 2
        while done < bytes.count {
            let wrote = write(fd, raw.baseAddress! + done, (done < half && halfway != nil ? half : bytes.count) - done)
            if wrote <= 0 { return String(cString: strerror(errno)) }
            done += wrote
            if done == half, let halfway { halfway() }
        }
        return fsync(fd) == 0 ? nil : String(cString: strerror(errno))
    }
    close(fd)
    if let failure { unlink(temporary); throw FileError(temporary, "write failed: \(failure)") }
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw FileError(path, "cannot move the new file into place: \(reason)")
    }
}

/// `mkdir -p`: creates `path` and every missing folder above it.
public func makeDirectories(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw FileError(current, "cannot create directory: \(String(cString: strerror(errno)))")
        }
    }
}

/// The names in folder `path` (without "." and ".."), unsorted.
public func directoryEntries(_ path: String) throws -> [String] {
    guard let handle = opendir(path) else { throw FileError(path, "cannot list the folder: \(String(cString: strerror(errno)))") }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
