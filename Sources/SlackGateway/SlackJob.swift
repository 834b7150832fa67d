import Foundation
public import GRDB

/// One row of the durable `job` table. Payloads hold ids and outcome codes only, never message text.
public struct SlackJob: Sendable, Equatable {
    /// What a job does.
    public enum Kind: String, Sendable, CaseIterable {
        /// Fetch a reacted-to message and store it (payload: channel, ts, user, emoji).
        case captureReaction = "slack.capture"
        /// Tell a member, ephemerally, how their forward went (payload: channel, user, outcome, threadTs?).
        case notify = "slack.notify"
        /// Answer through an interaction's `response_url` (payload: responseURL, outcome, feedbackId?, channel?, ts?).
        case respond = "slack.respond"
        /// Scrub author and forwarder ids of an uninstalled workspace (deadline: event + 60 s).
        case uninstall = "slack.uninstall"
        /// Revoke a token of a closed account (payload: tokenEnvelope, base64). Enqueued by Retention.
        case revoke = "slack.revoke"
    }

    public var id: Int64
    public var kind: Kind
    public var clientId: String?
    public var teamId: String?
    public var payload: [String: String]
    public var runAt: Int64
    public var attempts: Int
    public var deadlineAt: Int64?

    /// Every kind this worker owns, as SQL literals.
    static let kindsSQL = Kind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
}

/// The queue's SQL, for use inside a caller's `write`.
public enum JobQueue {
    /// Adds a job due at `runAt` (epoch ms).
    public static func enqueue(
        _ kind: SlackJob.Kind, clientId: String?, teamId: String?, payload: [String: String], runAt: Int64,
        deadlineAt: Int64? = nil, in db: Database
    ) throws {
        let json = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
        try db.execute(
            sql: """
                INSERT INTO job (kind, client_id, team_id, payload, run_at, attempts, deadline_at, created_at)
                VALUES (?, ?, ?, ?, ?, 0, ?, ?)
                """,
            arguments: [kind.rawValue, clientId, teamId, json, runAt, deadlineAt, runAt])
    }

    /// Jobs due at `now` (epoch ms), oldest first.
    public static func due(at now: Int64, limit: Int, in db: Database) throws -> [SlackJob] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT id, kind, client_id, team_id, payload, run_at, attempts, deadline_at FROM job
                WHERE run_at <= ? AND kind IN (\(SlackJob.kindsSQL)) ORDER BY run_at, id LIMIT ?
                """,
            arguments: [now, limit]
        ).compactMap(job(from:))
    }

    /// When the next job is due (epoch ms), if any.
    static func nextRunAt(in db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT MIN(run_at) FROM job WHERE kind IN (\(SlackJob.kindsSQL))")
    }

    static func delete(_ id: Int64, in db: Database) throws {
        try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [id])
    }

    /// Moves a job to `runAt`, recording the attempt and the error code (never a message or body).
    static func reschedule(_ id: Int64, runAt: Int64, countAttempt: Bool, error: String, in db: Database) throws {
        try db.execute(
            sql: "UPDATE job SET run_at = ?, attempts = attempts + ?, last_error = ? WHERE id = ?",
            arguments: [runAt, countAttempt ? 1 : 0, error, id])
    }

    private static func job(from row: Row) -> SlackJob? {
        guard let kind = SlackJob.Kind(rawValue: row["kind"]) else { return nil }
        let text: String = row["payload"]
        let payload = (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
        return SlackJob(
            id: row["id"], kind: kind, clientId: row["client_id"], teamId: row["team_id"], payload: payload,
            runAt: row["run_at"], attempts: row["attempts"], deadlineAt: row["deadline_at"])
    }
}
