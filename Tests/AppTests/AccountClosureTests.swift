import GRDB
import Feedback
import Foundation
import Retention
import Testing

@testable import StoreSQLite
@testable import usero
@testable import Inbox
import SlackGateway
import UseroTestSupport

@Suite struct AccountClosureTests {
    /// A 1x1 PNG.
    static let png = Data(
        base64Encoded:
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")!

    /// Uploads a screenshot over HTTP and returns its JSON object.
    static func upload(_ server: TestServer, clientID: String, headers: [String: String] = [:]) async throws
        -> [String: Any]
    {
        let boundary = "usero-test-boundary"
        var body = Data()
        body.append(
            Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\n\(clientID)\r\n".utf8))
        body.append(
            Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"screenshot\"; filename=\"s.png\"\r\n".utf8))
        body.append(Data("Content-Type: image/png\r\n\r\n".utf8))
        body.append(png)
        body.append(Data("\r\n--\(boundary)--\r\n".utf8))
        let result = try await server.request(
            "POST", "/api/screenshots",
            headers: headers.merging(["Content-Type": "multipart/form-data; boundary=\(boundary)"]) { $1 }, body: body)
        #expect(result.status == 200)
        return try #require(result.json["screenshot"] as? [String: Any])
    }

    /// Feedback with a screenshot, an end user and a Slack installation, all over the public API where one exists.
    static func seed(_ server: TestServer, rows: Int = 3) async throws -> (id: String, key: String, shotPath: String) {
        let client = try await server.createClient(plan: .paid)
        let shot = try await upload(server, clientID: client.id)
        let shotJSON = try JSONSerialization.data(withJSONObject: shot)
        let posted = try await server.postJSON(
            "/api/feedback",
            #"{"clientId":"\#(client.id)","rating":4,"userId":"u1","screenshots":[\#(String(decoding: shotJSON, as: UTF8.self))]}"#
        )
        #expect(posted.status == 200)
        for i in 1..<rows {
            #expect(
                try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":\#(i % 4 + 1)}"#)
                    .status == 200)
        }
        #expect(
            try await server.postJSON(
                "/api/identify", #"{"clientId":"\#(client.id)","userId":"u1","email":"u1@example.com"}"#
            ).status == 200)
        try await server.execute(
            """
            INSERT INTO slack_installation (team_id, client_id, scopes, token_envelope, installed_at)
            VALUES ('T0009', '\(client.id)', 'chat:write', \(server.bytesLiteral(hex: "0102")), 0)
            """)
        try await server.execute(
            """
            INSERT INTO removed_capture (client_id, team_id, channel_id, message_ts, removed_at)
            VALUES ('\(client.id)', 'T0009', 'C0001', '1700000000.000100', 0)
            """)
        let path = "/api/screenshots/\(try #require(shot["fileName"] as? String))"
        #expect(try await server.request("GET", path).status == 200)
        return (client.id, client.key, path)
    }

    static func expectGone(_ server: TestServer, id: String, key: String, shotPath: String) async throws {
        let auth = ["Authorization": "Bearer \(key)"]
        #expect(try await server.request("GET", "/api/feedback", headers: auth).status == 401)
        #expect(try await server.request("GET", "/api/end-users/u1", headers: auth).status == 401)
        #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(id)","rating":1}"#).status == 404)
        #expect(try await server.postJSON("/api/identify", #"{"clientId":"\#(id)","userId":"u2"}"#).status == 404)
        #expect(try await server.request("GET", shotPath).status == 404)
        for table in ["feedback", "screenshot", "end_user", "slack_installation", "job", "removed_capture"] {
            #expect(try await server.count(table, where: "client_id = '\(id)'") == 0, "\(table)")
        }
        #expect(try await server.count("client", where: "id = '\(id)'") == 0)
        #expect(try await server.count("job", where: "kind = 'slack.revoke' AND team_id = 'T0009'") == 1)
        // On PostgreSQL the bytes are rows, counted above with their screenshots.
        // On SQLite the client's folder goes with its files: nothing named after the client is left.
        if server.parts.backend.sqlite != nil {
            let folder = server.parts.files.root.appendingPathComponent(id).path
            #expect(!FileManager.default.fileExists(atPath: folder))
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.parts.files.root.path).allSatisfy { $0 != id })
        }
    }

    @Test func deleteAccountRemovesEverythingAndTheClientAnswers404Everywhere() async throws {
        try await TestServer.run { server in
            let seeded = try await Self.seed(server)
            let bystander = try await server.createClient()
            #expect(
                try await server.postJSON("/api/feedback", #"{"clientId":"\#(bystander.id)","rating":1}"#).status == 200
            )

            let closed = try await server.request(
                "DELETE", "/api/account", headers: ["Authorization": "Bearer \(seeded.key)"])
            #expect(closed.status == 204)

            try await Self.expectGone(server, id: seeded.id, key: seeded.key, shotPath: seeded.shotPath)
            #expect(try await server.count("feedback", where: "client_id = '\(bystander.id)'") == 1)
            #expect(try await server.request("DELETE", "/api/account").status == 401)
        }
    }

    /// Several closures of one account at once (a double click, a retried request): one closes it, the others are
    /// told the key opens nothing any more (401), never the public routes' 404 "Invalid client ID".
    @Test func closuresOfOneAccountAtOnceCloseItOnceAndAnswer401() async throws {
        try await TestServer.run { server in
            let seeded = try await Self.seed(server, rows: 20)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await server.request("DELETE", "/api/account", headers: ["Authorization": "Bearer \(seeded.key)"])
                            .status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 204 }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 != 204 }.allSatisfy { $0 == 401 }, "\(statuses)")
            try await Self.expectGone(server, id: seeded.id, key: seeded.key, shotPath: seeded.shotPath)
        }
    }

    @Test func aClientBeingClosedAnswersLikeAnUnknownOneFromTheFirstStep() async throws {
        try await TestServer.run { server in
            let seeded = try await Self.seed(server)
            let closer = AccountCloser(
                store: server.parts.backend.retention, feedback: server.parts.store, owners: server.parts.accountOwners,
                clock: SystemClock())
            #expect(try await closer.begin(clientID: seeded.id))
            let auth = ["Authorization": "Bearer \(seeded.key)"]
            #expect(try await server.request("GET", "/api/feedback", headers: auth).status == 401)
            #expect(try await server.request("GET", "/api/end-users/u1", headers: auth).status == 401)
            #expect(
                try await server.postJSON("/api/feedback", #"{"clientId":"\#(seeded.id)","rating":1}"#).status == 404)
            #expect(
                try await server.postJSON("/api/identify", #"{"clientId":"\#(seeded.id)","userId":"u"}"#).status == 404)
            #expect(try await server.request("GET", seeded.shotPath).status == 404)
            #expect(try await server.count("slack_installation", where: "client_id = '\(seeded.id)'") == 0)
        }
    }

    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly)) func closureInterruptedByACrashCompletesAfterRestart() async throws {
        // Given a client with data, seeded through a first server
        let folder = TestServer.makeFolder()
        let seeded = try await TestServer.run(folder: folder) { server in try await Self.seed(server, rows: 5) }

        // And a process that began closing it and died after its first step and one batch
        let backend = try await Self.closeHalfWay(seeded.id, folder: folder)
        let database = backend.sqlite!.database
        let remaining = try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM feedback WHERE client_id = ?", arguments: [seeded.id])
        }
        #expect(remaining == 3)

        // When a new server starts on the same folder
        try await TestServer.run(folder: folder) { server in
            // Then the closure completes (the retention service finishes pending closures at startup)
            try await server.eventually { try await server.count("client", where: "id = '\(seeded.id)'") == 0 }
            #expect(try await server.count("client", where: "id = '\(seeded.id)'") == 0)
            try await Self.expectGone(server, id: seeded.id, key: seeded.key, shotPath: seeded.shotPath)
            let counts = try await server.parts.database.read { db in
                try String.fetchOne(
                    db, sql: "SELECT counts FROM audit_entry WHERE kind = 'account_closure' AND client_id = ?",
                    arguments: [seeded.id])
            }
            let parsed = DeletionCounts(jsonText: try #require(counts))
            #expect(parsed["feedback"] == 5)
            #expect(parsed["endUsers"] == 1)
            #expect(parsed["slackInstallations"] == 1)
        }
    }
}

extension AccountClosureTests {
    /// `usero retention run` (a cron job while serve is stopped) also finishes an account closure that a crashed
    /// process left half-way, and says how many it finished.
    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly))
    func retentionRunFinishesAnAccountClosureACrashLeftHalfWay() async throws {
        // Given a client with data, and a process that began closing it and died after one batch
        let folder = TestServer.makeFolder()
        let seeded = try await TestServer.run(folder: folder) { server in try await Self.seed(server, rows: 5) }
        let backend = try await Self.closeHalfWay(seeded.id, folder: folder)

        // When the retention command runs
        let report = try await RetentionCommand.runOnce(backend: backend, asOf: Date())

        // Then it finished the closure: the client and its rows are gone, and the report says so, once
        #expect(report.accountClosuresFinished == 1)
        let left = try await backend.sqlite!.database.read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT (SELECT COUNT(*) FROM client WHERE id = ?) + (SELECT COUNT(*) FROM feedback WHERE client_id = ?)",
                arguments: [seeded.id, seeded.id])
        }
        #expect(left == 0)
        #expect(try await RetentionCommand.runOnce(backend: backend, asOf: Date()).accountClosuresFinished == 0)
    }

    /// What a process that began closing `clientID` and died after its first step and one batch of two rows
    /// leaves in `folder`'s store; the store, opened.
    static func closeHalfWay(_ clientID: String, folder: URL) async throws -> Backend {
        let backend = try await Backend.open(TestServer.config(folder: folder))
        var policy = RetentionPolicy.standard
        policy.batchSize = 2
        let crashing = AccountCloser(
            store: backend.retention, feedback: backend.feedback,
            owners: [SlackAccountData(store: backend.slack, wakeup: nil)], clock: SystemClock(), policy: policy)
        #expect(try await crashing.begin(clientID: clientID))
        #expect(try await crashing.finish(clientID: clientID, maxBatches: 1) == nil)
        return backend
    }
}
