public import Feedback
public import Foundation
import GRDB

/// What one sweep deleted, in counts only.
public struct SweepSummary: Sendable, Equatable, Encodable {
    /// The instant the sweep judged ages against.
    public var asOf: Date
    /// Clients that lost something.
    public var clients = 0
    /// Feedback rows past their plan's retention.
    public var feedback = 0
    /// Screenshot files of those rows.
    public var screenshots = 0
    /// Uploads never attached to feedback, past a day.
    public var orphanScreenshots = 0

    /// Everything deleted.
    public var total: Int { feedback + screenshots + orphanScreenshots }

    /// Creates an empty summary.
    public init(asOf: Date) {
        self.asOf = asOf
    }

    enum Keys: String, CodingKey { case asOf, clients, feedback, screenshots, orphanScreenshots }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(iso8601(asOf), forKey: .asOf)
        try c.encode(clients, forKey: .clients)
        try c.encode(feedback, forKey: .feedback)
        try c.encode(screenshots, forKey: .screenshots)
        try c.encode(orphanScreenshots, forKey: .orphanScreenshots)
    }
}

/// Deletes what the plans no longer allow: feedback of free clients older than 30 days (with its screenshot files),
/// and uploads never attached to feedback after a day, on every plan.
///
/// It reads each client's plan at the moment it runs, so a client moved from paid to free loses its old rows at the
/// next sweep with no extra state. It deletes in small batches, each its own write, so the API's writes interleave
/// with it; every batch updates the client's audit entry in the same transaction, so a sweep cut short by a crash
/// has recorded exactly what it deleted, and the next sweep deletes the rest.
public struct RetentionSweeper: Sendable {
    /// The shared database.
    public let database: AppDatabase
    /// Screenshot files.
    public let files: ScreenshotFiles
    /// The time source for `finished_at`.
    public let clock: any WallClock
    /// Windows and batch sizes.
    public let policy: RetentionPolicy

    /// Creates a sweeper.
    public init(
        database: AppDatabase, files: ScreenshotFiles, clock: any WallClock, policy: RetentionPolicy = .standard
    ) {
        self.database = database
        self.files = files
        self.clock = clock
        self.policy = policy
    }

    /// Runs one sweep as of `asOf`. Idempotent: running it again deletes nothing more. Stops early (throwing
    /// `CancellationError`) when its task is cancelled; what it deleted until then stays deleted and audited.
    public func sweep(asOf: Date) async throws -> SweepSummary {
        var unlimited = Int.max
        return try await sweep(asOf: asOf, batchBudget: &unlimited)
    }

    /// The sweep, stopping with `SweepInterrupted` once `batchBudget` writes are spent: tests use it to stand in
    /// for a crash half-way.
    func sweep(asOf: Date, batchBudget: inout Int) async throws -> SweepSummary {
        var summary = SweepSummary(asOf: asOf)
        let clients = try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, plan FROM client WHERE id NOT IN (SELECT client_id FROM account_deletion)"
            ).map { row in (id: row[0] as String, plan: Plan(rawValue: row[1]) ?? .free) }
        }
        for client in clients {
            let counts = try await sweep(clientID: client.id, plan: client.plan, asOf: asOf, budget: &batchBudget)
            guard !counts.isEmpty else { continue }
            summary.clients += 1
            summary.feedback += counts["feedback"]
            summary.screenshots += counts["screenshots"]
            summary.orphanScreenshots += counts["orphanScreenshots"]
        }
        try await files.purgeAllQueued(in: database)
        return summary
    }

    /// Sweeps one client; returns what went.
    func sweep(clientID: String, plan: Plan, asOf: Date, budget: inout Int) async throws -> DeletionCounts {
        var audit = AuditProgress(kind: .retentionSweep, clientID: clientID)
        if let retention = policy.feedbackRetention(for: plan) {
            let cutoff = epochMillis(asOf.addingTimeInterval(-retention))
            let window = Int64(retention * 1000)
            while true {
                try spend(&budget)
                let started = ContinuousClock.now
                let batch = try await batchWrite(&audit) { db, now in
                    let batch = try db.deleteFeedbackBatch(
                        where: "client_id = ? AND created_at < ?", arguments: [clientID, cutoff],
                        limit: policy.batchSize, at: now)
                    let counts = DeletionCounts(["feedback": batch.feedback, "screenshots": batch.screenshots])
                    return (counts, batch.oldestCreatedAt.map { $0 + window }, batch.feedback)
                }
                if batch < policy.batchSize { break }
                try await pause(after: ContinuousClock.now - started)
            }
        }
        let orphanCutoff = epochMillis(asOf.addingTimeInterval(-policy.orphanUploadRetention))
        let orphanWindow = Int64(policy.orphanUploadRetention * 1000)
        while true {
            try spend(&budget)
            let started = ContinuousClock.now
            let count = try await batchWrite(&audit) { db, now in
                let (count, oldest) = try db.deleteUnattachedScreenshotBatch(
                    clientID: clientID, uploadedBefore: orphanCutoff, limit: policy.batchSize, at: now)
                return (DeletionCounts(["orphanScreenshots": count]), oldest.map { $0 + orphanWindow }, count)
            }
            if count < policy.batchSize { break }
            try await pause(after: ContinuousClock.now - started)
        }
        return audit.counts
    }

    /// Runs one deletion batch and, in the same transaction, records it in the audit entry.
    private func batchWrite(
        _ audit: inout AuditProgress,
        _ body: @escaping @Sendable (Database, Int64) throws -> (DeletionCounts, Int64?, Int)
    ) async throws -> Int {
        let progress = audit
        let clock = self.clock
        let (updated, deleted) = try await database.write { db in
            let now = epochMillis(clock.now())
            let (counts, dueAt, deleted) = try body(db, now)
            var next = progress
            try next.record(counts, dueAt: dueAt, at: now, in: db)
            return (next, deleted)
        }
        audit = updated
        return deleted
    }

    /// Takes one write from the budget; checks for cancellation (graceful shutdown) between batches.
    private func spend(_ budget: inout Int) throws {
        try Task.checkCancellation()
        guard budget > 0 else { throw SweepInterrupted() }
        budget -= 1
    }

    /// Sleeps twice as long as the last batch took (its write and its commit), at least `pauseBetweenBatches`.
    private func pause(after batch: Duration) async throws {
        let pause = max(batch * 2, policy.pauseBetweenBatches)
        if pause > .zero { try await Task.sleep(for: pause) }
    }
}

/// A sweep stopped by its batch budget (a stand-in for a crash in tests).
struct SweepInterrupted: Error {}

/// An audit entry being written batch by batch: created with the first batch that deletes something.
struct AuditProgress: Sendable {
    let kind: AuditKind
    let clientID: String?
    var entryID: Int64?
    var counts = DeletionCounts()

    init(kind: AuditKind, clientID: String?) {
        self.kind = kind
        self.clientID = clientID
    }

    /// Adds a batch's counts to the entry, inside the batch's transaction.
    mutating func record(_ batch: DeletionCounts, dueAt: Int64?, at now: Int64, in db: Database) throws {
        guard !batch.isEmpty else { return }
        counts.add(batch)
        if let entryID {
            try db.updateAuditEntry(id: entryID, dueAt: dueAt, finishedAt: now, counts: counts)
        } else {
            entryID = try db.insertAuditEntry(
                kind: kind, clientID: clientID, dueAt: dueAt, finishedAt: now, counts: counts)
        }
    }
}

extension ScreenshotFiles {
    /// Unlinks every queued file, however many there are (`purgeQueued` takes them in chunks).
    func purgeAllQueued(in database: AppDatabase) async throws {
        while try await database.read({ db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM file_deletion)")
            })
            == true
        {
            try await purgeQueued(in: database)
        }
    }
}
