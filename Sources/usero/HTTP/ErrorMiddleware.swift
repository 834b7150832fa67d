import Feedback
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SlackGateway
import StorePostgres

/// An error a middleware inside `RequestObservationMiddleware` already answered with headers of its own (CORS on a
/// public route's error): thrown on, so that the observation layer still counts it in `hb_request_errors` and logs
/// its type, and answers with `response`.
struct AnsweredError: Error {
    let underlying: any Error
    let response: Response
}

/// The only place errors become status codes and the contract's `{"error": …}` body.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: error, request: request, logger: context.logger)
        }
    }

    /// When to come back after `error`, in seconds (a `Retry-After`), where it says: a full disk, a store out of
    /// reach, a server stopping, the rate limit.
    static func retryAfter(for error: any Error) -> Int? {
        if ErrorMapping.isStorageFull(error) { return ErrorMapping.storageRetryAfterSeconds }
        if ErrorMapping.isStoreUnavailable(error) || error is CancellationError {
            return ErrorMapping.unavailableRetryAfterSeconds
        }
        if case FeedbackError.rateLimited(let seconds) = error { return seconds }
        return nil
    }

    /// The response for an error; anything unrecognised is a fixed 500 whose log names only the error's type.
    static func response(for error: any Error, request: Request, logger: Logger) -> Response {
        var (status, body) = reply(for: error)
        if status == .contentTooLarge, body.error == message(for: .contentTooLarge), isUploadRoute(request.uri.path) {
            // A photo over the limit: what the public docs answer a file over 10 MB with, at the contract's 413 for
            // a body the route never reads whole (a 12 MB phone photo read "Request body too large").
            body = ErrorBody(ErrorMapping.fileTooLargeMessage)
        }
        if isConnectionFailure(error) {
            // The client went away or broke HTTP framing mid-request: nobody is left to read an answer, and it is
            // not our failure. Noted at debug by type only; the answer (if it can still be sent) is a 400.
            logger.debug("Request ended by the client", metadata: ["error.type": "\(type(of: error))"])
        } else if error is CancellationError {
            // The request's task was cancelled: the server stopping cut off a request still being sent, as the
            // README says it does after its grace period. Planned, so not an error line on every rollout.
            logger.debug("Request cut off: the server is stopping")
        } else if status == .internalServerError {
            // With PostgreSQL's SQLSTATE (five characters, never the message, which may quote a value): what an
            // operator needs to tell a missing privilege or a broken schema from a bug.
            var metadata = errorMetadata(error)
            if let code = systemErrorCode(error) { metadata["error.code"] = "\(code)" }
            if let reason = knownFailure(error) {
                metadata["error.reason"] = "\(reason)"
                logger.error("Request failed", metadata: metadata)
            } else {
                logger.error("Unhandled error", metadata: metadata)
            }
            if request.uri.path == "/api/screenshots" {
                return JSONResponse.make(ErrorBody("Failed to upload screenshot"), status: status)
            }
        }
        var response = JSONResponse.make(body, status: status)
        if let seconds = retryAfter(for: error) {
            response.headers[.retryAfter] = "\(seconds)"
        } else if case FeedbackError.unauthorized = error {
            // RFC 9110 §11.6.1: a 401 says which scheme would do (the admin key, as `Authorization: Bearer`).
            response.headers[.wwwAuthenticate] = #"Bearer realm="usero""#
        } else if let error = error as? SlackGatewayError, [.badSignature, .staleTimestamp].contains(error) {
            // The same for Slack's requests: the scheme is Slack's signature (`X-Slack-Signature`, `v0=` HMAC).
            response.headers[.wwwAuthenticate] = #"Slack-Signature realm="usero""#
        }
        return response
    }

    /// Whether `path` is the upload route's, in any spelling the router takes (a trailing or doubled slash).
    static func isUploadRoute(_ path: String) -> Bool {
        RouteMethods.routePath(of: path) == "/api/screenshots"
    }

    /// What went wrong, for a 500 the service knows and can name without content: PostgreSQL's connection lost
    /// after a commit went out (the write may be stored; the client's retry with its `Idempotency-Key` is safe). Its
    /// text is fixed, never a value or a server message. Nil for anything else, logged as "Unhandled error".
    static func knownFailure(_ error: any Error) -> String? {
        (error as? PostgresWriterError)?.description
    }

    /// For a file system error, its code and the system's errno in words ("513, errno 30: Read-only file system"), so
    /// that an operator sees what failed (an unwritable or read-only data folder, say); never its description, which
    /// may carry a path or a value.
    static func systemErrorCode(_ error: any Error) -> String? {
        func errno(_ code: Int32) -> String { "errno \(code): \(DataFolder.reason(code))" }
        switch error {
        case let error as CocoaError:
            let underlying = (error.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap {
                $0.domain == NSPOSIXErrorDomain ? Int32(exactly: $0.code) : nil
            }
            return underlying.map { "\(error.code.rawValue), \(errno($0))" } ?? "\(error.code.rawValue)"
        case let error as POSIXError: return errno(error.code.rawValue)
        default: return nil
        }
    }

    /// Errors that mean the connection, not the request's content, failed: the peer closed or reset it mid-body,
    /// or sent something that is not HTTP/1.1.
    static func isConnectionFailure(_ error: any Error) -> Bool {
        switch error {
        case is HTTPParserError, is IOError: true
        case let error as ChannelError:
            switch error {
            case .ioOnClosedChannel, .eof, .alreadyClosed, .outputClosed, .inputClosed: true
            default: false
            }
        default: false
        }
    }

    static func reply(for error: any Error) -> (HTTPResponse.Status, ErrorBody) {
        if let mapped = ErrorMapping.reply(for: error) ?? ErrorMapping.storage(error) { return mapped }
        if isConnectionFailure(error) { return (.badRequest, ErrorBody("Incomplete or malformed request")) }
        if error is CancellationError {
            return (.serviceUnavailable, ErrorBody("The server is stopping, try again shortly"))
        }
        switch error {
        case let error as HTTPError:
            return (error.status, ErrorBody(error.body ?? message(for: error.status)))
        case let error as any HTTPResponseError:
            return (error.status, ErrorBody(message(for: error.status)))
        default:
            return (.internalServerError, ErrorBody("Internal server error"))
        }
    }

    static func message(for status: HTTPResponse.Status) -> String {
        switch status {
        case .contentTooLarge: "Request body too large"
        case .notFound: "Not found"
        case .methodNotAllowed: "Method not allowed"
        default: status.reasonPhrase
        }
    }
}
