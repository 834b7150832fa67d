import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PostgresNIO
import StorePostgres
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
import UseroTestSupport
#endif

/// The `usero` program on PostgreSQL, as a user runs it: `USERO_DATABASE` changes, and `serve` gets the shared
/// `USERO_TOKEN_KEY` the contract requires there. Needs the test cluster
/// (`USERO_TEST_POSTGRES_URL`, set by scripts/test.sh); these run in every pass, not only the PostgreSQL one.
@Suite(.serialized, .enabled(if: TestBackend.postgresURL != nil, "USERO_TEST_POSTGRES_URL is not set"))
struct PostgresCommandLineTests {
    let folder = TestServer.makeFolder()

    /// The URL of this test's own database (same server and credentials as the test cluster's URL).
    func databaseURL() async throws -> String { try await TestBackend.databaseURL(for: folder) }

    func environment() async throws -> [String: String] {
        ["USERO_DATABASE": try await databaseURL(), "USERO_DATA_DIR": folder.appendingPathComponent("data").path,
         "USERO_TOKEN_KEY": SlackTestSettings.tokenKey]
    }

    /// On PostgreSQL the batch insert remembers allowlists it read: a change must take effect at once all the same.
    @Test func anAllowlistChangedWhileServeRunsTakesEffectAtOnce() async throws {
        try await UseroBinary.checkAllowlistUpdates(environment: try await environment())
    }

    @Test func theCommandsAndServeWorkAndEveryAcknowledgedItemSurvivesAKill() async throws {
        let environment = try await environment()
        // Given a client made by the command, on PostgreSQL
        let (client, key) = try await UseroBinary.createClient(name: "Durable", ["--plan", "paid"], environment: environment)
        let updated = try await UseroBinary.run(["clients", "update", client, "--plan", "free"], environment: environment)
        #expect(updated.status == 0)
        #expect(updated.stdout.contains(#""plan":"free""#))

        let port = UseroBinary.freePort()
        let (process, healthy) = try await UseroBinary.startServe(port: port, environment: environment)
        #expect(healthy)
        // And 200 submissions answered 200 while they arrive together
        let acknowledged = try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let body = Data(#"{"clientId":"\#(client)","comment":"durable \#(index)"}"#.utf8)
                    let reply = try await HTTPResult.send(
                        "POST", "http://127.0.0.1:\(port)/api/feedback", headers: ["Content-Type": "application/json"],
                        body: body)
                    return reply.status == 200 ? reply.json["feedbackId"] as? String : nil
                }
            }
            return try await group.reduce(into: [String]()) { if let id = $1 { $0.append(id) } }
        }
        #expect(acknowledged.count == 200)
        // When the process is killed outright
        process.send(SIGKILL)
        #expect(await waitForExit(process) == 128 + SIGKILL)

        // Then a new process (another data folder, as another machine would have) lists every acknowledged item
        var second = environment
        second["USERO_DATA_DIR"] = folder.appendingPathComponent("data-2").path
        try await UseroBinary.withServe(environment: second) { port in
            var listed: Set<String> = []
            var cursor: String?
            repeat {
                let path = "/api/feedback?limit=100" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await HTTPResult.send(
                    "GET", "http://127.0.0.1:\(port)\(path)", headers: ["Authorization": "Bearer \(key)"])
                #expect(page.status == 200)
                for item in page.json["items"] as? [[String: Any]] ?? [] {
                    if let id = item["id"] as? String { listed.insert(id) }
                }
                cursor = page.json["nextCursor"] as? String
            } while cursor != nil
            #expect(Set(acknowledged).isSubset(of: listed), "lost \(Set(acknowledged).subtracting(listed).count)")
        }

        // And the retention command runs against the same database
        let swept = try await UseroBinary.run(["retention", "run"], environment: environment)
        #expect(swept.status == 0, "\(swept.stderr)")
    }

    @Test func aWrongPasswordOrNoServerStopsServeWithOneLineNamingTheVariable() async throws {
        let url = try await databaseURL()
        let password = try #require(url.split(separator: "@").first?.split(separator: ":").last.map(String.init))
        let cases = [
            url.replacingOccurrences(of: ":\(password)@", with: ":not-the-password@"),
            "postgres://usero:secret-pw@127.0.0.1:\(UseroBinary.freePort())/usero?sslmode=disable",
            "postgres://usero@/usero?sslmode=bogus",
        ]
        for database in cases {
            let outcome = try await UseroBinary.run(
                ["serve"], environment: ["USERO_DATABASE": database, "USERO_PORT": "0",
                                         "USERO_DATA_DIR": folder.appendingPathComponent("data").path,
                                         "USERO_TOKEN_KEY": SlackTestSettings.tokenKey])
            #expect(outcome.status == 78, "\(outcome.stderr)")
            let lines = outcome.stderr.split(separator: "\n").filter { $0.contains("USERO_DATABASE") }
            #expect(lines.count == 1, "stderr: \(outcome.stderr)")
            #expect(!outcome.stderr.contains("not-the-password"))
            #expect(!outcome.stderr.contains("secret-pw"))
            #expect(!outcome.stderr.contains(password))
        }
    }

    /// This test's database through the test cluster's Unix socket (`USERO_PG_CLUSTER` is its socket folder), in the
    /// README's form `postgres://USER:PASSWORD@:PORT/DBNAME?host=FOLDER`, or through `folder` instead.
    func socketURL(folder socketFolder: String? = nil) async throws -> String {
        let tcp = try await databaseURL()
        let at = try #require(tcp.firstIndex(of: "@"))
        let hostAndRest = tcp[tcp.index(after: at)...]
        let slash = try #require(hostAndRest.firstIndex(of: "/"))
        let port = try #require(hostAndRest[..<slash].split(separator: ":").last)
        let database = hostAndRest[hostAndRest.index(after: slash)...].prefix { $0 != "?" }
        let folder = try socketFolder ?? #require(TestBackend.environment["USERO_PG_CLUSTER"])
        return "\(tcp[...at]):\(port)/\(database)?host=\(folder)"
    }

    /// A deployment with PostgreSQL on the same host connects through its Unix socket (the README says how, and
    /// BENCHMARKS.md how much it saves): the commands and `serve` work that way, and a socket folder with no server
    /// in it stops `serve` like an unreachable host does.
    @Test(.enabled(if: TestBackend.environment["USERO_PG_CLUSTER"] != nil, "USERO_PG_CLUSTER is not set"))
    func theCommandsAndServeWorkThroughTheUnixSocket() async throws {
        var environment = try await environment()
        environment["USERO_DATABASE"] = try await socketURL()
        let (client, key) = try await UseroBinary.createClient(name: "Local", environment: environment)

        try await UseroBinary.withServe(environment: environment) { port in
            let posted = try await HTTPResult.send(
                "POST", "http://127.0.0.1:\(port)/api/feedback", headers: ["Content-Type": "application/json"],
                body: Data(#"{"clientId":"\#(client)","rating":4,"comment":"Through the socket"}"#.utf8))
            #expect(posted.status == 200)
            let id = try #require(posted.json["feedbackId"] as? String)
            let item = try await HTTPResult.send(
                "GET", "http://127.0.0.1:\(port)/api/feedback/\(id)", headers: ["Authorization": "Bearer \(key)"])
            #expect(item.status == 200)
            #expect(item.json["comment"] as? String == "Through the socket")
        }

        // A folder without the server's socket: the same one line and exit code as a host nobody listens on.
        let empty = TestServer.makeFolder()
        var nowhere = environment
        nowhere["USERO_DATABASE"] = try await socketURL(folder: empty.path)
        nowhere["USERO_PORT"] = "0"
        nowhere["USERO_DATA_DIR"] = empty.appendingPathComponent("data").path
        let outcome = try await UseroBinary.run(["serve"], environment: nowhere)
        #expect(outcome.status == 78, "\(outcome.stderr)")
        let lines = outcome.stderr.split(separator: "\n").filter { $0.contains("USERO_DATABASE") }
        #expect(lines.count == 1, "stderr: \(outcome.stderr)")
        #expect(lines.first?.contains(empty.path) == true, "stderr: \(outcome.stderr)")
        let password = try #require(environment["USERO_DATABASE"]?.split(separator: "@").first?.split(separator: ":").last)
        #expect(!outcome.stderr.contains(password))
    }

    /// A version of usero run on a database a newer one migrated (a rollback, an old instance started beside new
    /// ones) says so, once.
    @Test func aDatabaseANewerVersionMigratedIsAWarning() async throws {
        let environment = try await environment()
        _ = try await UseroBinary.createClient(name: "Before", environment: environment)
        let connection = try await PostgresConnection.connect(
            configuration: try await TestBackend.database(for: folder).connectionConfiguration(), id: 1,
            logger: TestBackend.logger)
        try await connection.query(
            "INSERT INTO schema_migrations (id, applied_at) VALUES ('v99-from-the-future', 0)", logger: TestBackend.logger)
        try await connection.close()
        let created = try await UseroBinary.run(["clients", "create", "--name", "After"], environment: environment)
        #expect(created.status == 0, "\(created.stderr)")
        let warnings = created.stderr.split(separator: "\n").filter { $0.contains("migrated by a newer version of usero") }
        #expect(warnings.count == 1 && warnings.first?.contains("v99-from-the-future") == true, "\(created.stderr)")
        // Said where the client went, the password left out.
        let said = created.stderr.split(separator: "\n").filter { $0.hasPrefix("usero: client created in PostgreSQL postgres://") }
        #expect(said.count == 1, "\(created.stderr)")
        let password = try PostgresStartupTests.password(in: environment["USERO_DATABASE"] ?? "")
        #expect(said.first?.contains("<redacted>") == true)
        #expect(!created.stderr.contains(password))
    }

    /// A command that fails on PostgreSQL says why, as it does on SQLite: the SQLSTATE and the server's reason, where
    /// postgres-nio's own error said only "Generic description to prevent accidental leakage of sensitive data".
    /// On SQLite these commands refuse a store that is not there; on PostgreSQL they migrated an empty database (a
    /// mistyped name in a cron job's URL, the maintenance database) and reported success (found by a review).
    @Test func theCommandsRefuseADatabaseWithoutAStoreAndMakeNone() async throws {
        let environment = try await environment()
        for command in [["clients", "list"], ["retention", "run"], ["tokens", "reseal"]] {
            let refused = try await UseroBinary.run(command, environment: environment)
            #expect(refused.status == 78, "\(command): \(refused.stderr)")
            #expect(refused.stderr.contains("USERO_DATABASE: this database holds no usero store"), "\(refused.stderr)")
            #expect(!refused.stderr.contains("applied PostgreSQL migration"), "\(refused.stderr)")
        }
        // clients create makes it, applying every migration then.
        let created = try await UseroBinary.run(["clients", "create", "--name", "First"], environment: environment)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stderr.contains("applied PostgreSQL migration"), "\(created.stderr)")
        #expect(try await UseroBinary.run(["clients", "list"], environment: environment).status == 0)
    }

    @Test func aCommandThatFailsOnPostgreSQLSaysWhy() async throws {
        let environment = try await environment()
        _ = try await UseroBinary.createClient(name: "Before", environment: environment)
        let database = try await TestBackend.database(for: folder).database
        try await runAsOwner("ALTER DATABASE \(database) SET default_transaction_read_only = on")
        let created = try await UseroBinary.run(["clients", "create", "--name", "After"], environment: environment)
        #expect(created.status == 1, "\(created.stderr)")
        #expect(
            created.stderr.hasPrefix(
                "usero: USERO_DATABASE: PostgreSQL: 25006 cannot execute INSERT in a read-only transaction"),
            "\(created.stderr)")
        #expect(!created.stderr.contains("Generic description"), "\(created.stderr)")
        let password = try PostgresStartupTests.password(in: environment["USERO_DATABASE"] ?? "")
        #expect(!created.stderr.contains(password))
        // From another database: a session of this one is read-only now, ALTER DATABASE included.
        try await TestBackend.run(
            "ALTER DATABASE \(database) RESET default_transaction_read_only", on: try TestBackend.settings())
    }

    /// Background work that fails on PostgreSQL says why in its log line, as a failed request does: the retention
    /// sweep on a read-only server logs `error.sqlstate=25006` beside the error's type (it logged `PSQLError` alone).
    @Test func aRetentionSweepThatFailsOnPostgreSQLLogsItsSQLSTATE() async throws {
        var environment = try await environment()
        _ = try await UseroBinary.createClient(name: "Before", environment: environment)
        let database = try await TestBackend.database(for: folder).database
        try await runAsOwner("ALTER DATABASE \(database) SET default_transaction_read_only = on")
        environment["USERO_RETENTION_INTERVAL_SECONDS"] = "1"
        let log = folder.appendingPathComponent("sweep.log").path
        let process = try UseroBinary.launchServe(port: UseroBinary.freePort(), environment: environment, log: log)
        var line: Substring?
        for _ in 0..<300 where line == nil && process.isRunning {
            try await Task.sleep(for: .milliseconds(100))
            let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
            line = lines.first { $0.contains("Retention sweep failed") }
        }
        process.send(SIGTERM)
        _ = await waitForExit(process)
        try await TestBackend.run(
            "ALTER DATABASE \(database) RESET default_transaction_read_only", on: try TestBackend.settings())
        let failed = try #require(line, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(failed.contains("error.sqlstate=25006"), "\(failed)")
        #expect(failed.contains("error.type=PSQLError"), "\(failed)")
    }

    /// A role that may not write one of usero's tables (granted before an upgrade added it) stops `serve` with one
    /// line naming the table and what is missing, exit 78, where it used to start and answer 500 to every request
    /// touching that table.
    @Test func serveAsARoleThatMayNotWriteATableStopsNamingIt() async throws {
        var environment = try await environment()
        _ = try await UseroBinary.createClient(name: "Owner", environment: environment)
        let role = "app_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        try await runAsOwner("CREATE ROLE \(role) LOGIN PASSWORD 'app-password'")
        do {
            for grant in [
                "GRANT USAGE ON SCHEMA public TO \(role)",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \(role)",
                "REVOKE INSERT ON feedback_screenshot FROM \(role)",
            ] {
                try await runAsOwner(grant)
            }
            environment["USERO_DATABASE"] = try await databaseURL().replacingOccurrences(
                of: #"//[^@]*@"#, with: "//\(role):app-password@", options: .regularExpression)
            environment["USERO_PORT"] = "0"
            let outcome = try await UseroBinary.run(["serve"], environment: environment)
            #expect(outcome.status == 78, "\(outcome.stderr)")
            let lines = outcome.stderr.split(separator: "\n").filter { $0.contains("USERO_DATABASE") }
            #expect(lines.count == 1, "\(outcome.stderr)")
            #expect(lines.first?.contains("the role \(role) lacks INSERT on feedback_screenshot;") == true, "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("app-password"))
            // A role at its CONNECTION LIMIT is named as such, not as a server out of slots (the same SQLSTATE).
            try await runAsOwner("ALTER ROLE \(role) CONNECTION LIMIT 0")
            let limited = try await UseroBinary.run(["serve"], environment: environment)
            #expect(limited.status == 78, "\(limited.stderr)")
            #expect(limited.stderr.contains("user \(role) is at its role's CONNECTION LIMIT"), "\(limited.stderr)")
            #expect(limited.stderr.contains("USERO_DATABASE_MAX_CONNECTIONS"))
            try await runAsOwner("ALTER ROLE \(role) CONNECTION LIMIT -1")
            try await runAsOwner("GRANT INSERT ON feedback_screenshot TO \(role)")
            try await UseroBinary.withServe(environment: environment) { port in
                let health = try await HTTPResult.send("GET", "http://127.0.0.1:\(port)/healthz")
                #expect(health.status == 200)
            }
        } catch {
            try? await runAsOwner("DROP OWNED BY \(role)")
            try? await runAsOwner("DROP ROLE \(role)")
            throw error
        }
        try await runAsOwner("DROP OWNED BY \(role)")
        try await runAsOwner("DROP ROLE \(role)")
    }

    /// Runs `sql` on this test's database as the test cluster's user (its owner).
    func runAsOwner(_ sql: String) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: try await TestBackend.database(for: folder).connectionConfiguration(), id: 1,
            logger: TestBackend.logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestBackend.logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    /// A port another program holds is a configuration mistake with one line, on PostgreSQL as on SQLite. The
    /// store's background work (the group commit, the sweeps, the Slack worker) used to start beside the server's
    /// bind, and its failures as the store closed under it came first: half a dozen lines blaming the database.
    @Test func aPortInUseStopsServeWithItsOneLineAndNothingElse() async throws {
        var environment = try await environment()
        environment["SLACK_SIGNING_SECRET"] = "8f742231b10e8888abcd99yyyzzz85a5"
        let outcome = try await UseroBinary.withPortInUse { port in
            environment["USERO_PORT"] = "\(port)"
            return try await UseroBinary.run(["serve"], environment: environment)
        }
        #expect(outcome.status == 78, "\(outcome.stderr)")
        let lines = outcome.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.contains("USERO_PORT") == true, "\(outcome.stderr)")
        #expect(lines.first?.contains("the port is in use") == true, "\(outcome.stderr)")
    }

    /// The contract: on PostgreSQL `USERO_TOKEN_KEY` is required (instances share one key), with Slack configured
    /// or not; `serve` and `tokens reseal`, which seal, refuse without it. The other commands seal nothing and run
    /// without it.
    @Test(arguments: [false, true])
    func serveOnPostgreSQLNeedsTheSharedTokenKey(slack: Bool) async throws {
        var environment = try await environment()
        environment["USERO_TOKEN_KEY"] = nil
        environment["USERO_PORT"] = "0"
        if slack { environment["SLACK_SIGNING_SECRET"] = "8f742231b10e8888abcd99yyyzzz85a5" }
        let outcome = try await UseroBinary.run(["serve"], environment: environment)
        #expect(outcome.status == 78)
        #expect(outcome.stderr.split(separator: "\n").filter { $0.contains("USERO_TOKEN_KEY") }.count == 1)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("data/token.key").path))
        // With Slack configured too (it once refused them, against the README)
        let created = try await UseroBinary.run(["clients", "create", "--name", "No key"], environment: environment)
        #expect(created.status == 0, "\(created.stderr)")
        let swept = try await UseroBinary.run(["retention", "run"], environment: environment)
        #expect(swept.status == 0, "\(swept.stderr)")
        // `tokens reseal` seals: under one machine's generated key (a token.key left from trying usero on SQLite in
        // that folder), every instance would lose the tokens.
        let data = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let machineKey = data.appendingPathComponent("token.key").path
        try Data((Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() + "\n").utf8)
            .write(to: URL(fileURLWithPath: machineKey))
        chmod(machineKey, 0o600)
        let resealed = try await UseroBinary.run(["tokens", "reseal"], environment: environment)
        #expect(resealed.status == 78, "\(resealed.stderr)")
        #expect(resealed.stderr.split(separator: "\n").filter { $0.contains("USERO_TOKEN_KEY") }.count == 1)
    }
}
