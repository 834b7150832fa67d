import Foundation
import PostgresNIO
import SlackGateway
import StorePostgres
import Testing

/// PostgreSQL only: the uninstall scrub deletes its batch by physical row address, chosen without locking, so rows
/// of a batch can go from under it (an admin deleting captured feedback while the workspace is scrubbed). SQLite's
/// writer runs one write at a time, so there is nothing to race there.
@Suite(.enabled(if: ConformancePostgres.url != nil, "USERO_TEST_POSTGRES_URL is not set"))
struct PostgresScrubRaceTests {
    /// A batch that comes up short because another session deleted one of its rows is not the end of the scrub:
    /// every other row of the workspace still loses its member ids.
    @Test func aBatchShortenedByAConcurrentDeleteDoesNotEndTheScrub() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let settings = try #require(s.postgres)
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        for i in 1...5 {
            _ = try await s.slack.captureForward(s.message(team: "T1", ts: "1.\(i)"), at: StoreUnderTest.t0, responseURL: nil)
        }
        let logger = ConformancePostgres.logger
        let deleter = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(), id: 1, logger: logger)
        let watcher = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(), id: 2, logger: logger)
        do {
            try await race(s, client: client, deleter: deleter, watcher: watcher)
            try await deleter.close()
            try await watcher.close()
        } catch {
            try? await deleter.close()
            try? await watcher.close()
            throw error
        }
    }

    func race(
        _ s: StoreUnderTest, client: String, deleter: PostgresConnection, watcher: PostgresConnection
    ) async throws {
        let logger = ConformancePostgres.logger
        // Another session deletes the first captured item (its member ids go with it) and has not committed yet.
        try await deleter.query("BEGIN", logger: logger)
        try await deleter.query(
            """
            DELETE FROM feedback WHERE id = (
                SELECT feedback_id FROM feedback_slack_person WHERE slack_team = 'T1' ORDER BY ctid LIMIT 1)
            """, logger: logger)

        // The scrub's first batch of two picks that row and waits for the other session.
        let firstBatch = Task { try await s.slack.scrubAuthors(team: "T1", after: 0, limit: 2) }
        var waiting = false
        for _ in 0..<200 where !waiting {
            let rows = try await watcher.query(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
                logger: logger)
            for try await count in rows.decode(Int64.self) { waiting = count > 0 }
            if !waiting { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(waiting, "the scrub's batch never waited for the deleting session")
        try await deleter.query("COMMIT", logger: logger)
        let (changed, next) = try await firstBatch.value
        #expect(changed == 1)
        var cursor = try #require(next, "a batch that changed something is not the last")

        var batches = 0
        while batches < 10 {
            batches += 1
            let (_, next) = try await s.slack.scrubAuthors(team: "T1", after: cursor, limit: 2)
            guard let next else { break }
            cursor = next
        }
        let left = try await watcher.query(
            "SELECT count(*) FROM feedback_slack_person WHERE slack_team = 'T1'", logger: logger)
        for try await count in left.decode(Int64.self) { #expect(count == 0) }
        #expect(try await s.items(client).count == 4)
    }
}
