/// What the inbox needs stored: signed-in sessions, so a sign-in survives a restart and works on every instance.
///
/// Sessions are keyed by the SHA-256 of the session id (the cookie), so what the store holds cannot be replayed as
/// a cookie. Times are epoch milliseconds.
public protocol InboxSessionStore: Sendable {
    /// Stores a new session; the client's least recently seen sessions beyond `perClient` end in the same
    /// transaction (never another client's).
    func startInboxSession(_ session: StoredInboxSession, perClient: Int) async throws
    /// The session under `key`, unless it is gone or was last seen before `idleSince` or created before
    /// `createdSince` (then it is deleted); when found and last seen before `refreshBefore`, its last-seen instant
    /// becomes `now`.
    func inboxSession(key: String, now: Int64, idleSince: Int64, createdSince: Int64, refreshBefore: Int64)
        async throws -> StoredInboxSession?
    /// Ends a session.
    func endInboxSession(key: String) async throws
    /// Ends every session of a client: its admin key was replaced, and a browser signed in with the old one must sign
    /// in again.
    func endInboxSessions(clientID: String) async throws
}

/// One signed-in browser as the store keeps it.
public struct StoredInboxSession: Sendable, Equatable {
    /// SHA-256 (hex) of the session id.
    public var key: String
    public var clientID: String
    public var csrfToken: String
    public var createdAt: Int64
    public var lastSeenAt: Int64

    /// Creates a session value.
    public init(key: String, clientID: String, csrfToken: String, createdAt: Int64, lastSeenAt: Int64) {
        self.key = key
        self.clientID = clientID
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
    }
}
