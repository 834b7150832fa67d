import Feedback
import Hummingbird
import Logging
import Synchronization

/// `USERO_MAX_CONCURRENT_UPLOADS`: at most so many `POST /api/screenshots` are in progress at once; one more answers
/// 503 `{"error":"Too many uploads in progress"}` with `Retry-After: 1` before its body is read.
///
/// An upload streams its file to disk (and on PostgreSQL into rows of 1 MB), so this bounds disk writes, open files
/// and database work rather than memory. The rest are told to come back a second later (the widget and
/// `curl --retry` do). Counted in memory, per process.
///
/// Where the service faces its clients directly (`USERO_MAX_CONNECTIONS_PER_ADDRESS` set), one source address may
/// hold at most half of the slots (at least one): four uploads trickling a byte every few seconds from one host held
/// every slot for up to the request timeout. Behind a proxy every upload is the proxy's, so there is no share.
struct UploadConcurrencyMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    static let path = "/api/screenshots"

    let limit: Int
    let inProgress = Counter()
    /// Slots each address holds, and how many it may; nil: no share.
    let perAddress: ConnectionsPerAddress?

    /// The uploads in progress, shared by every request through this middleware.
    final class Counter: Sendable {
        private let value = Mutex(0)

        /// Takes a slot if fewer than `limit` are taken.
        func acquire(limit: Int) -> Bool {
            value.withLock { count in
                guard count < limit else { return false }
                count += 1
                return true
            }
        }

        func release() { value.withLock { $0 -= 1 } }

        var current: Int { value.withLock { $0 } }
    }

    /// nil when there is no limit (`0`). `sharePerAddress`: whether one address may hold only half of the slots.
    init?(limit: Int, sharePerAddress: Bool = false) {
        guard limit > 0 else { return nil }
        self.limit = limit
        perAddress = sharePerAddress ? ConnectionsPerAddress(limit: max(1, limit / 2)) : nil
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard request.method == .post, context.endpointPath == Self.path else { return try await next(request, context) }
        let address = perAddress.flatMap { _ in PublicRateLimitMiddleware.addressKey(context.remoteAddress) }
        if let address, let perAddress {
            guard perAddress.take(address) else {
                perAddress.release(address)
                return Self.refusal(context: context, limit: limit)
            }
        }
        defer { if let address { perAddress?.release(address) } }
        guard inProgress.acquire(limit: limit) else { return Self.refusal(context: context, limit: limit) }
        defer { inProgress.release() }
        return try await next(request, context)
    }

    static func refusal(context: Context, limit: Int) -> Response {
        context.logger.debug("Upload refused: too many in progress", metadata: ["uploads.limit": "\(limit)"])
        var response = JSONResponse.make(ErrorBody("Too many uploads in progress"), status: .serviceUnavailable)
        response.headers[.retryAfter] = "1"
        PublicCORSMiddleware<Context>.addHeaders(to: &response, preflight: false)
        return response
    }
}
