/// What can go wrong in the feedback domain. Cases carry field names and counts, never content.
public enum FeedbackError: Error, Equatable, Sendable {
    /// The body is not JSON.
    case malformedJSON
    /// Validation failed; field name to messages.
    case invalid(issues: [String: [String]])
    /// `metadata` serialized to more than 10 KB.
    case metadataTooLarge
    /// No client has this id.
    case unknownClient
    /// The client has an allowlist and the request's origin is not on it.
    case originNotAllowed
    /// Missing or wrong admin key.
    case unauthorized
    /// No such item for this client.
    case notFound
    /// A query parameter has a value we cannot use: its name, and a message that names it.
    case badQuery(field: String, message: String)
    /// Screenshot upload problems, with the documented messages.
    case screenshotMissing, clientIDMissing, notAnImage, fileTooLarge
    /// A multipart body we cannot read.
    case malformedMultipart
    /// The body ended inside the `screenshot` part (cut off, or without its closing boundary).
    case screenshotIncomplete
    /// The client's screenshots not yet attached to feedback would pass the per-client upload quota.
    case uploadQuotaExceeded(megabytes: Int64)
    /// The `Idempotency-Key` header is not 1 to 255 visible ASCII characters.
    case invalidSubmissionKey
    /// The `Idempotency-Key` names an item stored with other content.
    case submissionKeyReused
    /// The public rate limit refused this client for now; it may try again after so many seconds.
    case rateLimited(retryAfterSeconds: Int)
    /// The body came compressed (`Content-Encoding` other than `identity`), which no route reads.
    case compressedBody
    /// The body came with a `Transfer-Encoding` other than `chunked` (`gzip, chunked`), which no route reads.
    case transferCodedBody
    /// A body came with a request whose route reads none (`{"dryRun":true}` on `DELETE /api/account`).
    case unexpectedBody
}
