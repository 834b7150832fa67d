public import Feedback
import Foundation
import GRDB
import Logging

/// Closes accounts: the client and everything it owns go, durably.
///
/// `begin` is one write: the client is marked in `account_deletion` (from that commit on, every lookup treats it
/// as unknown), its Slack tokens are handed to the Slack worker for `auth.revoke` (a `slack.revoke` job holding the
/// sealed token, not tied to the client) and its installations are deleted. `finish` then deletes the rest in
/// batches: feedback and screenshot files, uploads, end users, jobs, OAuth states, and last the client row with
/// its `account_deletion` mark and the audit entry, in one write. A process that dies in between leaves the mark;
/// `finishPending` (run at startup and before every sweep) completes it.
public struct AccountCloser: Sendable {
    /// The shared database.
    public let database: AppDatabase
    /// Screenshot files.
    public let files: ScreenshotFiles
    /// The time source.
    public let clock: any WallClock
    /// Batch sizes.
    public let policy: RetentionPolicy

    /// Creates the closer.
    public init(
        database: AppDatabase, files: ScreenshotFiles, clock: any WallClock, policy: RetentionPolicy = .standard
    ) {
        self.database = database
        self.files = files
        self.clock = clock
        self.policy = policy
    }

    /// Closes the account now: `begin`, then `finish`. Returns what went.
    @discardableResult
    public func close(clientID: String) async throws -> DeletionCounts {
        guard try await begin(clientID: clientID) else { throw FeedbackError.unknownClient }
        return try await finish(clientID: clientID) ?? DeletionCounts()
    }

    /// The first, atomic step; false when the client is unknown or already being closed.
    public func begin(clientID: String) async throws -> Bool {
        let clock = self.clock
        return try await database.write { db in
            let now = epochMillis(clock.now())
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO account_deletion (client_id, requested_at)
                    SELECT id, ? FROM client WHERE id = ?
                    """,
                arguments: [now, clientID])
            guard db.changesCount > 0 else { return false }
            let slack = try Self.handOverSlackTokens(clientID: clientID, at: now, in: db)
            try Self.addProgress(DeletionCounts(["slackInstallations": slack]), clientID: clientID, in: db)
            return true
        }
    }

    /// Completes every closure that a previous process (or a failed request) left half-way; returns how many.
    @discardableResult
    public func finishPending() async throws -> Int {
        let pending = try await database.read { db in
            try String.fetchAll(db, sql: "SELECT client_id FROM account_deletion ORDER BY requested_at")
        }
        var finished = 0
        for clientID in pending where try await finish(clientID: clientID) != nil { finished += 1 }
        return finished
    }

    /// Deletes what a begun closure still has to delete. `maxBatches` stops it early (tests use it to stand in for
    /// a crash half-way); nil is returned then, or when no closure of this client is pending.
    @discardableResult
    public func finish(clientID: String, maxBatches: Int = .max) async throws -> DeletionCounts? {
        var batches = 0
        let limit = policy.batchSize
        let steps: [@Sendable (Database, Int64) throws -> DeletionCounts] = [
            { db, now in
                let batch = try db.deleteFeedbackBatch(
                    where: "client_id = ?", arguments: [clientID], limit: limit, at: now)
                return DeletionCounts(["feedback": batch.feedback, "screenshots": batch.screenshots])
            },
            { db, now in
                let (count, _) = try db.deleteUnattachedScreenshotBatch(
                    clientID: clientID, uploadedBefore: nil, limit: limit, at: now)
                return DeletionCounts(["screenshots": count])
            },
            { db, _ in
                DeletionCounts([
                    "endUsers": try db.deleteBatch(
                        from: "end_user", where: "client_id = ?", arguments: [clientID], limit: limit)
                ])
            },
            { db, _ in
                DeletionCounts([
                    "jobs": try db.deleteBatch(from: "job", where: "client_id = ?", arguments: [clientID], limit: limit)
                ])
            },
        ]
        for step in steps {
            while true {
                guard batches < maxBatches else { return nil }
                batches += 1
                guard let deleted = try await progressWrite(clientID: clientID, step) else { return nil }
                if deleted.isEmpty { break }
            }
        }
        guard batches < maxBatches else { return nil }
        let counts = try await completeWrite(clientID: clientID)
        try await files.purgeAllQueued(in: database)
        return counts
    }

    // MARK: Writes

    /// One batch plus its progress record, in one transaction; nil when the closure is no longer pending.
    private func progressWrite(
        clientID: String, _ step: @escaping @Sendable (Database, Int64) throws -> DeletionCounts
    ) async throws -> DeletionCounts? {
        let clock = self.clock
        return try await database.write { db in
            guard try Self.isPending(clientID, in: db) else { return nil }
            let counts = try step(db, epochMillis(clock.now()))
            try Self.addProgress(counts, clientID: clientID, in: db)
            return counts
        }
    }

    /// The last write: tokens again (an install that raced the first step), OAuth states, tombstones, the client
    /// row (its foreign keys take anything left), the mark, and the audit entry with everything counted.
    private func completeWrite(clientID: String) async throws -> DeletionCounts? {
        let clock = self.clock
        return try await database.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT requested_at, counts FROM account_deletion WHERE client_id = ?",
                    arguments: [clientID])
            else { return nil }
            let now = epochMillis(clock.now())
            var counts = DeletionCounts(jsonText: row[1])
            counts["slackInstallations"] += try Self.handOverSlackTokens(clientID: clientID, at: now, in: db)
            try db.execute(sql: "DELETE FROM oauth_state WHERE client_id = ?", arguments: [clientID])
            counts["oauthStates"] += db.changesCount
            try db.execute(sql: "DELETE FROM slack_tombstone WHERE client_id = ?", arguments: [clientID])
            counts["slackTombstones"] += db.changesCount
            try db.execute(sql: "DELETE FROM client WHERE id = ?", arguments: [clientID])
            try db.execute(sql: "DELETE FROM account_deletion WHERE client_id = ?", arguments: [clientID])
            _ = try db.insertAuditEntry(
                kind: .accountClosure, clientID: clientID, dueAt: row[0], finishedAt: now, counts: counts)
            return counts
        }
    }

    // MARK: Helpers (inside a write)

    private static func isPending(_ clientID: String, in db: Database) throws -> Bool {
        try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM account_deletion WHERE client_id = ?)", arguments: [clientID])
            ?? false
    }

    private static func addProgress(_ counts: DeletionCounts, clientID: String, in db: Database) throws {
        guard !counts.isEmpty else { return }
        let stored = try String.fetchOne(
            db, sql: "SELECT counts FROM account_deletion WHERE client_id = ?", arguments: [clientID])
        var total = DeletionCounts(jsonText: stored ?? "{}")
        total.add(counts)
        try db.execute(
            sql: "UPDATE account_deletion SET counts = ? WHERE client_id = ?", arguments: [total.jsonText, clientID])
    }

    /// Queues `auth.revoke` for each of the client's sealed bot tokens (the job is not the client's, so it outlives
    /// it; the Slack worker deletes it whatever Slack answers), then deletes the installations. Returns how many.
    static func handOverSlackTokens(clientID: String, at now: Int64, in db: Database) throws -> Int {
        let installations = try Row.fetchAll(
            db, sql: "SELECT team_id, token_envelope FROM slack_installation WHERE client_id = ?", arguments: [clientID]
        )
        for installation in installations {
            guard let envelope = installation[1] as Data? else { continue }
            let payload = JSONValue.object(["tokenEnvelope": .string(envelope.base64EncodedString())]).jsonText
            try db.execute(
                sql: """
                    INSERT INTO job (kind, client_id, team_id, payload, run_at, created_at)
                    VALUES ('slack.revoke', NULL, ?, ?, ?, ?)
                    """,
                arguments: [installation[0] as String, payload, now, now])
        }
        try db.execute(sql: "DELETE FROM slack_installation WHERE client_id = ?", arguments: [clientID])
        return db.changesCount
    }
}
