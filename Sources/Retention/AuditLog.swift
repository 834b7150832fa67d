public import Feedback
public import Foundation

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

    /// Creates an entry value.
    public init(kind: String, clientId: String?, dueAt: Date?, finishedAt: Date, counts: DeletionCounts) {
        self.kind = kind
        self.clientId = clientId
        self.dueAt = dueAt
        self.finishedAt = finishedAt
        self.counts = counts
    }

    /// An entry as the stores keep it: instants in epoch milliseconds, the counts as their JSON text.
    public init(kind: String, clientId: String?, dueAtMillis: Int64?, finishedAtMillis: Int64, countsJSON: String) {
        self.init(
            kind: kind, clientId: clientId, dueAt: dueAtMillis.map(dateFromEpochMillis),
            finishedAt: dateFromEpochMillis(finishedAtMillis), counts: DeletionCounts(jsonText: countsJSON))
    }

    enum Keys: String, CodingKey { case kind, dueAt, finishedAt, counts }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(dueAt.map(iso8601), forKey: .dueAt)
        try c.encode(iso8601(finishedAt), forKey: .finishedAt)
        try c.encode(counts, forKey: .counts)
    }
}

/// The audit trail: read by the admin API, written by retention and, through `DeletionAuditor`, by other modules.
public struct AuditLog: DeletionAuditor {
    /// Where the trail lives.
    public let store: any RetentionStore

    /// Most entries one listing returns.
    public static let maxEntries = 1_000

    /// Creates the trail over its store.
    public init(store: any RetentionStore) {
        self.store = store
    }

    /// A client's newest entries.
    public func entries(clientID: String, limit: Int = maxEntries) async throws -> [AuditEntry] {
        try await store.auditEntries(clientID: clientID, limit: limit)
    }

    /// A page of a client's entries, newest first, after `cursor` (from the newest when nil).
    public func page(clientID: String, limit: Int = maxEntries, after cursor: AuditCursor? = nil) async throws
        -> AuditPage
    {
        try await store.auditPage(clientID: clientID, limit: limit, after: cursor)
    }

    public func recordDeletion(
        kind: String, clientID: String?, dueAt: Date?, finishedAt: Date, counts: DeletionCounts
    ) async throws {
        try await store.recordAudit(
            kind: kind, clientID: clientID, dueAt: dueAt.map(epochMillis), finishedAt: epochMillis(finishedAt),
            counts: counts)
    }
}

/// Where a page of the audit trail ends: the last entry's instant and its row's number (entries finished at the
/// same millisecond keep the order they were written in).
public struct AuditCursor: Sendable, Equatable {
    /// The entry's `finishedAt`, in epoch milliseconds.
    public var finishedAtMillis: Int64
    /// The entry's row number in the store (its order of writing).
    public var id: Int64

    /// Creates a cursor.
    public init(finishedAtMillis: Int64, id: Int64) {
        self.finishedAtMillis = finishedAtMillis
        self.id = id
    }

    /// Opaque text form for `nextCursor`, written as the feedback list's.
    public var token: String { FeedbackCursor(createdAtMillis: finishedAtMillis, id: String(id)).token }

    /// Parses `token`; nil when it is not one of ours.
    public init?(token: String) {
        guard let cursor = FeedbackCursor(token: token), let id = Int64(cursor.id), id > 0 else { return nil }
        self.init(finishedAtMillis: cursor.createdAtMillis, id: id)
    }
}

/// A page of the audit trail.
public struct AuditPage: Sendable {
    /// Newest first.
    public var entries: [AuditEntry]
    /// Where the next page starts; nil on the last.
    public var next: AuditCursor?

    /// How many entries a store reads for a page of `limit`: one more, to know whether more follow (bounded, so that
    /// no `limit` overflows).
    public static func fetchCount(limit: Int) -> Int { min(max(0, limit), 1 << 20) + 1 }

    /// Cuts `fetched` (up to `fetchCount(limit:)` entries with their row numbers, newest first) to a page, with a
    /// cursor when more follow.
    public init(fetched: [(entry: AuditEntry, id: Int64)], limit: Int) {
        let kept = fetched.prefix(max(0, limit))
        entries = kept.map(\.entry)
        next = fetched.count > kept.count
            ? kept.last.map { AuditCursor(finishedAtMillis: epochMillis($0.entry.finishedAt), id: $0.id) } : nil
    }
}

extension RetentionStore {
    /// A client's newest entries, up to `limit`.
    public func auditEntries(clientID: String, limit: Int) async throws -> [AuditEntry] {
        try await auditPage(clientID: clientID, limit: limit, after: nil).entries
    }
}
