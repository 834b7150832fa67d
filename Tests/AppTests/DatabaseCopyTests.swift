import Feedback
import GRDB
import Foundation
import PostgresNIO
import SlackGateway
import StorePostgres
import Testing
import UseroTestSupport

@testable import usero

/// `usero database copy`: a deployment that outgrew its SQLite file moves to PostgreSQL with everything it holds,
/// as its admin would do it (stop the service, run the command, serve on PostgreSQL). Needs the test cluster.
@Suite(.serialized, .enabled(if: TestBackend.postgresURL != nil, "USERO_TEST_POSTGRES_URL is not set"))
struct DatabaseCopyTests {
    /// What the admin API answers about a client, read the same way before and after the move: JSON text, keys sorted.
    static let adminReads = [
        "/api/feedback", "/api/audit", "/api/slack/installation", "/api/slack/settings", "/api/end-users/user-42",
        "/api/privacy/export?userId=user-42",
    ]

    static func answers(_ server: TestServer, key: String) async throws -> [String: String] {
        var answers: [String: String] = [:]
        for path in adminReads {
            let reply = try await server.request("GET", path, headers: ["Authorization": "Bearer \(key)"])
            #expect(reply.status == 200, "\(path): \(reply.text)")
            // Compared as JSON (keys in order), without the instant of the export itself.
            var json = try #require(try JSONSerialization.jsonObject(with: reply.body) as? [String: Any])
            json["exportedAt"] = nil
            answers[path] = String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self)
        }
        return answers
    }

    /// A screenshot larger than one PostgreSQL chunk (1 MB): a PNG header, then bytes that differ along the file.
    static let screenshot: Data = {
        Images.png(width: 640, height: 480, holding: Data((0..<2_500_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 9)) }))
    }()

    /// A SQLite deployment with feedback, a screenshot, an end user, an erasure in the audit, a Slack workspace
    /// whose captured message was deleted on purpose: the client, the screenshot's name, the admin API's answers.
    static func arrange(_ server: TestServer) async throws
        -> (client: (id: String, key: String), fileName: String, answers: [String: String])
    {
        let client = try await server.installSlack()
        #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
        try await server.eventually { try await server.items(client).count == 1 }
        // deleted on purpose: its message's address is kept so that a recovery does not bring it back
        let captured = try #require(try await server.items(client).first?["id"] as? String)
        let deleted = try await server.request(
            "DELETE", "/api/feedback/\(captured)", headers: ["Authorization": "Bearer \(client.key)"])
        #expect(deleted.status < 300)
        // and forwarded again (a live forward is the member's wish): a row with its author and forwarder ids
        #expect(try await server.sendEvent("event_reaction_added_wrench.json", replacing: [("Ev0001", "Ev0901")]).status == 200)
        try await server.eventually { try await server.items(client).count == 1 }
        var form = MultipartBody()
        form.field("clientId", client.id)
        form.file("screenshot", fileName: "shot.png", type: "image/png", Self.screenshot)
        let upload = try await server.request(
            "POST", "/api/screenshots", headers: ["Content-Type": form.contentType], body: form.finished())
        #expect(upload.status == 200)
        let shot = try #require(upload.json["screenshot"] as? [String: Any])
        let shotJSON = String(decoding: try JSONSerialization.data(withJSONObject: shot), as: UTF8.self)
        let submitted = try await server.postJSON(
            "/api/feedback",
            #"""
            {"clientId":"\#(client.id)","rating":2,"comment":"Export is slow","userEmail":"ada@example.com",
             "userId":"user-42","pageUrl":"https://app.example.com/export","environment":"production",
             "metadata":{"plan":"pro","seats":3},"screenshots":[\#(shotJSON)]}
            """#)
        #expect(submitted.status == 200)
        let auth = ["Authorization": "Bearer \(client.key)"]
        #expect(try await server.postJSON(
            "/api/identify", #"{"clientId":"\#(client.id)","userId":"user-42","name":"Ada","traits":{"plan":"pro"}}"#
        ).status == 200)
        #expect(try await server.postJSON(
            "/api/identify", #"{"clientId":"\#(client.id)","userId":"gone","email":"gone@example.com"}"#
        ).status == 200)
        #expect(try await server.postJSON("/api/privacy/erase", #"{"userId":"gone"}"#, headers: auth).status == 200)
        return (client, try #require(shot["fileName"] as? String), try await Self.answers(server, key: client.key))
    }

    @Test func everythingASQLiteDeploymentHoldsServesFromPostgreSQLAfterTheCopy() async throws {
        let folder = TestServer.makeFolder()
        let sqlitePath = folder.appendingPathComponent("source.sqlite").path
        let dataDirectory = folder.appendingPathComponent("data").path
        let url = try await TestBackend.databaseURL(for: folder)
        let destination = try await TestBackend.database(for: folder)
        try await withFakeSlack { fake, api in
            // Given a SQLite deployment with feedback, a screenshot, an end user, an erasure in the audit, and a
            // Slack workspace that captured a message
            let (client, fileName, before) = try await TestServer.run(folder: folder, configure: {
                SlackTestSettings.configure(&$0, fakeURL: api)
                $0.databasePath = sqlitePath  // SQLite in every pass
            }) { server in try await Self.arrange(server) }
            #expect(before["/api/feedback"]?.contains("Export is slow") == true)
            #expect(before["/api/feedback"]?.contains(#""authorId":"U0002""#) == true)
            #expect(before["/api/audit"]?.contains("erasure") == true)
            let environment = [
                "USERO_DATABASE": url, "USERO_DATA_DIR": dataDirectory,
                // Not the key the tokens were sealed with: the copy says so.
                "USERO_TOKEN_KEY": Data((0..<32).map { UInt8($0) }).base64EncodedString(),
            ]

            // A screenshot file gone from the folder refuses the whole copy, and nothing is written
            let file = URL(fileURLWithPath: dataDirectory).appendingPathComponent("screenshots/\(fileName)")
            let aside = file.appendingPathExtension("aside")
            try FileManager.default.moveItem(at: file, to: aside)
            let refused = try await UseroBinary.run(["database", "copy", "--from", sqlitePath], environment: environment)
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("screenshot \(fileName) has no file"), "\(refused.stderr)")
            #expect(try await Self.clients(in: destination) == 0)
            try FileManager.default.moveItem(at: aside, to: file)

            // When the admin copies the file into the PostgreSQL database (which only reads it)
            let sourceBytes = [sqlitePath, sqlitePath + "-wal"].map { FileManager.default.contents(atPath: $0) }
            let copied = try await UseroBinary.run(["database", "copy", "--from", sqlitePath], environment: environment)
            #expect([sqlitePath, sqlitePath + "-wal"].map { FileManager.default.contents(atPath: $0) } == sourceBytes)
            #expect(copied.status == 0, "\(copied.stderr)")
            let counts = try #require(
                try JSONSerialization.jsonObject(with: Data(copied.stdout.utf8)) as? [String: Int], "\(copied.stdout)")
            #expect(counts["client"] == 1)
            #expect(counts["feedback"] == 2)
            #expect(counts["removed_capture"] == 1)
            #expect(counts["screenshot"] == 1)
            #expect(counts["screenshot_chunk"] == 3)  // 2.5 MB in 1 MB chunks
            #expect(counts["slack_installation"] == 1)
            #expect(counts["feedback_slack_person"] == 1)  // the captured row's author and forwarder
            #expect(counts["end_user"] == 1)
            #expect(counts["file_deletion"] == nil)
            // Every other table is named, 0 where the file had no rows (no inbox sign-in was made here).
            #expect(counts["inbox_session"] == 0)
            #expect(Set(counts.keys) == Set(PostgresSchema.tables).subtracting(["file_deletion"]))
            #expect(copied.stderr.contains("1 of 1 Slack workspaces' tokens are sealed with a key this environment lacks"))
            // and again by mistake: refused, nothing doubled
            let again = try await UseroBinary.run(["database", "copy", "--from", sqlitePath], environment: environment)
            #expect(again.status == 1)
            #expect(again.stderr.contains("already holds data"), "\(again.stderr)")

            // A deployment whose key is its data folder's token.key (SQLite's default): the tokens open with it, but
            // serve on PostgreSQL reads no file of its own accord; the copy, and serve without a key, name the
            // variable that hands it over, rather than have the operator make a new key that opens none of them.
            let keyFile = URL(fileURLWithPath: dataDirectory).appendingPathComponent("token.key")
            #expect(FileManager.default.createFile(
                atPath: keyFile.path, contents: Data(SlackTestSettings.tokenKey.utf8), attributes: [.posixPermissions: 0o600]))
            let other = try await TestBackend.databaseURL(for: TestServer.makeFolder())
            let withFile = ["USERO_DATABASE": other, "USERO_DATA_DIR": dataDirectory]
            let copiedWithFile = try await UseroBinary.run(["database", "copy", "--from", sqlitePath], environment: withFile)
            #expect(copiedWithFile.status == 0, "\(copiedWithFile.stderr)")
            #expect(copiedWithFile.stderr.contains("USERO_TOKEN_KEY_FILE=\(keyFile.path)"), "\(copiedWithFile.stderr)")
            var serveWithout = withFile
            serveWithout["USERO_PORT"] = "0"
            let refusedServe = try await UseroBinary.run(["serve"], environment: serveWithout)
            #expect(refusedServe.status == 78)
            #expect(refusedServe.stderr.contains("USERO_TOKEN_KEY_FILE=\(keyFile.path)"), "\(refusedServe.stderr)")
            try FileManager.default.removeItem(at: keyFile)

            // Then serve on PostgreSQL (another data folder: nothing read from the old one) answers as before
            try await TestServer.run(folder: folder, configure: {
                SlackTestSettings.configure(&$0, fakeURL: api)
                $0.postgres = destination
                $0.databasePath = "postgres"
                $0.dataDirectory = folder.appendingPathComponent("data-pg").path
            }) { server in
                let after = try await Self.answers(server, key: client.key)
                for path in Self.adminReads { #expect(after[path] == before[path], "\(path)") }
                let download = try await server.request("GET", "/api/screenshots/\(fileName)")
                #expect(download.status == 200)
                #expect(download.body == Self.screenshot)
                // the workspace's copied token still captures
                #expect(try await server.sendEvent("event_reaction_added_pushpin_thread_reply.json").status == 200)
                try await server.eventually { try await server.items(client).count == 3 }
                #expect(await fake.calls("conversations.replies").count == 3)
                // and an erasure there finds the copied person's rows, the audit continuing after the copied entry
                #expect(try await server.postJSON(
                    "/api/privacy/erase", #"{"userId":"user-42"}"#, headers: ["Authorization": "Bearer \(client.key)"]
                ).status == 200)
                let audit = try await server.request("GET", "/api/audit", headers: ["Authorization": "Bearer \(client.key)"])
                let earlier = try JSONSerialization.jsonObject(with: Data((before["/api/audit"] ?? "").utf8)) as? [String: Any]
                let entries = try #require(audit.json["items"] as? [Any])
                #expect(entries.count == ((earlier?["items"] as? [Any])?.count ?? 0) + 1, "\(audit.text)")
            }
        }
    }

    @Test func aCopyNeedsAPostgreSQLDestinationAndAnExistingFile() async throws {
        let folder = TestServer.makeFolder()
        let missing = try await UseroBinary.run(
            ["database", "copy", "--from", folder.appendingPathComponent("nothing.sqlite").path],
            environment: ["USERO_DATABASE": try await TestBackend.databaseURL(for: folder)])
        #expect(missing.status == 78)
        #expect(missing.stderr.contains("--from: no SQLite file at"), "\(missing.stderr)")
        // The old server's URL given as the source: refused without echoing it (it printed the password, found by a
        // review).
        let url = try await UseroBinary.run(
            ["database", "copy", "--from", "postgres://olduser:OldS3cretPW@db.old:5432/usero"],
            environment: ["USERO_DATABASE": try await TestBackend.databaseURL(for: folder)])
        #expect(url.status == 78)
        #expect(url.stderr.contains("--from takes the SQLite file to copy from, not a URL"), "\(url.stderr)")
        #expect(!url.stderr.contains("OldS3cretPW"))
        // A folder (the data folder, say) is named as one, not met as a "disk I/O error"
        let aFolder = try await UseroBinary.run(
            ["database", "copy", "--from", folder.path],
            environment: ["USERO_DATABASE": try await TestBackend.databaseURL(for: folder)])
        #expect(aFolder.status == 78)
        #expect(aFolder.stderr.contains("is a folder; name the SQLite file in it"), "\(aFolder.stderr)")
        let toSQLite = try await UseroBinary.run(
            ["database", "copy", "--from", folder.appendingPathComponent("nothing.sqlite").path],
            environment: ["USERO_DATABASE": folder.appendingPathComponent("other.sqlite").path])
        #expect(toSQLite.status == 78)
        #expect(toSQLite.stderr.contains("USERO_DATABASE must be the postgres:// URL"), "\(toSQLite.stderr)")
    }

    /// A file another version of usero used last is refused with what to do about it: an older version's is brought
    /// up to date by this version's `serve`; a newer version's only by that version (this `serve` would not undo
    /// its migration, so the advice to run it led nowhere).
    @Test func aFileOfAnotherVersionIsRefusedWithWhatToDo() async throws {
        let folder = TestServer.makeFolder()
        let sqlitePath = folder.appendingPathComponent("source.sqlite").path
        var environment = ["USERO_DATABASE": sqlitePath, "USERO_DATA_DIR": folder.appendingPathComponent("data").path]
        _ = try await UseroBinary.createClient(name: "Source", environment: environment)
        environment["USERO_DATABASE"] = try await TestBackend.databaseURL(for: folder)
        let database = try DatabaseQueue(path: sqlitePath)
        try await database.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        let newer = try await UseroBinary.run(["database", "copy", "--from", sqlitePath], environment: environment)
        #expect(newer.status == 78)
        #expect(newer.stderr.contains("was last used by a newer version of usero: copy it with that version"), "\(newer.stderr)")
        try await database.write {
            try $0.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v99-from-the-future'")
            try $0.execute(sql: "DELETE FROM grdb_migrations WHERE rowid = (SELECT max(rowid) FROM grdb_migrations)")
        }
        try database.close()
        let older = try await UseroBinary.run(["database", "copy", "--from", sqlitePath], environment: environment)
        #expect(older.status == 78)
        #expect(older.stderr.contains("was last used by an older version of usero: run this version's `usero serve`"), "\(older.stderr)")
    }

    /// Two copies into one database at once: the second is refused at once, not after the 60 s statement timeout.
    @Test func aCopyIntoADatabaseAnotherCopyIsFillingIsRefusedAtOnce() async throws {
        let folder = TestServer.makeFolder()
        let sqlitePath = folder.appendingPathComponent("source.sqlite").path
        let environment = [
            "USERO_DATABASE": try await TestBackend.databaseURL(for: folder),
            "USERO_DATA_DIR": folder.appendingPathComponent("data").path,
        ]
        var source = environment
        source["USERO_DATABASE"] = sqlitePath
        _ = try await UseroBinary.createClient(name: "Source", environment: source)
        // The other copy: the tables made, and its transaction holding the lock a copy takes
        let settings = try await TestBackend.database(for: folder)
        #expect(try await Self.clients(in: settings) == 0)
        let other = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(), id: 1, logger: TestBackend.logger)
        try await other.query("BEGIN", logger: TestBackend.logger)
        try await other.query("LOCK TABLE client IN SHARE ROW EXCLUSIVE MODE", logger: TestBackend.logger)
        // (`run` gives up after 30 s: a copy waiting for the lock until its statement timeout fails here)
        let refused = try await UseroBinary.run(["database", "copy", "--from", sqlitePath], environment: environment)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("another process is writing to the PostgreSQL database"), "\(refused.stderr)")
        try await other.query("ROLLBACK", logger: TestBackend.logger)
        try await other.close()
        // Once it is gone, the copy goes through
        let copied = try await UseroBinary.run(["database", "copy", "--from", sqlitePath], environment: environment)
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(try await Self.clients(in: settings) == 1)
    }

    /// A `serve` still running on the SQLite file, even one that writes nothing, would keep accepting what the copy
    /// leaves behind: the copy is refused until it stops.
    @Test func aCopyWhileServeStillRunsOnTheFileIsRefused() async throws {
        let folder = TestServer.makeFolder()
        let sqlitePath = folder.appendingPathComponent("source.sqlite").path
        let source = ["USERO_DATABASE": sqlitePath, "USERO_DATA_DIR": folder.appendingPathComponent("data").path]
        var environment = source
        environment["USERO_DATABASE"] = try await TestBackend.databaseURL(for: folder)
        _ = try await UseroBinary.createClient(name: "Source", environment: source)
        // Named by its path, or by a link to it (SQLite follows the link: what shows that serve has it open lies
        // beside the target)
        let link = folder.appendingPathComponent("link.sqlite").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: sqlitePath)
        try await UseroBinary.withServe(environment: source) { _ in
            for path in [sqlitePath, link] {
                let refused = try await UseroBinary.run(["database", "copy", "--from", path], environment: environment)
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("the SQLite file is open in another process"), "\(path): \(refused.stderr)")
            }
        }
        let copied = try await UseroBinary.run(["database", "copy", "--from", sqlitePath], environment: environment)
        #expect(copied.status == 0, "\(copied.stderr)")
    }

    static func clients(in settings: PostgresSettings) async throws -> Int {
        let backend = try await PostgresBackend.open(settings, logger: TestBackend.logger)
        let store = PostgresStore(backend: backend, logger: TestBackend.logger)
        defer { Task { await backend.close() } }
        return try await TestBackend.count("SELECT COUNT(*) FROM client", in: store)
    }
}
