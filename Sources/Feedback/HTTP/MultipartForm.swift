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
    static func headersAreASCII(_ body: UnsafeRawBufferPointer, boundary: String) -> Bool {
        let opening = Array("--\(boundary)\r\n".utf8)
        let blankLine: [UInt8] = [13, 10, 13, 10]
        var offset = 0
        while let found = firstIndex(of: opening, in: body, from: offset) {
            let start = found + opening.count
            // From the opening's own CRLF, so an empty header block ("--b\r\n\r\n") ends at once.
            let end = firstIndex(of: blankLine, in: body, from: start - 2) ?? body.count
            var lineStart = start
            while lineStart < end {
                let lineEnd = firstIndex(of: [13, 10], in: body, from: lineStart).map { min($0, end) } ?? end
                // The name is everything before the line's first colon (the whole line when it has none).
                var index = lineStart
                while index < lineEnd && body[index] != UInt8(ascii: ":") {
                    if body[index] >= 0x80 { return false }
                    index += 1
                }
                lineStart = lineEnd + 2
            }
            offset = start
        }
        return true
    }

    /// Where `pattern` first occurs in `bytes` at or after `from` (Knuth-Morris-Pratt: linear in the body whatever
    /// it holds, so a body of dashes cannot make the scan quadratic).
    static func firstIndex(of pattern: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard !pattern.isEmpty, from >= 0 else { return nil }
        var failure = [Int](repeating: 0, count: pattern.count)
        var k = 0
        for i in 1..<max(1, pattern.count) {
            while k > 0 && pattern[i] != pattern[k] { k = failure[k - 1] }
            if pattern[i] == pattern[k] { k += 1 }
            failure[i] = k
        }
        var matched = 0
        var index = from
        while index < bytes.count {
            let byte = bytes[index]
            while matched > 0 && byte != pattern[matched] { matched = failure[matched - 1] }
            if byte == pattern[matched] { matched += 1 }
            if matched == pattern.count { return index - pattern.count + 1 }
            index += 1
        }
        return nil
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
