import CZlib
import Foundation

/// A PNG decoder for the report test's screenshots: 8-bit RGB or RGBA, not interlaced (what Chromium
/// writes), IDAT inflated with zlib, every scanline filter (none, sub, up, average, Paeth) undone.
struct PNGImage {
    let width: Int
    let height: Int
    /// `[height, width, 4]` RGBA bytes.
    let rgba: [UInt8]

    struct Unsupported: Error, CustomStringConvertible { let description: String }

    init(path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count > 8, bytes.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else {
            throw Unsupported(description: "\(path): not a PNG file")
        }
        func u32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        var offset = 8, width = 0, height = 0, colorType = 0
        var compressed: [UInt8] = []
        while offset + 8 <= bytes.count {
            let length = u32(offset)
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            if type == "IHDR" {
                width = Int(body[0]) << 24 | Int(body[1]) << 16 | Int(body[2]) << 8 | Int(body[3])
                height = Int(body[4]) << 24 | Int(body[5]) << 16 | Int(body[6]) << 8 | Int(body[7])
                colorType = Int(body[9])
                guard body[8] == 8, colorType == 2 || colorType == 6, body[12] == 0 else {
                    throw Unsupported(description: "\(path): bit depth \(body[8]), colour type \(colorType), interlace \(body[12])")
                }
            } else if type == "IDAT" {
                compressed += body
            } else if type == "IEND" {
                break
            }
            offset += 12 + length
        }
        let channels = colorType == 6 ? 4 : 3
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var rawCount = uLongf(raw.count)
        let status = uncompress(&raw, &rawCount, compressed, uLong(compressed.count))
        guard status == Z_OK, Int(rawCount) == raw.count else {
            throw Unsupported(description: "\(path): zlib uncompress status \(status), \(rawCount) of \(raw.count) bytes")
        }
        var pixels = [UInt8](repeating: 0, count: height * stride)
        for row in 0..<height {
            let filter = raw[row * (stride + 1)]
            for column in 0..<stride {
                let x = raw[row * (stride + 1) + 1 + column]
                let a = column >= channels ? Int(pixels[row * stride + column - channels]) : 0
                let b = row > 0 ? Int(pixels[(row - 1) * stride + column]) : 0
                let c = row > 0 && column >= channels ? Int(pixels[(row - 1) * stride + column - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw Unsupported(description: "\(path): scanline filter \(filter)")
                }
                pixels[row * stride + column] = UInt8((Int(x) + predictor) & 0xFF)
            }
        }
        self.width = width
        self.height = height
        if channels == 4 {
            rgba = pixels
        } else {
            var expanded = [UInt8](repeating: 255, count: width * height * 4)
            for pixel in 0..<(width * height) {
                for channel in 0..<3 { expanded[pixel * 4 + channel] = pixels[pixel * 3 + channel] }
            }
            rgba = expanded
        }
    }

    /// Each pixel's colour as 0xRRGGBB.
    var colors: [UInt32] {
        (0..<(width * height)).map { pixel -> UInt32 in
            let red = UInt32(rgba[pixel * 4]), green = UInt32(rgba[pixel * 4 + 1]), blue = UInt32(rgba[pixel * 4 + 2])
            return red << 16 | green << 8 | blue
        }
    }
}
