import Foundation
import NIOCore

/// A `multipart/form-data` body read into its parts (multipart-kit's parser does the framing).
///
/// A part's bytes are a slice of the request's own buffer (no copy) unless the parser hands them over in pieces.
struct MultipartForm {
    struct Part {
        var name: String?
        var fileName: String?
        var contentType: String?
        var bytes: ByteBuffer

        /// The part's bytes as text (for small fields).
        var text: String { String(buffer: bytes) }
    }

    var parts: [Part] = []

    /// The first part with this field name.
    func part(named name: String) -> Part? { parts.first { $0.name == name } }

    /// Parses `body` given the request's `Content-Type`; throws `FeedbackError.malformedMultipart`.
    ///
    /// The framing is read here rather than by multipart-kit's parser, which copies a part's bytes into a new
    /// buffer at every byte equal to the delimiter's first (about every 256th of an image) and walks them one by
    /// one: seconds for a 10 MB upload in a debug build, and a second and third copy of it in memory. Here a part is
    /// a slice of `body`. The rules are multipart-kit 4.7's: a preamble before the first delimiter is skipped, a part
    /// without its closing delimiter is dropped, a header name must be an RFC 822 token, and anything after the
    /// closing delimiter is ignored.
    init(contentType: String?, body: ByteBuffer) throws(FeedbackError) {
        guard let contentType, let boundary = Self.boundary(of: contentType),
            body.withUnsafeReadableBytes({ Self.headersAreASCII($0, boundary: boundary) })
        else { throw .malformedMultipart }
        let ranges = try body.withUnsafeReadableBytes { raw throws(FeedbackError) in
            try Self.frame(raw, boundary: boundary)
        }
        parts = ranges.map { range in
            var part = Part(bytes: body.getSlice(at: body.readerIndex + range.body.lowerBound, length: range.body.count)!)
            for (name, value) in range.headers {
                switch name.lowercased() {
                case "content-disposition":
                    part.name = Self.parameter("name", in: value)
                    part.fileName = Self.parameter("filename", in: value)
                case "content-type":
                    part.contentType = value
                default:
                    break
                }
            }
            return part
        }
    }

    /// Where one part's headers and bytes are in the body.
    struct FramedPart {
        var headers: [(String, String)]
        var body: Range<Int>
    }

    /// The parts of a multipart body (see `init`): their headers, and where their bytes lie.
    static func frame(_ raw: UnsafeRawBufferPointer, boundary: String) throws(FeedbackError) -> [FramedPart] {
        guard let base = raw.baseAddress else { return [] }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let count = raw.count
        let delimiter = Array("\r\n--\(boundary)".utf8)
        // The first delimiter may start the body without its CRLF.
        var position: Int
        if count >= delimiter.count - 2, (2..<delimiter.count).allSatisfy({ bytes[$0 - 2] == delimiter[$0] }) {
            position = delimiter.count - 2
        } else if let found = nextDelimiter(delimiter, in: bytes, count: count, from: 0) {
            position = found + delimiter.count
        } else {
            return []
        }
        var parts: [FramedPart] = []
        while true {
            // After a delimiter: "-" closes the body, CR LF opens a part.
            guard position < count else { return parts }
            if bytes[position] == UInt8(ascii: "-") { return parts }
            guard bytes[position] == 13 else { throw .malformedMultipart }
            guard position + 1 < count else { return parts }
            guard bytes[position + 1] == 10 else { throw .malformedMultipart }
            position += 2
            var headers: [(String, String)] = []
            while true {
                guard let lineEnd = nextCRLF(in: bytes, count: count, from: position) else { return parts }
                if lineEnd == position {
                    position += 2
                    break
                }
                var colon = position
                while colon < lineEnd && bytes[colon] != UInt8(ascii: ":") {
                    guard isTokenByte(bytes[colon]) else { throw .malformedMultipart }
                    colon += 1
                }
                guard colon < lineEnd, colon > position else { throw .malformedMultipart }
                var valueStart = colon + 1
                while valueStart < lineEnd && (bytes[valueStart] == 32 || bytes[valueStart] == 9) { valueStart += 1 }
                let name = String(decoding: UnsafeBufferPointer(start: bytes + position, count: colon - position), as: UTF8.self)
                let value = String(
                    decoding: UnsafeBufferPointer(start: bytes + valueStart, count: lineEnd - valueStart), as: UTF8.self)
                headers.append((name, value))
                position = lineEnd + 2
            }
            guard let end = nextDelimiter(delimiter, in: bytes, count: count, from: position) else { return parts }
            parts.append(FramedPart(headers: headers, body: position..<end))
            position = end + delimiter.count
        }
    }

    /// Where `delimiter` (CR LF `--BOUNDARY`, no CR after its first byte) first occurs at or after `from`: `memchr`
    /// for each CR, compared forwards from there (a match never spans another CR, so the scan stays linear).
    static func nextDelimiter(_ delimiter: [UInt8], in bytes: UnsafePointer<UInt8>, count: Int, from: Int) -> Int? {
        var position = from
        while let hit = nextByte(13, in: bytes, count: count, from: position) {
            guard hit + delimiter.count <= count else { return nil }
            var i = 1
            while i < delimiter.count && bytes[hit + i] == delimiter[i] { i += 1 }
            if i == delimiter.count { return hit }
            position = hit + 1
        }
        return nil
    }

    /// An RFC 822 token byte: printable ASCII but the specials.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        guard byte > 32 && byte < 127 else { return false }
        return !Array(#"()<>@,;:\"/[]?={}"#.utf8).contains(byte)
    }

    /// Whether every part-header name is ASCII, which multipart-kit's parser needs: through 4.7 it looks each
    /// header-name byte up in a 128-entry table and traps (a crash of the whole service, from one unauthenticated
    /// upload) on a byte of 0x80 or more. Values may hold UTF-8 (browsers send file names that way).
    ///
    /// Its header parsing only ever begins right after `--BOUNDARY` and a CRLF, so every such place is checked up to
    /// the next blank line (a superset of where it will read headers), each line up to its first colon.
    ///
    /// Linear in the body and fast on a 10 MB upload even in a debug build: `memchr` finds each LF, and only there
    /// is the opening compared (backwards, and a boundary never holds a CR or LF, so no byte is compared twice
    /// except at a mismatch). A header block that an earlier opening's block already covered is not scanned again,
    /// so a body of nothing but openings stays linear too.
    static func headersAreASCII(_ body: UnsafeRawBufferPointer, boundary: String) -> Bool {
        guard let base = body.baseAddress, !body.isEmpty else { return true }
        let opening = Array("--\(boundary)\r\n".utf8)
        // A boundary holding CR or LF cannot come from a header value; refuse it rather than reason about it.
        if opening.dropLast(2).contains(where: { $0 == 13 || $0 == 10 }) { return false }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let count = body.count
        var offset = 0
        // End of the header block last checked: a later opening inside it needs no second look.
        var checkedEnd = -1
        while let found = nextOpening(opening, in: bytes, count: count, from: offset) {
            let start = found + opening.count
            offset = start
            // From the opening's own CRLF, so an empty header block ("--b\r\n\r\n") ends at once.
            if start - 2 < checkedEnd { continue }
            let end = nextBlankLine(in: bytes, count: count, from: start - 2) ?? count
            checkedEnd = end
            var lineStart = start
            while lineStart < end {
                let lineEnd = nextCRLF(in: bytes, count: count, from: lineStart).map { min($0, end) } ?? end
                // The name is everything before the line's first colon (the whole line when it has none).
                var index = lineStart
                while index < lineEnd && bytes[index] != UInt8(ascii: ":") {
                    if bytes[index] >= 0x80 { return false }
                    index += 1
                }
                lineStart = lineEnd + 2
            }
        }
        return true
    }

    /// Where `opening` (`--BOUNDARY` CR LF, no CR or LF before its end) first occurs at or after `from`.
    static func nextOpening(_ opening: [UInt8], in bytes: UnsafePointer<UInt8>, count: Int, from: Int) -> Int? {
        var lf = from + opening.count - 1
        while lf < count, let hit = nextByte(10, in: bytes, count: count, from: lf) {
            let start = hit - opening.count + 1
            var matched = true
            var i = opening.count - 2
            while i >= 0 {
                if bytes[start + i] != opening[i] { matched = false; break }
                i -= 1
            }
            if matched { return start }
            lf = hit + 1
        }
        return nil
    }

    /// Where CR LF CR LF first occurs at or after `from`.
    static func nextBlankLine(in bytes: UnsafePointer<UInt8>, count: Int, from: Int) -> Int? {
        var lf = max(from, 0) + 3
        while lf < count, let hit = nextByte(10, in: bytes, count: count, from: lf) {
            if bytes[hit - 1] == 13 && bytes[hit - 2] == 10 && bytes[hit - 3] == 13 { return hit - 3 }
            lf = hit + 1
        }
        return nil
    }

    /// Where CR LF first occurs at or after `from`.
    static func nextCRLF(in bytes: UnsafePointer<UInt8>, count: Int, from: Int) -> Int? {
        var lf = max(from, 0) + 1
        while lf < count, let hit = nextByte(10, in: bytes, count: count, from: lf) {
            if bytes[hit - 1] == 13 { return hit - 1 }
            lf = hit + 1
        }
        return nil
    }

    /// `memchr`: where `byte` first occurs at or after `from`.
    static func nextByte(_ byte: UInt8, in bytes: UnsafePointer<UInt8>, count: Int, from: Int) -> Int? {
        guard from >= 0, from < count, let hit = memchr(bytes + from, Int32(byte), count - from) else { return nil }
        return bytes.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    static func boundary(of contentType: String) -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard pieces.first?.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() where piece.lowercased().hasPrefix("boundary=") {
            var value = String(piece.dropFirst("boundary=".count))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty || value.count > 200 ? nil : value
        }
        return nil
    }

    static func parameter(_ name: String, in header: String) -> String? {
        for piece in header.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let pair = piece.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].lowercased() == name else { continue }
            var value = String(pair[1])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }
}
