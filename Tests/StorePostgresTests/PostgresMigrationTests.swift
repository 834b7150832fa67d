import PostgresNIO
import StorePostgres
import Testing

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
