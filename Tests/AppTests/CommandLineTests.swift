import GRDB
import Feedback
import Foundation
@testable import StoreSQLite
@testable import usero
import Testing

@testable import Inbox
import SlackGateway
import Retention
import UseroTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The `usero` program itself: the contract's commands, startup checks and graceful shutdown.
@Suite(.serialized) struct CommandLineTests {
    let folder = TestServer.makeFolder()
    var environment: [String: String] {
        ["USERO_DATABASE": folder.appendingPathComponent("usero.sqlite").path,
         "USERO_DATA_DIR": folder.appendingPathComponent("data").path]
    }

    @Test func clientsCreatePrintsIdAndKeyAndUpdateNeverPrintsTheKey() async throws {
        let created = try await UseroBinary.run(
            [
                "clients", "create", "--name", "Acme", "--plan", "paid", "--allowed-origin", "https://app.example.com",
                "--allowed-origin", "https://App.Example.com:443", "--allowed-origin", "*.example.com",
            ], environment: environment)
        #expect(created.status == 0)
        // In the contract's order, one line.
        #expect(created.stdout.hasPrefix(#"{"clientId":"client_"#) && created.stdout.hasSuffix("\"}\n"), "\(created.stdout)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])
        let id = try #require(json["clientId"])
        let key = try #require(json["adminKey"])
        #expect(id.hasPrefix("client_"))
        #expect(key.count >= 32)
        // Which store it is in, on stderr: a shell without serve's USERO_DATABASE shows at once.
        let path = folder.appendingPathComponent("usero.sqlite").path
        #expect(created.stderr.contains("usero: client created in SQLite \(path)"), "\(created.stderr)")
        #expect(!created.stderr.contains(key))

        let updated = try await UseroBinary.run(["clients", "update", id, "--plan", "free"], environment: environment)
        #expect(updated.status == 0)
        let client = try #require(try JSONSerialization.jsonObject(with: Data(updated.stdout.utf8)) as? [String: Any])
        #expect(client["plan"] as? String == "free")
        #expect(client["clientId"] as? String == id)
        // The two spellings of one origin are stored once, in the order given
        #expect(client["allowedOrigins"] as? [String] == ["https://app.example.com", "*.example.com"])
        #expect(!updated.stdout.contains(key))
        #expect(!updated.stdout.contains("adminKey"))
    }

    @Test func anAllowlistChangedWhileServeRunsTakesEffectAtOnce() async throws {
        try await UseroBinary.checkAllowlistUpdates(environment: environment)
    }

    @Test func badPlanOrOriginIsRefusedWithAClearMessage() async throws {
        let badPlan = try await UseroBinary.run(["clients", "create", "--name", "A", "--plan", "gold"], environment: environment)
        #expect(badPlan.status != 0)
        #expect(badPlan.stderr.contains("plan"))
        let badOrigin = try await UseroBinary.run(
            ["clients", "create", "--name", "A", "--allowed-origin", "not an origin"], environment: environment)
        #expect(badOrigin.status != 0)
        #expect(badOrigin.stderr.contains("--allowed-origin"))
    }

    @Test(arguments: [
        ("USERO_TOKEN_KEY", "c2hvcnQ="),
        ("USERO_TOKEN_KEY", "!!!not base64!!!"),
        ("USERO_PORT", "eighty"),
        ("USERO_PUBLIC_URL", "ftp://example.com"),
        ("SLACK_API_URL", "not a url"),
        // Accepted once, and failing on first use
        ("SLACK_API_URL", "http://"),
        ("SLACK_API_URL", "https://slack.com/api?x=1"),
        ("SLACK_AUTHORIZE_URL", "https:"),
        ("USERO_PUBLIC_URL", "http://x.example/?a=b"),
        // Once accepted: the sweep's period overflowed and the server crashed on its first sweep
        ("USERO_RETENTION_INTERVAL_SECONDS", "9300000000000000"),
        ("USERO_RETENTION_INTERVAL_SECONDS", "86401"),
        ("USERO_RETENTION_INTERVAL_SECONDS", "0"),
        ("USERO_DATABASE_MAX_CONNECTIONS", "3"),
        ("USERO_DATABASE_MAX_CONNECTIONS", "1001"),
    ])
    func badConfigurationStopsServeWithOneLineNamingTheVariable(variable: String, value: String) async throws {
        var settings = environment
        settings["USERO_PORT"] = "0"
        settings[variable] = value
        let outcome = try await UseroBinary.run(["serve"], environment: settings)
        #expect(outcome.status == 78)
        let lines = outcome.stderr.split(separator: "\n").filter { $0.contains(variable) }
        #expect(lines.count == 1, "stderr: \(outcome.stderr)")
        if variable == "USERO_TOKEN_KEY" { #expect(!outcome.stderr.contains(value)) }
    }

    /// Mistakes about where things live, and an address that cannot be listened on, are configuration mistakes
    /// too: one line naming the variable, exit 78, not a raw error from SQLite, Foundation or the socket.
    @Test func aStoreOrAddressThatCannotBeUsedStopsServeWithOneLineNamingTheVariable() async throws {
        let notADatabase = folder.appendingPathComponent("notes.txt")
        try Data("not a database, just text that is long enough to have a header\n".utf8).write(to: notADatabase)
        let aFolder = folder.appendingPathComponent("a-folder")
        try FileManager.default.createDirectory(at: aFolder, withIntermediateDirectories: true)
        let cases: [(variable: String, value: String)] = [
            ("USERO_DATABASE", aFolder.path),
            ("USERO_DATABASE", notADatabase.path),
            ("USERO_DATABASE", "mysql://usero@db.example/usero"),
            ("USERO_DATABASE", "postgres:/usero@127.0.0.1/usero"),
            // A PostgreSQL URL that lost its scheme: it used to become a SQLite file in a folder named after the
            // password, and each instance a store of its own.
            ("USERO_DATABASE", "usero:S3cretPW@db.internal:5432/usero"),
            // With a `/` in the password, which hid the `@` from the first component (found by a review: the
            // password was in the "listening" line and the names of folders).
            ("USERO_DATABASE", "usero:S3cretPW/x@db.internal:5432/usero"),
            ("USERO_DATABASE", "postgres//usero:S3cretPW@db.internal/usero"),
            ("USERO_DATABASE", "postgresql;//usero@db.internal/usero"),
            ("USERO_DATA_DIR", notADatabase.path),
            ("USERO_HOST", "not_a_host.invalid"),
            ("USERO_HOST", "192.0.2.1"),  // TEST-NET-1: resolves, but is no address of this machine
        ]
        for (variable, value) in cases {
            var settings = environment
            settings["USERO_PORT"] = "0"
            settings[variable] = value
            let outcome = try await UseroBinary.run(["serve"], environment: settings)
            #expect(outcome.status == 78, "\(variable)=\(value): \(outcome.stderr)")
            let lines = outcome.stderr.split(separator: "\n").filter { $0.contains(variable) }
            #expect(lines.count == 1, "\(variable)=\(value): \(outcome.stderr)")
            #expect(!outcome.stderr.contains("Error Domain"), "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("S3cretPW"), "\(outcome.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: "usero:S3cretPW@db.internal:5432"))
        // Real paths with an @ or starting with "postgres" stay SQLite files: new ones inside a folder, existing ones
        // anywhere.
        let atFolder = folder.appendingPathComponent("ada@corp.example")
        try FileManager.default.createDirectory(at: atFolder, withIntermediateDirectories: true)
        for path in [atFolder.appendingPathComponent("usero.sqlite").path, folder.appendingPathComponent("postgres-old.sqlite").path] {
            var settings = environment
            settings["USERO_DATABASE"] = path
            let created = try await UseroBinary.run(["clients", "create", "--name", "A"], environment: settings)
            #expect(created.status == 0, "\(path): \(created.stderr)")
        }
        // Nothing was created in place of the URL-like path.
        #expect(!FileManager.default.fileExists(atPath: "mysql:"))
        #expect(!FileManager.default.fileExists(atPath: "postgres:"))
    }

    /// A version of usero run on a store a newer one migrated (a rollback) says so, once: it does not know what those
    /// migrations added.
    @Test func aStoreANewerVersionMigratedIsAWarning() async throws {
        _ = try await UseroBinary.createClient(name: "Before", environment: environment)
        let database = try #require(environment["USERO_DATABASE"])
        let queue = try DatabaseQueue(path: database)
        try await queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        try queue.close()
        let created = try await UseroBinary.run(["clients", "create", "--name", "After"], environment: environment)
        #expect(created.status == 0, "\(created.stderr)")
        let warnings = created.stderr.split(separator: "\n").filter { $0.contains("migrated by a newer version of usero") }
        #expect(warnings.count == 1 && warnings.first?.contains("v99-from-the-future") == true, "\(created.stderr)")
    }

    /// A port another program holds stops `serve` before it touches its store: one line, and no database made.
    @Test func aPortInUseStopsServeBeforeItMakesItsStore() async throws {
        let outcome = try await UseroBinary.withPortInUse { port in
            var settings = environment
            settings["USERO_PORT"] = "\(port)"
            return try await UseroBinary.run(["serve"], environment: settings)
        }
        #expect(outcome.status == 78, "\(outcome.stderr)")
        let lines = outcome.stderr.split(separator: "\n").filter { $0.contains("USERO_PORT") }
        #expect(lines.count == 1 && lines.first?.contains("the port is in use") == true, "\(outcome.stderr)")
        let database = try #require(environment["USERO_DATABASE"])
        #expect(!FileManager.default.fileExists(atPath: database))
    }

    /// The administration commands read the same configuration and end the same way on a mistake in it.
    @Test func aCommandMeetingAConfigurationMistakeSaysSoInOneLineAndExits78() async throws {
        var settings = environment
        settings["USERO_DATABASE"] = folder.path
        for command in [["clients", "create", "--name", "A"], ["retention", "run"], ["tokens", "reseal"]] {
            let outcome = try await UseroBinary.run(command, environment: settings)
            #expect(outcome.status == 78, "\(command): \(outcome.stderr)")
            #expect(outcome.stderr.split(separator: "\n").filter { $0.contains("USERO_DATABASE") }.count == 1)
            #expect(!outcome.stderr.contains("Usage"), "\(command)")
        }
    }

    /// A command that works on existing data, given a SQLite path where no file is (a typo in a cron job), says so
    /// and exits 78 instead of creating an empty store and reporting an empty sweep as success.
    @Test func aCommandOnAMissingSQLiteFileCreatesNothingAndExits78() async throws {
        var settings = environment
        let missing = folder.appendingPathComponent("typo").appendingPathComponent("usero.sqlite")
        settings["USERO_DATABASE"] = missing.path
        for command in [
            ["retention", "run"], ["clients", "update", "client_abc", "--plan", "paid"], ["clients", "rotate-key", "client_abc"],
            ["clients", "list"],
        ] {
            let outcome = try await UseroBinary.run(command, environment: settings)
            #expect(outcome.status == 78, "\(command): \(outcome.stderr)")
            let lines = outcome.stderr.split(separator: "\n").filter { $0.contains("USERO_DATABASE") }
            #expect(lines.count == 1, "\(command): \(outcome.stderr)")
            #expect(lines.first?.contains("no SQLite file") == true, "\(command): \(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: missing.path), "\(command)")
        }
        // Creating a client is how a store starts: that one makes the file, and says so (run in a shell without
        // serve's USERO_DATABASE, it would otherwise make a store serve never reads, and succeed)
        let created = try await UseroBinary.run(["clients", "create", "--name", "A"], environment: settings)
        #expect(created.status == 0)
        #expect(FileManager.default.fileExists(atPath: missing.path))
        let notices = created.stderr.split(separator: "\n").filter { $0.contains("created a new SQLite database") }
        #expect(notices.count == 1 && notices.first?.contains(missing.path) == true, "\(created.stderr)")
        let again = try await UseroBinary.run(["clients", "create", "--name", "B"], environment: settings)
        #expect(again.status == 0 && !again.stderr.contains("created a new SQLite database"), "\(again.stderr)")
        #expect(try await UseroBinary.run(["retention", "run"], environment: settings).status == 0)
        let asOfDate = try await UseroBinary.run(["retention", "run", "--as-of", "2026-12-01"], environment: settings)
        #expect(asOfDate.status == 0 && asOfDate.stdout.contains(#""asOf":"2026-12-01T00:00:00"#), "\(asOfDate.stdout)")
        let badDate = try await UseroBinary.run(["retention", "run", "--as-of", "2026-12-32"], environment: settings)
        #expect(badDate.status == 64 && badDate.stderr.contains("--as-of must be an ISO 8601 instant"), "\(badDate.stderr)")
        // The usage shown is the command's own, as for its other mistakes
        #expect(badDate.stderr.contains("Usage: usero retention run"), "\(badDate.stderr)")
        // An instant without its zone could be any host's local time: refused, naming what is missing
        let noZone = try await UseroBinary.run(
            ["retention", "run", "--as-of", "2027-02-01T00:00:00"], environment: settings)
        #expect(noZone.status == 64 && noZone.stderr.contains("instant with its zone"), "\(noZone.stderr)")
    }

    @Test func aPortInUseStopsServeWithOneLineNamingIt() async throws {
        let port = UseroBinary.freePort()
        let (first, healthy) = try await UseroBinary.startServe(port: port, environment: environment)
        #expect(healthy)
        var settings = environment
        settings["USERO_PORT"] = "\(port)"
        settings["USERO_DATABASE"] = folder.appendingPathComponent("second.sqlite").path
        settings["USERO_DATA_DIR"] = folder.appendingPathComponent("second").path
        let second = try await UseroBinary.run(["serve"], environment: settings)
        first.send(SIGTERM)
        await waitForExit(first)
        #expect(second.status == 78)
        let lines = second.stderr.split(separator: "\n").filter { $0.contains("USERO_PORT") }
        #expect(lines.count == 1, "\(second.stderr)")
        #expect(second.stderr.contains("in use"))
        #expect(!second.stderr.contains("usero listening"))
    }

    /// A second `serve` on a SQLite file in use started without a word, and its start released the first one's job
    /// leases, so a job that one was running could run twice (found by a review). It is refused, naming the other
    /// process, and the lease stays.
    @Test func aSecondServeOnOneSQLiteFileIsRefusedAndLeavesTheFirstsJobs() async throws {
        let (first, healthy) = try await UseroBinary.startServe(port: UseroBinary.freePort(), environment: environment)
        #expect(healthy)
        let path = try #require(environment["USERO_DATABASE"])
        let database = try DatabaseQueue(path: path)
        let until = epochMillis(Date()) + 3_600_000
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO job (kind, payload, run_at, created_at, lease_until, claim) VALUES ('demo.kind', '{}', ?, ?, ?, 1)",
                arguments: [until, until, until])
        }
        let second = try await UseroBinary.run(["serve", "--port", "\(UseroBinary.freePort())"], environment: environment)
        first.send(SIGTERM)
        await waitForExit(first)
        #expect(second.status == 78)
        #expect(second.stderr.contains("USERO_DATABASE: another usero serve (process \(first.pid)) is running on this SQLite file"), "\(second.stderr)")
        #expect(!second.stderr.contains("usero listening"))
        let lease = try await database.read { db in try Int64.fetchOne(db, sql: "SELECT lease_until FROM job WHERE kind = 'demo.kind'") }
        #expect(lease == until)
        // Once the first has stopped, a serve starts there again.
        let (again, ok) = try await UseroBinary.startServe(port: UseroBinary.freePort(), environment: environment)
        #expect(ok)
        again.send(SIGTERM)
        await waitForExit(again)
    }

    /// `--as-of` a year ahead (one typed digit) swept as of then without a word (found by a review): it says how far
    /// ahead it sweeps, and sweeps as asked.
    @Test func aSweepAsOfTheFutureSaysSo() async throws {
        _ = try await UseroBinary.createClient(name: "Ahead", environment: environment)
        let ahead = iso8601(Date().addingTimeInterval(400 * 86_400))
        let swept = try await UseroBinary.run(["retention", "run", "--as-of", ahead], environment: environment)
        #expect(swept.status == 0, "\(swept.stderr)")
        #expect(swept.stderr.contains("usero: --as-of is 400 days ahead: deleting what will be due by \(ahead)"), "\(swept.stderr)")
        let now = try await UseroBinary.run(["retention", "run"], environment: environment)
        #expect(now.status == 0 && !now.stderr.contains("days ahead"), "\(now.stderr)")
    }

    /// A one-time admin key that standard output could not take (a full disk behind `> keys.json`) was lost with
    /// exit 0 (found by a review): the command fails, and says how to get another.
    @Test func anAdminKeyThatCannotBeWrittenFailsTheCommand() async throws {
        let usero = try UseroBinary.url().path
        func toFullDisk(_ arguments: String) async throws -> UseroBinary.Outcome {
            try await UseroBinary.run(["-c", "exec \"$0\" \(arguments) > /dev/full", usero], environment: environment, shell: true)
        }
        let created = try await toFullDisk("clients create --name Lost")
        #expect(created.status == 1)
        #expect(created.stderr.contains("standard output could not be written (No space left on device)"), "\(created.stderr)")
        #expect(created.stderr.contains("is lost; make a new one with usero clients rotate-key client_"), "\(created.stderr)")
        let client = try await UseroBinary.createClient(name: "Kept", environment: environment)
        let rotated = try await toFullDisk("clients rotate-key \(client.id)")
        #expect(rotated.status == 1)
        #expect(rotated.stderr.contains("the admin key of \(client.id) is lost"), "\(rotated.stderr)")
    }

    /// A file where the SQLite file's folder should be was "error 516" (found by a review): named as such.
    @Test func aFileInTheWayOfTheDatabasesFolderIsNamed() async throws {
        let file = folder.appendingPathComponent("data-is-a-file")
        try Data("x".utf8).write(to: file)
        var settings = environment
        settings["USERO_DATABASE"] = file.appendingPathComponent("nested/usero.sqlite").path
        let outcome = try await UseroBinary.run(["clients", "create", "--name", "A"], environment: settings)
        #expect(outcome.status == 78)
        #expect(outcome.stderr.contains("USERO_DATABASE: cannot create the SQLite file's folder: \(file.path) is a file, not a folder"), "\(outcome.stderr)")
    }

    /// A command meeting the SQLite file locked by another process's transaction waits, then says so in usero's
    /// words and changes nothing; it printed SQLite's "Error: SQLite error 5: database is locked - while executing
    /// `BEGIN IMMEDIATE TRANSACTION`" (found by a review).
    @Test func aCommandOnALockedSQLiteFileSaysSoAndChangesNothing() async throws {
        _ = try await UseroBinary.createClient(name: "Kept", environment: environment)
        let release = try await SQLiteHolds.writeLock(on: folder.appendingPathComponent("usero.sqlite").path)
        let refused: UseroBinary.Outcome
        do {
            defer { release.signal() }
            refused = try await UseroBinary.run(["clients", "create", "--name", "Locked out"], environment: environment)
        }
        #expect(refused.status == 1)
        #expect(refused.stdout.isEmpty)
        #expect(refused.stderr.hasPrefix("usero: USERO_DATABASE: the SQLite file stayed locked by another transaction"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("SQLite error"))
        let listed = try await UseroBinary.run(["clients", "list"], environment: environment)
        #expect(listed.status == 0 && listed.stdout.contains("Kept") && !listed.stdout.contains("Locked out"), "\(listed.stdout)")
    }

    @Test func updatingAClientThatDoesNotExistSaysSoInOneLine() async throws {
        _ = try await UseroBinary.createClient(name: "Another", environment: environment)
        let outcome = try await UseroBinary.run(["clients", "update", "client_nope", "--plan", "paid"], environment: environment)
        #expect(outcome.status == 1)
        // In usero's own terms, as its other lines (it was ArgumentParser's `Error: no client …`).
        #expect(outcome.stderr == "usero: no client client_nope\n", "\(outcome.stderr)")
        // A name of line ends alone, or a document for a name, is refused before the store opens.
        for name in ["\n", "\r\n", String(repeating: "n", count: 201)] {
            let refused = try await UseroBinary.run(["clients", "create", "--name", name], environment: environment)
            #expect(refused.status == 64, "\(refused.stderr)")
        }
        #expect(!outcome.stderr.contains("Usage"))
    }

    @Test func serveAnswersAndExitsZeroOnSIGTERM() async throws {
        let (process, healthy) = try await UseroBinary.startServe(port: UseroBinary.freePort(), environment: environment)
        #expect(healthy)
        process.send(SIGTERM)
        #expect(await waitForExit(process) == 0)
    }

    /// A client trickling a body (or stalled half-way) cannot hold SIGTERM's drain past its deadline: the process
    /// exits 0 well inside the 30 s a deployment waits before SIGKILL, not after the 120 s request timeout. Cutting
    /// that request off is the plan, not an error: no error line (alerts on error lines fired on every rollout).
    @Test func aTricklingClientCannotHoldShutdownPastItsDeadline() async throws {
        let port = UseroBinary.freePort()
        let log = folder.appendingPathComponent("trickle.log").path
        let (process, healthy) = try await UseroBinary.startServe(port: port, environment: environment, log: log)
        #expect(healthy)
        let slow = try RawConnection(port: port)
        // The server's `100 Continue` says it parsed the head and waits for the body (a fixed pause could end before
        // that on a loaded machine, and the shutdown would then find no request to wait for).
        _ = slow.send(
            "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
        #expect(await slow.response(timeout: .seconds(60))?.status == 100)
        _ = slow.send("{\"c")
        let stopping = ContinuousClock.now
        process.send(SIGTERM)
        #expect(await waitForExit(process) == 0)
        let took = ContinuousClock.now - stopping
        #expect(took < .seconds(20), "shutdown took \(took)")
        #expect(took >= Serve.shutdownDeadline - .seconds(1), "the drain waited for the request first: \(took)")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(!lines.contains { $0.contains(" error ") || $0.hasPrefix("error ") }, "\(lines)")
    }

    @Test func serveCreatesAPrivateTokenKeyOnceAndRefusesABadOne() async throws {
        let (process, healthy) = try await UseroBinary.startServe(port: UseroBinary.freePort(), environment: environment)
        process.send(SIGTERM)
        await waitForExit(process)
        #expect(healthy)
        let keyPath = folder.appendingPathComponent("data/token.key").path
        let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let key = try #require(FileManager.default.contents(atPath: keyPath))
        #expect(Data(base64Encoded: String(decoding: key, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))?.count == 32)

        try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: keyPath))
        var settings = environment
        settings["USERO_PORT"] = "0"
        let refused = try await UseroBinary.run(["serve"], environment: settings)
        #expect(refused.status == 78)
        #expect(refused.stderr.contains("token.key"))
    }

    /// With USERO_TOKEN_KEY set, a token.key others may read is not used, so not refused, but the operator hears of
    /// it (a key from before the move to the variable is still a key): a warning naming the file, never the key.
    @Test func aLooseKeyFileBesideUSEROTOKENKEYIsAWarning() async throws {
        let data = folder.appendingPathComponent("loose-data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let keyPath = data.appendingPathComponent("token.key").path
        let oldKey = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        try Data((oldKey + "\n").utf8).write(to: URL(fileURLWithPath: keyPath))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyPath)
        var settings = environment
        settings["USERO_DATA_DIR"] = data.path
        settings["USERO_TOKEN_KEY"] = Data(repeating: 7, count: 32).base64EncodedString()
        let log = folder.appendingPathComponent("loose.log").path
        let (process, healthy) = try await UseroBinary.startServe(port: UseroBinary.freePort(), environment: settings, log: log)
        process.send(SIGTERM)
        #expect(await waitForExit(process) == 0)
        #expect(healthy)
        let lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(lines.contains("token key file others may read") && lines.contains(keyPath), "\(lines)")
        #expect(!lines.contains(oldKey))

        // Its owner's only: nothing to say
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyPath)
        let quiet = folder.appendingPathComponent("quiet.log").path
        let (again, ok) = try await UseroBinary.startServe(port: UseroBinary.freePort(), environment: settings, log: quiet)
        again.send(SIGTERM)
        #expect(await waitForExit(again) == 0)
        #expect(ok)
        #expect(!(try String(contentsOfFile: quiet, encoding: .utf8)).contains("others may read"))
    }

    @Test func everyAcknowledgedItemSurvivesAKill() async throws {
        let client = try await UseroBinary.createClient(name: "Durable", environment: environment).id
        let port = UseroBinary.freePort()
        let (process, healthy) = try await UseroBinary.startServe(port: port, environment: environment)
        #expect(healthy)
        // Given 100 submissions answered 200
        let acknowledged = try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<100 {
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
        #expect(acknowledged.count == 100)
        // When the process is killed outright, with no chance to flush anything
        process.send(SIGKILL)
        #expect(await waitForExit(process) == 128 + SIGKILL)
        // Then every acknowledged item is in the file
        let database = try AppDatabase(path: environment["USERO_DATABASE"]!)
        let stored = try await database.read { db in try String.fetchAll(db, sql: "SELECT id FROM feedback") }
        #expect(Set(acknowledged).isSubset(of: Set(stored)))
    }
}

extension CommandLineTests {
    @Test func rotateKeyPrintsANewKeyAndTheOldOneStopsWorking() async throws {
        // Given a client created by the command, and a browser signed in to its inbox with the key, on a running serve
        let (id, oldKey) = try await UseroBinary.createClient(name: "Acme", environment: environment)
        try await UseroBinary.withServe(environment: environment) { port in
            let base = "http://127.0.0.1:\(port)"
            let browser = InboxTestBrowser(baseURL: base)
            try await browser.signIn(adminKey: oldKey)
            #expect(try await browser.get("/inbox").status == 200)

            // When its key is rotated
            let rotated = try await UseroBinary.run(["clients", "rotate-key", id], environment: environment)
            #expect(rotated.status == 0, "\(rotated.stderr)")
            let output = try #require(
                try JSONSerialization.jsonObject(with: Data(rotated.stdout.utf8)) as? [String: String])
            let newKey = try #require(output["adminKey"])
            #expect(output["clientId"] == id)
            #expect(newKey != oldKey)

            // Then only the new key opens the admin API, and the inbox signed in with the old one asks to sign in
            func list(_ key: String) async throws -> Int {
                try await HTTPResult.send("GET", base + "/api/feedback", headers: ["Authorization": "Bearer \(key)"])
                    .status
            }
            #expect(try await list(newKey) == 200)
            #expect(try await list(oldKey) == 401)
            let inbox = try await browser.get("/inbox")
            #expect(inbox.status == 303)
            #expect(inbox.header("Location")?.hasPrefix("/inbox/login") == true)
            // And the new key signs in
            try await browser.signIn(adminKey: newKey)
            #expect(try await browser.get("/inbox").status == 200)
        }
        // And an unknown client is refused with a clear message
        let unknown = try await UseroBinary.run(["clients", "rotate-key", "client_nope"], environment: environment)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no client client_nope"))
    }
}

extension CommandLineTests {
    /// A project name of only spaces is refused as an empty one is, naming the option: nothing is created, and no
    /// client without a name appears in the store.
    @Test func aBlankNameIsRefusedAndCreatesNothing() async throws {
        for blank in ["", "   "] {
            let outcome = try await UseroBinary.run(["clients", "create", "--name", blank], environment: environment)
            #expect(outcome.status == 64, "\(blank.debugDescription): \(outcome.stderr)")
            #expect(outcome.stderr.contains("--name is empty"), "\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty, "\(outcome.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("usero.sqlite").path))
    }
}
