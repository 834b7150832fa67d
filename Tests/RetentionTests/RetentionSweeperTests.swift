import Feedback
import Foundation
import GRDB
@testable import StoreSQLite
import Testing

@testable import Retention

@Suite struct RetentionSweeperTests {
    let day = TestStore.day

    @Test func freeClientLosesA31DayOldRowAndKeepsA29DayOldOne() async throws {
        // Given a free client with one row 31 days old and one 29 days old
        let t = try await TestStore()
        let now = Date()
        let client = try await t.createClient(plan: .free)
        let old = try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(-31 * day))
        let recent = try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(-29 * day))

        // When a sweep runs
        let summary = try await RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now))
            .sweep(asOf: now)

        // Then only the old row is gone
        #expect(try await t.exists(feedback: old) == false)
        #expect(try await t.exists(feedback: recent))
        #expect(summary.feedback == 1)
        #expect(summary.clients == 1)
    }

    /// "Retained for 30 days": a row a minute short of 30 days stays, one a minute past them goes (29 and 31 days
    /// alone would pass for a retention anywhere between).
    @Test func freeRetentionEndsAtThirtyDaysToTheMinute() async throws {
        let t = try await TestStore()
        let now = Date()
        let client = try await t.createClient(plan: .free)
        let justInside = try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(-30 * day + 60))
        let justPast = try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(-30 * day - 60))

        let summary = try await RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now))
            .sweep(asOf: now)

        #expect(try await t.exists(feedback: justInside))
        #expect(try await t.exists(feedback: justPast) == false)
        #expect(summary.feedback == 1)
    }

    @Test func paidClientKeepsOldRowsUntilItMovesToFree() async throws {
        // Given a paid client with a year-old row
        let t = try await TestStore()
        let now = Date()
        let client = try await t.createClient(plan: .paid)
        let old = try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(-365 * day))
        let sweeper = RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now))

        // When sweeps run while the plan is paid, the row stays
        #expect(try await sweeper.sweep(asOf: now).total == 0)
        #expect(try await t.exists(feedback: old))

        // Then after a move to free, the next sweep deletes it
        _ = try await t.store.updatePlan(clientID: client, plan: .free)
        #expect(try await sweeper.sweep(asOf: now).feedback == 1)
        #expect(try await t.exists(feedback: old) == false)
    }

    @Test func forwardedSlackRowsFollowTheSameRetention() async throws {
        let t = try await TestStore()
        let now = Date()
        let client = try await t.createClient(plan: .free)
        let capture = SlackCapture(
            teamId: "T1", channelId: "C1", messageTs: "1.1", threadTs: nil, authorId: "U1", forwardedBy: "U2",
            capturedVia: .shortcut, permalink: nil)
        let old = try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(-31 * day), slack: capture)

        _ = try await RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now)).sweep(asOf: now)

        #expect(try await t.exists(feedback: old) == false)
    }

    @Test func expiredRowsTakeTheirScreenshotFilesWithThem() async throws {
        let t = try await TestStore()
        let now = Date()
        let client = try await t.createClient()
        let shot = try await t.uploadScreenshot(clientID: client, at: now.addingTimeInterval(-40 * day))
        try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(-40 * day), screenshots: [shot])
        #expect(t.fileExists(shot))

        let summary = try await RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now))
            .sweep(asOf: now)

        #expect(summary.screenshots == 1)
        #expect(t.fileExists(shot) == false)
        #expect(try await t.count("screenshot") == 0)
        #expect(try await t.count("file_deletion") == 0)
    }

    @Test func uploadsNeverAttachedGoAfterADayOnEveryPlan() async throws {
        let t = try await TestStore()
        let now = Date()
        let client = try await t.createClient(plan: .paid)
        let stray = try await t.uploadScreenshot(clientID: client, at: now.addingTimeInterval(-2 * day))
        let fresh = try await t.uploadScreenshot(clientID: client, at: now.addingTimeInterval(-3600))
        let attached = try await t.uploadScreenshot(clientID: client, at: now.addingTimeInterval(-90 * day))
        try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(-90 * day), screenshots: [attached])

        let summary = try await RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now))
            .sweep(asOf: now)

        #expect(summary.orphanScreenshots == 1)
        #expect(t.fileExists(stray) == false)
        #expect(t.fileExists(fresh))
        #expect(t.fileExists(attached))
    }

    @Test func sweepDeletesInBatchesAndWritesOneAuditEntryPerClient() async throws {
        // Given two free clients with expired rows, more than one batch's worth for the first
        let t = try await TestStore()
        let now = Date()
        let first = try await t.createClient()
        let second = try await t.createClient()
        for i in 0..<25 {
            try await t.insertFeedback(clientID: first, at: now.addingTimeInterval(-31 * day - Double(i)))
        }
        try await t.insertFeedback(clientID: second, at: now.addingTimeInterval(-45 * day))
        var policy = RetentionPolicy.standard
        policy.batchSize = 10
        let sweeper = RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now), policy: policy)

        // When swept twice
        let summary = try await sweeper.sweep(asOf: now)
        let again = try await sweeper.sweep(asOf: now)

        // Then everything expired went once, and each client has one entry with its counts and no content
        #expect(summary.feedback == 26)
        #expect(again.total == 0)
        let entries = try await AuditLog(store: t.store).entries(clientID: first)
        #expect(entries.count == 1)
        #expect(entries.first?.kind == "retention_sweep")
        #expect(entries.first?.counts["feedback"] == 25)
        let due = try #require(entries.first?.dueAt)
        // Due when the oldest deleted row turned 30 days old.
        #expect(abs(due.timeIntervalSince(now.addingTimeInterval(-day - 24))) < 1)
        #expect(try await AuditLog(store: t.store).entries(clientID: second).first?.counts["feedback"] == 1)
    }

    @Test func sweepCutShortByACrashFinishesAtTheNextRun() async throws {
        // Given 30 expired rows and a sweep that "crashes" after two batches of 10
        let t = try await TestStore()
        let now = Date()
        let client = try await t.createClient()
        for i in 0..<30 {
            try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(-40 * day - Double(i)))
        }
        var policy = RetentionPolicy.standard
        policy.batchSize = 10
        var budget = 2
        await #expect(throws: SweepInterrupted.self) {
            _ = try await RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now), policy: policy)
                .sweep(asOf: now, batchBudget: &budget)
        }
        #expect(try await t.count("feedback") == 10)
        // What went before the crash is on record already.
        #expect(try await AuditLog(store: t.store).entries(clientID: client).first?.counts["feedback"] == 20)

        // When a restarted process sweeps
        let restarted = try await t.reopened()
        let summary = try await RetentionSweeper(store: restarted.store, feedback: restarted.store, clock: TestClock(now), policy: policy
        ).sweep(asOf: now)

        // Then the rest goes, and the two entries add up to everything
        #expect(summary.feedback == 10)
        #expect(try await restarted.count("feedback") == 0)
        let entries = try await AuditLog(store: restarted.store).entries(clientID: client)
        #expect(entries.map { $0.counts["feedback"] }.reduce(0, +) == 30)
    }

    @Test func endUsersAreNotSweptTheyLiveAsLongAsTheAccount() async throws {
        let t = try await TestStore()
        let now = Date()
        let client = try await t.createClient()
        try await t.database.write { db in
            try db.execute(
                sql: "INSERT INTO end_user (client_id, user_id, created_at, updated_at) VALUES (?, 'u1', ?, ?)",
                arguments: [client, epochMillis(now) - 400 * 86_400_000, epochMillis(now) - 400 * 86_400_000])
        }
        _ = try await RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now)).sweep(asOf: now)
        #expect(try await t.count("end_user") == 1)
    }

    /// Every read of feedback by time names its client, so one index serves them all: a sweep's batch and a page of
    /// the list are each a range of the client's time index, never a pass over every client's rows, and no index on
    /// the time alone is kept up by every insert for them.
    @Test func feedbackIsReadByTimeThroughTheClientsIndex() async throws {
        let t = try await TestStore()
        let (sweep, bound) = try #require(SQLiteStore.condition(for: .createdBefore(clientID: "cl_1", cutoff: 5, plan: .free)))
        let queries: [(String, StatementArguments)] = [
            ("SELECT id, created_at FROM feedback WHERE \(sweep) LIMIT 500", bound),
            (
                "\(FeedbackRecord.select) WHERE client_id = ? AND (created_at < ? OR (created_at = ? AND id < ?))"
                    + " ORDER BY created_at DESC, id DESC LIMIT 21", ["cl_1", 5, 5, "fb_1"]
            ),
        ]
        let (plans, indexes) = try await t.database.read { db in
            let plans = try queries.map { sql, arguments in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(sql)", arguments: arguments).map { $0["detail"] as String }
            }
            let indexes = try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'feedback'")
            return (plans, indexes)
        }
        for plan in plans {
            #expect(plan.contains { $0.contains("INDEX feedback_by_client_time ") }, "\(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") || $0.hasPrefix("SCAN") }, "\(plan)")
        }
        #expect(!indexes.contains("feedback_by_time"))
    }

    /// A folder holding a SQLite database migrated up to `migration`, with client `cl_1` and what `sql` adds.
    static func database(named name: String, upTo migration: String, with sql: String) async throws -> URL {
        let folder = TestFolders.path(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: folder.appendingPathComponent("usero.sqlite").path)
        try AppDatabase.migrator.migrate(pool, upTo: migration)
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO client (id, name, plan, admin_key_hash, allowed_origins, created_at)
                    VALUES ('cl_1', 'Acme', 'free', x'01', '[]', 0);
                    """ + sql)
        }
        return folder
    }

    /// A database from before `v13-feedback-screenshot` where two items name one upload (the second sent again
    /// after a lost answer) and only the first claimed it: deleting the first no longer takes the file the second
    /// shows; deleting the second does.
    @Test func anUploadTwoExistingItemsNameGoesWithTheLastOfThem() async throws {
        let shots = #"[{"fileName":"client_1/1-shared.png","url":"u","fileSize":3,"mimeType":"image/png"}]"#
        let folder = try await Self.database(
            named: "usero-shared-upload", upTo: "v12-forget-installer",
            with: """
                INSERT INTO feedback (id, client_id, source, created_at, comment, screenshots) VALUES
                    ('fb_first', 'cl_1', 'widget', 1, 'Broken', '\(shots)'),
                    ('fb_again', 'cl_1', 'widget', 2, 'Broken', '\(shots)'),
                    ('fb_other', 'cl_1', 'widget', 3, 'Fine', '[]');
                INSERT INTO screenshot (file_name, client_id, feedback_id, mime_type, file_size, created_at)
                VALUES ('client_1/1-shared.png', 'cl_1', 'fb_first', 'image/png', 3, 1);
                """)
        let t = try await TestStore(folder: folder)
        try t.files.writeDurably([0x0a, 0x0b, 0x0c], fileName: "client_1/1-shared.png")

        #expect(try await t.store.deleteFeedback(id: "fb_first", clientID: "cl_1"))
        #expect(try await t.store.screenshotBytes(fileName: "client_1/1-shared.png") == Data([0x0a, 0x0b, 0x0c]))
        #expect(try await t.store.unattachedScreenshotBytes(clientID: "cl_1") == 0)
        #expect(try await t.store.deleteFeedback(id: "fb_again", clientID: "cl_1"))
        #expect(try await t.store.screenshot(fileName: "client_1/1-shared.png") == nil)
        #expect(try await t.store.screenshotBytes(fileName: "client_1/1-shared.png") == nil)
        #expect(t.files.existingPath("client_1/1-shared.png") == nil)
    }

    /// A deletion whose screenshot files cannot be purged right after its commit (the queue's table refusing writes
    /// for a moment) still reports the deletion, which happened; the files go at the next purge.
    @Test func aDeletionIsReportedEvenWhenItsFilesArePurgedLater() async throws {
        let t = try await TestStore()
        let client = try await t.createClient()
        try t.files.writeDurably([0x0a, 0x0b], fileName: "\(client)/1-shot.png")
        try await t.database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO feedback (id, client_id, source, created_at, comment, screenshots)
                    VALUES ('fb_1', ?, 'widget', 1, 'Broken', '[]');
                    INSERT INTO screenshot (file_name, client_id, feedback_id, mime_type, file_size, created_at)
                    VALUES (?, ?, 'fb_1', 'image/png', 2, 1);
                    CREATE TEMP TRIGGER refuse_purge BEFORE DELETE ON file_deletion BEGIN SELECT RAISE(ABORT, 'busy'); END;
                    """,
                arguments: [client, "\(client)/1-shot.png", client])
        }

        #expect(try await t.store.deleteFeedback(id: "fb_1", clientID: client))
        #expect(try await t.count("feedback") == 0)
        #expect(try await t.count("file_deletion") == 1)

        // The queue still holds the file for the next purge, which clears it.
        try await t.database.write { db in try db.execute(sql: "DROP TRIGGER refuse_purge") }
        try await t.store.purgeDeletedScreenshots()
        #expect(try await t.count("file_deletion") == 0)
        #expect(t.files.existingPath("\(client)/1-shot.png") == nil)
    }

    /// A workspace installed before `v12-forget-installer` loses the member id of whoever installed it (kept and never
    /// used) and nothing else of its installation.
    @Test func anExistingInstallationForgetsItsInstallerAndKeepsTheRest() async throws {
        let folder = try await Self.database(
            named: "usero-forget-installer", upTo: "v11-trigger-emoji-added-at",
            with: """
                INSERT INTO slack_installation (team_id, client_id, team_name, bot_user_id, scopes,
                    installer_user_id, token_envelope, token_key_id, installed_at)
                VALUES ('T1', 'cl_1', 'Acme', 'U_BOT', 'chat:write', 'U_INSTALLER', x'0102', 'k1', 5);
                """)
        let t = try await TestStore(folder: folder)
        let row = try await t.database.read { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT coalesce(installer_user_id, 'none') || ' ' || team_name || ' ' || bot_user_id || ' '
                        || hex(token_envelope) FROM slack_installation
                    """)
        }
        #expect(row == "none Acme U_BOT 0102")
    }

    /// An insert into `feedback` builds no temporary table: `source`'s check is three comparisons, not an IN list
    /// (which SQLite turns into a temporary B-tree, a pager and its pages, for every row). Held on a database that
    /// was created before migration v9 and had rows: v9 edits the check in place, the rows and the file stay sound,
    /// the writer's own connection compiles inserts with the new check, and a wrong source is refused as before.
    @Test func insertsIntoFeedbackBuildNoTemporaryTableAndTheCheckStillRefuses() async throws {
        // A database as v8 left it, with a row.
        let folder = try await Self.database(
            named: "usero-source-check", upTo: "v8-drop-feedback-by-time",
            with: "INSERT INTO feedback (id, client_id, source, created_at) VALUES ('fb_old', 'cl_1', 'widget', 1);")
        let t = try await TestStore(folder: folder)
        let insert = "INSERT INTO feedback (id, client_id, source, created_at) VALUES (?, 'cl_1', ?, 2)"
        let (opcodes, schema, integrity, rows) = try await t.database.write { db in
            let opcodes = try Row.fetchAll(db, sql: "EXPLAIN \(insert)", arguments: ["fb_x", "api"])
                .map { $0["opcode"] as String }
            try db.execute(sql: insert, arguments: ["fb_new", "slack"])
            let schema = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'feedback'") ?? ""
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            let rows = try String.fetchAll(db, sql: "SELECT id || ':' || source FROM feedback ORDER BY id")
            return (opcodes, schema, integrity, rows)
        }
        #expect(!opcodes.contains("OpenEphemeral"))
        #expect(schema.contains(AppDatabase.feedbackSourceCheck) && !schema.contains(AppDatabase.feedbackSourceCheckV1))
        #expect(integrity == ["ok"])
        #expect(rows == ["fb_new:slack", "fb_old:widget"])
        await #expect(throws: DatabaseError.self) {
            try await t.database.write { db in try db.execute(sql: insert, arguments: ["fb_bad", "email"]) }
        }
        // A process started later reads the new check too.
        let later = try await t.reopened()
        let laterOpcodes = try await later.database.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN \(insert)", arguments: ["fb_y", "api"]).map { $0["opcode"] as String }
        }
        #expect(laterOpcodes.contains("Insert") && !laterOpcodes.contains("OpenEphemeral"))
    }
}

extension RetentionSweeperTests {
    /// The summary's `clients` (printed by `usero retention run`) counts the clients that lost something, not every
    /// client the sweep looked at.
    @Test func theSummaryCountsOnlyTheClientsThatLostSomething() async throws {
        let t = try await TestStore()
        let now = Date()
        let losing = try await t.createClient(plan: .free)
        _ = try await t.insertFeedback(clientID: losing, at: now.addingTimeInterval(-31 * day))
        let recent = try await t.createClient(plan: .free)
        _ = try await t.insertFeedback(clientID: recent, at: now.addingTimeInterval(-29 * day))
        let paid = try await t.createClient(plan: .paid)
        _ = try await t.insertFeedback(clientID: paid, at: now.addingTimeInterval(-400 * day))
        _ = try await t.createClient(plan: .free)

        let summary = try await RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now))
            .sweep(asOf: now)

        #expect(summary.feedback == 1)
        #expect(summary.clients == 1)
    }

    /// Stray uploads beyond one batch all go in one sweep, as expired feedback does: not one batch per sweep, an
    /// hour apart.
    @Test func strayUploadsBeyondOneBatchAllGoInOneSweep() async throws {
        let t = try await TestStore()
        let now = Date()
        let client = try await t.createClient(plan: .paid)
        var strays: [ScreenshotRef] = []
        for i in 0..<5 {
            strays.append(try await t.uploadScreenshot(clientID: client, at: now.addingTimeInterval(-2 * day - Double(i))))
        }
        var policy = RetentionPolicy.standard
        policy.batchSize = 2

        let summary = try await RetentionSweeper(store: t.store, feedback: t.store, clock: TestClock(now), policy: policy)
            .sweep(asOf: now)

        #expect(summary.orphanScreenshots == 5)
        #expect(strays.allSatisfy { !t.fileExists($0) })
    }
}
