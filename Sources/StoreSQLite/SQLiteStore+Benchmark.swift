public import Feedback
import Foundation
import GRDB

/// Benchmark support (the `usero-bench` tool): bulk seeding and the one-commit-per-row baseline. Not used by the
/// service.
extension SQLiteStore {
    /// Inserts one item in its own transaction (one fsync per row): the baseline group commit is measured against.
    public func insertUnbatched(_ item: FeedbackItem) async throws {
        try await database.pool.write { db in try Self.insert(item, into: db) }
    }

    /// Seeds `count` captured Slack rows of `team` for `clientID` in one transaction.
    public func seedSlackRows(team: String, count: Int, clientID: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                    INSERT INTO feedback (id, client_id, source, created_at, comment, screenshots, slack_team_id,
                        slack_channel_id, slack_message_ts, slack_author_id, slack_forwarded_by, slack_captured_via)
                    SELECT 'fb_' || ? || '_' || i, ?, 'slack', 1700000000000 + i, 'Captured message ' || i, '[]', ?,
                        'C0001', (1700000000 + i) || '.000100', 'U' || (i % 5000), 'U0001', 'reaction:wrench' FROM n
                    """,
                arguments: [count, team, clientID, team])
        }
    }

    /// Rows of `team` that still carry an author or forwarder id.
    public func unscrubbedRows(team: String) async throws -> Int {
        try await database.scan { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM feedback WHERE slack_team_id = ?
                    AND (slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL)
                    """,
                arguments: [team]) ?? 0
        }
    }

    /// Seeds `count` feedback rows for `clientID`, the newest created at `newest` (epoch ms), one per millisecond
    /// before it, in one transaction.
    public func seedFeedback(clientID: String, count: Int, newest: Int64) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
                    INSERT INTO feedback (id, client_id, source, created_at, rating, comment, environment)
                    SELECT 'fb_seed' || printf('%013d', x), ?, 'api', ? - x, 1 + x % 4,
                           'Seeded feedback row ' || x || ' for the retention benchmark', 'production'
                    FROM n
                    """,
                arguments: [count, clientID, newest])
        }
    }
}
