#if canImport(Glibc)
import Glibc
#endif

/// Recognises an image by its bytes (never by the declared type) and reads its dimensions.
public struct ImageInfo: Sendable, Equatable {
    /// The MIME type the bytes prove.
    public var mimeType: String
    /// The file extension the store uses.
    public var fileExtension: String
    /// Width in pixels, when the header states it.
    public var width: Int64?
    /// Height in pixels, when the header states it.
    public var height: Int64?

    /// Sniffs PNG, JPEG, GIF, WebP and BMP (with their dimensions), TIFF, AVIF and HEIC/HEIF (without: their sizes
    /// live deep in the file); nil for anything else, including SVG, which is text and could carry script. For the
    /// formats whose header it reads, the header must be there: a file that is a signature and nothing more (three
    /// bytes of a JPEG's start, `GIF89a` alone) is no image.
    public static func sniff(_ bytes: [UInt8]) -> ImageInfo? {
        bytes.withUnsafeBytes { sniff($0) }
    }

    /// Sniffs bytes where they lie (an upload's part in its request buffer), without copying them.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageInfo? {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return png(bytes) }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return jpeg(bytes) }
        if bytes.starts(with: Array("GIF87a".utf8)) || bytes.starts(with: Array("GIF89a".utf8)) { return gif(bytes) }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) {
            return webp(bytes)
        }
        if bytes.count >= 30, bytes.starts(with: Array("BM".utf8)) { return bmp(bytes) }
        if bytes.starts(with: [0x49, 0x49, 0x2A, 0x00]) || bytes.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            return ImageInfo(mimeType: "image/tiff", fileExtension: "tiff")
        }
        if bytes.count >= 12, Array(bytes[4..<8]) == Array("ftyp".utf8) { return isoImage(bytes) }
        return nil
    }

    /// Every extension `sniff` gives a stored file.
    public static let fileExtensions: Set<String> = ["png", "jpg", "gif", "webp", "bmp", "tiff", "avif", "heic"]

    /// A dimension read from a header field, when it is one an image can have: 1 to 2^31 - 1 pixels (PNG's own
    /// limit; a BMP's height of -2^31 has no positive counterpart). Anything else is no dimension at all (a GIF, JPEG
    /// or WebP header saying 0 too, as a PNG's does: the answer leaves it out rather than say 0), so the
    /// stored value always fits the stores' 32-bit columns: PostgreSQL refused 2^31 and up, which made such an upload
    /// a 500 there.
    static func pixels<Value: BinaryInteger>(_ value: Value) -> Int64? {
        (1...Int64(Int32.max)).contains(Int64(clamping: value)) ? Int64(value) : nil
    }

    private static func bmp(_ b: UnsafeRawBufferPointer) -> ImageInfo? {
        // BITMAPINFOHEADER and its successors: the header's size (one of the defined ones), width and height as
        // signed 32-bit little-endian (a negative height is a top-down bitmap), one plane, a defined bit depth.
        // "BM" followed by text passes none of that. The 12-byte OS/2 header is not accepted.
        let width = Int32(bitPattern: littleEndian32(b, 18))
        let height = Int32(bitPattern: littleEndian32(b, 22))
        let planes = Int(b[26]) | Int(b[27]) << 8
        let depth = Int(b[28]) | Int(b[29]) << 8
        guard [40, 52, 56, 64, 108, 124].contains(littleEndian32(b, 14)), width > 0, height != 0, planes == 1,
            [1, 2, 4, 8, 16, 24, 32].contains(depth)
        else { return nil }
        var info = ImageInfo(mimeType: "image/bmp", fileExtension: "bmp")
        info.width = pixels(width)
        info.height = pixels(height.magnitude)
        return info
    }

    /// The ISO base media file format's still images: the `ftyp` box's major brand says which.
    private static func isoImage(_ b: UnsafeRawBufferPointer) -> ImageInfo? {
        switch String(decoding: b[8..<12], as: UTF8.self) {
        case "avif", "avis": ImageInfo(mimeType: "image/avif", fileExtension: "avif")
        case "heic", "heix", "heim", "heis": ImageInfo(mimeType: "image/heic", fileExtension: "heic")
        case "mif1", "msf1": ImageInfo(mimeType: "image/heif", fileExtension: "heic")
        default: nil
        }
    }

    /// Sniffs a file's bytes where they lie: mapped, so only the pages the header walk touches are read.
    public static func sniff(fileAt path: String) -> ImageInfo? {
        withMappedFile(path) { sniff($0) } ?? nil
    }

    /// Runs `body` over the bytes of the file at `path`, mapped read-only (only the pages it touches are read); nil
    /// when the file cannot be opened or mapped, or is empty.
    static func withMappedFile<T>(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let end = lseek(fd, 0, SEEK_END)
        guard end > 0, let size = Int(exactly: end),
            let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED
        else { return nil }
        defer { munmap(mapped, size) }
        return try body(UnsafeRawBufferPointer(start: mapped, count: size))
    }

    private static func png(_ b: UnsafeRawBufferPointer) -> ImageInfo? {
        // Signature, then the IHDR chunk (every PNG's first): length, "IHDR", width, height (big-endian).
        guard b.count >= 24, Array(b[12..<16]) == Array("IHDR".utf8) else { return nil }
        var info = ImageInfo(mimeType: "image/png", fileExtension: "png")
        info.width = pixels(bigEndian32(b, 16))
        info.height = pixels(bigEndian32(b, 20))
        return info
    }

    private static func gif(_ b: UnsafeRawBufferPointer) -> ImageInfo? {
        // Signature, then the logical screen descriptor: width, height (little-endian), flags, background, aspect.
        guard b.count >= 13 else { return nil }
        var info = ImageInfo(mimeType: "image/gif", fileExtension: "gif")
        info.width = pixels(UInt16(b[6]) | UInt16(b[7]) << 8)
        info.height = pixels(UInt16(b[8]) | UInt16(b[9]) << 8)
        return info
    }

    private static func jpeg(_ b: UnsafeRawBufferPointer) -> ImageInfo? {
        var info = ImageInfo(mimeType: "image/jpeg", fileExtension: "jpg")
        var frame = false
        var i = 2
        // Walk the marker segments to the first start-of-frame (SOF0…SOF15 but DHT, JPG and DAC).
        while i + 9 < b.count {
            guard b[i] == 0xFF else { break }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
                info.height = pixels(Int(b[i + 5]) << 8 | Int(b[i + 6]))
                info.width = pixels(Int(b[i + 7]) << 8 | Int(b[i + 8]))
                frame = true
                break
            }
            if marker == 0xDA || length < 2 { break }
            i += 2 + length
        }
        // No frame header before the scan (or the end): not a JPEG any decoder would draw.
        return frame ? info : nil
    }

    private static func webp(_ b: UnsafeRawBufferPointer) -> ImageInfo? {
        var info = ImageInfo(mimeType: "image/webp", fileExtension: "webp")
        guard b.count >= 30 else { return nil }
        switch String(decoding: b[12..<16], as: UTF8.self) {
        case "VP8 ":
            // Frame tag (3 bytes), start code (3), then 14-bit width and height.
            info.width = pixels(Int(b[26]) | (Int(b[27]) & 0x3F) << 8)
            info.height = pixels(Int(b[28]) | (Int(b[29]) & 0x3F) << 8)
        case "VP8L":
            let bits = UInt32(b[21]) | UInt32(b[22]) << 8 | UInt32(b[23]) << 16 | UInt32(b[24]) << 24
            info.width = Int64(bits & 0x3FFF) + 1
            info.height = Int64((bits >> 14) & 0x3FFF) + 1
        case "VP8X":
            info.width = Int64(Int(b[24]) | Int(b[25]) << 8 | Int(b[26]) << 16) + 1
            info.height = Int64(Int(b[27]) | Int(b[28]) << 8 | Int(b[29]) << 16) + 1
        default:
            return nil  // every WebP's first chunk is one of the three
        }
        return info
    }

    private static func littleEndian32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    private static func bigEndian32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    private init(mimeType: String, fileExtension: String) {
        self.mimeType = mimeType
        self.fileExtension = fileExtension
    }
}
