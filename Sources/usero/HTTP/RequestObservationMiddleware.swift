import Dispatch
import Feedback
import Hummingbird
import Logging
import Metrics
import Synchronization

/// What every request pays to be observed, in one layer: errors become the contract's answers (`ErrorMiddleware`'s
/// mapping), then one metrics record and, at `debug`, one log line.
///
/// The log line names the method, the matched route's template (`/api/end-users/{userId}`, never the concrete path,
/// whose ids can be an end user's email, nor the query), the status, the error's type when the handler threw, and
/// the duration. Headers and bodies are never logged. Nothing is formatted unless the logger is at `debug`.
///
/// Metrics keep Hummingbird's names and labels (`hb_requests`, `http_server_request_duration`,
/// `hb_request_errors`, `http_server_active_requests`) but are recorded with the status actually answered (a
/// validation error counts as its 400, not as a 500), and their handles are looked up once per route, method and
/// status rather than built per request.
struct RequestObservationMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics = RequestMetrics()
    /// The methods each route answers, for the router's "not found" of a path some route has (a 405); nil: none.
    var routes: RouteMethods? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = DispatchTime.now().uptimeNanoseconds
        let method = RequestMetrics.label(request.method)
        let active = metrics.active(method)
        active.increment()
        var response: Response
        var errorType: (any Error.Type)?
        // Requests with credentials (an admin key, an inbox session) are access to a client's data: noted, and logged
        // below. So is a screenshot's download, which its unguessable address alone allows. Public submissions carry
        // neither and pay nothing for it.
        let access =
            request.headers[.authorization] != nil || request.headers[.cookie] != nil
                || AccessRecord.mayReadByAddress(method: request.method, path: request.head.path ?? "")
            ? AccessRecord() : nil
        do {
            if let access {
                response = try await AccessRecord.$current.withValue(access) { try await next(request, context) }
            } else {
                response = try await next(request, context)
            }
        } catch let answered as AnsweredError {
            errorType = type(of: answered.underlying)
            response = answered.response
        } catch {
            errorType = type(of: error)
            // Hummingbird's not-found responder names its path "NotFound": no route matched this path and method.
            let unrouted = context.endpointPath == nil || context.endpointPath == "NotFound"
            if unrouted, let routes, (error as? HTTPError)?.status == .notFound,
                case let allowed = routes.allowed(for: request.uri.path), !allowed.isEmpty
            {
                response = routes.methodNotAllowed(path: request.uri.path, allowed: allowed)
            } else {
                response = ErrorMiddleware<Context>.response(for: error, request: request, logger: context.logger)
                // A path under /api/ that no route matched (`/api/screenshots/client_x/`): its 404 carries CORS like
                // every public answer, so a browser script sees the 404 rather than an opaque CORS failure.
                if unrouted, request.uri.path.hasPrefix("/api/") {
                    PublicCORSMiddleware<Context>.addHeaders(to: &response, preflight: false)
                }
            }
        }
        let elapsed = DispatchTime.now().uptimeNanoseconds &- start
        let route = context.endpointPath ?? "unmatched"
        let handles = metrics.endpoint(route: route, method: method, status: response.status.code)
        handles.requests.increment()
        handles.duration.recordNanoseconds(Int64(clamping: elapsed))
        if errorType != nil { metrics.errors(route: route, method: method, status: response.status.code).increment() }
        active.decrement()
        if let access {
            Self.logAccess(access, request: request, route: route, status: response.status.code, logger: context.logger)
            // What credentials reached (items, exports, end users) is kept by no cache on the way, unless the route
            // said how it may be cached; the inbox's pages already say no-store.
            if access.clientID != nil, response.headers[.cacheControl] == nil {
                response.headers[.cacheControl] = "no-store"
            }
        }
        if context.logger.logLevel <= .debug {
            var metadata: Logger.Metadata = [
                "http.method": "\(request.method)", "http.route": "\(route)",
                "http.status": "\(response.status.code)", "http.duration": "\(Duration.nanoseconds(elapsed))",
            ]
            if let errorType { metadata["error.type"] = "\(errorType)" }
            context.logger.debug("Request", metadata: metadata)
        }
        return response
    }
}

extension RequestObservationMiddleware {
    /// The access log: one `info` line per request whose credentials reached a client's data (client id, method,
    /// route template, status), and one per admin request refused for its key (no client: the key matched none).
    static func logAccess(_ access: AccessRecord, request: Request, route: String, status: Int, logger: Logger) {
        if let client = access.clientID {
            logger.info(
                "Access",
                metadata: [
                    "client.id": "\(client)", "http.method": "\(request.method)", "http.route": "\(route)",
                    "http.status": "\(status)",
                ])
        } else if status == 401, request.headers[.authorization] != nil {
            logger.info(
                "Access refused",
                metadata: ["http.method": "\(request.method)", "http.route": "\(route)", "http.status": "\(status)"])
        }
    }
}

/// Metric handles by route, method and status, made on first use.
final class RequestMetrics: Sendable {
    struct Endpoint: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    struct Handles: Sendable {
        let requests: Counter
        let duration: Metrics.Timer
    }

    /// The method as a label: the standard ones as they are, anything else as `OTHER`, so a client inventing
    /// methods cannot grow the metrics without bound (routes are templates and statuses are three digits).
    static func label(_ method: HTTPRequest.Method) -> HTTPRequest.Method {
        switch method {
        case .get, .post, .put, .delete, .patch, .head, .options: method
        default: other
        }
    }
    private static let other = HTTPRequest.Method("OTHER")!

    private let endpoints = Mutex<[Endpoint: Handles]>([:])
    private let errorCounters = Mutex<[Endpoint: Counter]>([:])
    private let methods = Mutex<[HTTPRequest.Method: Meter]>([:])

    func active(_ method: HTTPRequest.Method) -> Meter {
        methods.withLock { meters in
            if let meter = meters[method] { return meter }
            let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)])
            meters[method] = meter
            return meter
        }
    }

    func endpoint(route: String, method: HTTPRequest.Method, status: Int) -> Handles {
        let key = Endpoint(route: route, method: method, status: status)
        return endpoints.withLock { handles in
            if let found = handles[key] { return found }
            let labels = [
                ("http.route", route), ("http.request.method", method.rawValue),
                ("http.response.status_code", String(status)),
            ]
            let made = Handles(
                requests: Counter(label: "hb.requests", dimensions: labels),
                duration: Metrics.Timer(
                    label: "http.server.request.duration", dimensions: labels, preferredDisplayUnit: .seconds))
            handles[key] = made
            return made
        }
    }

    /// The error counter of a route, method and status, made when the first error of that kind is counted: a series
    /// exists only for errors that happened (no `hb_request_errors{error_type="200"} 0` beside every route).
    func errors(route: String, method: HTTPRequest.Method, status: Int) -> Counter {
        let key = Endpoint(route: route, method: method, status: status)
        return errorCounters.withLock { counters in
            if let found = counters[key] { return found }
            let made = Counter(
                label: "hb.request.errors",
                dimensions: [("http.route", route), ("http.request.method", method.rawValue), ("error.type", String(status))])
            counters[key] = made
            return made
        }
    }
}
