import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Takes out of an uploaded image what it tells about a person beyond its pixels: where and when a photo was taken
/// (a phone's GPS position and clock), with which device, by whom. A photo attached to feedback would otherwise hand
/// the sender's location to everyone who opens its link.
///
/// - JPEG: every application segment but the three a decoder reads (APP0's JFIF, APP2's colour profile, APP14's
///   Adobe colour transform), and comments: Exif and XMP (APP1), Photoshop's IPTC (APP13), a GoPro's GPS track
///   (APP6), a camera's owner and time (APP12) and whatever else a device writes there. Exif's orientation alone is
///   kept, in a new Exif segment of its own where the old one was, so that a photo taken upright stays upright.
/// - PNG: every ancillary chunk but those that say how to draw the pixels (transparency, colour space and profile,
///   gamma, background, pixel size, animation): text (`tEXt`, `zTXt`, `iTXt`), `eXIf`, `tIME` and any private
///   chunk a program writes.
/// - WebP: every chunk but the image's own (`VP8 `, `VP8L`, `VP8X`, `ALPH`, `ANIM`, `ANMF`, `ICCP`): `EXIF`,
///   `XMP ` and unknown ones, with their flags in `VP8X` and the RIFF size made to match.
/// - GIF: comments, and application extensions other than looping and colour profiles (XMP among them).
/// - Anything after the image's end (JPEG's end-of-image, PNG's `IEND`, the RIFF, GIF's trailer): a phone's further
///   pictures, a motion photo's video and sound, or anything appended; with JPEG's `MPF` segment that points there.
/// - HEIC/HEIF and AVIF: the `Exif` and XMP items `meta` lists are blanked where they lie (`heif`), since their
///   places are recorded elsewhere in the file.
/// - TIFF: the values of the fields that say who, where, when and with what, and the Exif and GPS directories, are
///   blanked where they lie (`tiff`), for the same reason.
///
/// Pixels, colour profiles and everything else a decoder reads stay byte for byte: JPEG, PNG and WebP keep what is
/// on a list of what decoders read (a list of what to take out let a GoPro's GPS segment and a program's private
/// PNG chunk through, found by a review). BMP carries no such fields a browser or camera writes.
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
        case "image/gif": gif(bytes)
        case "image/heic", "image/heif", "image/avif": heif(bytes)
        case "image/tiff": tiff(bytes)
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
            if marker == 0xE1 || marker == 0xFE || ((0xE0...0xEF).contains(marker) && !jpegSegmentKept(b, i, end)) {
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
        // After the image's end: a phone's further pictures (depth maps), a motion photo's video and sound, or
        // anything appended. Kept when the end is not found (a file cut short).
        let imageEnd = jpegEnd(b, from: i) ?? b.count
        guard dropped || imageEnd < b.count else { return nil }
        pieces.append(.original(next..<imageEnd))
        return pieces.filter { $0.count > 0 }
    }

    /// Whether the application segment at `start` (its marker there, its payload from `start + 4` to `end`) is one a
    /// decoder reads: JFIF (APP0), a colour profile (APP2's `ICC_PROFILE`; not its `MPF`, the places of further
    /// pictures after the image's end, which go with them), Adobe's colour transform (APP14).
    private static func jpegSegmentKept(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        func startsWith(_ text: String) -> Bool {
            let prefix = Array(text.utf8)
            return end - (start + 4) >= prefix.count && b[start + 4..<start + 4 + prefix.count].elementsEqual(prefix)
        }
        switch b[start + 1] {
        case 0xE0: return startsWith("JFIF\u{0}")
        case 0xE2: return startsWith("ICC_PROFILE\u{0}")
        case 0xEE: return startsWith("Adobe")
        default: return false
        }
    }

    /// Just past the end-of-image marker of the image whose first scan (or end) is at `start`: the scans'
    /// entropy-coded data is passed over (a 0xFF in it is followed by 0x00, or is a restart marker), the segments
    /// between scans by their lengths. Nil when the data ends first.
    static func jpegEnd(_ b: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i + 1 < b.count {
            guard b[i] == 0xFF else { i += 1; continue }
            let marker = b[i + 1]
            switch marker {
            case 0xD9:
                return i + 2
            case 0x00, 0xFF, 0x01, 0xD0...0xD7:
                i += marker == 0xFF ? 1 : 2  // stuffed, fill, or restart: still inside the data
            default:
                // A segment between scans (the next scan's header, its tables): passed over by its length.
                guard i + 4 <= b.count else { return nil }
                let end = i + 2 + (Int(b[i + 2]) << 8 | Int(b[i + 3]))
                guard end >= i + 4, end <= b.count else { return nil }
                i = end
            }
        }
        return nil
    }

    /// The orientation (2 to 8) an Exif APP1 payload states in its first image directory; nil for none, for the
    /// default (1, upright) and for anything that is not an Exif payload.
    static func exifOrientation(_ b: UnsafeRawBufferPointer, from start: Int, to end: Int) -> UInt8? {
        let header: [UInt8] = Array("Exif".utf8) + [0, 0]
        guard end - start >= 6 + 8, Array(b[start..<start + 6]) == header,
            let tiff = TIFFReader(b, at: start + 6, end: end), let directory = tiff.firstDirectory,
            let count = tiff.u16(directory)
        else { return nil }
        for entry in 0..<count {
            let at = directory + 2 + entry * 12
            guard let tag = tiff.u16(at) else { return nil }
            // Orientation: tag 0x0112, one SHORT, its value in the entry itself.
            guard tag == 0x0112 else { continue }
            guard tiff.u16(at + 2) == 3, tiff.u32(at + 4) == 1, let value = tiff.u16(at + 8), (2...8).contains(value)
            else { return nil }
            return UInt8(value)
        }
        return nil
    }

    /// A TIFF structure (an Exif payload is one) of either byte order, read no further than its bounds: its header
    /// at `origin`, offsets in it counted from there.
    struct TIFFReader {
        let b: UnsafeRawBufferPointer
        let origin: Int
        let end: Int
        let little: Bool

        /// Nil unless `origin` starts a TIFF header ("II" or "MM", then 42) that fits before `end`.
        init?(_ b: UnsafeRawBufferPointer, at origin: Int, end: Int) {
            guard origin >= 0, end <= b.count, end - origin >= 8 else { return nil }
            switch (b[origin], b[origin + 1]) {
            case (0x49, 0x49): little = true
            case (0x4D, 0x4D): little = false
            default: return nil
            }
            (self.b, self.origin, self.end) = (b, origin, end)
            guard u16(origin + 2) == 42 else { return nil }
        }

        /// The 16-bit number at `at` (a position in `b`), nil outside the bounds.
        func u16(_ at: Int) -> Int? {
            guard at >= origin, at <= end - 2 else { return nil }
            return little ? Int(b[at]) | Int(b[at + 1]) << 8 : Int(b[at]) << 8 | Int(b[at + 1])
        }

        /// The 32-bit number at `at`, nil outside the bounds.
        func u32(_ at: Int) -> Int? {
            guard let first = u16(at), let second = u16(at + 2) else { return nil }
            return little ? second << 16 | first : first << 16 | second
        }

        /// Where the first directory starts, as a position in `b`; nil when the header's offset points past the end.
        var firstDirectory: Int? {
            guard let offset = u32(origin + 4), offset <= end - origin else { return nil }
            return origin + offset
        }
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

    /// The ancillary chunks kept: what a decoder reads to draw the pixels (PNG 1.2, the third edition's colour and
    /// HDR chunks, APNG's animation). Critical chunks (an upper-case first letter) are all kept.
    private static let pngAncillaryKept: Set<String> = [
        "tRNS", "gAMA", "cHRM", "sRGB", "iCCP", "sBIT", "bKGD", "pHYs", "hIST", "cICP", "mDCV", "mDCv", "cLLI", "cLLi",
        "acTL", "fcTL", "fdAT",
    ]

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
            if b[i + 4] & 0x20 != 0, !pngAncillaryKept.contains(type) {
                pieces.append(.original(next..<i))
                next = end
                dropped = true
            }
            i = end
            if type == "IEND" { break }
        }
        // Nothing after IEND is part of the image.
        guard dropped || i < b.count else { return nil }
        pieces.append(.original(next..<i))
        return pieces.filter { $0.count > 0 }
    }

    // MARK: GIF

    /// Application extensions a decoder uses: looping (Netscape's and its twin) and a colour profile.
    private static let gifApplicationsKept: Set<String> = ["NETSCAPE2.0", "ANIMEXTS1.0", "ICCRGBG1012"]

    private static func gif(_ b: UnsafeRawBufferPointer) -> [Piece]? {
        // The header (6) and the logical screen (7), then the global colour table when its flag says so.
        guard b.count >= 13 else { return nil }
        var i = 13 + (b[10] & 0x80 != 0 ? 3 << (Int(b[10] & 0x07) + 1) : 0)
        /// Passes over a run of sub-blocks (a length byte, that many bytes) ended by an empty one.
        func subBlocks(from start: Int) -> Int? {
            var at = start
            while at < b.count {
                let length = Int(b[at])
                if length == 0 { return at + 1 }
                at += 1 + length
            }
            return nil
        }
        var pieces: [Piece] = []
        var next = 0
        var dropped = false
        while true {
            guard i < b.count else { return nil }  // no trailer: cut short
            switch b[i] {
            case 0x3B:  // the trailer: nothing after it is part of the image
                guard dropped || i + 1 < b.count else { return nil }
                pieces.append(.original(next..<i + 1))
                return pieces.filter { $0.count > 0 }
            case 0x2C:  // an image: its descriptor, its local colour table, the code size, its data
                guard i + 10 <= b.count else { return nil }
                let table = b[i + 9] & 0x80 != 0 ? 3 << (Int(b[i + 9] & 0x07) + 1) : 0
                guard let end = subBlocks(from: i + 10 + table + 1) else { return nil }
                i = end
            case 0x21:  // an extension: its label, then sub-blocks
                guard i + 2 < b.count, let end = subBlocks(from: i + 2) else { return nil }
                let label = b[i + 1]
                var drop = label == 0xFE  // a comment
                if label == 0xFF {
                    let id = i + 3 + 11 <= end ? String(decoding: b[i + 3..<i + 3 + 11], as: UTF8.self) : ""
                    drop = !gifApplicationsKept.contains(id)
                }
                if drop {
                    pieces.append(.original(next..<i))
                    next = end
                    dropped = true
                }
                i = end
            default:
                return nil
            }
        }
    }

    // MARK: WebP

    /// The image's own chunks: its data (lossy, lossless, alpha, animation frames), the extended header, the
    /// animation's parameters and the colour profile.
    private static let webpChunksKept: Set<String> = ["VP8 ", "VP8L", "VP8X", "ALPH", "ANIM", "ANMF", "ICCP"]

    private static func webp(_ b: UnsafeRawBufferPointer) -> [Piece]? {
        // RIFF, its size (little-endian, of what follows it), WEBP, then chunks: a four-character code, the payload's
        // size, the payload padded to an even length.
        guard b.count >= 12 else { return nil }
        let declaredEnd = 8 + (Int(b[4]) | Int(b[5]) << 8 | Int(b[6]) << 16 | Int(b[7]) << 24)
        /// The chunks up to `riffEnd`, the kept and whether any was not; nil when one is cut short or none holds the
        /// image's data.
        func walk(to riffEnd: Int) -> (kept: [Range<Int>], dropped: Bool)? {
            var kept: [Range<Int>] = []
            var dropped = false
            var i = 12
            while i < riffEnd {
                guard i + 8 <= riffEnd else { return nil }
                let type = String(decoding: b[i..<i + 4], as: UTF8.self)
                let size = Int(b[i + 4]) | Int(b[i + 5]) << 8 | Int(b[i + 6]) << 16 | Int(b[i + 7]) << 24
                guard i + 8 + size <= riffEnd else { return nil }
                let end = min(i + 8 + size + (size & 1), riffEnd)
                if webpChunksKept.contains(type) { kept.append(i..<end) } else { dropped = true }
                i = end
            }
            let image = kept.contains {
                ["VP8 ", "VP8L", "ANMF"].contains(String(decoding: b[$0.lowerBound..<$0.lowerBound + 4], as: UTF8.self))
            }
            return image ? (kept, dropped) : nil
        }
        var riffEnd = declaredEnd
        var walked = riffEnd <= b.count ? walk(to: riffEnd) : nil
        var sizeWrong = false
        if walked == nil, declaredEnd < b.count {
            // A RIFF size that ends before the image's data (0, what a writer that cannot seek back leaves): the file
            // was cut at it, to 8 or 12 bytes of header with the upload's answer giving its size (found by a review).
            // The chunks are read to the file's end instead, and the size written anew.
            riffEnd = b.count
            walked = walk(to: riffEnd)
            sizeWrong = true
        }
        guard let (kept, droppedAny) = walked else { return nil }
        let dropped = droppedAny || sizeWrong
        // Nothing after the RIFF is part of the image.
        guard dropped || riffEnd < b.count else { return nil }
        guard dropped else { return [.original(0..<riffEnd)] }
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
        return pieces.filter { $0.count > 0 }
    }
}

// MARK: HEIF and AVIF

extension ImageMetadata {
    /// What an item that tells about a person is blanked with.
    private enum Blanked {
        /// An Exif item: an empty Exif (its TIFF header, one directory with no entries), then zeros.
        case exif
        /// An XMP packet (a `mime` item of `application/rdf+xml`): spaces.
        case xmp

        func bytes(_ count: Int) -> [UInt8] {
            switch self {
            case .xmp:
                return [UInt8](repeating: 0x20, count: count)
            case .exif:
                let empty: [UInt8] =
                    [0, 0, 0, 6] + Array("Exif".utf8) + [0, 0]  // the TIFF header's offset, past the "Exif" mark
                    + [0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08]  // "MM", 42, the directory at offset 8
                    + [0x00, 0x00, 0x00, 0x00, 0x00, 0x00]  // no entries, no next directory
                guard count >= empty.count else { return [UInt8](repeating: 0, count: count) }
                return empty + [UInt8](repeating: 0, count: count - empty.count)
            }
        }
    }

    /// HEIC/HEIF and AVIF (the ISO base media file format): the `Exif` items and the XMP ones that `meta`'s `iinf`
    /// lists are overwritten in place, at the extents `iloc` gives them (in the file, usually in `mdat`, or in
    /// `meta`'s own `idat`). Nothing moves, so every offset the file records stays true; these formats keep an
    /// image's rotation in its properties (`irot`, `imir`), not in Exif, so a photo stays upright. Nil when there is no
    /// such item, when every one is blank already, or when a box it reads is cut short, inconsistent or of a kind
    /// this does not follow (an item in another file, extents that overlap): such a file is stored as sent.
    static func heif(_ b: UnsafeRawBufferPointer) -> [Piece]? {
        guard let meta = box("meta", in: b, b.startIndex..<b.endIndex), meta.count >= 4 else { return nil }
        let children = meta.lowerBound + 4..<meta.upperBound  // `meta` is a full box: a version and flags first
        guard let iinf = box("iinf", in: b, children), let iloc = box("iloc", in: b, children),
            let blanked = blankedItems(b, iinf), !blanked.isEmpty,
            let places = extents(b, iloc, of: blanked, idat: box("idat", in: b, children))
        else { return nil }
        var writes: [(range: Range<Int>, bytes: ArraySlice<UInt8>)] = []
        for (item, ranges) in places {
            let total = ranges.reduce(0) { $0 + $1.count }
            let bytes = blanked[item, default: .exif].bytes(total)
            var at = 0
            for range in ranges {
                writes.append((range, bytes[at..<at + range.count]))
                at += range.count
            }
        }
        writes.sort { $0.range.lowerBound < $1.range.lowerBound }
        guard zip(writes, writes.dropFirst()).allSatisfy({ $0.range.upperBound <= $1.range.lowerBound }),
            writes.contains(where: { !b[$0.range].elementsEqual($0.bytes) })
        else { return nil }
        var pieces: [Piece] = []
        var next = 0
        for write in writes {
            pieces.append(.original(next..<write.range.lowerBound))
            pieces.append(.new(Array(write.bytes)))
            next = write.range.upperBound
        }
        pieces.append(.original(next..<b.count))
        return pieces.filter { $0.count > 0 }
    }

    /// A big-endian unsigned integer of `size` bytes (0, 2, 4 or 8) at `at`, read no further than `end`.
    private static func be(_ b: UnsafeRawBufferPointer, _ at: Int, _ size: Int, end: Int) -> Int? {
        guard [0, 2, 4, 8].contains(size), at >= 0, at <= end - size else { return nil }
        var value: UInt64 = 0
        for i in 0..<size { value = value << 8 | UInt64(b[at + i]) }
        return value <= UInt64(Int.max) ? Int(value) : nil
    }

    /// The payload of the first box of `type` among the boxes that fill `range`: nil when there is none, or when a
    /// box before it does not fit.
    private static func box(_ type: String, in b: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int>? {
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            guard let (boxType, payload) = boxAt(i, in: b, end: range.upperBound) else { return nil }
            if boxType == type { return payload }
            i = payload.upperBound
        }
        return nil
    }

    /// The box at `at`: its type and its payload's range, which ends no further than `end`.
    private static func boxAt(_ at: Int, in b: UnsafeRawBufferPointer, end: Int) -> (String, Range<Int>)? {
        guard at >= 0, at <= end - 8, var size = be(b, at, 4, end: end) else { return nil }
        let type = String(decoding: b[at + 4..<at + 8], as: UTF8.self)
        var header = 8
        if size == 1 {
            guard let large = be(b, at + 8, 8, end: end) else { return nil }
            (size, header) = (large, 16)
        } else if size == 0 {
            size = end - at  // to the end of the enclosing box
        }
        guard size >= header, size <= end - at else { return nil }
        return (type, at + header..<at + size)
    }

    /// The ids of the items `iinf` (its payload) lists as Exif or XMP, and what each is blanked with.
    private static func blankedItems(_ b: UnsafeRawBufferPointer, _ iinf: Range<Int>) -> [Int: Blanked]? {
        let end = iinf.upperBound
        guard iinf.count >= 4 else { return nil }
        let wide = b[iinf.lowerBound] != 0
        guard let count = be(b, iinf.lowerBound + 4, wide ? 4 : 2, end: end) else { return nil }
        var i = iinf.lowerBound + 4 + (wide ? 4 : 2)
        var items: [Int: Blanked] = [:]
        for _ in 0..<count {
            guard let (type, infe) = boxAt(i, in: b, end: end), type == "infe", infe.count >= 4 else { return nil }
            i = infe.upperBound
            let version = b[infe.lowerBound]
            guard version >= 2 else { continue }  // versions 0 and 1 name no item type
            let idSize = version == 2 ? 2 : 4
            guard let id = be(b, infe.lowerBound + 4, idSize, end: infe.upperBound) else { return nil }
            let typeAt = infe.lowerBound + 4 + idSize + 2  // past the protection index
            guard typeAt + 4 <= infe.upperBound else { return nil }
            switch String(decoding: b[typeAt..<typeAt + 4], as: UTF8.self) {
            case "Exif":
                items[id] = .exif
            case "mime":
                // The item's name, then its content type, each ended by a NUL.
                let strings = b[typeAt + 4..<infe.upperBound].split(separator: 0, omittingEmptySubsequences: false)
                if strings.count >= 2, strings[1].elementsEqual("application/rdf+xml".utf8) { items[id] = .xmp }
            default:
                continue
            }
        }
        return items
    }

    /// Where the bytes of each of `items` lie in the file, extent by extent, from `iloc` (its payload); nil when one
    /// of them lies elsewhere than in this file or `idat`, or a field is out of bounds.
    private static func extents(
        _ b: UnsafeRawBufferPointer, _ iloc: Range<Int>, of items: [Int: Blanked], idat: Range<Int>?
    ) -> [Int: [Range<Int>]]? {
        let end = iloc.upperBound
        guard iloc.count >= 6 else { return nil }
        let version = b[iloc.lowerBound]
        guard version <= 2 else { return nil }
        let sizes = (b[iloc.lowerBound + 4], b[iloc.lowerBound + 5])
        let (offsetSize, lengthSize) = (Int(sizes.0 >> 4), Int(sizes.0 & 0x0F))
        let (baseSize, indexSize) = (Int(sizes.1 >> 4), version >= 1 ? Int(sizes.1 & 0x0F) : 0)
        let idSize = version < 2 ? 2 : 4
        // Every extent has its length here (a length of 0 bytes would mean "to the end", not followed), so each
        // extent read moves on, and a count cannot make this loop longer than the box.
        guard lengthSize > 0 else { return nil }
        var i = iloc.lowerBound + 6
        guard let count = be(b, i, idSize, end: end) else { return nil }
        i += idSize
        var places: [Int: [Range<Int>]] = [:]
        for _ in 0..<count {
            guard let id = be(b, i, idSize, end: end) else { return nil }
            i += idSize
            var method = 0
            if version >= 1 {
                guard let field = be(b, i, 2, end: end) else { return nil }
                method = field & 0x0F
                i += 2
            }
            guard let reference = be(b, i, 2, end: end), let base = be(b, i + 2, baseSize, end: end),
                let extentCount = be(b, i + 2 + baseSize, 2, end: end)
            else { return nil }
            i += 2 + baseSize + 2
            var ranges: [Range<Int>] = []
            for _ in 0..<extentCount {
                i += indexSize
                guard let offset = be(b, i, offsetSize, end: end), let length = be(b, i + offsetSize, lengthSize, end: end)
                else { return nil }
                i += offsetSize + lengthSize
                guard length <= Int.max - offset else { return nil }
                ranges.append(offset..<offset + length)
            }
            guard items[id] != nil else { continue }
            // In this file (no data reference), at file offsets or within `idat`; a length of 0 ("to the end")
            // is not followed.
            let container: Range<Int>
            switch (reference, method, idat) {
            case (0, 0, _): container = b.startIndex..<b.endIndex
            case (0, 1, let idat?): container = idat
            default: return nil
            }
            var placed: [Range<Int>] = []
            for range in ranges {
                guard range.count > 0, range.lowerBound <= Int.max - base - container.lowerBound else { return nil }
                let start = container.lowerBound + base + range.lowerBound
                guard range.count <= container.upperBound - start, start >= container.lowerBound else { return nil }
                placed.append(start..<start + range.count)
            }
            places[id] = placed
        }
        return places
    }
}

// MARK: TIFF

extension ImageMetadata {
    /// Fields of a TIFF's image directories that say who made it, where, when or with what, and none of how to draw
    /// it: the description, make, model, software, date, artist, host computer, copyright, XMP, IPTC, Photoshop's
    /// resources and Windows' title, comment, author, keywords and subject.
    private static let tiffPersonalTags: Set<Int> = [
        270, 271, 272, 305, 306, 315, 316, 33432, 700, 33723, 34377, 40091, 40092, 40093, 40094, 40095,
    ]
    /// Fields that point to directories holding only such things: Exif's (with the time, the camera's serial and its
    /// maker's notes), GPS's, and Exif's interoperability directory.
    private static let tiffSubdirectoryTags: Set<Int> = [34665, 34853, 40965]

    /// TIFF: the values of `tiffPersonalTags` in every image directory, and the directories `tiffSubdirectoryTags`
    /// point to (each entry's value, then the directory itself, which reads as one without entries), are zeroed
    /// where they lie. Nothing moves, so every offset the file records stays true, and the orientation stays. Nil
    /// when there is nothing to blank, or when a directory or a value it would blank does not fit in the file
    /// (BigTIFF included): such a file is stored as sent.
    static func tiff(_ b: UnsafeRawBufferPointer) -> [Piece]? {
        guard let reader = TIFFReader(b, at: 0, end: b.count) else { return nil }
        let (u16, u32) = (reader.u16, reader.u32)
        /// An entry's value: where its bytes lie (in the entry itself when they fit in four), and the first
        /// 32-bit number in it (a directory's offset, for a pointer).
        func value(ofEntryAt entry: Int) -> (range: Range<Int>, first: Int?)? {
            guard let type = u16(entry + 2), let count = u32(entry + 4) else { return nil }
            let sizes = [1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4]
            guard let size = sizes[type], count <= b.count / size else { return nil }
            let length = size * count
            let start = length <= 4 ? entry + 8 : u32(entry + 8)
            guard let start, start <= b.count - length else { return nil }
            return (start..<start + length, type == 4 || type == 13 ? u32(start) : nil)
        }
        /// A directory's entries' offsets and its whole extent (the count, the entries, the next directory's offset).
        func directory(at offset: Int) -> (entries: [Int], extent: Range<Int>)? {
            guard let count = u16(offset), offset + 2 + count * 12 + 4 <= b.count else { return nil }
            return ((0..<count).map { offset + 2 + $0 * 12 }, offset..<offset + 2 + count * 12 + 4)
        }
        guard var next = u32(4) else { return nil }
        var blanks: [Range<Int>] = []
        var seen = Set<Int>()
        /// Blanks a sub-directory: every value of its entries, the directories they point to (two levels at most),
        /// then the directory.
        func blankDirectory(at offset: Int, depth: Int) -> Bool {
            guard depth <= 2, seen.insert(offset).inserted else { return depth <= 2 }
            guard let (entries, extent) = directory(at: offset) else { return false }
            for entry in entries {
                guard let tag = u16(entry), let (range, first) = value(ofEntryAt: entry) else { return false }
                if tiffSubdirectoryTags.contains(tag), let first, !blankDirectory(at: first, depth: depth + 1) {
                    return false
                }
                if range.lowerBound >= entry + 12 || range.upperBound <= entry { blanks.append(range) }
            }
            blanks.append(extent)
            return true
        }
        // The image directories, in their chain (at most 64, each once).
        while next != 0, seen.count < 64 {
            guard seen.insert(next).inserted, let (entries, extent) = directory(at: next) else { return nil }
            for entry in entries {
                guard let tag = u16(entry) else { return nil }
                if tiffPersonalTags.contains(tag) {
                    guard let (range, _) = value(ofEntryAt: entry) else { return nil }
                    blanks.append(range)
                } else if tiffSubdirectoryTags.contains(tag) {
                    guard let (_, first) = value(ofEntryAt: entry), let first, blankDirectory(at: first, depth: 1)
                    else { return nil }
                }
            }
            guard let following = u32(extent.upperBound - 4) else { return nil }
            next = following
        }
        // Ranges in order, those that touch or overlap made one; nothing to do when all are zero already.
        var merged: [Range<Int>] = []
        for range in blanks.filter({ !$0.isEmpty }).sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        guard merged.contains(where: { b[$0].contains { $0 != 0 } }) else { return nil }
        var pieces: [Piece] = []
        var at = 0
        for range in merged {
            pieces.append(.original(at..<range.lowerBound))
            pieces.append(.new([UInt8](repeating: 0, count: range.count)))
            at = range.upperBound
        }
        pieces.append(.original(at..<b.count))
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
