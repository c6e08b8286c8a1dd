import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Errors reading or writing files, naming the path and what was wrong.
public struct FileError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public init(_ path: String, _ problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
}

/// A safetensors file (huggingface.co/docs/safetensors): 8-byte little-endian header length,
/// a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {...}}`, then raw little-endian data.
///
/// Checkpoints and test fixtures use it; tensors are named like torchvision's ResNet.
public struct SafetensorsFile {
    public struct Entry: Codable, Sendable {
        public let dtype: String
        public let shape: [Int]
        public let data_offsets: [Int]
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let bytes: [UInt8]
    private let dataStart: Int

    /// Reads and validates the whole file.
    public init(path: String) throws {
        self.path = path
        bytes = try readFile(path)
        guard bytes.count >= 8 else { throw FileError(path, "not a safetensors file: only \(bytes.count) bytes") }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
        guard headerLength > 0, 8 + headerLength <= bytes.count else {
            throw FileError(path, "safetensors header claims \(headerLength) bytes but the file has \(bytes.count)")
        }
        dataStart = 8 + headerLength
        let header = Data(bytes[8..<dataStart])
        let decoded: [String: HeaderValue]
        do { decoded = try JSONDecoder().decode([String: HeaderValue].self, from: header) } catch {
            throw FileError(path, "safetensors header is not valid JSON: \(error)")
        }
        var entries: [String: Entry] = [:], metadata: [String: String] = [:]
        for (name, value) in decoded {
            switch value {
            case .entry(let entry): entries[name] = entry
            case .metadata(let values): metadata = values
            }
        }
        let dataCount = bytes.count - dataStart
        for (name, entry) in entries {
            let elements = entry.shape.reduce(1, *)
            let width = entry.dtype == "F32" ? 4 : entry.dtype == "BF16" || entry.dtype == "F16" ? 2 : entry.dtype == "I64" ? 8 : 0
            guard entry.data_offsets.count == 2, entry.data_offsets[0] >= 0,
                  entry.data_offsets[1] - entry.data_offsets[0] == elements * width, entry.data_offsets[1] <= dataCount else {
                throw FileError(path, "tensor '\(name)' (\(entry.dtype) \(entry.shape)) has data offsets \(entry.data_offsets) that do not fit the \(dataCount) data bytes")
            }
        }
        self.entries = entries
        self.metadata = metadata
    }

    public var names: [String] { entries.keys.sorted() }

    /// The named tensor as Float32 (F32 copied, I64 converted), shape as stored.
    public func tensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else {
            throw FileError(path, "has no tensor named '\(name)' (it holds \(entries.count) tensors)")
        }
        let tensor = Tensor(zeros: entry.shape)
        let start = dataStart + entry.data_offsets[0]
        switch entry.dtype {
        case "F32":
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(tensor.pointer).copyMemory(from: raw.baseAddress! + start, byteCount: tensor.count * 4)
            }
        case "I64":
            bytes.withUnsafeBytes { raw in
                for i in 0..<tensor.count { tensor.pointer[i] = Float(raw.loadUnaligned(fromByteOffset: start + 8 * i, as: Int64.self)) }
            }
        default:
            throw FileError(path, "tensor '\(name)' has dtype \(entry.dtype); only F32 and I64 are read")
        }
        return tensor
    }

    /// Writes `tensors` (Float32) atomically: a temporary file in the same folder, fsync, rename.
    public static func write(path: String, tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             halfway: (() -> Void)? = nil) throws {
        var header = "{"
        var offset = 0
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonQuoted($0)):\(jsonQuoted(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        for (name, tensor) in tensors {
            let size = tensor.count * 4
            parts.append("\(jsonQuoted(name)):{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        header += parts.joined(separator: ",") + "}"
        while (header.utf8.count) % 8 != 0 { header += " " }
        var output = [UInt8]()
        output.reserveCapacity(8 + header.utf8.count + offset)
        let length = UInt64(header.utf8.count)
        for i in 0..<8 { output.append(UInt8(truncatingIfNeeded: length >> (8 * i))) }
        output.append(contentsOf: header.utf8)
        for (_, tensor) in tensors {
            output.append(contentsOf: UnsafeRawBufferPointer(start: tensor.pointer, count: tensor.count * 4))
        }
        try writeFileAtomically(path, output, halfway: halfway)
    }

    private enum HeaderValue: Decodable {
        case entry(Entry)
        case metadata([String: String])

        init(from decoder: Decoder) throws {
            if let entry = try? Entry(from: decoder) { self = .entry(entry); return }
            self = .metadata(try [String: String](from: decoder))
        }
    }
}

/// `text` as a JSON string literal, with the escapes JSON requires.
public func jsonQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 { out += "\\u" + String(scalar.value, radix: 16).leftPadded(4) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
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
