public import Foundation
import NIOCore
public import HTTPTypes
public import Hummingbird

/// The one error body shape of the API: `{"error": …}` plus `issues` on validation errors.
public struct ErrorBody: Encodable, Sendable {
    /// The message.
    public var error: String
    /// Field name to messages.
    public var issues: [String: [String]]?

    /// Most fields an error body names, and the longest name it repeats (in characters).
    public static let maxIssueFields = 20
    public static let maxFieldNameLength = 128

    /// The message naming a key the route does not know.
    public static let unknownField = "Unknown field"

    /// Creates an error body. Field names come from the caller (an unknown key is named back), so the body names
    /// at most `maxIssueFields` fields, each cut to `maxFieldNameLength` characters (a body of 90,000 unknown keys
    /// was answered with 2.4 MB): first every field with another problem, then unknown keys by name; an unknown key
    /// whose cut name is already there is left out.
    public init(_ error: String, issues: [String: [String]]? = nil) {
        self.error = error
        self.issues = issues.map { all in
            guard all.count > Self.maxIssueFields || all.keys.contains(where: { $0.exceedsLength(Self.maxFieldNameLength) })
            else { return all }
            let unknown = { (key: String) in all[key] == [Self.unknownField] }
            let order = all.keys.filter { !unknown($0) }.sorted() + all.keys.filter(unknown).sorted()
            var kept: [String: [String]] = [:]
            for key in order {
                guard kept.count < Self.maxIssueFields else { break }
                let name = key.exceedsLength(Self.maxFieldNameLength)
                    ? String(String.UnicodeScalarView(key.unicodeScalars.prefix(Self.maxFieldNameLength - 1))) + "…" : key
                if kept[name] == nil { kept[name] = all[key] }
            }
            return kept
        }
    }
}

/// JSON responses with a fixed encoder.
public enum JSONResponse {
    /// The headers every JSON answer carries: its type, and `nosniff`, so that no browser takes a body that repeats
    /// what a client sent (an unknown field's name, a bad value) for anything but JSON.
    public static let headers: HTTPFields = [
        .contentType: "application/json; charset=utf-8", .xContentTypeOptions: "nosniff",
    ]

    /// Encodes `value` as the body of a response with `status`; a value the encoder refuses is a 500, never an
    /// error body under the status meant for the value.
    public static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok,
                            headers: HTTPFields = [:]) -> Response {
        var fields = headers
        for field in Self.headers { fields[field.name] = field.value }
        guard let data = try? encoded(value) else {
            let failed = ByteBuffer(string: #"{"error":"Internal server error"}"#)
            return Response(status: .internalServerError, headers: fields, body: ResponseBody(byteBuffer: failed))
        }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `value` as the API's JSON (slashes unescaped, keys sorted: Foundation's encoder otherwise writes an object's
    /// keys in a different order from one response to the next, `issues` before `error` one time in two).
    public static func encoded(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// A response whose JSON text is already made.
    public static func raw(_ json: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: Self.headers, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }
}

extension Request {
    /// Refuses a body sent compressed (a `Content-Encoding` other than `identity`, 415): read as it is, it would be
    /// refused as malformed JSON or multipart, which sends the client looking for the wrong mistake.
    /// The same for a transfer coding other than `chunked` (`Transfer-Encoding: gzip, chunked`: the server undoes
    /// only the chunking, and the gzip was then called invalid JSON; found by a review).
    public func requireUncompressedBody() throws {
        if let transfer = headers[.transferEncoding],
            transfer.split(separator: ",").contains(where: {
                let coding = String($0).trimmingSurroundingWhitespace.lowercased()
                return !coding.isEmpty && coding != "chunked" && coding != "identity"
            })
        {
            throw FeedbackError.transferCodedBody
        }
        guard let coding = headers[.contentEncoding] else { return }
        let name = coding.trimmingSurroundingWhitespace
        guard name.isEmpty || name.lowercased() == "identity" else { throw FeedbackError.compressedBody }
    }

    /// Refuses (413) a body whose `Content-Length` declares more than `limit` bytes, before any of it is read: a
    /// client that sent `Expect: 100-continue` waits for an answer to its head alone (`MalformedRequestHandler` holds
    /// the `100 Continue` back for such a body), and one that waited for the first bytes never came (found by a
    /// review: no answer for 30 s, then a closed connection).
    public func refuseDeclaredLength(over limit: Int) throws {
        if let declared = headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw NIOTooManyBytesError(maxBytes: limit)
        }
    }

    /// The body, refusing more than `limit` bytes (413) and a compressed one (415).
    public func collectBody(limit: Int) async throws -> [UInt8] {
        try requireUncompressedBody()
        try refuseDeclaredLength(over: limit)
        var buffer = try await body.collect(upTo: limit)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    /// The body in one buffer of the size its `Content-Length` announces (collecting it fragment by fragment would
    /// double the buffer as it grows: a 10 MB upload in 16 MB), refusing more than `limit` bytes (413). A body
    /// that already is one buffer (collected by a middleware) is returned as it is, without a copy. The request
    /// keeps the collected body, so whoever reads it next gets the same buffer.
    public mutating func collectWholeBody(upTo limit: Int) async throws -> ByteBuffer {
        try requireUncompressedBody()
        try refuseDeclaredLength(over: limit)
        var iterator = body.makeAsyncIterator()
        guard var collected = try await iterator.next() else {
            body = .init(buffer: ByteBuffer())
            return ByteBuffer()
        }
        guard collected.readableBytes <= limit else { throw NIOTooManyBytesError(maxBytes: limit) }
        if let text = headers[.contentLength], let expected = Int(text), expected <= limit,
            collected.readableBytes < expected
        {
            var whole = ByteBuffer()
            whole.reserveCapacity(expected)
            whole.writeBuffer(&collected)
            collected = whole
        }
        while let fragment = try await iterator.next() {
            guard collected.readableBytes + fragment.readableBytes <= limit else {
                throw NIOTooManyBytesError(maxBytes: limit)
            }
            collected.writeImmutableBuffer(fragment)
        }
        body = .init(buffer: collected)
        return collected
    }

    /// A header by name.
    public func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    /// A header by name (every field of that name, joined with ", ", as for a string name).
    public func header(_ name: HTTPField.Name) -> String? {
        headers[name]
    }
}
