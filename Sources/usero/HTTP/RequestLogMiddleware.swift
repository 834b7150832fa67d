import Hummingbird
import Logging

/// One log line per request: method, path (never the query, which can hold an email), status and duration.
/// Headers and bodies are never logged.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        context.logger.debug(
            "Request",
            metadata: [
                "http.method": "\(request.method)", "http.path": "\(Self.loggablePath(request.uri.path))",
                "http.status": "\(response.status.code)",
                "http.duration": "\(elapsed)",
            ])
        return response
    }

    /// Paths are ids and file names only; still, cap their length.
    static func loggablePath(_ path: String) -> String {
        path.count > 200 ? String(path.prefix(200)) + "…" : path
    }
}
