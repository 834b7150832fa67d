import Foundation
import NIOCore

/// A `multipart/form-data` body read whole into its parts, through `MultipartStream` (one framing for both).
///
/// A part's bytes are a slice of the request's own buffer (no copy). The rules are multipart-kit 4.7's, whose parser
/// this replaced (it copied a part's bytes into a new buffer at every byte equal to the delimiter's first, about
/// every 256th of an image, and walked them one by one: seconds for a 10 MB upload in a debug build): a preamble
/// before the first delimiter is skipped, a part without its closing delimiter is dropped, a header name must be an
/// RFC 822 token, and anything after the closing delimiter is ignored.
struct MultipartForm {
    struct Part {
        /// What a part's headers say.
        struct Headers {
            var name: String?
            var fileName: String?
            var contentType: String?

            /// Takes in one header line (names are case-insensitive; others are ignored).
            mutating func add(name: String, value: String) {
                switch name.lowercased() {
                case "content-disposition":
                    self.name = MultipartForm.parameter("name", in: value)
                    fileName = MultipartForm.parameter("filename", in: value)
                case "content-type":
                    contentType = value
                default:
                    break
                }
            }
        }

        var headers: Headers
        var bytes: ByteBuffer

        var name: String? { headers.name }
        var fileName: String? { headers.fileName }
        var contentType: String? { headers.contentType }
        /// The part's bytes as text (for small fields).
        var text: String { String(buffer: bytes) }
    }

    var parts: [Part] = []

    /// The first part with this field name.
    func part(named name: String) -> Part? { parts.first { $0.name == name } }

    /// Parses `body` given the request's `Content-Type`; throws `FeedbackError.malformedMultipart`.
    init(contentType: String?, body: ByteBuffer) throws(FeedbackError) {
        guard let contentType, let boundary = Self.boundary(of: contentType) else { throw .malformedMultipart }
        var stream = MultipartStream(boundary: boundary)
        var current: Part?
        var parts: [Part] = []
        do {
            try stream.consume(body) { event in
                switch event {
                case .partBegan(let headers): current = Part(headers: headers, bytes: ByteBuffer())
                case .bytes(var bytes):
                    // One chunk: a part's bytes come as one slice, unless a CR near its end made the stream wait.
                    if current?.bytes.readableBytes == 0 { current?.bytes = bytes } else { current?.bytes.writeBuffer(&bytes) }
                case .partEnded:
                    if let part = current { parts.append(part) }
                    current = nil
                }
            }
        } catch {
            throw .malformedMultipart
        }
        self.parts = parts
    }

    /// One part-header line: an RFC 822 token, a colon, and the value after any spaces or tabs; nil for anything
    /// else.
    static func headerLine(_ line: UnsafeRawBufferPointer) -> (name: String, value: String)? {
        var colon = 0
        while colon < line.count && line[colon] != UInt8(ascii: ":") {
            guard isTokenByte(line[colon]) else { return nil }
            colon += 1
        }
        guard colon < line.count, colon > 0 else { return nil }
        var valueStart = colon + 1
        while valueStart < line.count && (line[valueStart] == 32 || line[valueStart] == 9) { valueStart += 1 }
        return (
            String(decoding: UnsafeRawBufferPointer(rebasing: line[..<colon]), as: UTF8.self),
            String(decoding: UnsafeRawBufferPointer(rebasing: line[valueStart...]), as: UTF8.self)
        )
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
