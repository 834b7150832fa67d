import Feedback
import Foundation
import Logging
import PostgresNIO
import SlackGateway
import StorePostgres

/// Seeds `rows` captured rows of workspace T0BENCH and times the uninstall scrub through `PostgresStore`.
func scrubBenchmark(url: String, rows: Int) async {
    let logger = Logger(label: "usero.bench.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    do {
        let settings = try PostgresSettings(url: url, variable: "URL")
        let backend = try await PostgresBackend.open(settings, logger: logger)
        let store = PostgresStore(backend: backend, logger: logger)
        let (client, _) = try await store.createClient(name: "bench", plan: .paid, allowedOrigins: [], at: Date())
        let count = Int64(rows)
        try await backend.withConnection { session in
            try await session.query(
                """
                INSERT INTO feedback (id, client_id, source, created_at, comment, screenshots, slack_team_id,
                    slack_channel_id, slack_message_ts, slack_captured_via)
                SELECT 'fb_scrub_' || i, \(client.id), 'slack', 1700000000000 + i, 'Captured message ' || i, '[]',
                    'T0BENCH', 'C0001', (1700000000 + i) || '.000100', 'reaction:wrench'
                FROM generate_series(1, \(count)) AS i
                """)
            try await session.query(
                """
                INSERT INTO feedback_slack_person (feedback_id, slack_team, slack_author_id, slack_forwarded_by)
                SELECT 'fb_scrub_' || i, 'T0BENCH', 'U' || (i % 5000), 'U0001' FROM generate_series(1, \(count)) AS i
                """)
            try await session.query("VACUUM ANALYZE feedback")
            try await session.query("VACUUM ANALYZE feedback_slack_person")
        }
        let clock = ContinuousClock()
        let started = clock.now
        var total = 0
        var cursor: Int64 = 0
        while true {
            let (changed, next) = try await store.scrubAuthors(
                team: "T0BENCH", after: cursor, limit: SlackJobRunner.scrubBatch)
            total += changed
            guard let next else { break }
            cursor = next
        }
        let elapsed = started.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let left = try await backend.withConnection { session -> Int64 in
            let result = try await session.query(
                """
                SELECT count(*) FROM feedback LEFT JOIN feedback_slack_person ON feedback_id = id
                WHERE slack_team_id = 'T0BENCH' AND (slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL)
                """)
            return try result.rows.first?.decode(Int64.self) ?? -1
        }
        await backend.close()
        print("scrub_seconds=\(String(format: "%.2f", seconds)) rows=\(total) left=\(left) batch=\(SlackJobRunner.scrubBatch)")
    } catch {
        print("scrub failed: \(error)")
        exit(1)
    }
}
