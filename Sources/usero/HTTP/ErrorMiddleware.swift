import Feedback
import Hummingbird
import Logging

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

    /// The response for an error; anything unrecognised is a fixed 500 whose log names only the error's type.
    static func response(for error: any Error, request: Request, logger: Logger) -> Response {
        let (status, body) = reply(for: error)
        if status == .internalServerError {
            logger.error("Unhandled error", metadata: ["error.type": "\(type(of: error))"])
            if request.uri.path == "/api/screenshots" {
                return JSONResponse.make(ErrorBody("Failed to upload screenshot"), status: status)
            }
        }
        return JSONResponse.make(body, status: status)
    }

    static func reply(for error: any Error) -> (HTTPResponse.Status, ErrorBody) {
        if let mapped = ErrorMapping.reply(for: error) { return mapped }
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
