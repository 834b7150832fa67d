import Feedback
public import Hummingbird

/// `POST /api/identify`: public like `/api/feedback` (CORS and preflight come from the group it is added to).
public struct IdentifyRoutes<Context: RequestContext>: Sendable {
    /// The end-user rules.
    public let service: EndUserService

    /// Largest body (1 MB, as every JSON route).
    public static var jsonLimit: Int { 1024 * 1024 }

    /// Creates the routes.
    public init(service: EndUserService) {
        self.service = service
    }

    /// Adds the route to a group at `api`.
    public func register(on group: RouterGroup<Context>) {
        group.post("identify", use: identify)
    }

    @Sendable func identify(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.collectBody(limit: Self.jsonLimit)
        try await service.identify(body: body, origin: request.headers[.origin])
        return JSONResponse.make(Identified(success: true))
    }
}

struct Identified: Encodable {
    var success: Bool
}
