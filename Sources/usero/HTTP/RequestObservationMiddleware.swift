import Hummingbird
import Logging

/// One log line per request: method, the matched route's template (`/api/end-users/{userId}`, never the concrete
/// path, whose ids can be an end user's email, nor the query), status and duration. Headers and bodies are never
/// logged.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context: context, status: "\(response.status.code)", since: start)
            return response
        } catch {
            // The error middleware (outside this one) turns it into the answer; note its type only.
            log(request, context: context, status: "error:\(type(of: error))", since: start)
            throw error
        }
    }

    private func log(_ request: Request, context: Context, status: String, since start: ContinuousClock.Instant) {
        context.logger.debug(
            "Request",
            metadata: [
                "http.method": "\(request.method)", "http.route": "\(context.endpointPath ?? "unmatched")",
                "http.status": "\(status)", "http.duration": "\(ContinuousClock.now - start)",
            ])
    }
}
