import Feedback
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `USERO_PUBLIC_RATE_LIMIT` on the public write routes: so many requests a minute per client id and per source
/// address, then 429 with `Retry-After` and `{"error":"Too many requests"}` (CORS headers on it too).
///
/// The address is the TCP peer's (an IPv6 peer counts by its /64, which one host usually owns whole), checked before
/// the body is read. The client id comes from the body: for JSON routes, read here up to the route's own limit and
/// handed on to the route, which reads the same bytes again; for uploads, which are not held whole, the route asks
/// `admitUpload(clientID:)` as soon as the form's `clientId` has arrived. Both tables live in memory only; an address
/// is never stored or logged.
///
/// A client's allowance pays only for what its client accepted: a request refused (a 400, the allowlist's 403, an
/// unknown client's 404) gives its request back. Client ids are public (they sit in the widget's page), so otherwise
/// anyone could spend a client's allowance with bodies that are refused anyway and shut its real users out. The
/// address's allowance counts every request.
struct PublicRateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// The limited JSON routes and the largest body each reads.
    static let routes: [String: Int] = [
        "/api/feedback": PublicRoutes<AppRequestContext>.jsonLimit,
        "/api/identify": PublicRoutes<AppRequestContext>.jsonLimit,
    ]
    /// The upload route: its address is checked here, its client by the route (`admitUpload(clientID:)`).
    static let uploadPath = "/api/screenshots"

    let clients: RateLimiter
    let addresses: RateLimiter
    /// Refusals, by which limit; looked up when counted, since `serve` bootstraps metrics after building the app.
    static func countRefusal(by limit: String) {
        Counter(label: "usero_public_rate_limited_total", dimensions: [("by", limit)]).increment()
    }

    /// nil when the limit is off (`0`).
    init?(perMinute: Int, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        guard perMinute > 0 else { return nil }
        clients = RateLimiter(perMinute: perMinute, clock: clock)
        addresses = RateLimiter(perMinute: perMinute, clock: clock)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard request.method == .post, let path = context.endpointPath,
            path == Self.uploadPath || Self.routes[path] != nil
        else {
            return try await next(request, context)
        }
        if let key = Self.addressKey(context.remoteAddress), let wait = addresses.admit(key) {
            Self.countRefusal(by: "address")
            context.logger.debug("Rate limited", metadata: ["rate.limit": "address"])
            return Self.tooManyRequests(retryAfter: wait)
        }
        guard let bodyLimit = Self.routes[path] else {
            // An upload's client is charged by the route, as soon as its `clientId` has arrived.
            let charged = ChargedClient()
            return try await refunding(charged.id.withLock { $0 }) {
                try await Self.$uploadCharge.withValue(charged) { try await next(request, context) }
            }
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectWholeBody(upTo: bodyLimit)
        } catch {
            var response = ErrorMiddleware<Context>.response(for: error, request: request, logger: context.logger)
            PublicCORSMiddleware<Context>.addHeaders(to: &response, preflight: false)
            throw AnsweredError(underlying: error, response: response)
        }
        let id = Self.clientID(inJSON: body)
        if let id, let wait = clients.admit(id) {
            Self.countRefusal(by: "client")
            // Not the id itself: it is whatever the caller sent.
            context.logger.debug("Rate limited", metadata: ["rate.limit": "client"])
            return Self.tooManyRequests(retryAfter: wait)
        }
        return try await refunding(id) { try await next(request, context) }
    }

    /// The client whose allowance an upload spent, if any (the route charges it, mid-request).
    final class ChargedClient: Sendable {
        let id = Mutex<String?>(nil)
    }

    /// The upload being handled, so that `admitUpload` can note the client it charged.
    @TaskLocal static var uploadCharge: ChargedClient?

    /// Runs the request; unless it succeeded, gives the client it charged (`charged`, asked afterwards) its request
    /// back.
    private func refunding(_ charged: @autoclosure () -> String?, _ run: () async throws -> Response) async throws
        -> Response
    {
        do {
            let response = try await run()
            if !(200..<300).contains(response.status.code), let id = charged() { clients.refund(id) }
            return response
        } catch {
            if let id = charged() { clients.refund(id) }
            throw error
        }
    }

    static func tooManyRequests(retryAfter seconds: Int) -> Response {
        var response = JSONResponse.make(ErrorBody("Too many requests"), status: .tooManyRequests)
        response.headers[.retryAfter] = "\(seconds)"
        PublicCORSMiddleware<Context>.addHeaders(to: &response, preflight: false)
        return response
    }

    /// The client half of the limit for an upload, asked by the route once the form's `clientId` has arrived: nil
    /// to go on, or the seconds to wait (counted as a refusal).
    func admitUpload(clientID: String) -> Int? {
        guard let wait = clients.admit(clientID) else {
            Self.uploadCharge?.id.withLock { $0 = clientID }
            return nil
        }
        Self.countRefusal(by: "client")
        return wait
    }

    /// The `clientId` a JSON body names, if any, read by the route's own parser, so the id counted is the id the
    /// route uses (the last of repeated keys). A hand-written scanner read only the top-level keys here while the
    /// route's parser was Foundation's; `JSONValueParser` reads the whole body in less than that scanner took.
    static func clientID(inJSON body: ByteBuffer) -> String? {
        guard case .object(let fields)? = JSONValue.parse(body.readableBytesView), case .string(let id)? = fields["clientId"]
        else { return nil }
        // Trimmed as the route trims it: `" c "` is client `c`, and no other bucket.
        return id.trimmingSurroundingWhitespace
    }

    /// The key an address is counted under: IPv4 by address, IPv6 by its /64 (IPv4-mapped IPv6 as IPv4).
    static func addressKey(_ address: SocketAddress?) -> String? {
        guard let text = address?.ipAddress else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &bytes) == 1 { return "4:" + hex(bytes[0..<4]) }
        guard inet_pton(AF_INET6, text, &bytes) == 1 else { return nil }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return "4:" + hex(bytes[12..<16])
        }
        return "6:" + hex(bytes[0..<8])
    }

    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { String($0, radix: 16) }.joined(separator: ".")
    }
}
