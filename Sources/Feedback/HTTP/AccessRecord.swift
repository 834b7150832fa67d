public import HTTPTypes
import Synchronization

/// Which client's data a request reached, for the access log: the admin API and the inbox note the client their
/// credentials resolved to, a screenshot's download the client it belongs to, and the request's observation logs
/// one line at `info` (client id, method, route template, status; never a concrete path, a query, a body or a key).
/// The privacy policy says access to user data is logged; this is that log.
public final class AccessRecord: Sendable {
    /// The record of the request being handled, bound by the observation layer for requests that carry credentials.
    @TaskLocal public static var current: AccessRecord?

    private let client = Mutex<String?>(nil)

    public init() {}

    /// Notes that the request's credentials resolved to `clientID`.
    public static func note(clientID: String) {
        current?.client.withLock { $0 = clientID }
    }

    /// Whether the request may reach a client's data by its address alone, without credentials: a screenshot's
    /// download (`GET /api/screenshots/{clientId}/{file}`), whose file name is the secret. Logged like the rest.
    /// `path` is the request's target as sent (its query too), read before any routing.
    public static func mayReadByAddress(method: HTTPRequest.Method, path: String) -> Bool {
        (method == .get || method == .head) && path.utf8.starts(with: "/api/screenshots/".utf8)
    }

    /// The client the request reached, if its credentials resolved to one.
    public var clientID: String? { client.withLock { $0 } }
}
