import Feedback
import Foundation
import UseroCrypto

/// Signed-in inbox sessions, kept in memory: a restart signs everyone out, which an inbox can afford.
///
/// The map is keyed by the SHA-256 of the session id, so what sits in memory cannot be replayed as a cookie. Each
/// session carries its own CSRF token, which every form of the inbox repeats in a hidden field.
actor InboxSessions {
    /// One signed-in browser.
    struct Session: Sendable {
        let clientID: String
        let csrfToken: String
        let createdAt: Date
        var lastSeenAt: Date
    }

    /// A session ends after this long without a request…
    static let idleTimeout: TimeInterval = 2 * 3600
    /// …and after this long in any case.
    static let absoluteTimeout: TimeInterval = 12 * 3600
    /// Oldest sessions are dropped beyond this many, so a flood of sign-ins cannot grow memory without bound.
    static let capacity = 10_000
    /// Sessions one client may hold at once; signing in again beyond that ends that client's least recently used
    /// session, never another client's, so no tenant can sign everyone else out by signing in many times.
    static let perClientCapacity = 50

    private let clock: any WallClock
    private var sessions: [String: Session] = [:]

    init(clock: any WallClock) {
        self.clock = clock
    }

    /// Starts a session for a client; returns the session id (for the cookie) and its CSRF token.
    func start(clientID: String) -> (id: String, csrfToken: String) {
        let now = clock.now()
        let mine = sessions.filter { $0.value.clientID == clientID }
        if mine.count >= Self.perClientCapacity {
            let stalest = mine.sorted { $0.value.lastSeenAt < $1.value.lastSeenAt }.prefix(mine.count - Self.perClientCapacity + 1)
            for (key, _) in stalest { sessions[key] = nil }
        }
        if sessions.count >= Self.capacity { evict(now: now) }
        let id = Self.randomToken()
        let csrf = Self.randomToken()
        sessions[Self.key(id)] = Session(clientID: clientID, csrfToken: csrf, createdAt: now, lastSeenAt: now)
        return (id, csrf)
    }

    /// The live session for a cookie value, refreshed; nil when unknown or expired.
    func session(id: String) -> Session? {
        guard Self.isWellFormed(id) else { return nil }
        let key = Self.key(id)
        let now = clock.now()
        guard var session = sessions[key] else { return nil }
        guard Self.isLive(session, at: now) else {
            sessions[key] = nil
            return nil
        }
        session.lastSeenAt = now
        sessions[key] = session
        return session
    }

    /// Ends a session.
    func end(id: String) {
        guard Self.isWellFormed(id) else { return }
        sessions[Self.key(id)] = nil
    }

    /// How many sessions are held (tests).
    var count: Int { sessions.count }

    // MARK: Helpers

    private func evict(now: Date) {
        sessions = sessions.filter { Self.isLive($0.value, at: now) }
        guard sessions.count >= Self.capacity else { return }
        let oldest = sessions.sorted { $0.value.lastSeenAt < $1.value.lastSeenAt }.prefix(sessions.count / 10 + 1)
        for (key, _) in oldest { sessions[key] = nil }
    }

    private static func isLive(_ session: Session, at now: Date) -> Bool {
        now.timeIntervalSince(session.lastSeenAt) < idleTimeout
            && now.timeIntervalSince(session.createdAt) < absoluteTimeout
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

    private static func key(_ id: String) -> String { Hex.encode(SHA256.hash(Array(id.utf8))) }
}
