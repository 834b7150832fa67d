import Feedback
import Foundation
import UseroCrypto

/// Signed-in inbox sessions, kept in the store: a sign-in survives a restart and works on every instance.
///
/// The store keys them by the SHA-256 of the session id, so what it holds cannot be replayed as a cookie. Each
/// session carries its own CSRF token, which every form of the inbox repeats in a hidden field.
struct InboxSessions: Sendable {
    /// One signed-in browser.
    struct Session: Sendable {
        let clientID: String
        let csrfToken: String
    }

    /// A session ends after this long without a request…
    static let idleTimeout: TimeInterval = 2 * 3600
    /// …and after this long in any case.
    static let absoluteTimeout: TimeInterval = 12 * 3600
    /// Sessions one client may hold at once; signing in again beyond that ends that client's least recently used
    /// session, never another client's, so no tenant can sign everyone else out by signing in many times.
    static let perClientCapacity = 50
    /// A session's last-seen instant is written at most this often, so reading pages does not write every time.
    static let refreshInterval: TimeInterval = 60

    let store: any InboxSessionStore
    let clock: any WallClock

    /// Starts a session for a client; returns the session id (for the cookie) and its CSRF token.
    func start(clientID: String) async throws -> (id: String, csrfToken: String) {
        let now = epochMillis(clock.now())
        let id = Self.randomToken()
        let csrf = Self.randomToken()
        try await store.startInboxSession(
            StoredInboxSession(key: Self.key(id), clientID: clientID, csrfToken: csrf, createdAt: now, lastSeenAt: now),
            perClient: Self.perClientCapacity)
        return (id, csrf)
    }

    /// Signs in with an admin key: the session of the client `clientOpening` says the key opens, or nil when it opens
    /// none. The key is asked again once the session exists: a key rotated (`usero clients rotate-key`) between the
    /// first answer and the session's start ended the client's sessions before this one existed, so either the
    /// rotation's end of sessions comes after this start and ends it, or the second answer is no and it ends here.
    func signIn(clientOpening: (_ again: Bool) async throws -> String?) async throws
        -> (clientID: String, id: String, csrfToken: String)?
    {
        guard let clientID = try await clientOpening(false) else { return nil }
        let session = try await start(clientID: clientID)
        guard try await clientOpening(true) == clientID else {
            try await end(id: session.id)
            return nil
        }
        return (clientID, session.id, session.csrfToken)
    }

    /// The live session for a cookie value, refreshed; nil when unknown or expired.
    func session(id: String) async throws -> Session? {
        guard Self.isWellFormed(id) else { return nil }
        let now = clock.now()
        let stored = try await store.inboxSession(
            key: Self.key(id), now: epochMillis(now),
            idleSince: epochMillis(now.addingTimeInterval(-Self.idleTimeout)),
            createdSince: epochMillis(now.addingTimeInterval(-Self.absoluteTimeout)),
            refreshBefore: epochMillis(now.addingTimeInterval(-Self.refreshInterval)))
        return stored.map { Session(clientID: $0.clientID, csrfToken: $0.csrfToken) }
    }

    /// Ends a session.
    func end(id: String) async throws {
        guard Self.isWellFormed(id) else { return }
        try await store.endInboxSession(key: Self.key(id))
    }

    /// 256 random bits as 64 hex characters.
    static func randomToken() -> String {
        let bytes = (try? SecureRandom.bytes(count: 32)) ?? []
        precondition(bytes.count == 32, "OpenSSL RAND_bytes failed")
        return Hex.encode(bytes)
    }

    static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == 64 && token.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    static func key(_ id: String) -> String { Hex.encode(SHA256.hash(Array(id.utf8))) }
}
