import Hummingbird

/// Answers HEAD wherever GET is answered (RFC 9110; uptime monitors and `curl -I` rely on it): the request is routed
/// as the GET and answered with its status and headers, its length, and no body. In front of the router, because the
/// router picks the route by method before any middleware runs. A body is produced only when written (a file is
/// opened then, a screenshot's pieces fetched then), so nothing is read for a HEAD.
struct HeadResponder<Base: HTTPResponder>: HTTPResponder {
    typealias Context = Base.Context
    let base: Base

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .head else { return try await base.respond(to: request, context: context) }
        var head = request.head
        head.method = .get
        var response = try await base.respond(to: Request(head: head, body: request.body), context: context)
        let length = response.body.contentLength.map { "\($0)" } ?? response.headers[.contentLength]
        // Setting the body sets Content-Length from it (0 here): the GET's length goes back on after.
        response.body = ResponseBody()
        response.headers[.contentLength] = length
        return response
    }
}
