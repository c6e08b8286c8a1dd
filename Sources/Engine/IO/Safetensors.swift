#if canImport(Glibc)
import Glibc
#endif

/// A safetensors file (huggingface.co/docs/safetensors): 8-byte little-endian header length,
/// a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {...}}`, then raw little-endian data.
///
/// Checkpoints and test fixtures use it; tensors are named like torchvision's ResNet.
public struct SafetensorsFile {
    public struct Entry: Sendable {
        public let dtype: String
        public let shape: [Int]
        public let data_offsets: [Int]

        /// `{"dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [0, 37632]}`; nil for anything else.
        init?(_ value: JSON) {
            guard let fields = value.objectFields, case .string(let dtype)? = fields["dtype"],
                  case .array(let shape)? = fields["shape"], case .array(let offsets)? = fields["data_offsets"] else { return nil }
            let shapeValues = shape.compactMap(\.integer), offsetValues = offsets.compactMap(\.integer)
            guard shapeValues.count == shape.count, offsetValues.count == offsets.count else { return nil }
            self.dtype = dtype
            self.shape = shapeValues
            data_offsets = offsetValues
        }
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
        let header: [String: JSON]
        do { header = try JSON.parseObject(Array(bytes[8..<dataStart])) } catch {
            throw FileError(path, "safetensors header is not valid JSON: \(error)")
        }
        var entries: [String: Entry] = [:], metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__", let fields = value.objectFields {
                for (key, field) in fields {
                    guard case .string(let text) = field else {
                        throw FileError(path, "safetensors metadata \(jsonQuoted(key)) is \(field.kind), not a string")
                    }
                    metadata[key] = text
                }
            } else if let entry = Entry(value) {
                entries[name] = entry
            } else {
                throw FileError(path, "safetensors header entry \(jsonQuoted(name)) is not {\"dtype\": text, \"shape\": [integers], "
                                + "\"data_offsets\": [integers]}")
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
