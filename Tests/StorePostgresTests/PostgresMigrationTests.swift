import Foundation
import Feedback
import PostgresNIO
import SlackGateway
import StorePostgres
import Testing
import Synchronization
import UseroTestSupport

@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresMigrationTests {
    @Test func openingAnEmptyDatabaseCreatesEveryTableAndRecordsEveryMigration() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let database = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let (tables, applied) = try await database.withConnection { connection in
                let tables = try await TestPostgres.all(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                    as: String.self, on: connection)
                let applied = try await TestPostgres.all(
                    "SELECT id FROM schema_migrations ORDER BY id", as: String.self, on: connection)
                return (Set(tables), applied)
            }
            #expect(tables == Set(PostgresSchema.tables + ["schema_migrations"]))
            #expect(applied == PostgresSchema.migrations.map(\.id).sorted())
            #expect(await database.isHealthy())
            await database.close()
        }
    }

    @Test func aSecondRunAppliesNothing() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            try await TestPostgres.withConnection(to: settings) { connection in
                let first = try await PostgresMigrator().migrate(on: connection, logger: TestPostgres.logger)
                let second = try await PostgresMigrator().migrate(on: connection, logger: TestPostgres.logger)
                #expect(first == PostgresSchema.migrations.map(\.id))
                #expect(second.isEmpty)
            }
        }
    }

    /// On a migrated store the migration lock is not taken: with another process holding it (migrating another
    /// version's schema, or a command starting beside an instance), opening does not wait for it, nor say it waits.
    @Test func aMigratedStoreOpensWhileAnotherProcessHoldsTheLock() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            try await TestPostgres.withConnection(to: settings) { holder in
                _ = try await PostgresMigrator().migrate(on: holder, logger: TestPostgres.logger)
                try await holder.query("SELECT pg_advisory_lock(\(PostgresMigrator.lockKey))", logger: TestPostgres.logger)
                let logs = CapturedLogs()
                let done = Mutex(false)
                let opening = Task {
                    defer { done.withLock { $0 = true } }
                    return try await TestPostgres.withConnection(to: settings) { connection in
                        try await PostgresMigrator().migrate(on: connection, logger: logs.logger())
                    }
                }
                // An opening that waits for the lock says so first; then the lock is let go, so the test ends.
                for _ in 0..<3_000 where !done.withLock({ $0 }) {
                    if logs.text.contains("Waiting for another process") {
                        Issue.record("a migrated store waited for the migration lock")
                        try await holder.query("SELECT pg_advisory_unlock(\(PostgresMigrator.lockKey))", logger: TestPostgres.logger)
                        _ = try? await opening.value
                        return
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                guard done.withLock({ $0 }) else {
                    Issue.record("opening a migrated store did not end within a minute")
                    try await holder.query("SELECT pg_advisory_unlock(\(PostgresMigrator.lockKey))", logger: TestPostgres.logger)
                    return
                }
                #expect(try await opening.value.isEmpty)
                // A store a migration is missing from still waits for the lock, and says so.
                try await holder.query("DELETE FROM schema_migrations WHERE id = \(PostgresSchema.migrations.last!.id)", logger: TestPostgres.logger)
                let waiting = Task {
                    try await TestPostgres.withConnection(to: settings) { connection in
                        try await PostgresMigrator().migrate(on: connection, logger: logs.logger())
                    }
                }
                for _ in 0..<3_000 where !logs.text.contains("Waiting for another process") {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(logs.text.contains("Waiting for another process"), "a store missing a migration did not wait")
                try await holder.query("SELECT pg_advisory_unlock(\(PostgresMigrator.lockKey))", logger: TestPostgres.logger)
                _ = try? await waiting.value
            }
        }
    }

    /// A role that may only read and write the tables of a database already migrated (least privilege: no CREATE on
    /// the schema, no ownership) opens the store and uses it: with nothing to migrate, nothing asks for DDL rights.
    @Test func aRoleThatOnlyReadsAndWritesOpensAMigratedDatabase() async throws {
        try await Self.withLeastPrivilegeRole { _, settings in
            let backend = try await PostgresBackend.open(settings.role, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            #expect(await store.isHealthy())
            let client = try await store.createClient(name: "Least privilege", plan: .free, allowedOrigins: [], at: Date())
            #expect(try await store.client(id: client.0.id)?.name == "Least privilege")
            // The migrations' functions and procedures run with its rights: the batch insert, the job claim.
            let item = try await store.insert(
                FeedbackDraft(clientId: client.0.id, source: .api, comment: "Hello"), at: Date(), origin: nil)
            #expect(try await store.feedback(id: item.id, clientID: client.0.id)?.draft.comment == "Hello")
            try await store.enqueue(
                NewSlackJob(clientId: nil, teamId: "T1", work: .uninstall(UninstallJob(clientId: nil)), runAt: 1))
            let claimed = try await store.claimDueJobs(
                now: 2, lanes: [SlackJobLane(kinds: [.uninstall], limit: 1, lease: 1_000)])
            #expect(claimed.map(\.teamId) == ["T1"])
            #expect(try await store.heartbeat(at: 3) == 0)
            await backend.close()
        }
    }

    /// `GRANT … ON ALL TABLES` covers the tables that exist when it runs: a least-privilege role granted before an
    /// upgrade added a table may not write the new one. Such a role is refused at startup with one line naming what
    /// it lacks (and never the password), instead of starting and failing every request that touches the table.
    @Test func aRoleThatMayNotWriteATableIsRefusedAtStartupNamingWhatItLacks() async throws {
        try await Self.withLeastPrivilegeRole { role, settings in
            try await TestPostgres.run("REVOKE INSERT, UPDATE ON feedback_screenshot FROM \(role)", on: settings.owner)
            try await TestPostgres.run("REVOKE DELETE ON job FROM \(role)", on: settings.owner)
            // A hardened database: functions are not everyone's to call.
            try await TestPostgres.run("REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA public FROM PUBLIC", on: settings.owner)
            let refusal = await #expect(throws: PostgresStartupError.self) {
                _ = try await PostgresBackend.open(settings.role, logger: TestPostgres.logger)
            }
            let text = refusal?.description ?? ""
            #expect(text.hasPrefix("USERO_DATABASE: the role \(role) lacks "))
            #expect(text.contains(
                "INSERT, UPDATE on feedback_screenshot; DELETE on job; EXECUTE on usero_claim_jobs; "
                    + "EXECUTE on usero_insert_feedback_batch;"))
            #expect(!text.contains("app-password"))
            try await TestPostgres.run("GRANT INSERT, UPDATE ON feedback_screenshot TO \(role)", on: settings.owner)
            try await TestPostgres.run("GRANT DELETE ON job TO \(role)", on: settings.owner)
            try await TestPostgres.run("GRANT EXECUTE ON ALL ROUTINES IN SCHEMA public TO \(role)", on: settings.owner)
            let backend = try await PostgresBackend.open(settings.role, logger: TestPostgres.logger)
            await backend.close()
        }
    }

    /// Runs `body` with a fresh database migrated by its owner and a login role granted as the README's least-privilege
    /// role is (no CREATE on the schema, no ownership): the role's name, the owner's settings and the role's.
    static func withLeastPrivilegeRole(
        _ body: (String, (owner: PostgresSettings, role: PostgresSettings)) async throws -> Void
    ) async throws {
        let role = "app_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let admin = try TestPostgres.settings()
        try await TestPostgres.run("CREATE ROLE \(role) LOGIN PASSWORD 'app-password'", on: admin)
        do {
            try await TestPostgres.withFreshDatabase { settings in
                let owner = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
                await owner.close()
                for grant in [
                    "REVOKE CREATE ON SCHEMA public FROM PUBLIC", "GRANT USAGE ON SCHEMA public TO \(role)",
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \(role)",
                    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \(role)",
                ] {
                    try await TestPostgres.run(grant, on: settings)
                }
                let url = try #require(TestPostgres.url).replacingOccurrences(
                    of: #"//[^@]*@([^/]*)/[^?]*"#, with: "//\(role):app-password@$1/\(settings.database)",
                    options: .regularExpression)
                try await body(String(role), (settings, try PostgresSettings(url: url)))
            }
        } catch {
            try? await TestPostgres.run("DROP ROLE \(role)", on: admin)
            throw error
        }
        try await TestPostgres.run("DROP ROLE \(role)", on: admin)
    }

    /// Several processes starting at once on an empty database: each migration is applied exactly once, and nobody
    /// fails. The extra migration sleeps so that the racers really overlap: without the lock, the others would run
    /// the CREATE TABLEs at the same time and fail (or apply them twice).
    @Test func racingMigratorsApplyEachMigrationOnce() async throws {
        let migrations = PostgresSchema.migrations + [
            PostgresMigration("v99-test-slow", ["SELECT pg_sleep(0.3)", "CREATE TABLE race_marker (id INTEGER)"])
        ]
        try await TestPostgres.withFreshDatabase { settings in
            let results = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await TestPostgres.withConnection(to: settings) { connection in
                            try await PostgresMigrator(migrations).migrate(on: connection, logger: TestPostgres.logger)
                        }
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            #expect(results.filter { !$0.isEmpty } == [migrations.map(\.id)])
            #expect(results.filter(\.isEmpty).count == 3)
            let recorded = try await TestPostgres.withConnection(to: settings) { connection in
                try await TestPostgres.scalar("SELECT count(*) FROM schema_migrations", as: Int.self, on: connection)
            }
            #expect(recorded == migrations.count)
        }
    }

    /// The same race through `PostgresBackend.open`, as `serve` processes do it.
    @Test func racingOpensAllSucceed() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        let database = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
                        await database.close()
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// A database from before `v8-pg-slack-person` keeps every captured row's author and forwarder: the migration
    /// moves them to their own table, and the store reads them back as before.
    @Test func slackMemberIdsOfExistingRowsSurviveTheirMoveToTheirOwnTable() async throws {
        let before = PostgresSchema.migrations.prefix { $0.id != "v8-pg-slack-person" }
        let throughV8 = PostgresSchema.migrations.prefix(before.count + 1)
        #expect(throughV8.last?.id == "v8-pg-slack-person")
        try await TestPostgres.withFreshDatabase { settings in
            try await TestPostgres.withConnection(to: settings) { connection in
                _ = try await PostgresMigrator(Array(before)).migrate(on: connection, logger: TestPostgres.logger)
                for sql in [
                    """
                    INSERT INTO client (id, name, plan, admin_key_hash, created_at)
                    VALUES ('cl_1', 'Acme', 'paid', '\\x01', 1)
                    """,
                    """
                    INSERT INTO feedback (id, client_id, source, created_at, comment, slack_team_id, slack_channel_id,
                        slack_message_ts, slack_author_id, slack_forwarded_by, slack_captured_via)
                    VALUES ('fb_both', 'cl_1', 'slack', 1, 'both', 'T1', 'C1', '1.1', 'U_AUTHOR', 'U_FWD', 'reaction:wrench'),
                        ('fb_scrubbed', 'cl_1', 'slack', 2, 'scrubbed', 'T1', 'C1', '1.2', NULL, NULL, 'reaction:wrench'),
                        ('fb_command', 'cl_1', 'slack', 3, 'typed', 'T1', 'C1', NULL, NULL, 'U_FWD', 'command')
                    """,
                    "INSERT INTO feedback (id, client_id, source, created_at, comment) VALUES ('fb_api', 'cl_1', 'api', 4, 'api')",
                ] {
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger)
                }
                let applied = try await PostgresMigrator(Array(throughV8)).migrate(on: connection, logger: TestPostgres.logger)
                #expect(applied == ["v8-pg-slack-person"])
            }
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            let both = try await store.feedback(id: "fb_both", clientID: "cl_1")
            #expect(both?.draft.slack?.authorId == "U_AUTHOR")
            #expect(both?.draft.slack?.forwardedBy == "U_FWD")
            let scrubbed = try await store.feedback(id: "fb_scrubbed", clientID: "cl_1")
            #expect(scrubbed?.draft.comment == "scrubbed")
            #expect(scrubbed?.draft.slack?.authorId == nil)
            #expect(scrubbed?.draft.slack?.forwardedBy == nil)
            let command = try await store.feedback(id: "fb_command", clientID: "cl_1")
            #expect(command?.draft.slack?.authorId == nil)
            #expect(command?.draft.slack?.forwardedBy == "U_FWD")
            let api = try await store.feedback(id: "fb_api", clientID: "cl_1")
            #expect(api?.draft.comment == "api")
            #expect(api?.draft.slack == nil)
            await backend.close()
        }
    }

    /// A workspace installed before `v14-forget-installer` loses the member id of whoever installed it and nothing
    /// else of its installation.
    @Test func anExistingInstallationForgetsItsInstallerAndKeepsTheRest() async throws {
        let before = PostgresSchema.migrations.prefix { $0.id != "v14-forget-installer" }
        let through = PostgresSchema.migrations.prefix(before.count + 1)
        try await TestPostgres.withFreshDatabase { settings in
            try await TestPostgres.withConnection(to: settings) { connection in
                _ = try await PostgresMigrator(Array(before)).migrate(on: connection, logger: TestPostgres.logger)
                for sql in [
                    "INSERT INTO client (id, name, plan, admin_key_hash, created_at) VALUES ('cl_1', 'Acme', 'paid', '\\x01', 1)",
                    """
                    INSERT INTO slack_installation (team_id, client_id, team_name, bot_user_id, scopes, installer_user_id,
                        token_envelope, token_key_id, installed_at)
                    VALUES ('T1', 'cl_1', 'Acme', 'U_BOT', 'chat:write', 'U_INSTALLER', '\\x0102', 'k1', 5)
                    """,
                ] {
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger)
                }
                let applied = try await PostgresMigrator(Array(through)).migrate(
                    on: connection, logger: TestPostgres.logger)
                #expect(applied == ["v14-forget-installer"])
                let rows = try await connection.query(
                    """
                    SELECT coalesce(installer_user_id, 'none') || ' ' || team_name || ' ' || bot_user_id || ' '
                        || encode(token_envelope, 'hex') FROM slack_installation
                    """,
                    logger: TestPostgres.logger)
                var found: [String] = []
                for try await row in rows.decode(String.self) { found.append(row) }
                #expect(found == ["none Acme U_BOT 0102"])
            }
        }
    }

    /// On `connection`, a database as the binaries before `migration` left it: migrated up to it, then `rows`
    /// inserted. Then `migration` and every later one are applied, and the test checks they all were.
    static func migrate(_ connection: PostgresConnection, across migration: String, rows: [String]) async throws {
        let before = PostgresSchema.migrations.prefix { $0.id != migration }
        let after = PostgresSchema.migrations.dropFirst(before.count).map(\.id)
        #expect(after.first == migration)
        _ = try await PostgresMigrator(Array(before)).migrate(on: connection, logger: TestPostgres.logger)
        for sql in rows { try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger) }
        let applied = try await PostgresMigrator().migrate(on: connection, logger: TestPostgres.logger)
        #expect(applied == after)
    }

    /// A database from before `v15-feedback-screenshot` where two items name one upload (the second sent again
    /// after a lost answer) and only the first claimed it: deleting the first no longer takes the screenshot the
    /// second shows; deleting the second does.
    @Test func anUploadTwoExistingItemsNameGoesWithTheLastOfThem() async throws {
        let shots = #"[{"fileName":"client_1/1-shared.png","url":"u","fileSize":3,"mimeType":"image/png"}]"#
        try await TestPostgres.withFreshDatabase { settings in
            try await TestPostgres.withConnection(to: settings) { connection in
                try await Self.migrate(connection, across: "v15-feedback-screenshot", rows: [
                    "INSERT INTO client (id, name, plan, admin_key_hash, created_at) VALUES ('cl_1', 'Acme', 'paid', '\\x01', 1)",
                    """
                    INSERT INTO feedback (id, client_id, source, created_at, comment, screenshots) VALUES
                        ('fb_first', 'cl_1', 'widget', 1, 'Broken', '\(shots)'),
                        ('fb_again', 'cl_1', 'widget', 2, 'Broken', '\(shots)'),
                        ('fb_other', 'cl_1', 'widget', 3, 'Fine', '[]')
                    """,
                    """
                    INSERT INTO screenshot (file_name, client_id, feedback_id, mime_type, file_size, created_at)
                    VALUES ('client_1/1-shared.png', 'cl_1', 'fb_first', 'image/png', 3, 1)
                    """,
                    "INSERT INTO screenshot_chunk (file_name, seq, bytes) VALUES ('client_1/1-shared.png', 0, '\\x0a0b0c')",
                ])
            }
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            #expect(try await store.deleteFeedback(id: "fb_first", clientID: "cl_1"))
            #expect(try await store.screenshotBytes(fileName: "client_1/1-shared.png") == Data([0x0a, 0x0b, 0x0c]))
            #expect(try await store.unattachedScreenshotBytes(clientID: "cl_1") == 0)
            #expect(try await store.deleteFeedback(id: "fb_again", clientID: "cl_1"))
            #expect(try await store.screenshot(fileName: "client_1/1-shared.png") == nil)
            #expect(try await store.screenshotBytes(fileName: "client_1/1-shared.png") == nil)
            await backend.close()
        }
    }

    /// A database from before `v9-pg-screenshot-chunks` keeps every screenshot's bytes: each moves as one chunk,
    /// served whole, and a screenshot saved afterwards is stored in chunks of at most 1 MB and read back the same.
    @Test func screenshotBytesOfExistingRowsSurviveTheirMoveToChunks() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            try await TestPostgres.withConnection(to: settings) { connection in
                try await Self.migrate(connection, across: "v9-pg-screenshot-chunks", rows: [
                    "INSERT INTO client (id, name, plan, admin_key_hash, created_at) VALUES ('cl_1', 'Acme', 'paid', '\\x01', 1)",
                    """
                    INSERT INTO screenshot (file_name, client_id, mime_type, file_size, created_at)
                    VALUES ('cl_1/1-old.png', 'cl_1', 'image/png', 3, 1)
                    """,
                    "INSERT INTO screenshot_data (file_name, bytes) VALUES ('cl_1/1-old.png', '\\x0a0b0c')",
                ])
            }
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            #expect(try await store.screenshotBytes(fileName: "cl_1/1-old.png") == Data([0x0a, 0x0b, 0x0c]))
            #expect(try await store.screenshotPieces(fileName: "cl_1/1-old.png")?.count == 1)

            let big = (0..<2_500_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 12) }
            let record = StoredScreenshot(
                fileName: "cl_1/2-new.png", clientId: "cl_1", mimeType: "image/png", fileSize: Int64(big.count),
                width: nil, height: nil, createdAt: Date(timeIntervalSince1970: 2))
            try await store.saveScreenshot(record, bytes: big)
            let pieces = try #require(try await store.screenshotPieces(fileName: record.fileName))
            #expect(pieces.count == 3)
            var served: [UInt8] = []
            for index in 0..<pieces.count {
                let piece = try #require(try await pieces.fetch(index))
                #expect(piece.readableBytes <= 1024 * 1024)
                served += piece.readableBytesView
            }
            #expect(served == big)
            #expect(try await store.screenshotBytes(fileName: record.fileName) == Data(big))
            await backend.close()
        }
    }

    @Test func aFailingMigrationLeavesNothingBehindAndNamesItself() async throws {
        let migrations = [
            PostgresMigration("v1-ok", ["CREATE TABLE kept (id INTEGER)"]),
            PostgresMigration("v2-broken", ["CREATE TABLE half (id INTEGER)", "ALTER TABLE missing ADD COLUMN x INTEGER"]),
        ]
        try await TestPostgres.withFreshDatabase { settings in
            var options = PostgresBackend.Options()
            options.migrations = migrations
            await #expect {
                _ = try await PostgresBackend.open(settings, options: options, logger: TestPostgres.logger)
            } throws: { error in
                let text = String(describing: error)
                return text.hasPrefix("USERO_DATABASE: PostgreSQL migration v2-broken failed: 42P01")
                    && !text.contains("\n")
            }
            let (kept, half, recorded) = try await TestPostgres.withConnection(to: settings) { connection in
                (
                    try await TestPostgres.scalar("SELECT to_regclass('kept')::text", as: String?.self, on: connection),
                    try await TestPostgres.scalar("SELECT to_regclass('half')::text", as: String?.self, on: connection),
                    try await TestPostgres.all("SELECT id FROM schema_migrations", as: String.self, on: connection)
                )
            }
            #expect(kept == .some("kept"))
            #expect(half == .some(nil))  // transactional DDL: the half-done migration left no table
            #expect(recorded == ["v1-ok"])
        }
    }
}

/// What `serve` prints when PostgreSQL cannot be used: one line naming USERO_DATABASE, never the password.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresStartupErrorTests {
    static let secret = "N0t-The-Right-Passw0rd"

    func expectStartupFailure(_ settings: PostgresSettings, mentioning words: [String]) async {
        await #expect {
            _ = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
        } throws: { error in
            let text = String(describing: error)
            let ok = text.hasPrefix("USERO_DATABASE: ") && !text.contains("\n") && !text.contains(Self.secret)
                && words.allSatisfy { text.contains($0) }
            if !ok { Issue.record("unexpected startup error: \(text)") }
            return ok
        }
    }

    @Test func wrongPassword() async throws {
        let good = try TestPostgres.settings()
        guard case .tcp(let host, let port) = good.endpoint else { return }
        let bad = try PostgresSettings(
            url: "postgres://\(good.user):\(Self.secret)@\(host):\(port)/\(good.database)?sslmode=disable")
        await expectStartupFailure(bad, mentioning: ["rejected the password for user \(good.user)"])
    }

    @Test func unknownUser() async throws {
        let good = try TestPostgres.settings()
        guard case .tcp(let host, let port) = good.endpoint else { return }
        let bad = try PostgresSettings(url: "postgres://nobody:\(Self.secret)@\(host):\(port)/usero?sslmode=disable")
        // PostgreSQL does not tell a missing role from a wrong password, on purpose.
        await expectStartupFailure(bad, mentioning: ["rejected the password for user nobody"])
    }

    /// A database not in UTF8 stops serve at startup with one line, before any migration: in LATIN1 an emoji in a
    /// comment would be a 500 at its first submission.
    @Test func aDatabaseNotInUTF8() async throws {
        let admin = try TestPostgres.settings()
        let name = "usero_test_latin1_" + UUID().uuidString.lowercased().prefix(8)
        try await TestPostgres.run(
            "CREATE DATABASE \(name) ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0", on: admin)
        await expectStartupFailure(admin.database(name), mentioning: ["encoding is LATIN1", "usero needs UTF8"])
        let migrated = try await TestPostgres.withConnection(to: admin.database(name)) { connection in
            try await TestPostgres.scalar("SELECT to_regclass('schema_migrations')::text", as: String?.self, on: connection)
        }
        #expect(migrated == .some(nil))
        try await TestPostgres.run("DROP DATABASE \(name) WITH (FORCE)", on: admin)
    }

    @Test func missingDatabase() async throws {
        let good = try TestPostgres.settings()
        await expectStartupFailure(good.database("no_such_db"), mentioning: ["database no_such_db does not exist"])
    }

    @Test func nothingListening() async throws {
        // A port that was free a moment ago; nothing listens on it.
        let port = try freeLoopbackPort()
        let bad = try PostgresSettings(url: "postgres://usero:\(Self.secret)@127.0.0.1:\(port)/usero?sslmode=disable")
        await expectStartupFailure(bad, mentioning: ["cannot connect to PostgreSQL at usero@127.0.0.1:\(port)/usero", "refused"])
    }

    @Test func tlsRequiredButNotOffered() async throws {
        // The test cluster has no certificate, so it answers the TLS request with "no".
        var bad = try TestPostgres.settings()
        bad.tlsMode = .require
        await expectStartupFailure(bad, mentioning: ["does not offer TLS"])
    }

    @Test func preferFallsBackToPlainWhenTheServerHasNoTLS() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            var prefer = settings
            prefer.tlsMode = .prefer
            let database = try await PostgresBackend.open(prefer, logger: TestPostgres.logger)
            #expect(await database.isHealthy())
            await database.close()
        }
    }
}

/// A server older than PostgreSQL 12 stops `serve` at start, where it would have started and failed statements one by
/// one as they first ran. (No such server here: the decision alone, from `server_version_num`.)
struct PostgresServerVersionTests {
    @Test func serversBefore12AreRefusedByName() {
        #expect(PostgresBackend.encodingProblem(serverEncoding: "UTF8") == nil)
        #expect(PostgresBackend.encodingProblem(serverEncoding: "SQL_ASCII") != nil)
        #expect(PostgresBackend.versionProblem(serverVersionNum: 150_018) == nil)
        #expect(PostgresBackend.versionProblem(serverVersionNum: 120_000) == nil)
        #expect(
            PostgresBackend.versionProblem(serverVersionNum: 110_022)
                == "PostgreSQL 11 is too old: usero needs PostgreSQL 12 or later")
    }
}
