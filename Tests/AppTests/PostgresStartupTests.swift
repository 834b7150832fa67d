import Foundation
import PostgresNIO
import StorePostgres
#if canImport(Glibc)
import Glibc
#endif
import Testing
import UseroTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `serve` on PostgreSQL at startup, as an operator meets it: a database that is not up yet, and logs at `trace`.
@Suite(.serialized, .enabled(if: TestBackend.postgresURL != nil, "USERO_TEST_POSTGRES_URL is not set"))
struct PostgresStartupTests {
    let folder = TestServer.makeFolder()

    func environment(database: String) -> [String: String] {
        ["USERO_DATABASE": database, "USERO_DATA_DIR": folder.appendingPathComponent("data").path,
         "USERO_TOKEN_KEY": SlackTestSettings.tokenKey, "USERO_PORT": "0"]
    }

    /// The password in a `postgres://USER:PASSWORD@…` URL.
    static func password(in url: String) throws -> String {
        let credentials = try #require(url.split(separator: "@").first?.split(separator: "//").last)
        return String(try #require(credentials.split(separator: ":").last))
    }

    /// After a reboot or a restart of the database, usero may start first. With `USERO_DATABASE_WAIT_SECONDS` it
    /// keeps trying (a notice line per attempt, never the password) and serves once the server is back; without it,
    /// it stops at once as before (exit 78, one line naming USERO_DATABASE), which systemd does not restart.
    @Test func serveWaitsForADatabaseThatIsNotUpYetOnlyWhenToldTo() async throws {
        let cluster = try await ScriptedCluster.start()
        defer { cluster.stop() }
        try await cluster.crash()
        let password = try Self.password(in: cluster.url)

        // Without a wait: refused at once
        let started = ContinuousClock.now
        let refused = try await UseroBinary.run(["serve"], environment: environment(database: cluster.url))
        #expect(refused.status == 78, "\(refused.stderr)")
        #expect(ContinuousClock.now - started < .seconds(30))
        let refusal = refused.stderr.split(separator: "\n").filter { $0.contains("USERO_DATABASE") }
        #expect(refusal.count == 1 && refusal.first?.contains("connection refused") == true, "\(refused.stderr)")
        #expect(!refused.stderr.contains("not reachable yet"), "\(refused.stderr)")

        // With one that runs out: about once a second, then the same refusal
        var shortWait = environment(database: cluster.url)
        shortWait["USERO_DATABASE_WAIT_SECONDS"] = "2"
        let waitStarted = ContinuousClock.now
        let gaveUp = try await UseroBinary.run(["serve"], environment: shortWait)
        let waited = ContinuousClock.now - waitStarted
        #expect(gaveUp.status == 78, "\(gaveUp.stderr)")
        #expect(waited >= .seconds(2) && waited < .seconds(15), "\(waited)")
        let attempts = gaveUp.stderr.split(separator: "\n").filter { $0.contains("not reachable yet") }
        #expect((2...3).contains(attempts.count), "\(gaveUp.stderr)")
        #expect(attempts.allSatisfy { $0.hasPrefix("notice ") || $0.contains(" notice ") }, "\(attempts)")
        #expect(gaveUp.stderr.split(separator: "\n").filter { $0.hasPrefix("usero: USERO_DATABASE") }.count == 1)
        #expect(!gaveUp.stderr.contains(password))

        // With one long enough: the server comes back a second after serve started, and serve answers
        let port = UseroBinary.freePort()
        var longWait = environment(database: cluster.url)
        longWait["USERO_DATABASE_WAIT_SECONDS"] = "60"
        let log = folder.appendingPathComponent("serve.log").path
        let process = try UseroBinary.launchServe(port: port, environment: longWait, log: log)
        try await Task.sleep(for: .seconds(1))
        #expect(process.isRunning)
        try await cluster.restart()
        let healthy = try await UseroBinary.waitUntilHealthy(process, port: port, within: .seconds(30))
        process.send(SIGTERM)
        #expect(await waitForExit(process) == 0)
        let lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(healthy, "\(lines)")
        #expect(lines.contains("not reachable yet"), "\(lines)")
        #expect(!lines.contains(password))
    }

    /// `serve` on `cluster` with a client made by the command, healthy, its log in `log` under the test's folder.
    func serving(on cluster: ScriptedCluster, log: String) async throws
        -> (ChildProcess, port: Int, client: (id: String, adminKey: String))
    {
        var settings = environment(database: cluster.url)
        settings.removeValue(forKey: "USERO_PORT")
        let client = try await UseroBinary.createClient(name: "Served", environment: settings)
        let port = UseroBinary.freePort()
        let (process, healthy) = try await UseroBinary.startServe(
            port: port, environment: settings, log: folder.appendingPathComponent(log).path)
        if !healthy { process.send(SIGKILL) }
        try #require(healthy)
        return (process, port, client)
    }

    /// The database going away under a running serve: `/healthz` says so in the contract's error shape (a probe and
    /// an operator see one body) and a request that needs the store is a 503 to retry, never a 500.
    @Test func aDatabaseGoneIsA503ToRetryWithAnErrorBody() async throws {
        let cluster = try await ScriptedCluster.start()
        defer { cluster.stop() }
        let (process, port, client) = try await serving(on: cluster, log: "outage.log")
        defer { process.send(SIGKILL) }
        try await cluster.crash()
        var health = try await HTTPResult.send("GET", "http://127.0.0.1:\(port)/healthz")
        for _ in 0..<150 where health.status != 503 {
            try await Task.sleep(for: .milliseconds(100))
            health = try await HTTPResult.send("GET", "http://127.0.0.1:\(port)/healthz")
        }
        #expect(health.status == 503)
        #expect(health.json["status"] as? String == "unavailable")
        #expect(health.json["error"] as? String == "Storage is unavailable")
        let listed = try await HTTPResult.send(
            "GET", "http://127.0.0.1:\(port)/api/feedback", headers: ["Authorization": "Bearer \(client.adminKey)"])
        #expect(listed.status == 503, "\(listed.text)")
        #expect(listed.json["error"] as? String == "Storage is unavailable, try again shortly")
        #expect(listed.header("Retry-After") == "5")
        // The inbox says it too, as a page, with the same time to come back. (Asked until it does: a backend of the
        // crashed server may still answer a pooled connection for a moment, and a session it cannot find is a
        // redirect to the sign-in.)
        func askInbox() async throws -> HTTPResult {
            try await HTTPResult.send(
                "GET", "http://127.0.0.1:\(port)/inbox",
                headers: ["Cookie": "usero_session=\(String(repeating: "a", count: 64))"])
        }
        var inbox = try await askInbox()
        for _ in 0..<150 where inbox.status != 503 {
            try await Task.sleep(for: .milliseconds(100))
            inbox = try await askInbox()
        }
        #expect(inbox.status == 503, "\(inbox.text)")
        #expect(inbox.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(inbox.text.contains("unavailable for a moment"))
        #expect(inbox.header("Retry-After") == "5")
    }

    /// A database that turns read-only under a running serve (after a failover to a standby, or with
    /// `default_transaction_read_only` set): nothing can be stored, so a submission is a 503 to retry (it was a 500
    /// whose log named only the error's type) and `/healthz` says so to the load balancer; writable again, both
    /// come back without a restart.
    @Test func aDatabaseThatTurnsReadOnlyIsA503ToRetryAndUnhealthy() async throws {
        let cluster = try await ScriptedCluster.start()
        defer { cluster.stop() }
        let (process, port, client) = try await serving(on: cluster, log: "read-only.log")
        defer { process.send(SIGKILL) }
        let postgres = try PostgresSettings(url: cluster.url, variable: "USERO_DATABASE")
        func setReadOnly(_ on: Bool) async throws {
            let connection = try await PostgresConnection.connect(
                configuration: postgres.connectionConfiguration(), id: 1, logger: TestBackend.logger)
            defer { Task { try? await connection.close() } }
            let change = on ? "SET default_transaction_read_only = on" : "RESET default_transaction_read_only"
            // (This session may itself have begun read-only: the change must be written all the same.)
            _ = try await connection.query("SET default_transaction_read_only = off", logger: TestBackend.logger)
            _ = try await connection.query(
                PostgresQuery(unsafeSQL: "ALTER DATABASE \(postgres.database) \(change)"), logger: TestBackend.logger)
            // usero's sessions were opened before the change: they end, and the sessions the pool opens next have it.
            _ = try await connection.query(
                """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                """, logger: TestBackend.logger)
        }
        /// `request`'s answer once its status is `status`, or after five seconds of asking (pooled sessions opened
        /// before a change end at once, but a check's answer is cached for a second).
        func answer(_ status: Int, to request: () async throws -> HTTPResult) async throws -> HTTPResult {
            var result = try await request()
            for _ in 0..<50 where result.status != status {
                try await Task.sleep(for: .milliseconds(100))
                result = try await request()
            }
            return result
        }
        let submit = {
            try await HTTPResult.send(
                "POST", "http://127.0.0.1:\(port)/api/feedback", headers: ["Content-Type": "application/json"],
                body: Data(#"{"clientId":"\#(client.id)","comment":"a comment"}"#.utf8))
        }
        let health = { try await HTTPResult.send("GET", "http://127.0.0.1:\(port)/healthz") }

        try await setReadOnly(true)
        let refused = try await answer(503, to: submit)
        #expect(refused.status == 503, "\(refused.status) \(refused.text)")
        #expect(refused.json["error"] as? String == "Storage is unavailable, try again shortly")
        #expect(refused.header("Retry-After") == "5")
        #expect(try await answer(503, to: health).status == 503)

        try await setReadOnly(false)
        let stored = try await answer(200, to: submit)
        #expect(stored.status == 200, "\(stored.text)")
        #expect(try await answer(200, to: health).status == 200)
        let lines = try String(contentsOfFile: folder.appendingPathComponent("read-only.log").path, encoding: .utf8)
        #expect(!lines.contains("Unhandled error"), "\(lines)")
    }

    /// A proxy in front of a database that is down (a load balancer, pgbouncer) takes the connection and resets it
    /// without reading the startup packet: that is "not up yet" too, and serve waits; it used to exit at once.
    @Test func aProxyThatResetsTheConnectionIsWaitedFor() async throws {
        let proxyPort = UseroBinary.freePort()
        let ready = folder.appendingPathComponent("proxy.ready").path
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        listener.arguments = [
            "python3", "-c",
            """
            import socket, struct, sys
            s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
            open(sys.argv[2], "w").close()
            while True:
                c, _ = s.accept()
                c.recv(1)  # the startup packet has come; the rest of it is left unread, so closing resets
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            """,
            String(proxyPort), ready,
        ]
        listener.standardOutput = FileHandle.nullDevice
        listener.standardError = FileHandle.nullDevice
        try listener.run()
        // SIGKILL: a child of the test process starts with SIGTERM blocked (the mask it inherits), so terminate()
        // would leave it running.
        defer { kill(listener.processIdentifier, SIGKILL) }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: ready) { try await Task.sleep(for: .milliseconds(25)) }
        try #require(FileManager.default.fileExists(atPath: ready), "the resetting listener did not start")
        var settings = environment(database: "postgres://usero:secret-pw@127.0.0.1:\(proxyPort)/usero?sslmode=disable")
        settings["USERO_DATABASE_WAIT_SECONDS"] = "2"
        let started = ContinuousClock.now
        let gaveUp = try await UseroBinary.run(["serve"], environment: settings)
        let waited = ContinuousClock.now - started
        #expect(gaveUp.status == 78, "\(gaveUp.stderr)")
        #expect(waited >= .seconds(2), "\(waited): \(gaveUp.stderr)")
        #expect(gaveUp.stderr.split(separator: "\n").filter { $0.contains("not reachable yet") }.count >= 2, "\(gaveUp.stderr)")
        #expect(gaveUp.stderr.contains("the connection was reset"), "\(gaveUp.stderr)")
        #expect(!gaveUp.stderr.contains("secret-pw"))
    }

    /// Wrong credentials are not "not up yet": they stop serve at once, wait or not.
    @Test func wrongCredentialsStopServeAtOnceEvenWithAWait() async throws {
        let url = try #require(TestBackend.postgresURL)
        let password = try Self.password(in: url)
        var settings = environment(database: url.replacingOccurrences(of: ":\(password)@", with: ":wrong-\(password)@"))
        settings["USERO_DATABASE_WAIT_SECONDS"] = "30"
        let started = ContinuousClock.now
        let outcome = try await UseroBinary.run(["serve"], environment: settings)
        #expect(outcome.status == 78, "\(outcome.stderr)")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(outcome.stderr.contains("rejected the password"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("not reachable yet"))
    }

    /// Instances started at once on an empty database: one migrates, the others wait for its lock. One that waits
    /// says so, once (a migration stuck behind another session's lock would otherwise leave it silent for ever), and
    /// serves as soon as the lock is free; one that does not wait says nothing of it.
    @Test func serveWaitingForAnotherProcessToMigrateSaysSoAndServesAfterIt() async throws {
        let waiting = "Waiting for another process to finish migrating the database"
        var environment = environment(database: try await TestBackend.databaseURL(for: folder))
        environment.removeValue(forKey: "USERO_PORT")
        let holder = try await PostgresConnection.connect(
            configuration: try await TestBackend.database(for: folder).connectionConfiguration(), id: 1,
            logger: TestBackend.logger)
        try await holder.query("SELECT pg_advisory_lock(\(PostgresMigrator.lockKey))", logger: TestBackend.logger)
        let log = folder.appendingPathComponent("migrate.log").path
        let port = UseroBinary.freePort()
        let process = try UseroBinary.launchServe(port: port, environment: environment, log: log)
        defer { process.send(SIGKILL) }
        var lines = ""
        for _ in 0..<300 where !lines.contains(waiting) && process.isRunning {
            try await Task.sleep(for: .milliseconds(100))
            lines = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        }
        #expect(lines.contains(waiting), "\(lines)")
        #expect(process.isRunning)
        #expect((try? await HTTPResult.send("GET", "http://127.0.0.1:\(port)/healthz"))?.status != 200)

        try await holder.query("SELECT pg_advisory_unlock(\(PostgresMigrator.lockKey))", logger: TestBackend.logger)
        try await holder.close()
        let healthy = try await UseroBinary.waitUntilHealthy(process, port: port, within: .seconds(30))
        process.send(SIGTERM)
        #expect(await waitForExit(process) == 0)
        lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(healthy, "\(lines)")
        #expect(lines.components(separatedBy: waiting).count == 2, "\(lines)")

        let uncontended = try await UseroBinary.run(["clients", "create", "--name", "Later"], environment: environment)
        #expect(uncontended.status == 0, "\(uncontended.stderr)")
        #expect(!uncontended.stderr.contains(waiting), "\(uncontended.stderr)")
    }

    /// A deployment may stop `serve` while it still waits at startup (a rollout given up, a node drained): the
    /// contract's "exits 0" after SIGTERM or SIGINT holds there too, where the signal's default ended it with 143.
    /// Both waits: for a database that is not up, and for another process's migration lock (a statement postgres-nio
    /// does not abandon when its task is cancelled).
    @Test func aStopSignalWhileServeWaitsAtStartupEndsItWithZero() async throws {
        let cluster = try await ScriptedCluster.start()
        defer { cluster.stop() }
        try await cluster.crash()
        var notUp = environment(database: cluster.url)
        notUp["USERO_DATABASE_WAIT_SECONDS"] = "60"
        try await expectStopWhileWaiting(environment: notUp, for: "not reachable yet", signal: SIGTERM)

        try await cluster.restart()
        let holder = try await PostgresConnection.connect(
            configuration: try await TestBackend.database(for: folder).connectionConfiguration(), id: 1,
            logger: TestBackend.logger)
        try await holder.query("SELECT pg_advisory_lock(\(PostgresMigrator.lockKey))", logger: TestBackend.logger)
        let migrating = environment(database: try await TestBackend.databaseURL(for: folder))
        try await expectStopWhileWaiting(
            environment: migrating, for: "Waiting for another process to finish migrating", signal: SIGINT)
        try await holder.close()
    }

    /// Starts `serve`, waits for a line containing `text`, sends `signal`: the process ends with 0 within seconds.
    func expectStopWhileWaiting(environment: [String: String], for text: String, signal: Int32) async throws {
        let log = folder.appendingPathComponent("stopped-\(signal).log").path
        let process = try UseroBinary.launchServe(port: UseroBinary.freePort(), environment: environment, log: log)
        defer { process.send(SIGKILL) }
        var lines = ""
        for _ in 0..<300 where !lines.contains(text) && process.isRunning {
            try await Task.sleep(for: .milliseconds(100))
            lines = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        }
        try #require(lines.contains(text) && process.isRunning, "\(lines)")
        let signalled = ContinuousClock.now
        process.send(signal)
        #expect(await waitForExit(process) == 0, "\(lines)")
        #expect(ContinuousClock.now - signalled < .seconds(10))
        lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(lines.contains("usero stopped before it served"), "\(lines)")
    }

    /// At `LOG_LEVEL=trace` postgres-nio would log every wire message, the rows read among them (an end user's email,
    /// in hex); the logger it gets stops at debug, so the README's "logs never contain emails" holds.
    @Test func traceLoggingOnPostgreSQLNeverShowsAnEmail() async throws {
        var environment = environment(database: try await TestBackend.databaseURL(for: folder))
        environment.removeValue(forKey: "USERO_PORT")
        environment["LOG_LEVEL"] = "trace"
        let client = try await UseroBinary.createClient(name: "Traced", environment: environment)
        let canary = "canary-\(UInt32.random(in: 0...UInt32.max))@example.com"
        let log = folder.appendingPathComponent("trace.log").path
        let port = UseroBinary.freePort()
        let (process, healthy) = try await UseroBinary.startServe(port: port, environment: environment, log: log)
        defer { process.send(SIGKILL) }
        try #require(healthy)
        let identified = try await HTTPResult.send(
            "POST", "http://127.0.0.1:\(port)/api/identify", headers: ["Content-Type": "application/json"],
            body: Data(#"{"clientId":"\#(client.id)","userId":"traced-user","email":"\#(canary)"}"#.utf8))
        #expect(identified.status == 200)
        let exported = try await HTTPResult.send(
            "GET", "http://127.0.0.1:\(port)/api/privacy/export?userId=traced-user",
            headers: ["Authorization": "Bearer \(client.adminKey)"])
        #expect(exported.status == 200)
        #expect(exported.text.contains(canary))
        process.send(SIGTERM)
        #expect(await waitForExit(process) == 0)
        let lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(lines.contains("usero listening"), "\(lines.prefix(2000))")
        // postgres-nio prints a row's bytes in hex (`.dataRow(… bytes: [00000014636172…](24 bytes))`)
        let hex = canary.utf8.map { String($0, radix: 16) }.joined()
        let leaking = lines.split(separator: "\n").filter { $0.contains(canary) || $0.lowercased().contains(hex) }
        #expect(leaking.isEmpty, "\(leaking.prefix(3))")
    }
}
