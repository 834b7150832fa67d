import Feedback
import Foundation
import Testing
import UseroCrypto

@testable import usero
@testable import Inbox
import UseroTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The smaller findings of issue 11, item 10: security headers on the OAuth result pages, owner-only files, a loose
/// token key file, inbox sessions per tenant, and the new limits' configuration.
@Suite struct HardeningTests {
    // MARK: headers

    static func expectPageHeaders(_ result: HTTPResult, sourceLocation: SourceLocation = #_sourceLocation) {
        let policy = result.header("Content-Security-Policy") ?? ""
        #expect(policy.contains("default-src 'none'"), sourceLocation: sourceLocation)
        #expect(policy.contains("frame-ancestors 'none'"), sourceLocation: sourceLocation)
        #expect(!policy.contains("script-src"), sourceLocation: sourceLocation)
        #expect(result.header("X-Content-Type-Options") == "nosniff", sourceLocation: sourceLocation)
        #expect(result.header("X-Frame-Options") == "DENY", sourceLocation: sourceLocation)
    }

    /// A route asked with a method it does not answer is a 405 naming the ones it does (`Allow`), not a 404 saying
    /// the route is not there; a path no route has stays a 404, and so does a route's own "not found" (an item that
    /// is not this client's).
    @Test func aMethodARouteDoesNotAnswerIs405WithAllow() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            for (method, path, allow) in [
                ("PUT", "/api/feedback", "GET, HEAD, OPTIONS, POST"), ("GET", "/api/identify", "OPTIONS, POST"),
                ("PATCH", "/api/feedback/fb_whatever", "DELETE, GET, HEAD"), ("POST", "/healthz", "GET, HEAD"),
            ] {
                let answer = try await server.request(method, path, headers: auth)
                #expect(answer.status == 405, "\(method) \(path)")
                #expect(answer.header("Allow") == allow, "\(method) \(path)")
                #expect(answer.json["error"] as? String == "Method not allowed")
                #expect(answer.header("Access-Control-Allow-Origin") == "*")
            }
            #expect(try await server.request("GET", "/api/nothing-here", headers: auth).status == 404)
            let missing = try await server.request("GET", "/api/feedback/fb_not_there", headers: auth)
            #expect(missing.status == 404)
            #expect(missing.header("Allow") == nil)
        }
    }

    @Test func oauthResultPagesForbidScriptsFramingAndSniffing() async throws {
        try await withFakeSlack { _, api in
            try await TestServer.run(configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) { server in
                let failed = try await server.request("GET", "/slack/oauth/callback?code=x")
                #expect(failed.status == 400)
                #expect(failed.header("Content-Type")?.hasPrefix("text/html") == true)
                Self.expectPageHeaders(failed)
                #expect(failed.header("Referrer-Policy") == "no-referrer")
                // The page answers a one-time link: no cache on the way keeps it
                #expect(failed.header("Cache-Control") == "no-store")

                let client = try await server.createClient()
                let link = try await server.request(
                    "POST", "/api/slack/install-link", headers: ["Authorization": "Bearer \(client.key)"])
                let linkURL = try #require(link.json["url"] as? String)
                let url = try #require(URLComponents(string: linkURL))
                let state = try #require(url.queryItems?.first { $0.name == "state" }?.value)
                let installed = try await server.request("GET", "/slack/oauth/callback?code=good-code&state=\(state)")
                #expect(installed.status == 200)
                Self.expectPageHeaders(installed)
                #expect(installed.header("Cache-Control") == "no-store")
            }
        }
    }

    /// The workspace name on the install page is Slack's word, set by whoever admins that workspace: it is shown as
    /// text, never as markup.
    @Test func oauthResultPagesShowTheWorkspaceNameAsText() async throws {
        try await withFakeSlack { fake, api in
            try await TestServer.run(configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) { server in
                let client = try await server.createClient()
                let installed = try await server.completeInstall(
                    of: client, on: fake,
                    slackAnswering: Fixtures.text(
                        "oauth_v2_access_ok.json", replacing: [("Acme Product", #"Acme <img src=x onerror=alert(1)> \"&\" 'Co'"#)]))
                #expect(installed.status == 200)
                #expect(
                    installed.text.contains("installed in Acme &lt;img src=x onerror=alert(1)&gt; &quot;&amp;&quot; &#39;Co&#39;."),
                    "\(installed.text)")
                #expect(!installed.text.contains("<img"))
            }
        }
    }

    @Test func inboxPagesCarryTheSameHeaders() async throws {
        try await TestServer.run { server in
            let login = try await server.request("GET", "/inbox/login")
            #expect(login.status == 200)
            Self.expectPageHeaders(login)
            let refused = try await server.request(
                "POST", "/inbox/login", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                body: Data("adminKey=nope".utf8))
            #expect(refused.status == 403)
            Self.expectPageHeaders(refused)
            // A mistyped address under /inbox is the inbox's own 404 page, with its headers, not the API's JSON.
            for path in ["/inbox/nope", "/inbox/items/x/y/z"] {
                let missing = try await server.request("GET", path)
                #expect(missing.status == 404, "\(path)")
                #expect(missing.header("Content-Type")?.hasPrefix("text/html") == true, "\(path)")
                #expect(missing.text.contains("There is no such page in the inbox."))
                Self.expectPageHeaders(missing)
            }
        }
    }

    /// Every JSON answer says `nosniff`, whatever made it: a route's own answer, an error naming what the client
    /// sent, the framework's 404 and 405, the rate limiter, the health check, the OpenAPI document, an export.
    @Test func jsonAnswersForbidSniffing() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            let json = ["Content-Type": "application/json"]
            let answers: [(String, HTTPResult)] = [
                ("stored", try await server.request(
                    "POST", "/api/feedback", headers: json, body: Data(#"{"clientId":"\#(client.id)","rating":4}"#.utf8))),
                ("unknown field", try await server.request(
                    "POST", "/api/feedback", headers: json,
                    body: Data(#"{"clientId":"\#(client.id)","<script>":1}"#.utf8))),
                ("list", try await server.request("GET", "/api/feedback", headers: auth)),
                ("no such route", try await server.request("GET", "/api/nothing-here", headers: auth)),
                ("method", try await server.request("PUT", "/api/feedback", headers: auth)),
                ("no key", try await server.request("GET", "/api/feedback")),
                ("health", try await server.request("GET", "/healthz")),
                ("openapi", try await server.request("GET", "/openapi.json")),
                ("export", try await server.request("GET", "/api/privacy/export?email=a%40example.com", headers: auth)),
            ]
            for (name, answer) in answers {
                #expect(answer.header("Content-Type")?.hasPrefix("application/json") == true, "\(name)")
                #expect(answer.header("X-Content-Type-Options") == "nosniff", "\(name): \(answer.status)")
            }
            #expect(answers.map(\.1.status) == [200, 400, 200, 404, 405, 401, 200, 200, 200])
        }
    }

    // MARK: files

    static func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
    }

    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly))
    func theDatabaseScreenshotsAndTheirFoldersAreOwnerOnly() async throws {
        let folder = TestServer.makeFolder()
        try await TestServer.run(folder: folder, configure: {
            // Folders the service creates itself, below one that exists.
            $0.databasePath = folder.appendingPathComponent("db/sub/usero.sqlite").path
            $0.dataDirectory = folder.appendingPathComponent("files/data").path
        }) { server in
            let client = try await server.createClient()
            #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#).status == 200)
            var form = MultipartBody()
            form.field("clientId", client.id)
            form.file("screenshot", fileName: "a.png", type: "image/png", Images.png(width: 2, height: 2))
            let upload = try await server.request(
                "POST", "/api/screenshots", headers: ["Content-Type": form.contentType], body: form.finished())
            #expect(upload.status == 200)
            let fileName = try #require((upload.json["screenshot"] as? [String: Any])?["fileName"] as? String)
            let config = server.parts.config
            let screenshots = URL(fileURLWithPath: config.dataDirectory).appendingPathComponent("screenshots")
            let files = [
                config.databasePath, config.databasePath + "-wal", config.databasePath + "-shm",
                screenshots.appendingPathComponent(fileName).path,
                URL(fileURLWithPath: config.dataDirectory).appendingPathComponent("token.key").path,
            ]
            for path in files { #expect(Self.mode(path) == 0o600, "\(path)") }
            let folders = [
                folder.appendingPathComponent("db").path, folder.appendingPathComponent("db/sub").path,
                folder.appendingPathComponent("files").path, config.dataDirectory, screenshots.path,
                screenshots.appendingPathComponent(client.id).path,
            ]
            for path in folders { #expect(Self.mode(path) == 0o700, "\(path)") }
        }
    }

    /// The generated `token.key` is written from wiped buffers by a base64 of its own: it must say what Foundation
    /// says, for every length, and a key read back must be the key written, with the file's line end or without.
    @Test func theTokenKeyFilesBase64IsFoundationsAndReadsBack() throws {
        for count in 0...40 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 * 37 + count) }
            let length = (count + 2) / 3 * 4 + 1
            var out = [UInt8](repeating: 0, count: length)
            bytes.withUnsafeBytes { raw in out.withUnsafeMutableBytes { SlackKeys.base64Line(of: raw, into: $0) } }
            #expect(String(decoding: out, as: UTF8.self) == Data(bytes).base64EncodedString() + "\n", "\(count) bytes")
        }
        let data = TestServer.makeFolder().appendingPathComponent("data").path
        let made = try SlackKeys.keyFile(in: data, create: true, logger: nil)
        let again = try SlackKeys.keyFile(in: data, create: false, logger: nil)
        #expect(made.count == 32)
        #expect(made.withUnsafeBytes { Array($0) } == again.withUnsafeBytes { Array($0) })
        let path = SlackKeys.keyFilePath(in: data)
        let text = try #require(FileManager.default.contents(atPath: path))
        #expect(text.count == 45 && text.last == UInt8(ascii: "\n"))
        #expect(Data(base64Encoded: text.dropLast()) == made.withUnsafeBytes { Data($0) })
        // Written by hand with white space around it, as an operator may: read the same.
        try Data((" " + String(decoding: text.dropLast(), as: UTF8.self) + "\r\n\n").utf8).write(to: URL(fileURLWithPath: path))
        #expect(try SlackKeys.keyFile(in: data, create: false, logger: nil).withUnsafeBytes { Array($0) } == made.withUnsafeBytes { Array($0) })
        try Data("  \n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: AppConfig.Invalid.self) { try SlackKeys.keyFile(in: data, create: false, logger: nil) }
    }

    /// A token key restored as a link to a safe place (or a Kubernetes secret, mounted as links) was judged by the
    /// link's own mode, 777, and refused with advice that could not fix it (found by a review): the file it leads to
    /// decides.
    @Test func aTokenKeyFileThatIsALinkIsJudgedByItsTarget() async throws {
        let folder = TestServer.makeFolder()
        let data = folder.appendingPathComponent("data")
        let safe = folder.appendingPathComponent("secret")
        for path in [data, safe] { try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true) }
        let target = safe.appendingPathComponent("token.key").path
        try Data((Data((0..<32).map { UInt8($0) }).base64EncodedString() + "\n").utf8).write(to: URL(fileURLWithPath: target))
        chmod(target, 0o600)
        let keyPath = data.appendingPathComponent("token.key").path
        try FileManager.default.createSymbolicLink(atPath: keyPath, withDestinationPath: target)
        let environment = [
            "USERO_DATABASE": folder.appendingPathComponent("usero.sqlite").path, "USERO_DATA_DIR": data.path,
        ]
        let (process, healthy) = try await UseroBinary.startServe(port: UseroBinary.freePort(), environment: environment)
        process.send(SIGTERM)
        await waitForExit(process)
        #expect(healthy)
        // A target others may read is refused, naming the link as the operator wrote it.
        chmod(target, 0o644)
        let refused = try await UseroBinary.run(["serve"], environment: environment.merging(["USERO_PORT": "0"]) { $1 })
        #expect(refused.status == 78)
        #expect(refused.stderr.contains("\(keyPath) has mode 644"), "\(refused.stderr)")
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660])
    func aTokenKeyFileOthersCanReadStopsServeNamingTheFile(mode: Int) async throws {
        let folder = TestServer.makeFolder()
        let data = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let keyPath = data.appendingPathComponent("token.key").path
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        try Data((key + "\n").utf8).write(to: URL(fileURLWithPath: keyPath))
        chmod(keyPath, mode_t(mode))
        let environment = [
            "USERO_DATABASE": folder.appendingPathComponent("usero.sqlite").path, "USERO_DATA_DIR": data.path,
            "USERO_PORT": "0",
        ]
        let refused = try await UseroBinary.run(["serve"], environment: environment)
        #expect(refused.status == 78)
        let lines = refused.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(refused.stderr)")
        #expect(lines.first?.contains(keyPath) == true)
        #expect(lines.first?.contains("chmod 600") == true)
        #expect(!refused.stderr.contains(key))

        // The same key, owner-only, is accepted.
        chmod(keyPath, 0o600)
        var settings = environment
        settings["USERO_PORT"] = nil
        let (process, healthy) = try await UseroBinary.startServe(port: UseroBinary.freePort(), environment: settings)
        process.send(SIGTERM)
        await waitForExit(process)
        #expect(healthy)
    }

    // MARK: inbox sessions

    @Test func oneTenantSigningInManyTimesCannotSignOutAnother() async throws {
        let store = InMemoryStore()
        let sessions = InboxSessions(store: store, clock: SystemClock())
        let other = try await sessions.start(clientID: "client_other")
        var first: String?
        for index in 0..<2_000 {
            let started = try await sessions.start(clientID: "client_noisy")
            if index == 0 { first = started.id }
        }
        #expect(try await sessions.session(id: other.id)?.clientID == "client_other")
        #expect(store.withState { $0.inboxSessions.count } <= InboxSessions.perClientCapacity + 1)
        // The noisy tenant's own oldest sessions were the ones to go.
        #expect(try await sessions.session(id: first ?? "") == nil)
    }

    /// An admin who walks away from a signed-in inbox for more than two hours finds it signed out; one who keeps
    /// reading stays signed in, since every page (at most once a minute) moves the idle deadline on.
    @Test func anInboxSessionLeftIdleForTwoHoursEnds() async throws {
        let store = InMemoryStore()
        let clock = TestClock()
        let sessions = InboxSessions(store: store, clock: clock)
        let started = try await sessions.start(clientID: "client_a")
        clock.advance(by: InboxSessions.idleTimeout - 60)
        #expect(try await sessions.session(id: started.id)?.clientID == "client_a")
        clock.advance(by: InboxSessions.idleTimeout - 60)
        #expect(try await sessions.session(id: started.id)?.clientID == "client_a")
        clock.advance(by: InboxSessions.idleTimeout + 1)
        #expect(try await sessions.session(id: started.id) == nil)
        #expect(store.withState { $0.inboxSessions.isEmpty })
    }

    /// However busy, a sign-in lasts twelve hours at most: a session read every hour still ends then.
    @Test func anInboxSessionEndsTwelveHoursAfterSignInHoweverBusy() async throws {
        let store = InMemoryStore()
        let clock = TestClock()
        let sessions = InboxSessions(store: store, clock: clock)
        let started = try await sessions.start(clientID: "client_a")
        for _ in 0..<12 {
            #expect(try await sessions.session(id: started.id)?.clientID == "client_a")
            clock.advance(by: 3600)
        }
        clock.advance(by: 1)
        #expect(try await sessions.session(id: started.id) == nil)
    }

    /// `rotate-key` changes the key, then ends the client's sessions. A sign-in whose key check came just before the
    /// rotation and whose session started just after the end of sessions would keep the inbox with a key that no
    /// longer opens it; it asks again once its session exists and ends it.
    @Test func aSignInRacingAKeyRotationKeepsNoSession() async throws {
        let store = InMemoryStore()
        let sessions = InboxSessions(store: store, clock: SystemClock())
        let raced = try await sessions.signIn(clientOpening: { again in
            if again { return nil }  // rotated meanwhile: the old key opens nothing now
            try await store.endInboxSessions(clientID: "client_a")  // the rotation ended the sessions there were
            return "client_a"
        })
        #expect(raced == nil)
        #expect(store.withState { $0.inboxSessions.isEmpty })
        let plain = try #require(try await sessions.signIn(clientOpening: { _ in "client_a" }))
        #expect(plain.clientID == "client_a")
        #expect(try await sessions.session(id: plain.id)?.clientID == "client_a")
    }

    // MARK: configuration

    @Test(arguments: [
        ("USERO_PUBLIC_RATE_LIMIT", "-1"), ("USERO_PUBLIC_RATE_LIMIT", "lots"),
        ("USERO_MIN_FREE_DISK_MB", "-5"), ("USERO_MIN_FREE_DISK_MB", "1e3"),
        ("USERO_IDLE_TIMEOUT_SECONDS", "0"), ("USERO_REQUEST_TIMEOUT_SECONDS", "soon"),
        ("USERO_MAX_CONNECTIONS", "0"), ("USERO_MAX_CONNECTIONS_PER_ADDRESS", "-1"),
    ])
    func aBadLimitStopsServeWithOneLineNamingTheVariable(variable: String, value: String) async throws {
        let folder = TestServer.makeFolder()
        let outcome = try await UseroBinary.run(["serve"], environment: [
            "USERO_DATABASE": folder.appendingPathComponent("usero.sqlite").path,
            "USERO_DATA_DIR": folder.appendingPathComponent("data").path, "USERO_PORT": "0", variable: value,
        ])
        #expect(outcome.status == 78)
        let lines = outcome.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(variable), "stderr: \(outcome.stderr)")
    }

    @Test func limitsAreReadFromTheEnvironment() throws {
        let config = try AppConfig.load(host: nil, port: nil, environment: [
            "USERO_PUBLIC_RATE_LIMIT": "0", "USERO_MIN_FREE_DISK_MB": "5", "USERO_IDLE_TIMEOUT_SECONDS": "7",
            "USERO_REQUEST_TIMEOUT_SECONDS": "9", "USERO_MAX_CONNECTIONS": "11", "USERO_MAX_CONNECTIONS_PER_ADDRESS": "3",
        ])
        #expect(config.maxConnectionsPerAddress == 3)
        #expect(config.publicRateLimit == 0)
        #expect(config.minFreeDiskBytes == 5 * 1024 * 1024)
        #expect(config.idleTimeout == .seconds(7))
        #expect(config.requestTimeout == .seconds(9))
        #expect(config.maxConnections == 11)
        let defaults = try AppConfig.load(host: nil, port: nil, environment: [:])
        #expect(defaults.publicRateLimit == 600)
        #expect(defaults.minFreeDiskBytes == 100 * 1024 * 1024)
        #expect(defaults.idleTimeout == .seconds(30))
        #expect(defaults.requestTimeout == .seconds(120))
        #expect(defaults.maxConnections == 512)
    }
}
