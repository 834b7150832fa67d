import Hummingbird

/// `Access-Control-Allow-Origin: *` on every public response, errors included, and the preflight answer.
struct PublicCORSMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if request.method == .options {
            var response = Response(status: .noContent)
            Self.addHeaders(to: &response, preflight: true)
            return response
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let answered as AnsweredError {
            throw answered
        } catch {
            response = ErrorMiddleware<Context>.response(for: error, request: request, logger: context.logger)
            Self.addHeaders(to: &response, preflight: false)
            // Answered here, with CORS, and still counted and logged as an error by the observation layer.
            throw AnsweredError(underlying: error, response: response)
        }
        Self.addHeaders(to: &response, preflight: false)
        return response
    }

    static func addHeaders(to response: inout Response, preflight: Bool) {
        response.headers[.accessControlAllowOrigin] = "*"
        // A 429 or 503 says when to come back; a browser script may read that header only when it is exposed.
        if response.headers[.retryAfter] != nil { response.headers[.accessControlExposeHeaders] = "Retry-After" }
        if preflight {
            response.headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
            response.headers[.accessControlAllowHeaders] = "Content-Type, X-Usero-Widget, Idempotency-Key"
            response.headers[.accessControlMaxAge] = "86400"
        }
    }
}
