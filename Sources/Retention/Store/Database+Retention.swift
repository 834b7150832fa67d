import Feedback
import Foundation
import GRDB

/// What one feedback deletion step removed.
struct FeedbackBatch {
    var feedback = 0
    var screenshots = 0
    /// `created_at` of the oldest deleted row, in epoch milliseconds.
    var oldestCreatedAt: Int64?
}

// MARK: Batched deletes, run inside the caller's `database.write`

extension Database {
    /// Deletes up to `limit` feedback rows matching `condition` (on `feedback`), queueing their screenshot files in
    /// `file_deletion` so they are unlinked after the commit.
    func deleteFeedbackBatch(
        where condition: String, arguments: StatementArguments, limit: Int, at millis: Int64
    ) throws -> FeedbackBatch {
        let rows = try Row.fetchAll(
            self, sql: "SELECT rowid, created_at FROM feedback WHERE \(condition) LIMIT \(limit)", arguments: arguments)
        guard !rows.isEmpty else { return FeedbackBatch() }
        // Row ids are integers read from the database: safe to inline, and one statement per batch.
        let ids = rows.map { String($0[0] as Int64) }.joined(separator: ",")
        try queueScreenshotFiles(ofFeedbackWhere: "f.rowid IN (\(ids))", arguments: [], at: millis)
        let screenshots = changesCount
        try execute(sql: "DELETE FROM feedback WHERE rowid IN (\(ids))")
        return FeedbackBatch(
            feedback: changesCount, screenshots: screenshots, oldestCreatedAt: rows.map { $0[1] as Int64 }.min())
    }

    /// Deletes up to `limit` uploaded screenshots of a client that were never attached to feedback (all of them
    /// when `cutoff` is nil, else those uploaded before it), queueing their files. Returns the count and the oldest
    /// upload instant.
    func deleteUnattachedScreenshotBatch(
        clientID: String, uploadedBefore cutoff: Int64?, limit: Int, at millis: Int64
    ) throws -> (count: Int, oldest: Int64?) {
        var condition = "client_id = ? AND feedback_id IS NULL"
        var arguments: StatementArguments = [clientID]
        if let cutoff {
            condition += " AND created_at < ?"
            arguments += [cutoff]
        }
        let rows = try Row.fetchAll(
            self, sql: "SELECT file_name, created_at FROM screenshot WHERE \(condition) LIMIT \(limit)",
            arguments: arguments)
        guard !rows.isEmpty else { return (0, nil) }
        let names: [String] = rows.map { $0[0] }
        let marks = Array(repeating: "?", count: names.count).joined(separator: ",")
        try execute(
            sql: "INSERT OR IGNORE INTO file_deletion (file_name, queued_at) SELECT file_name, ? FROM screenshot "
                + "WHERE file_name IN (\(marks))",
            arguments: StatementArguments([millis]) + StatementArguments(names))
        try execute(sql: "DELETE FROM screenshot WHERE file_name IN (\(marks))", arguments: StatementArguments(names))
        return (changesCount, rows.map { $0[1] as Int64 }.min())
    }

    /// Deletes up to `limit` rows of `table` matching `condition`; returns how many went.
    func deleteBatch(from table: String, where condition: String, arguments: StatementArguments, limit: Int) throws
        -> Int
    {
        try execute(
            sql: "DELETE FROM \(table) WHERE rowid IN (SELECT rowid FROM \(table) WHERE \(condition) LIMIT \(limit))",
            arguments: arguments)
        return changesCount
    }
}

// MARK: Audit entries

extension Database {
    /// Records a deletion; returns the entry's id so later batches of the same deletion can update it.
    func insertAuditEntry(
        kind: AuditKind, clientID: String?, dueAt: Int64?, finishedAt: Int64, counts: DeletionCounts
    ) throws -> Int64 {
        try execute(
            sql: "INSERT INTO audit_entry (client_id, kind, due_at, finished_at, counts) VALUES (?, ?, ?, ?, ?)",
            arguments: [clientID, kind.rawValue, dueAt, finishedAt, counts.jsonText])
        return lastInsertedRowID
    }

    /// Brings an entry up to date after another batch: the earliest due instant, the latest finish, the counts.
    func updateAuditEntry(id: Int64, dueAt: Int64?, finishedAt: Int64, counts: DeletionCounts) throws {
        try execute(
            sql: """
                UPDATE audit_entry SET due_at = COALESCE(MIN(due_at, ?), due_at, ?), finished_at = ?, counts = ?
                WHERE id = ?
                """,
            arguments: [dueAt, dueAt, finishedAt, counts.jsonText, id])
    }
}
