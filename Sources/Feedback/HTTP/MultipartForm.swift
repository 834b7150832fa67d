import Foundation
import MultipartKit
import NIOCore

/// A `multipart/form-data` body read into its parts (multipart-kit's parser does the framing).
struct MultipartForm {
    struct Part {
        var name: String?
        var fileName: String?
        var contentType: String?
        var bytes: [UInt8]
    }

    var parts: [Part] = []

    /// The first part with this field name.
    func part(named name: String) -> Part? { parts.first { $0.name == name } }

    /// Parses `body` given the request's `Content-Type`; throws `FeedbackError.malformedMultipart`.
    init(contentType: String?, body: [UInt8]) throws(FeedbackError) {
        guard let contentType, let boundary = Self.boundary(of: contentType),
            body.withUnsafeBytes({ Self.headersAreASCII($0, boundary: boundary) })
        else { throw .malformedMultipart }
        let parser = MultipartParser(boundary: boundary)
        var current = Part(bytes: [])
        var collected: [Part] = []
        parser.onHeader = { name, value in
            switch name.lowercased() {
            case "content-disposition":
                current.name = Self.parameter("name", in: value)
                current.fileName = Self.parameter("filename", in: value)
            case "content-type":
                current.contentType = value
            default:
                break
            }
        }
        parser.onBody = { buffer in
            current.bytes.append(contentsOf: buffer.readableBytesView)
        }
        parser.onPartComplete = {
            collected.append(current)
            current = Part(bytes: [])
        }
        do {
            try parser.execute(body)
        } catch {
            throw .malformedMultipart
        }
        parts = collected
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
