import Feedback
import Hummingbird
import Synchronization

/// The methods each route path answers, recorded once every route is registered (the middleware that reads them is
/// added before the routes).
final class RouteMethods: Sendable {
    private let table = Mutex<[(path: RouterPath, methods: Set<HTTPRequest.Method>)]>([])

    /// Records the router's routes: (path, method) pairs, a path once per method.
    func record(_ routes: [(path: RouterPath, method: HTTPRequest.Method)]) {
        var byPath: [String: (path: RouterPath, methods: Set<HTTPRequest.Method>)] = [:]
        for route in routes { byPath[route.path.description, default: (route.path, [])].methods.insert(route.method) }
        table.withLock { $0 = Array(byPath.values) }
    }

    /// The methods of the routes whose path matches `path`, for an `Allow` header (HEAD wherever GET is: the server
    /// answers it); empty when no route has this path.
    func allowed(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods = Set<HTTPRequest.Method>()
        table.withLock { table in
            for route in table where route.path.components.count == segments.count
                && zip(route.path.components, segments).allSatisfy({ $0 ~= $1 })
            {
                methods.formUnion(route.methods)
            }
        }
        if methods.contains(.get) { methods.insert(.head) }
        return methods.map(\.rawValue).sorted()
    }
}

/// A request whose path is a route's, with a method that route does not answer, is a 405 naming the methods it does
/// (`Allow`, RFC 9110 §15.5.6), where the router's 404 said no such route was there. Only the router's own "not
/// found" is turned into one: a handler's 404 (an item that is not the client's) stays a 404.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && context.endpointPath == "NotFound" {
            let allowed = routes.allowed(for: request.uri.path)
            guard !allowed.isEmpty else { throw error }
            var response = JSONResponse.make(ErrorBody("Method not allowed"), status: .methodNotAllowed)
            response.headers[.allow] = allowed.joined(separator: ", ")
            // It carries no data: a browser script may read it on a public route and an admin one alike.
            response.headers[.accessControlAllowOrigin] = "*"
            throw AnsweredError(underlying: HTTPError(.methodNotAllowed), response: response)
        }
    }
}
