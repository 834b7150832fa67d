import Feedback
import Foundation
import PostgresNIO
import Retention
import SlackGateway
import StorePostgres
import Synchronization
import Testing

/// PostgreSQL only: writes that race another session's uncommitted work, as another instance's would. SQLite's
/// writer runs one write at a time in one process, so there is nothing to race there. Each test holds a transaction
/// open on a session of its own, starts the store's write, waits until PostgreSQL shows it waiting on a lock, and then
/// commits.
@Suite(.enabled(if: ConformancePostgres.url != nil, "USERO_TEST_POSTGRES_URL is not set"))
struct PostgresRaceTests {
    /// The uninstall scrub deletes its batch by row address, chosen without locking: a batch that comes up short
    /// because another session deleted one of its rows (an admin deleting captured feedback meanwhile) is not the end
    /// of the scrub, and every other row of the workspace still loses its member ids.
    @Test func aBatchShortenedByAConcurrentDeleteDoesNotEndTheScrub() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        for i in 1...5 {
            _ = try await s.slack.captureForward(
                s.message(team: "T1", ts: "1.\(i)"), at: StoreUnderTest.t0, responseURL: nil)
        }
        #expect(try await s.slack.acceptUninstall(
            team: "T1", eventId: "E1", at: StoreUnderTest.t0Millis + 1, deadline: StoreUnderTest.t0Millis + 60_001))
        try await Self.racing(s) { other, watcher in
            // Another session deletes the first captured item (its member ids go with it), not committed yet.
            try await other.run(
                """
                DELETE FROM feedback WHERE id = (
                    SELECT feedback_id FROM feedback_slack_person WHERE slack_team = 'T1' ORDER BY ctid LIMIT 1)
                """)
            // The scrub's first batch of two picks that row and waits for the other session.
            let firstBatch = Task { try await s.slack.scrubAuthors(team: "T1", after: 0, limit: 2) }
            try await watcher.waitForALockWait()
            try await other.run("COMMIT")
            let (changed, next) = try await firstBatch.value
            #expect(changed == 1)
            var cursor = try #require(next, "a batch that changed something is not the last")
            for _ in 0..<10 {
                guard let next = try await s.slack.scrubAuthors(team: "T1", after: cursor, limit: 2).next else { break }
                cursor = next
            }
            #expect(try await watcher.count("SELECT count(*) FROM feedback_slack_person WHERE slack_team = 'T1'") == 0)
        }
        #expect(try await s.items(client).count == 4)
    }

    /// An instance recording where an item's post went while another deletes the item: whichever commits first, the
    /// post is not forgotten. Here the record holds the item's row first; the deletion waits for it, and its unpost
    /// must still see the post the record committed meanwhile (the deletion's own statement began before it).
    @Test func aPostRecordedWhileItsItemIsBeingDeletedIsStillDeleted() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        let item = try await s.item(client)
        try await Self.racing(s) { other, watcher in
            // The other instance's `recordPost`, not committed yet.
            try await other.run(
                """
                INSERT INTO slack_post (feedback_id, client_id, team_id, channel_id, message_ts, posted_at)
                SELECT id, client_id, 'T1', 'C0777', '1800000000.000001', 0 FROM feedback WHERE id = '\(item.id)'
                FOR SHARE
                """)
            let deleted = Task { try await s.feedback.deleteFeedback(id: item.id, clientID: client) }
            try await watcher.waitForALockWait()
            try await other.run("COMMIT")
            #expect(try await deleted.value)
        }
        let unposts = try await s.slack.pendingJobs(kind: .unpost, team: "T1")
        #expect(unposts.map(\.work) == [.unpost(UnpostJob(channel: "C0777", ts: "1800000000.000001"))])
        // And the other way round: a record that comes after the deletion keeps nothing
        #expect(try await s.slack.recordPost(
            PostedMessage(feedbackId: item.id, clientId: client, teamId: "T1", channel: "C0777", ts: "1.1"),
            at: StoreUnderTest.t0Millis) == false)
    }

    /// Two instances finishing one account closure (the request's own and another's pending-closure pass): a batch of
    /// end users that meets rows the other is deleting takes others instead of coming back empty while rows remain,
    /// which completed the closure early with the rest cascading away uncounted in its audit entry.
    @Test func anEndUserBatchBesideAnotherClosingInstanceTakesOtherRows() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let client = try await s.client()
        for n in 1...5 { try await s.identify(client, #"{"clientId":"\#(client)","userId":"u\#(n)"}"#) }
        #expect(try await s.retention.beginAccountClosure(clientID: client, at: StoreUnderTest.t0Millis))
        try await Self.racing(s) { other, watcher in
            // The other instance's batch of two, not committed yet.
            try await other.run(
                """
                DELETE FROM end_user WHERE client_id = '\(client)' AND user_id IN (
                    SELECT user_id FROM end_user WHERE client_id = '\(client)' LIMIT 2)
                """)
            let done = Mutex(false)
            let batch = Task {
                defer { done.withLock { $0 = true } }
                return try await s.retention.deleteEndUserBatch(clientID: client, limit: 2)
            }
            // Without the fix the batch waits on the other's rows: let the other commit then, so the test ends.
            for _ in 0..<200 where !done.withLock({ $0 }) {
                let waiting = try await watcher.count(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
                if (waiting ?? 0) > 0 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await other.run("COMMIT")
            #expect(try await batch.value == 2)
            #expect(try await s.retention.deleteEndUserBatch(clientID: client, limit: 2) == 1)
            #expect(try await s.retention.deleteEndUserBatch(clientID: client, limit: 2) == 0)
        }
    }

    /// A closure's batch and its completion on another instance do not deadlock: the completion holds the closure's
    /// row and deletes the client's rows; the batch waits for the row before it takes any of them. It took its rows
    /// first and the closure's row last, and PostgreSQL aborted one of the two ("deadlock detected").
    @Test func aClosureBatchBesideTheClosuresCompletionDoesNotDeadlock() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let client = try await s.client()
        for n in 1...5 { try await s.identify(client, #"{"clientId":"\#(client)","userId":"u\#(n)"}"#) }
        #expect(try await s.retention.beginAccountClosure(clientID: client, at: StoreUnderTest.t0Millis))
        try await Self.racing(s) { other, watcher in
            try await other.run("SELECT counts FROM account_deletion WHERE client_id = '\(client)' FOR UPDATE")
            let batch = Task { try await s.retention.deleteEndUserBatch(clientID: client, limit: 2) }
            try await watcher.waitForALockWait()
            // The rest of the completion: the client's rows go with it.
            try await other.run("DELETE FROM end_user WHERE client_id = '\(client)'")
            try await other.run("DELETE FROM account_deletion WHERE client_id = '\(client)'")
            try await other.run("COMMIT")
            #expect(try await batch.value == nil)
        }
        #expect(try await s.retention.pendingAccountClosures().isEmpty)
    }

    /// A batch of end users is at most its size, whatever the table's statistics say. With the rows newer than the
    /// last ANALYZE (a burst of identifies, a restored dump), PostgreSQL ran the locking subquery of `user_id IN
    /// (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` again for each row it looked at, and one "batch" deleted all of
    /// them: 6,000 rows in 6 s with every lock held, and several processes finishing one closure deadlocked.
    @Test func anEndUserBatchIsAtMostItsSizeWhenStatisticsAreOld() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let client = try await s.client()
        try await Self.racing(s) { _, watcher in
            // Statistics taken when the client had one end user, then 3,000 more.
            try await watcher.run("ALTER TABLE end_user SET (autovacuum_enabled = false)")
            try await watcher.run(
                "INSERT INTO end_user (client_id, user_id, created_at, updated_at) VALUES ('\(client)', 'u0', 1, 1)")
            try await watcher.run("ANALYZE end_user")
            try await watcher.run(
                """
                INSERT INTO end_user (client_id, user_id, created_at, updated_at)
                SELECT '\(client)', 'u' || n, 1, 1 FROM generate_series(1, 3000) AS n
                """)
            #expect(try await s.retention.beginAccountClosure(clientID: client, at: StoreUnderTest.t0Millis))
            #expect(try await s.retention.deleteEndUserBatch(clientID: client, limit: 250) == 250)
            #expect(try await watcher.count("SELECT count(*) FROM end_user") == 2751)
        }
    }

    /// The same for a batch of uploads never attached (the sweep's): at most its size on a table newer than its
    /// statistics.
    @Test func anUnattachedUploadBatchIsAtMostItsSizeWhenStatisticsAreOld() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let client = try await s.client()
        try await Self.racing(s) { _, watcher in
            try await watcher.run("ALTER TABLE screenshot SET (autovacuum_enabled = false)")
            let insert = """
                INSERT INTO screenshot (file_name, client_id, mime_type, file_size, created_at)
                SELECT '\(client)/' || n || '.png', '\(client)', 'image/png', 1, 1 FROM generate_series
                """
            try await watcher.run(insert + "(0, 0) AS n")
            try await watcher.run("ANALYZE screenshot")
            try await watcher.run(insert + "(1, 3000) AS n")
            let deleted = try await s.retention.deleteUnattachedUploadBatch(
                clientID: client, uploadedBefore: 2, limit: 250, at: 5, record: .none)
            #expect(deleted?.batch.rows == 250)
            #expect(try await watcher.count("SELECT count(*) FROM screenshot") == 2751)
        }
    }

    /// Two clients install the same new workspace at once (on two instances, say): the second waits for the first's
    /// row and is told the workspace belongs to another client, instead of taking it over with both told it worked.
    @Test func aSecondClientInstallingANewWorkspaceAtOnceDoesNotTakeItOver() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let first = try await s.client()
        let second = try await s.client()
        try await Self.racing(s) { other, watcher in
            try await other.run(
                "INSERT INTO slack_installation (team_id, client_id, installed_at) VALUES ('T9', '\(first)', 1)")
            let saving = Task {
                try await s.slack.saveInstallation(s.installation(team: "T9", client: second))
            }
            try await watcher.waitForALockWait()
            try await other.run("COMMIT")
            #expect(try await saving.value == .ownedByAnotherClient)
            #expect(try await watcher.count(
                "SELECT count(*) FROM slack_installation WHERE team_id = 'T9' AND client_id = '\(first)'") == 1)
        }
        // The owner installing again still works.
        try await s.install(team: "T9", client: first)
    }

    /// A capture racing an uninstall on another instance: the uninstall holds the workspace's row (its token and
    /// installation going, its tombstone coming) when the capture reads it. The capture waits, then sees the workspace
    /// gone and stores nothing, where it once stored its row with the member ids after the scrub had run.
    @Test func aCaptureRacingAnUninstallWaitsAndStoresNothing() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        try await Self.racing(s) { other, watcher in
            try await other.run("SELECT team_id FROM slack_installation WHERE team_id = 'T1' FOR UPDATE")
            try await other.run(
                "INSERT INTO slack_tombstone (team_id, client_id, uninstalled_at) VALUES ('T1', '\(client)', 1)")
            try await other.run("DELETE FROM slack_installation WHERE team_id = 'T1'")
            let capturing = Task {
                try await s.slack.captureForward(
                    s.message(team: "T1", ts: "1.1"), at: StoreUnderTest.t0, responseURL: nil)
            }
            try await watcher.waitForALockWait()
            try await other.run("COMMIT")
            #expect(try await capturing.value.feedbackId == nil)
            #expect(try await watcher.count("SELECT count(*) FROM feedback_slack_person") == 0)
        }
        #expect(try await s.items(client).isEmpty)
    }

    /// Two `DELETE /api/account` at once on two instances: the second request's closure must not begin while the
    /// first one's completion is deleting the client. It waited on the closure row's key and then inserted a closure
    /// of a client already gone, finished it, and answered 204 with a second, empty audit entry.
    @Test func aClosureBegunBesideTheCompletionOfAnotherFindsTheClientGone() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let client = try await s.client()
        #expect(try await s.retention.beginAccountClosure(clientID: client, at: StoreUnderTest.t0Millis))
        try await Self.racing(s) { other, watcher in
            // The other instance's completion (`completeAccountClosure`'s statements), not committed yet.
            try await other.run("SELECT client_id FROM account_deletion WHERE client_id = '\(client)' FOR UPDATE")
            try await other.run("DELETE FROM client WHERE id = '\(client)'")
            try await other.run("DELETE FROM account_deletion WHERE client_id = '\(client)'")
            let beginning = Task {
                try await s.retention.beginAccountClosure(clientID: client, at: StoreUnderTest.t0Millis + 1)
            }
            try await watcher.waitForALockWait()
            try await other.run("COMMIT")
            #expect(try await beginning.value == false)
            #expect(try await watcher.count("SELECT count(*) FROM account_deletion") == 0)
        }
        #expect(try await s.retention.pendingAccountClosures().isEmpty)
    }

    /// An upload that waits for its client's upload lock (another upload of the client in progress, on any
    /// instance) while the account is closed to the end is never a foreign key's failure (a 500, where SQLite says
    /// the client is unknown): once it has the lock it checks the client again, holding its row to the commit.
    @Test func anUploadWaitingWhileItsAccountIsClosedIsNotAForeignKeyFailure() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        let client = try await s.client()
        try await Self.racing(s) { other, watcher in
            // Another upload of the client holds its upload lock (`PostgresLocks.uploadQuota`).
            try await other.run("SELECT pg_advisory_xact_lock(hashtextextended('\(client)', \(0x7573_6572_6f3a_7571 as Int64)))")
            let upload = Task {
                try await s.feedback.saveScreenshot(
                    StoredScreenshot(
                        fileName: "\(client)/race.png", clientId: client, mimeType: "image/png", fileSize: 4, width: 1,
                        height: 1, createdAt: StoreUnderTest.t0),
                    bytes: [0x89, 0x50, 0x4E, 0x47], quota: 100 << 20)
            }
            try await watcher.waitForALockWait()
            // The account is closed meanwhile, to its last step.
            #expect(try await s.retention.beginAccountClosure(clientID: client, at: StoreUnderTest.t0Millis))
            #expect(try await s.retention.completeAccountClosure(clientID: client, at: StoreUnderTest.t0Millis) != nil)
            try await other.run("COMMIT")
            // The upload, let through, finds the client gone: as on SQLite.
            await #expect(throws: FeedbackError.unknownClient) { try await upload.value }
            #expect(try await watcher.count("SELECT count(*) FROM client WHERE id = '\(client)'") == 0)
            #expect(try await watcher.count("SELECT count(*) FROM screenshot WHERE client_id = '\(client)'") == 0)
        }
    }

    /// Runs `body` with two sessions of its own on the store's database: `other` inside an open transaction, and
    /// `watcher` to look at the server meanwhile. Both close afterwards.
    static func racing(_ s: StoreUnderTest, _ body: (Session, Session) async throws -> Void) async throws {
        let settings = try #require(s.postgres)
        let other = try await Session(settings, id: 1)
        let watcher = try await Session(settings, id: 2)
        do {
            try await other.run("BEGIN")
            try await body(other, watcher)
            try await other.close()
            try await watcher.close()
        } catch {
            try? await other.close()
            try? await watcher.close()
            throw error
        }
    }

    /// A plain connection to the test database.
    struct Session {
        let connection: PostgresConnection

        init(_ settings: PostgresSettings, id: Int) async throws {
            connection = try await PostgresConnection.connect(
                configuration: settings.connectionConfiguration(), id: id, logger: ConformancePostgres.logger)
        }

        func run(_ sql: String) async throws {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: ConformancePostgres.logger)
        }

        func count(_ sql: String) async throws -> Int64? {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: ConformancePostgres.logger)
            for try await value in rows.decode(Int64.self) { return value }
            return nil
        }

        /// Returns once a session of this database waits on a lock; fails the test after two minutes without one (the
        /// racing store call may first open a connection, which takes seconds under the whole suite on two cores).
        func waitForALockWait() async throws {
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline {
                let waiting = try await count(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
                if (waiting ?? 0) > 0 { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            Issue.record("no session waited on a lock")
        }

        func close() async throws { try await connection.close() }
    }
}
