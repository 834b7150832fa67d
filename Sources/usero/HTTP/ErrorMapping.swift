import Feedback
import Hummingbird

/// Domain errors to statuses and bodies. Messages are the documented ones where the docs show one.
enum ErrorMapping {
    /// The public docs' answer to a screenshot over 10 MB.
    static let fileTooLargeMessage = "File too large (max 10MB)"

    static func reply(for error: any Error) -> (HTTPResponse.Status, ErrorBody)? {
        if let error = error as? FeedbackError { return feedback(error) }
        return slack(error) ?? retention(error)
    }

    static func feedback(_ error: FeedbackError) -> (HTTPResponse.Status, ErrorBody) {
        switch error {
        case .malformedJSON: (.badRequest, ErrorBody("Invalid JSON body"))
        case .invalid(let issues): (.badRequest, ErrorBody("Invalid data provided", issues: issues))
        case .metadataTooLarge: (.badRequest, ErrorBody("Metadata too large (max 10KB)"))
        case .unknownClient: (.notFound, ErrorBody("Invalid client ID"))
        case .originNotAllowed: (.forbidden, ErrorBody("Domain not allowed"))
        case .unauthorized: (.unauthorized, ErrorBody("Missing or invalid admin key"))
        case .notFound: (.notFound, ErrorBody("Not found"))
        case .badQuery(let field, let message): (.badRequest, ErrorBody(message, issues: [field: [message]]))
        case .screenshotMissing: (.badRequest, ErrorBody("Screenshot file is required"))
        case .clientIDMissing: (.badRequest, ErrorBody("Client ID is required"))
        case .notAnImage: (.badRequest, ErrorBody("File must be an image"))
        case .fileTooLarge: (.badRequest, ErrorBody(fileTooLargeMessage))
        case .malformedMultipart: (.badRequest, ErrorBody("Expected a multipart/form-data body"))
        case .screenshotIncomplete:
            (.badRequest, ErrorBody("Screenshot part is incomplete: the body ended before its closing boundary"))
        case .uploadQuotaExceeded(let megabytes):
            (.contentTooLarge, ErrorBody(
                "Upload quota exceeded: this client may hold at most \(megabytes) MB of screenshots not yet attached to feedback"))
        case .invalidSubmissionKey:
            (.badRequest, ErrorBody("Invalid Idempotency-Key header: use 1 to 255 visible ASCII characters"))
        case .submissionKeyReused:
            (.unprocessableContent, ErrorBody(
                "Idempotency-Key already used for a different submission: send each new submission with a new key"))
        case .rateLimited: (.tooManyRequests, ErrorBody("Too many requests"))
        case .compressedBody:
            (.unsupportedMediaType, ErrorBody("Content-Encoding is not supported: send the body uncompressed"))
        case .transferCodedBody:
            (.unsupportedMediaType, ErrorBody("Transfer-Encoding other than chunked is not supported: send the body uncompressed"))
        case .unexpectedBody:
            (.badRequest, ErrorBody("This request takes no body", issues: ["body": ["This request takes no body"]]))
        }
    }
}
