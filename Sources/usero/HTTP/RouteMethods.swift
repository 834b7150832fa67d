import Feedback
import Hummingbird
import Synchronization

/// The methods each route path answers, recorded once every route is registered (the middleware that reads them,
/// `RequestObservationMiddleware`, is added before the routes).
final class RouteMethods: Sendable {
    private let table = Mutex<[(path: RouterPath, methods: Set<HTTPRequest.Method>)]>([])
    /// Pages that answer a 405 under a path prefix (the inbox's own HTML), given the methods allowed.
    private let pages = Mutex<[(prefix: String, page: @Sendable (_ allowed: [String]) -> Response)]>([])

    /// Answers 405s under `prefix` (`/inbox/`) with `page` instead of the API's JSON.
    func answer405(under prefix: String, with page: @escaping @Sendable (_ allowed: [String]) -> Response) {
        pages.withLock { $0.append((prefix, page)) }
    }

    /// The 405 for `path`: the page registered for its prefix, else `methodNotAllowed(allowed:)`.
    func methodNotAllowed(path: String, allowed: [String]) -> Response {
        let page = pages.withLock { pages in
            pages.first { path == String($0.prefix.dropLast()) || path.hasPrefix($0.prefix) }?.page
        }
        return page?(allowed) ?? Self.methodNotAllowed(allowed: allowed)
    }

    /// Records the router's routes: (path, method) pairs, a path once per method.
    func record(_ routes: [(path: RouterPath, method: HTTPRequest.Method)]) {
        var byPath: [String: (path: RouterPath, methods: Set<HTTPRequest.Method>)] = [:]
        for route in routes { byPath[route.path.description, default: (route.path, [])].methods.insert(route.method) }
        table.withLock { $0 = Array(byPath.values) }
    }

    /// The methods of the routes whose path matches `path`, for an `Allow` header (HEAD wherever GET is: the server
    /// answers it); empty when no route has this path. A catch-all (`/inbox/**`, the inbox's 404 page) counts only
    /// where no route of the path's own matches: the router does not fall back to it for a path that has one
    /// (`GET /inbox/logout` is a 405, not the catch-all's page).
    func allowed(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods = Set<HTTPRequest.Method>()
        var catchAll = Set<HTTPRequest.Method>()
        func isCatchAll(_ component: RouterPath.Element) -> Bool {
            if case .recursiveWildcard = component { true } else { false }
        }
        table.withLock { table in
            for route in table {
                if route.path.components.contains(where: isCatchAll) {
                    let fixed = route.path.components.prefix { !isCatchAll($0) }
                    if segments.count > fixed.count, zip(fixed, segments).allSatisfy({ $0 ~= $1 }) {
                        catchAll.formUnion(route.methods)
                    }
                } else if route.path.components.count == segments.count
                    && zip(route.path.components, segments).allSatisfy({ $0 ~= $1 })
                {
                    methods.formUnion(route.methods)
                }
            }
        }
        if methods.isEmpty { methods = catchAll }
        if methods.contains(.get) { methods.insert(.head) }
        return methods.map(\.rawValue).sorted()
    }

    /// The answer to a route asked with a method it does not answer: a 405 naming the ones it does (`Allow`, RFC 9110
    /// §15.5.6), where the router's 404 said no such route was there. It carries no data, so a browser script may
    /// read it (CORS `*`) on a public route and an admin one alike. Only the router's own "not found" becomes one
    /// (`RequestObservationMiddleware`, which catches every error already): a handler's 404 (an item that is not the
    /// client's) stays a 404.
    static func methodNotAllowed(allowed: [String]) -> Response {
        var response = JSONResponse.make(ErrorBody("Method not allowed"), status: .methodNotAllowed)
        response.headers[.allow] = allowed.joined(separator: ", ")
        response.headers[.accessControlAllowOrigin] = "*"
        return response
    }
}

extension RouteMethods {
    /// The path the router matches for a request target, in one spelling: without its query, and without the empty
    /// segments it skips (`/api/feedback/` and `//api/feedback` are `/api/feedback`).
    static func routePath(of target: String) -> String {
        "/" + target.prefix { $0 != "?" }.split(separator: "/").joined(separator: "/")
    }
}
