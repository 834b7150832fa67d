import Foundation
public import Inbox
import PostgresNIO

extension PostgresStore: InboxSessionStore {
    public func startInboxSession(_ session: StoredInboxSession, perClient: Int) async throws {
        let keep = Int64(max(perClient - 1, 0))
        try await write { tx in
            // The client's oldest sessions beyond the cap end; other clients' sessions are never touched.
            try await tx.execute(
                """
                DELETE FROM inbox_session WHERE key IN (
                    SELECT key FROM inbox_session WHERE client_id = \(session.clientID)
                    ORDER BY last_seen_at DESC OFFSET \(keep))
                """)
            try await tx.execute(
                """
                INSERT INTO inbox_session (key, client_id, csrf_token, created_at, last_seen_at)
                VALUES (\(session.key), \(session.clientID), \(session.csrfToken), \(session.createdAt),
                    \(session.lastSeenAt))
                """)
        }
    }

    public func inboxSession(key: String, now: Int64, idleSince: Int64, createdSince: Int64, refreshBefore: Int64)
        async throws -> StoredInboxSession?
    {
        let found = try await row(
            "SELECT key, client_id, csrf_token, created_at, last_seen_at FROM inbox_session WHERE key = \(key)"
        ).map { row in
            StoredInboxSession(
                key: try row.value("key"), clientID: try row.value("client_id"),
                csrfToken: try row.value("csrf_token"), createdAt: try row.value("created_at"),
                lastSeenAt: try row.value("last_seen_at"))
        }
        guard var session = found else { return nil }
        guard session.lastSeenAt >= idleSince, session.createdAt >= createdSince else {
            try await endInboxSession(key: key)
            return nil
        }
        if session.lastSeenAt < refreshBefore {
            session.lastSeenAt = now
            try await write { tx in
                try await tx.execute("UPDATE inbox_session SET last_seen_at = \(now) WHERE key = \(key)")
            }
        }
        return session
    }

    public func endInboxSession(key: String) async throws {
        try await write { tx in try await tx.execute("DELETE FROM inbox_session WHERE key = \(key)") }
    }

    public func endInboxSessions(clientID: String) async throws {
        try await write { tx in try await tx.execute("DELETE FROM inbox_session WHERE client_id = \(clientID)") }
    }
}
