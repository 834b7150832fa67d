import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Takes out of an uploaded image what it tells about a person beyond its pixels: where and when a photo was taken
/// (a phone's GPS position and clock), with which device, by whom. A photo attached to feedback would otherwise hand
/// the sender's location to everyone who opens its link.
///
/// - JPEG: every APP1 segment (Exif, XMP), APP13 (Photoshop's, with IPTC) and comment. Exif's orientation alone is
///   kept, in a new Exif segment of its own where the old one was, so that a photo taken upright stays upright.
/// - PNG: the text chunks (`tEXt`, `zTXt`, `iTXt`), `eXIf` and `tIME`.
/// - WebP: the `EXIF` and `XMP ` chunks, with their flags in `VP8X` and the RIFF size made to match.
///
/// Pixels, colour profiles and everything else a decoder reads stay byte for byte. GIF and BMP carry no such fields
/// a browser or camera writes; TIFF, HEIC/HEIF and AVIF are stored as sent (their metadata lives inside the structure
/// that also locates the image, which this does not rewrite: PRIVACY.md says so).
public enum ImageMetadata {
    /// A piece of the image without its metadata: a range of the original's bytes, or new bytes.
    public enum Piece: Equatable, Sendable {
        case original(Range<Int>)
        case new([UInt8])
    }

    /// The pieces that make `bytes` without their metadata, in order; nil when there is none to take out, or when a
    /// structure this walks is cut short or inconsistent before its image data (such a file is stored as sent: it
    /// passed the sniffer's header check, and a decoder may still draw it).
    public static func stripped(_ bytes: UnsafeRawBufferPointer, mimeType: String) -> [Piece]? {
        switch mimeType {
        case "image/jpeg": jpeg(bytes)
        case "image/png": png(bytes)
        case "image/webp": webp(bytes)
        default: nil
        }
    }

    /// `bytes` without their metadata, or nil when there is none to take out (see `stripped(_:mimeType:)`).
    public static func stripped(_ bytes: [UInt8], mimeType: String) -> [UInt8]? {
        bytes.withUnsafeBytes { raw in
            stripped(raw, mimeType: mimeType).map { assemble($0, from: raw) }
        }
    }

    /// Rewrites the file at `path` without its image's metadata, when it has any: into a new file beside it (named
    /// so that a crash leaves what `SpooledFile.removeLeftovers` removes), renamed over it. Returns the new size, or
    /// nil when the file was left as it was.
    public static func strip(fileAt path: String, mimeType: String) throws -> Int64? {
        guard let written = try ImageInfo.withMappedFile(path, { try rewrite(path, from: $0, mimeType: mimeType) })
        else { throw CocoaError(.fileReadUnknown) }
        return written
    }

    /// Writes `original` (the file at `path`, mapped) less its metadata beside it and renames that over it; the new
    /// size, or nil when there was nothing to take out.
    private static func rewrite(_ path: String, from original: UnsafeRawBufferPointer, mimeType: String) throws
        -> Int64?
    {
        guard let pieces = stripped(original, mimeType: mimeType) else { return nil }
        let temporary = path + "-stripped.part"
        let out = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw FileWrites.error(errno) }
        var written: Int64 = 0
        do {
            defer { close(out) }
            try forEachBytes(of: pieces, from: original) { bytes in
                try FileWrites.writeAll(out, bytes)
                written += Int64(bytes.count)
            }
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw FileWrites.error(code)
        }
        return written
    }

    static func assemble(_ pieces: [Piece], from original: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
        forEachBytes(of: pieces, from: original) { out.append(contentsOf: $0) }
        return out
    }

    /// Hands `body` the bytes of each piece in order: a range of `original`, or the piece's own.
    private static func forEachBytes(
        of pieces: [Piece], from original: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        for piece in pieces {
            switch piece {
            case .original(let range): try body(UnsafeRawBufferPointer(rebasing: original[range]))
            case .new(let bytes): try bytes.withUnsafeBytes(body)
            }
        }
    }

    // MARK: JPEG

    private static func jpeg(_ b: UnsafeRawBufferPointer) -> [Piece]? {
        var pieces: [Piece] = []
        var next = 0  // the first original byte not placed in a piece yet
        var dropped = false
        var orientationKept = false
        var i = 2
        // The marker segments before the first scan: after it comes entropy-coded data, which holds no metadata.
        while true {
            guard i + 2 <= b.count, b[i] == 0xFF else { return nil }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }  // a fill byte
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
            if marker == 0xDA || marker == 0xD9 { break }  // start of scan, or the end of an image with none
            guard i + 4 <= b.count else { return nil }
            let end = i + 2 + (Int(b[i + 2]) << 8 | Int(b[i + 3]))
            guard end >= i + 4, end <= b.count else { return nil }
            if marker == 0xE1 || marker == 0xED || marker == 0xFE {
                let orientation = marker == 0xE1 && !orientationKept ? exifOrientation(b, from: i + 4, to: end) : nil
                if let orientation, b[i..<end].elementsEqual(orientationSegment(orientation)) {
                    // The orientation's own segment, as this makes it: nothing more to take out of it.
                    orientationKept = true
                    i = end
                    continue
                }
                pieces.append(.original(next..<i))
                if let orientation {
                    pieces.append(.new(orientationSegment(orientation)))
                    orientationKept = true
                }
                next = end
                dropped = true
            }
            i = end
        }
        guard dropped else { return nil }
        pieces.append(.original(next..<b.count))
        return pieces.filter { $0.count > 0 }
    }

    /// The orientation (2 to 8) an Exif APP1 payload states in its first image directory; nil for none, for the
    /// default (1, upright) and for anything that is not an Exif payload.
    static func exifOrientation(_ b: UnsafeRawBufferPointer, from start: Int, to end: Int) -> UInt8? {
        let header: [UInt8] = Array("Exif".utf8) + [0, 0]
        guard end - start >= 6 + 8, Array(b[start..<start + 6]) == header else { return nil }
        let tiff = start + 6
        let little: Bool
        switch (b[tiff], b[tiff + 1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= tiff, at + 2 <= end else { return nil }
            return little ? Int(b[at]) | Int(b[at + 1]) << 8 : Int(b[at]) << 8 | Int(b[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let high = u16(little ? at + 2 : at), let low = u16(little ? at : at + 2) else { return nil }
            return high << 16 | low
        }
        guard u16(tiff + 2) == 42, let offset = u32(tiff + 4), offset <= end - tiff,
            let count = u16(tiff + offset)
        else { return nil }
        for entry in 0..<count {
            let at = tiff + offset + 2 + entry * 12
            guard let tag = u16(at) else { return nil }
            // Orientation: tag 0x0112, one SHORT, its value in the entry itself.
            guard tag == 0x0112 else { continue }
            guard u16(at + 2) == 3, u32(at + 4) == 1, let value = u16(at + 8), (2...8).contains(value) else {
                return nil
            }
            return UInt8(value)
        }
        return nil
    }

    /// An APP1 segment holding an Exif with one entry, the orientation: big-endian TIFF, one directory, no next.
    static func orientationSegment(_ orientation: UInt8) -> [UInt8] {
        let payload: [UInt8] =
            Array("Exif".utf8) + [0, 0]
            + [0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08]  // "MM", 42, the directory at offset 8
            + [0x00, 0x01]  // one entry
            + [0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, orientation, 0x00, 0x00]
            + [0x00, 0x00, 0x00, 0x00]  // no next directory
        let length = payload.count + 2
        return [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
    }

    // MARK: PNG

    /// Chunks that hold words, a time or an Exif (PNG 1.2 and the third edition's `eXIf`).
    private static let pngMetadata: Set<String> = ["tEXt", "zTXt", "iTXt", "eXIf", "tIME"]

    private static func png(_ b: UnsafeRawBufferPointer) -> [Piece]? {
        var pieces: [Piece] = []
        var next = 0
        var dropped = false
        var i = 8
        while true {
            guard i + 12 <= b.count else { return nil }  // every chunk up to IEND is whole
            let length = Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
            let type = String(decoding: b[i + 4..<i + 8], as: UTF8.self)
            let end = i + 12 + length
            guard length <= Int(Int32.max), end <= b.count else { return nil }
            if pngMetadata.contains(type) {
                pieces.append(.original(next..<i))
                next = end
                dropped = true
            }
            i = end
            if type == "IEND" { break }
        }
        guard dropped else { return nil }
        pieces.append(.original(next..<b.count))
        return pieces.filter { $0.count > 0 }
    }

    // MARK: WebP

    private static func webp(_ b: UnsafeRawBufferPointer) -> [Piece]? {
        // RIFF, its size (little-endian, of what follows it), WEBP, then chunks: a four-character code, the payload's
        // size, the payload padded to an even length.
        guard b.count >= 12 else { return nil }
        let riffEnd = 8 + (Int(b[4]) | Int(b[5]) << 8 | Int(b[6]) << 16 | Int(b[7]) << 24)
        guard riffEnd <= b.count else { return nil }
        var kept: [Range<Int>] = []
        var dropped = false
        var i = 12
        while i < riffEnd {
            guard i + 8 <= riffEnd else { return nil }
            let type = String(decoding: b[i..<i + 4], as: UTF8.self)
            let size = Int(b[i + 4]) | Int(b[i + 5]) << 8 | Int(b[i + 6]) << 16 | Int(b[i + 7]) << 24
            guard i + 8 + size <= riffEnd else { return nil }
            let end = min(i + 8 + size + (size & 1), riffEnd)
            if type == "EXIF" || type == "XMP " { dropped = true } else { kept.append(i..<end) }
            i = end
        }
        guard dropped else { return nil }
        let body = kept.reduce(4) { $0 + $1.count }
        var pieces: [Piece] = [
            .new(Array("RIFF".utf8) + (0..<4).map { UInt8((body >> ($0 * 8)) & 0xFF) } + Array("WEBP".utf8))
        ]
        for range in kept {
            // VP8X's first payload byte holds the flags: EXIF (0x08) and XMP (0x04) now say there is none.
            if String(decoding: b[range.lowerBound..<range.lowerBound + 4], as: UTF8.self) == "VP8X",
                range.count > 8
            {
                pieces.append(.original(range.lowerBound..<range.lowerBound + 8))
                pieces.append(.new([b[range.lowerBound + 8] & ~0x0C]))
                pieces.append(.original(range.lowerBound + 9..<range.upperBound))
            } else {
                pieces.append(.original(range))
            }
        }
        // Whatever follows the RIFF (nothing, in a well-formed file) stays.
        if riffEnd < b.count { pieces.append(.original(riffEnd..<b.count)) }
        return pieces.filter { $0.count > 0 }
    }
}

extension ImageMetadata.Piece {
    /// Bytes in the piece.
    public var count: Int {
        switch self {
        case .original(let range): range.count
        case .new(let bytes): bytes.count
        }
    }
}
