public import Feedback
public import Foundation
import GRDB

/// What kind of deletion an audit entry records.
public enum AuditKind: String, Sendable, Codable, CaseIterable {
    /// A scheduled or manual retention sweep (per client).
    case retentionSweep = "retention_sweep"
    /// `DELETE /api/account`: the client and everything it owned.
    case accountClosure = "account_closure"
    /// `POST /api/privacy/erase`: what was held about one person.
    case privacyErasure = "privacy_erasure"
}

/// One deletion, as the audit trail keeps it: kind, instants and counts. Never content.
public struct AuditEntry: Sendable, Equatable, Encodable {
    /// `retention_sweep`, `account_closure`, `privacy_erasure`, or a kind another area records (Slack uninstall).
    public var kind: String
    /// The client whose data went.
    public var clientId: String?
    /// When the deletion became due: for a sweep, the earliest instant one of the deleted items expired; for a
    /// closure or an erasure, when it was requested.
    public var dueAt: Date?
    /// When the deletion (or its last batch) committed.
    public var finishedAt: Date
    /// What went, by kind.
    public var counts: DeletionCounts

    enum Keys: String, CodingKey { case kind, dueAt, finishedAt, counts }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(dueAt.map(iso8601), forKey: .dueAt)
        try c.encode(iso8601(finishedAt), forKey: .finishedAt)
        try c.encode(counts, forKey: .counts)
    }
}

/// Reads the audit trail.
public struct AuditLog: Sendable {
    /// The shared database.
    public let database: AppDatabase

    /// Most entries one listing returns.
    public static let maxEntries = 1_000

    /// Creates the reader.
    public init(database: AppDatabase) {
        self.database = database
    }

    /// A client's entries, newest first.
    public func entries(clientID: String, limit: Int = maxEntries) async throws -> [AuditEntry] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT kind, client_id, due_at, finished_at, counts FROM audit_entry WHERE client_id = ?
                    ORDER BY finished_at DESC, id DESC LIMIT ?
                    """,
                arguments: [clientID, limit]
            ).map { row in
                AuditEntry(
                    kind: row[0], clientId: row[1], dueAt: (row[2] as Int64?).map(dateFromEpochMillis),
                    finishedAt: dateFromEpochMillis(row[3]), counts: DeletionCounts(jsonText: row[4]))
            }
        }
    }
}
