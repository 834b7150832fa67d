import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import PostgresNIO
import StorePostgres
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
import UseroTestSupport
#endif

/// Three `usero serve` processes on one PostgreSQL, each with its own data folder, as on three machines behind a
/// load balancer: whatever one instance starts, another finishes; the database decides, not a process's memory.
/// Requests are sent to a chosen instance (what a round-robin front does, made deterministic).
@Suite(.serialized, .enabled(if: TestBackend.postgresURL != nil, "USERO_TEST_POSTGRES_URL is not set"))
struct SeveralInstancesTests {
    /// One `usero serve` process; its log goes to a file the test can read.
    final class Instance: @unchecked Sendable {
        let port = UseroBinary.freePort()
        let environment: [String: String]
        let log: URL
        var process: ChildProcess?
        var base: String { "http://127.0.0.1:\(port)" }

        init(_ shared: [String: String], folder: URL, name: String) {
            log = folder.appendingPathComponent("\(name).log")
            environment = shared.merging(["USERO_DATA_DIR": folder.appendingPathComponent("data-\(name)").path]) { $1 }
        }

        func start() async throws {
            process = try ChildProcess(
                try UseroBinary.url().path, ["serve", "--port", "\(port)"],
                environment: UseroBinary.defaultEnvironment.merging(environment) { $1 }, stderr: .file(log.path))
            for _ in 0..<150 {
                if (try? await HTTPResult.send("GET", base + "/healthz").status) == 200 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("instance on port \(port) never became healthy")
        }

        // Both wait for the process off Swift's cooperative pool: a graceful stop can take seconds, and a thread of
        // the pool held that long stalls every other test.
        func kill() async {
            guard let process, process.isRunning else { return }
            process.send(SIGKILL)
            await waitForExit(process)
        }

        func stop() async {
            guard let process, process.isRunning else { return }
            process.send(SIGTERM)
            let watchdog = DispatchWorkItem { process.send(SIGKILL) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 15, execute: watchdog)
            await waitForExit(process)
            watchdog.cancel()
        }

        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        func send(_ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil)
            async throws -> HTTPResult
        {
            try await HTTPResult.send(method, base + path, headers: headers, body: body)
        }

        /// A signed Slack request.
        func slack(_ path: String, _ body: String, contentType: String = "application/json") async throws -> HTTPResult {
            let data = Data(body.utf8)
            return try await send(
                "POST", path, headers: SlackTestSettings.headers(for: data, contentType: contentType), body: data)
        }
    }

    /// The shared database's URL (same server and credentials as the test cluster's).
    static func databaseURL(for folder: URL) async throws -> (url: String, settings: PostgresSettings) {
        let settings = try await TestBackend.database(for: folder)
        let base = try #require(TestBackend.postgresURL)
        let query = base.firstIndex(of: "?") ?? base.endIndex
        let slash = try #require(base[..<query].lastIndex(of: "/"))
        return (String(base[..<slash]) + "/" + settings.database + String(base[query...]), settings)
    }

    /// One number from the shared database.
    static func scalar(_ sql: String, on settings: PostgresSettings) async throws -> Int64 {
        let connection = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(), id: 9, logger: TestBackend.logger)
        defer { Task { try? await connection.close() } }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestBackend.logger)
        for try await value in rows.decode(Int64?.self) { return value ?? -1 }
        return -1
    }

    /// Starts three instances on one fresh database against `api` (the fake Slack); stops them after `body`.
    static func withThreeInstances(
        api: String, environments: [[String: String]] = [], _ body: ([Instance], PostgresSettings) async throws -> Void
    ) async throws {
        let folder = TestServer.makeFolder()
        let (url, settings) = try await databaseURL(for: folder)
        let shared = [
            "USERO_DATABASE": url,
            "USERO_PUBLIC_URL": "http://usero.test",
            "USERO_TOKEN_KEY": SlackTestSettings.tokenKey,
            "SLACK_SIGNING_SECRET": SlackTestSettings.signingSecret,
            "SLACK_CLIENT_ID": SlackTestSettings.clientID,
            "SLACK_CLIENT_SECRET": SlackTestSettings.clientSecret,
            "SLACK_API_URL": api,
            "SLACK_AUTHORIZE_URL": api.replacingOccurrences(of: "/api/", with: "/oauth/v2/authorize"),
            "LOG_LEVEL": "debug",
            "SWIFT_BACKTRACE": "enable=no",
            // Small enough to reach: the quota holds across instances, not per process.
            "USERO_UPLOAD_QUOTA_MB": "1",
        ]
        let instances = ["a", "b", "c"].enumerated().map { index, name in
            Instance(
                shared.merging(index < environments.count ? environments[index] : [:]) { $1 }, folder: folder,
                name: name)
        }
        func stopAll() async {
            await withTaskGroup(of: Void.self) { group in
                for instance in instances { group.addTask { await instance.stop() } }
            }
        }
        do {
            // All three at once on an empty database: the migrations run once, under their lock.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for instance in instances { group.addTask { try await instance.start() } }
                try await group.waitForAll()
            }
            try await body(instances, settings)
        } catch {
            await stopAll()
            throw error
        }
        await stopAll()
    }

    /// Makes a client with the command and installs Slack for it: the link made on `linkOn`, the callback on
    /// `callbackOn`.
    static func installedClient(linkOn: Instance, callbackOn: Instance) async throws -> (id: String, key: String) {
        let created = try await UseroBinary.createClient(name: "Multi", environment: linkOn.environment)
        let client = (id: created.id, key: created.adminKey)
        let link = try await linkOn.send("POST", "/api/slack/install-link", headers: ["Authorization": "Bearer \(client.key)"])
        #expect(link.status == 200)
        let linkURL = try #require(link.json["url"] as? String)
        let url = try #require(URLComponents(string: linkURL))
        let state = try #require(url.queryItems?.first { $0.name == "state" }?.value)
        let done = try await callbackOn.send("GET", "/slack/oauth/callback?code=good-code&state=\(state)")
        #expect(done.status == 200, "the callback on another instance must find the state made on the first")
        return client
    }

    @Test func anyInstanceAnswersAnyRequestAndTheDatabaseDecides() async throws {
        try await withFakeSlack { fake, api in
            try await Self.withThreeInstances(api: api) { instances, settings in
                let (a, b, c) = (instances[0], instances[1], instances[2])
                let auth = { (key: String) in ["Authorization": "Bearer \(key)"] }

                // An install link made on A is completed on B; C sees the installation.
                let client = try await Self.installedClient(linkOn: a, callbackOn: b)
                let installation = try await c.send("GET", "/api/slack/installation", headers: auth(client.key))
                #expect(installation.status == 200)
                #expect(installation.json["teamId"] as? String == "T0001")

                // A screenshot uploaded to A is served, the same bytes, by each instance.
                let png = Images.png(width: 2, height: 2)
                let boundary = "usero-multi-boundary"
                var form = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\n\(client.id)\r\n".utf8)
                form.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"screenshot\"; filename=\"s.png\"\r\nContent-Type: image/png\r\n\r\n".utf8))
                form.append(png)
                form.append(Data("\r\n--\(boundary)--\r\n".utf8))
                let uploaded = try await a.send(
                    "POST", "/api/screenshots", headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
                    body: form)
                #expect(uploaded.status == 200, "\(String(decoding: uploaded.body, as: UTF8.self))")
                let shot = try #require(uploaded.json["screenshot"] as? [String: Any])
                let fileName = try #require(shot["fileName"] as? String)
                for instance in instances {
                    let fetched = try await instance.send("GET", "/api/screenshots/\(fileName)")
                    #expect(fetched.status == 200)
                    #expect(fetched.body == png)
                }

                // Twelve uploads of 300 KB at once, spread over the three instances, against a 1 MB quota of
                // unattached screenshots (one small one is already held): exactly three fit, the rest are 413.
                let big = Images.png(
                    width: 4, height: 4, holding: Data(repeating: 0x5A, count: 300_000 - Images.png(width: 4, height: 4).count - 12))
                var bigForm = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\n\(client.id)\r\n".utf8)
                bigForm.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"screenshot\"; filename=\"b.png\"\r\nContent-Type: image/png\r\n\r\n".utf8))
                bigForm.append(big)
                bigForm.append(Data("\r\n--\(boundary)--\r\n".utf8))
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for n in 0..<12 {
                        let instance = instances[n % 3]
                        let body = bigForm
                        group.addTask {
                            try await instance.send(
                                "POST", "/api/screenshots",
                                headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"], body: body
                            ).status
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == 200 }.count == 3, "\(statuses)")
                #expect(statuses.filter { $0 == 413 }.count == 9, "\(statuses)")

                // The same signed reaction delivered to A and B at once makes one row, fetched from Slack once.
                let event = Fixtures.text("event_reaction_added_wrench.json")
                async let first = a.slack("/slack/events", event)
                async let second = b.slack("/slack/events", event)
                #expect(try await first.status == 200)
                #expect(try await second.status == 200)
                _ = try await fake.waitForCalls("chat.postEphemeral")
                var items: [[String: Any]] = []
                for _ in 0..<100 {
                    let listed = try await c.send("GET", "/api/feedback?source=slack", headers: auth(client.key))
                    items = listed.json["items"] as? [[String: Any]] ?? []
                    if !items.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(items.count == 1)
                #expect(await fake.calls("conversations.replies").count == 1)

                // Inbox: signed in on A, an item deleted on B with the CSRF token of A's page.
                let browserA = InboxTestBrowser(baseURL: a.base)
                #expect(try await browserA.signIn(adminKey: client.key).status == 303)
                let csrf = try await browserA.csrfToken()
                let itemID = try #require(items.first?["id"] as? String)
                let browserB = InboxTestBrowser(baseURL: b.base)
                browserB.cookies = browserA.cookies
                let deleted = try await browserB.post("/inbox/items/\(itemID)/delete", [("csrf", csrf)])
                #expect(deleted.status == 303, "\(deleted.status) \(deleted.text.prefix(200))")
                #expect(try await c.send("GET", "/api/feedback/\(itemID)", headers: auth(client.key)).status == 404)

                // The retention sweep ran once at start, on one of the three.
                func lines(_ instance: Instance, endingWith message: String) -> Int {
                    instance.logText.split(separator: "\n").filter { $0.hasSuffix("] \(message)") }.count
                }
                let sweeps = instances.map { lines($0, endingWith: "Retention sweep") }
                let skipped = instances.map {
                    lines($0, endingWith: "Retention sweep left to the process that started it this period")
                }
                #expect(sweeps.reduce(0, +) == 1, "sweeps \(sweeps), skipped \(skipped)")
                #expect(skipped.reduce(0, +) == 2)
                #expect(try await Self.scalar("SELECT count(*) FROM scheduled_run", on: settings) == 1)
            }
        }
    }

    /// An instance started with another `USERO_TOKEN_KEY` (a replica misconfigured, or mid key rotation) leaves the
    /// workspace's jobs to the instances with the key: a forward it acknowledges is captured by one of them, and it
    /// never takes the job only to hand it back (which held captures for seconds while the instances took turns).
    @Test func aForwardSentToAnInstanceWithoutTheTokensKeyIsCapturedByOneWithIt() async throws {
        let otherKey = Data((0..<32).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 5) }).base64EncodedString()
        try await withFakeSlack { fake, api in
            try await Self.withThreeInstances(api: api, environments: [[:], [:], ["USERO_TOKEN_KEY": otherKey]]) {
                instances, _ in
                let (a, c) = (instances[0], instances[2])
                let client = try await Self.installedClient(linkOn: a, callbackOn: a)
                #expect(try await c.slack("/slack/events", Fixtures.text("event_reaction_added_wrench.json")).status == 200)
                _ = try await fake.waitForCalls("chat.postEphemeral")
                let listed = try await c.send(
                    "GET", "/api/feedback?source=slack", headers: ["Authorization": "Bearer \(client.key)"])
                #expect((listed.json["items"] as? [[String: Any]])?.count == 1)
                #expect(await fake.calls("conversations.replies").count == 1)
                #expect(!c.logText.contains("Slack job left for an instance with its token's key"))
                #expect(!c.logText.contains("slack.job_kind=slack.capture"), "C never ran the capture")
                let ran = instances.prefix(2).filter { $0.logText.contains("slack.job_kind=slack.capture") }
                #expect(ran.count == 1, "one instance with the key captured it")

                // An install link made on A and completed on C fails there (C cannot verify A's signature), and C
                // tells the operator why instead of leaving random install failures unexplained.
                let second = try await UseroBinary.createClient(name: "Second", environment: a.environment)
                let link = try await a.send(
                    "POST", "/api/slack/install-link", headers: ["Authorization": "Bearer \(second.adminKey)"])
                let linkURL = try #require(link.json["url"] as? String)
                let state = try #require(URLComponents(string: linkURL)?.queryItems?.first { $0.name == "state" }?.value)
                let done = try await c.send("GET", "/slack/oauth/callback?code=good-code&state=\(state)")
                #expect(done.status == 400)
                #expect(c.logText.contains("every instance must have the same USERO_TOKEN_KEY"), "\(c.logText.suffix(2000))")
                #expect(!c.logText.contains(state))
            }
        }
    }

    @Test func killingOneInstanceUnderWriteLoadLosesNoAcknowledgedRow() async throws {
        try await withFakeSlack { _, api in
            try await Self.withThreeInstances(api: api) { instances, settings in
                let client = try await UseroBinary.createClient(name: "Load", environment: instances[0].environment).id
                let victim = instances[1]
                // Writers spread round robin over the three instances while one of them is SIGKILLed.
                let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
                    for writer in 0..<24 {
                        group.addTask {
                            var ids: [String] = []
                            for round in 0..<15 {
                                let instance = instances[(writer + round) % instances.count]
                                let body = Data(#"{"clientId":"\#(client)","comment":"load \#(writer)-\#(round)"}"#.utf8)
                                guard
                                    let reply = try? await instance.send(
                                        "POST", "/api/feedback", headers: ["Content-Type": "application/json"],
                                        body: body),
                                    reply.status == 200, let id = reply.json["feedbackId"] as? String
                                else { continue }
                                ids.append(id)
                            }
                            return ids
                        }
                    }
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(300))
                        await victim.kill()
                        return []
                    }
                    return try await group.reduce(into: [String]()) { $0 += $1 }
                }
                #expect(victim.process?.isRunning == false)
                #expect(acknowledged.count > 24 * 15 / 2, "most writes go to the instances that stay up")
                // Every acknowledged id is in the database.
                let quoted = acknowledged.map { "'\($0)'" }.joined(separator: ",")
                let stored = try await Self.scalar("SELECT count(*) FROM feedback WHERE id IN (\(quoted))", on: settings)
                #expect(stored == Int64(acknowledged.count))
            }
        }
    }

    /// A capture that outlasts its lease (four slow Slack calls) stays with the instance running it, which renews the
    /// lease; an instance killed mid-capture leaves it to another within the lease (15 s), not a minute later. Each
    /// forward is stored once and confirmed once.
    @Test func aSlowCaptureStaysWithItsInstanceAndIsTakenOverSoonAfterItDies() async throws {
        try await withFakeSlack { fake, api in
            try await Self.withThreeInstances(api: api) { instances, settings in
                let (a, b, c) = (instances[0], instances[1], instances[2])
                let client = try await Self.installedClient(linkOn: a, callbackOn: a)
                await a.stop()
                await b.stop()
                // Given C alone, fetching a forwarded message whose thread Slack pages out in four answers of 6 s
                // each (each well within the service's 10 s timeout on a loaded machine, together 24 s: past the
                // 15 s lease by more than B's 5 s poll)
                let page = FakeSlack.Reply(
                    body: #"{"ok":true,"messages":[],"has_more":true,"response_metadata":{"next_cursor":"next"}}"#)
                await fake.script(
                    "conversations.replies", page.after(.seconds(6)), page.after(.seconds(6)), page.after(.seconds(6)),
                    .late(.seconds(6)))
                #expect(try await c.slack("/slack/events", Fixtures.text("event_reaction_added_wrench.json")).status == 200)
                _ = try await fake.waitForCalls("conversations.replies")
                // When B starts beside it
                try await b.start()
                // Then C finishes it: B never took it over (it would have asked from the first page again)
                _ = try await fake.waitForCalls("chat.postEphemeral", timeout: .seconds(60))
                let pages = await fake.calls("conversations.replies")
                #expect(pages.count == 4)
                #expect(pages.filter { $0.query["cursor"] == nil }.count == 1)
                #expect(try await Self.scalar("SELECT count(*) FROM feedback", on: settings) == 1)

                // Given C alone again, holding a forward whose fetch Slack never answers
                await b.stop()
                await fake.script("conversations.replies", .hang)
                let reply = Fixtures.text("event_reaction_added_pushpin_thread_reply.json")
                #expect(try await c.slack("/slack/events", reply).status == 200)
                _ = try await fake.waitForCalls("conversations.replies", count: 5)
                // When C dies and B starts
                let killed = ContinuousClock.now
                await c.kill()
                try await b.start()
                // Then B fetches the message again and stores it within the lease and a poll
                _ = try await fake.waitForCalls("conversations.replies", count: 6, timeout: .seconds(40))
                #expect(ContinuousClock.now - killed < .seconds(25))
                _ = try await fake.waitForCalls("chat.postEphemeral", count: 2, timeout: .seconds(20))
                #expect(try await Self.scalar("SELECT count(*) FROM feedback", on: settings) == 2)
                let items = try await b.send("GET", "/api/feedback", headers: ["Authorization": "Bearer \(client.key)"])
                #expect((items.json["items"] as? [[String: Any]])?.count == 2)
                await fake.releaseHung()
            }
        }
    }

    @Test func anUninstallIsScrubbedWithinTheDeadlineWhenItsInstanceIsKilledRightAfterTheAnswer() async throws {
        try await withFakeSlack { fake, api in
            try await Self.withThreeInstances(api: api) { instances, settings in
                let (a, b, c) = (instances[0], instances[1], instances[2])
                _ = try await Self.installedClient(linkOn: a, callbackOn: a)
                // Given a captured row that carries the author's and the forwarder's ids
                #expect(try await a.slack("/slack/events", Fixtures.text("event_reaction_added_wrench.json")).status == 200)
                _ = try await fake.waitForCalls("chat.postEphemeral")
                let carrying = """
                    SELECT count(*) FROM \(TestBackend.feedbackWithSlackPeople)
                    WHERE slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL
                    """
                for _ in 0..<100 where try await Self.scalar(carrying, on: settings) == 0 {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(try await Self.scalar(carrying, on: settings) == 1)

                // When C acknowledges the uninstall and is killed at once
                let eventTime = Int(Date().timeIntervalSince1970)
                let uninstall = Fixtures.text("event_app_uninstalled.json", replacing: [("1700001000", "\(eventTime)")])
                let ack = try await c.slack("/slack/events", uninstall)
                await c.kill()
                #expect(ack.status == 200)

                // Then the token is gone with the answer, and A or B scrubs the ids within 60 s of the event
                #expect(try await Self.scalar("SELECT count(*) FROM slack_installation", on: settings) == 0)
                let deadline = Date(timeIntervalSince1970: TimeInterval(eventTime + 60))
                while Date() < deadline, try await Self.scalar(carrying, on: settings) > 0 {
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(try await Self.scalar(carrying, on: settings) == 0)
                let finished = try await Self.scalar(
                    "SELECT max(finished_at) FROM audit_entry WHERE kind = 'slack_uninstall_scrub'", on: settings)
                #expect(finished > 0 && finished <= Int64(eventTime) * 1000 + 60_000)
                #expect(try await Self.scalar("SELECT count(*) FROM feedback", on: settings) == 1)
                _ = b
            }
        }
    }
}
