public import Feedback
public import Foundation

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
/// next sweep with no extra state; each batch deletes only while the client is still on that plan, so one moved to
/// paid while a sweep runs loses nothing more. It deletes in small batches, each its own write, so the API's writes interleave
/// with it; every batch updates the client's audit entry in the same transaction, so a sweep cut short by a crash
/// has recorded exactly what it deleted, and the next sweep deletes the rest.
public struct RetentionSweeper: Sendable {
    /// Batched deletions with their audit records.
    public let store: any RetentionStore
    /// Screenshot bytes of deleted rows.
    public let feedback: any FeedbackStore
    /// The time source for `finished_at`.
    public let clock: any WallClock
    /// Windows and batch sizes.
    public let policy: RetentionPolicy

    /// Creates a sweeper.
    public init(
        store: any RetentionStore, feedback: any FeedbackStore, clock: any WallClock,
        policy: RetentionPolicy = .standard
    ) {
        self.store = store
        self.feedback = feedback
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
        for client in try await store.clientPlans() {
            let counts = try await sweep(
                clientID: client.clientID, plan: client.plan, asOf: asOf, budget: &batchBudget)
            guard !counts.isEmpty else { continue }
            summary.clients += 1
            summary.feedback += counts["feedback"]
            summary.screenshots += counts["screenshots"]
            summary.orphanScreenshots += counts["orphanScreenshots"]
        }
        try await feedback.purgeDeletedScreenshots()
        return summary
    }

    /// Sweeps one client; returns what went.
    func sweep(clientID: String, plan: Plan, asOf: Date, budget: inout Int) async throws -> DeletionCounts {
        var audit = AuditProgress(kind: .retentionSweep, clientID: clientID)
        let size = policy.batchSize
        if let retention = policy.feedbackRetention(for: plan) {
            let cutoff = epochMillis(asOf.addingTimeInterval(-retention))
            let window = Int64(retention * 1000)
            try await deleteAll(&audit, budget: &budget, window: window) { record in
                try await store.deleteFeedbackBatch(
                    .createdBefore(clientID: clientID, cutoff: cutoff, plan: plan), limit: size,
                    at: epochMillis(clock.now()), record: record)
            } counts: {
                DeletionCounts(["feedback": $0.rows, "screenshots": $0.screenshots])
            }
        }
        let orphanCutoff = epochMillis(asOf.addingTimeInterval(-policy.orphanUploadRetention))
        try await deleteAll(&audit, budget: &budget, window: Int64(policy.orphanUploadRetention * 1000)) { record in
            try await store.deleteUnattachedUploadBatch(
                clientID: clientID, uploadedBefore: orphanCutoff, limit: size, at: epochMillis(clock.now()),
                record: record)
        } counts: {
            DeletionCounts(["orphanScreenshots": $0.rows])
        }
        return audit.counts
    }

    /// Runs batches of `delete` until one comes up short, pausing between them so that the API's writes go first;
    /// each names in the audit what it deleted (`counts`) and since when it was due (its oldest instant plus
    /// `window`).
    private func deleteAll(
        _ audit: inout AuditProgress, budget: inout Int, window: Int64,
        _ delete: (BatchRecord) async throws -> (batch: DeletionBatch, audit: AuditProgress?)?,
        counts: @escaping @Sendable (DeletionBatch) -> DeletionCounts
    ) async throws {
        while true {
            try spend(&budget)
            let started = ContinuousClock.now
            let deleted = try await batch(&audit, delete, counts: counts) { $0.oldestCreatedAt.map { $0 + window } }
            if deleted < policy.batchSize { return }
            try await pause(after: ContinuousClock.now - started)
        }
    }

    /// Runs one deletion batch that records itself in the audit entry in the same transaction.
    private func batch(
        _ audit: inout AuditProgress,
        _ delete: (BatchRecord) async throws -> (batch: DeletionBatch, audit: AuditProgress?)?,
        counts: @escaping @Sendable (DeletionBatch) -> DeletionCounts,
        dueAt: @escaping @Sendable (DeletionBatch) -> Int64?
    ) async throws -> Int {
        guard let (batch, updated) = try await delete(.audit(audit, counts: counts, dueAt: dueAt)) else { return 0 }
        if let updated { audit = updated }
        return batch.rows
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

