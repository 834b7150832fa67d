import Foundation
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

/// Small images made by hand, each with known dimensions in its header.
enum Images {
    /// A real 1280×800 PNG header (signature + IHDR) followed by an IEND chunk.
    static func png(width: UInt32 = 1280, height: UInt32 = 800) -> Data {
        png(width: width, height: height, holding: nil)
    }

    /// A PNG whose `IDAT` chunk holds `data`: a large image for tests of sizes, whose bytes are all part of the
    /// image (bytes appended after `IEND` are not stored).
    static func png(width: UInt32 = 1280, height: UInt32 = 800, holding data: Data?) -> Data {
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
        bytes += Array("IHDR".utf8) + bigEndian(width) + bigEndian(height) + [8, 6, 0, 0, 0] + [0, 0, 0, 0]
        var file = Data(bytes)
        if let data {
            file.append(contentsOf: bigEndian(UInt32(data.count)) + Array("IDAT".utf8))
            file.append(data)
            file.append(contentsOf: [0, 0, 0, 0])
        }
        file.append(contentsOf: [0, 0, 0, 0] + Array("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82])
        return file
    }

    /// A JPEG with an APP0 segment and a baseline SOF0 frame header.
    static func jpeg(width: UInt16 = 640, height: UInt16 = 480) -> Data {
        var bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0]
        bytes += [0xFF, 0xC0, 0x00, 0x11, 0x08, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8),
                  UInt8(width & 0xFF), 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]
        bytes += [0xFF, 0xD9]
        return Data(bytes)
    }

    /// A GIF89a logical screen descriptor.
    static func gif(width: UInt16 = 32, height: UInt16 = 16) -> Data {
        Data(Array("GIF89a".utf8) + [UInt8(width & 0xFF), UInt8(width >> 8), UInt8(height & 0xFF), UInt8(height >> 8)]
             + [0, 0, 0, 0x3B])
    }

    /// A lossless WebP (VP8L) header.
    static func webp(width: UInt32 = 300, height: UInt32 = 200) -> Data {
        let bits = (width - 1) | ((height - 1) << 14)
        var bytes = Array("RIFF".utf8) + [30, 0, 0, 0] + Array("WEBP".utf8) + Array("VP8L".utf8) + [10, 0, 0, 0, 0x2F]
        bytes += [UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8((bits >> 24) & 0xFF)]
        bytes += [0, 0, 0, 0, 0]
        return Data(bytes)
    }

    /// A 24-bit BMP, stored top-down (a negative height), with its pixel rows.
    static func bmp(width: UInt32 = 4, height: UInt32 = 3) -> Data {
        let row = (Int(width) * 3 + 3) / 4 * 4
        let pixels = row * Int(height)
        var bytes = Array("BM".utf8) + littleEndian(UInt32(54 + pixels)) + [0, 0, 0, 0] + littleEndian(54)
        bytes += littleEndian(40) + littleEndian(width) + littleEndian(UInt32(bitPattern: -Int32(height)))
        bytes += [1, 0, 24, 0] + littleEndian(0) + littleEndian(UInt32(pixels)) + littleEndian(2835)
        bytes += littleEndian(2835) + littleEndian(0) + littleEndian(0)
        bytes += [UInt8](repeating: 0x7F, count: pixels)
        return Data(bytes)
    }

    /// The start of an ISO base media file (AVIF, HEIC): an `ftyp` box with `brand`, then a `meta` box's head.
    static func isoImage(brand: String) -> Data {
        Data([0, 0, 0, 24] + Array("ftyp".utf8) + Array(brand.utf8) + [0, 0, 0, 0] + Array("mif1".utf8)
             + Array(brand.utf8) + [0, 0, 0, 8] + Array("meta".utf8))
    }

    /// A little-endian TIFF header and an empty first directory.
    static func tiff() -> Data { Data([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }

    private static func littleEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF), UInt8((value >> 16) & 0xFF), UInt8(value >> 24)]
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}

/// A multipart/form-data body built the way browsers and curl build it.
struct MultipartBody {
    let boundary = "usero-test-\(UUID().uuidString)"
    private(set) var data = Data()

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    mutating func field(_ name: String, _ value: String) {
        data.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8))
    }

    mutating func file(_ name: String, fileName: String, type: String, _ bytes: Data) {
        data.append(Data(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(fileName)\"\r\nContent-Type: \(type)\r\n\r\n".utf8))
        data.append(bytes)
        data.append(Data("\r\n".utf8))
    }

    func finished() -> Data {
        data + Data("--\(boundary)--\r\n".utf8)
    }
}
