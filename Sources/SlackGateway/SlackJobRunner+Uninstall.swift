import Feedback
import Foundation
import GRDB
import Logging

// The jobs that forget: the uninstall scrub and the revocation of a closed account's token.
extension SlackJobRunner {
    /// Nulls every author and forwarder id of the team's rows, in batches of `scrubBatch` rowids, then records
    /// when it finished (and its deadline) in the audit log.
    func scrub(_ job: SlackJob) async throws {
        guard let team = job.teamId else {
            try await database.write { db in try JobQueue.delete(job.id, in: db) }
            return
        }
        var total = 0
        var after: Int64 = 0
        while true {
            let lower = after
            let (changed, last) = try await database.write { db -> (Int, Int64?) in
                guard let upper = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT max(rowid) FROM (SELECT rowid FROM feedback INDEXED BY feedback_by_slack_team
                        WHERE slack_team_id = ? AND rowid > ? ORDER BY rowid LIMIT ?)
                        """,
                    arguments: [team, lower, Self.scrubBatch])
                else { return (0, nil) }
                try db.execute(
                    sql: """
                        UPDATE feedback SET slack_author_id = NULL, slack_forwarded_by = NULL
                        WHERE rowid IN (SELECT rowid FROM feedback INDEXED BY feedback_by_slack_team
                            WHERE slack_team_id = ? AND rowid > ? AND rowid <= ?)
                        AND (slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL)
                        """,
                    arguments: [team, lower, upper])
                return (db.changesCount, upper)
            }
            total += changed
            guard let last else { break }
            after = last
        }
        let finished = now
        let clientId = job.payload["clientId"]
        let counts = #"{"rows":\#(total)}"#
        try await database.write { db in
            try JobQueue.delete(job.id, in: db)
            try db.execute(
                sql: "INSERT INTO audit_entry (client_id, kind, due_at, finished_at, counts) VALUES (?, ?, ?, ?, ?)",
                arguments: [clientId, "slack_uninstall_scrub", job.deadlineAt, finished, counts])
        }
        var metadata: Logger.Metadata = ["slack.team_id": "\(team)", "slack.rows": "\(total)"]
        if let deadline = job.deadlineAt { metadata["slack.deadline_margin_ms"] = "\(deadline - finished)" }
        logger.info("Slack uninstall scrub finished", metadata: metadata)
    }

    /// Revokes a closed account's token; ends whether Slack answers ok, an error, or (after the last attempt) nothing.
    func revoke(_ job: SlackJob) async throws {
        guard let team = job.teamId, let text = job.payload["tokenEnvelope"], let envelope = Data(base64Encoded: text),
            let token = try? open([UInt8](envelope), team: team)
        else {
            logger.warning("Slack revoke job unreadable", metadata: ["slack.job_id": "\(job.id)"])
            try await database.write { db in try JobQueue.delete(job.id, in: db) }
            return
        }
        do {
            try await api.revoke(token: token)
        } catch let error as SlackAPIError where !error.isRetryable {
            // Already dead or refused: nothing more we can do; the job ends either way.
        }
        try await database.write { db in try JobQueue.delete(job.id, in: db) }
    }
}
