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
        guard let contentType, let boundary = Self.boundary(of: contentType) else { throw .malformedMultipart }
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
