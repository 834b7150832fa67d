import Foundation
import GRDB
public import Inbox

extension SQLiteStore: InboxSessionStore {
    public func startInboxSession(_ session: StoredInboxSession, perClient: Int) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    DELETE FROM inbox_session WHERE key IN (
                        SELECT key FROM inbox_session WHERE client_id = ?
                        ORDER BY last_seen_at DESC LIMIT -1 OFFSET ?)
                    """,
                arguments: [session.clientID, max(perClient - 1, 0)])
            try db.execute(
                sql: """
                    INSERT INTO inbox_session (key, client_id, csrf_token, created_at, last_seen_at)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [session.key, session.clientID, session.csrfToken, session.createdAt, session.lastSeenAt])
        }
    }

    public func inboxSession(key: String, now: Int64, idleSince: Int64, createdSince: Int64, refreshBefore: Int64)
        async throws -> StoredInboxSession?
    {
        let found = try await database.read { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: "SELECT key, client_id, csrf_token, created_at, last_seen_at FROM inbox_session WHERE key = ?"),
                arguments: [key]
            ).map { row in
                StoredInboxSession(
                    key: try row.value("key"), clientID: try row.value("client_id"),
                    csrfToken: try row.value("csrf_token"), createdAt: try row.value("created_at"),
                    lastSeenAt: try row.value("last_seen_at"))
            }
        }
        guard var session = found else { return nil }
        guard session.lastSeenAt >= idleSince, session.createdAt >= createdSince else {
            try await endInboxSession(key: key)
            return nil
        }
        if session.lastSeenAt < refreshBefore {
            session.lastSeenAt = now
            try await database.write { db in
                try db.execute(sql: "UPDATE inbox_session SET last_seen_at = ? WHERE key = ?", arguments: [now, key])
            }
        }
        return session
    }

    public func endInboxSession(key: String) async throws {
        try await database.write { db in try db.execute(sql: "DELETE FROM inbox_session WHERE key = ?", arguments: [key]) }
    }

    public func endInboxSessions(clientID: String) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM inbox_session WHERE client_id = ?", arguments: [clientID])
        }
    }
}
