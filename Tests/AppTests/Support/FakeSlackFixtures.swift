import Feedback
import Foundation
import GRDB
import Synchronization
import Testing
import UseroCrypto

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

/// The Slack fixtures copied from shared/fixtures/slack (exact bytes; see Fixtures/slack/README.md there).
enum Fixtures {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("slack/\(name)")
    }

    static func data(_ name: String) -> Data {
        guard let data = FileManager.default.contents(atPath: url(name).path) else {
            fatalError("missing fixture \(name)")
        }
        return data
    }

    static func text(_ name: String) -> String { String(decoding: data(name), as: UTF8.self) }

    /// A fixture with some substrings replaced (a fresh event id, the fake's response_url, a canary).
    static func text(_ name: String, replacing pairs: [(String, String)]) -> String {
        var text = text(name)
        for (old, new) in pairs {
            precondition(text.contains(old), "fixture \(name) has no \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        return text
    }
}

/// Settings every Slack test server shares.
enum SlackTestSettings {
    static let signingSecret = "usero-test-signing-secret-0001"
    static let clientID = "1234567890.0987654321"
    static let clientSecret = "client-secret-never-logged-0001"
    /// 32 fixed bytes, base64.
    static let tokenKey = Data((0..<32).map { UInt8($0 &* 7 &+ 3) }).base64EncodedString()

    /// Slack against the fake at `fakeURL`, bot tokens sealed with `tokenKey` (the suites' own by default).
    static func configure(_ config: inout AppConfig, fakeURL: String, tokenKey: String = Self.tokenKey) {
        config.slackSigningSecret = Redacted(signingSecret)
        config.slackClientID = clientID
        config.slackClientSecret = Redacted(clientSecret)
        config.slackAPIURL = fakeURL
        config.slackResponseURLPrefixes = [fakeURL.replacingOccurrences(of: "/api/", with: "/hooks/")]
        config.slackAuthorizeURL = fakeURL.replacingOccurrences(of: "/api/", with: "/oauth/v2/authorize")
        config.tokenKeyBase64 = Redacted(tokenKey)
        config.slackJobPollInterval = .milliseconds(200)
        // Recovery sweeps step quickly against the fake (Slack itself gets one call every 1.2 s).
        config.slackRecoveryStepInterval = 20
    }

    /// `X-Slack-*` headers signing `body` at `timestamp` (default: now) with `secret`.
    static func headers(
        for body: Data, secret: String = signingSecret, timestamp: Int = Int(Date().timeIntervalSince1970),
        contentType: String = "application/json"
    ) -> [String: String] {
        let key = SecretBytes(copying: Array(secret.utf8))
        let base = Array("v0:\(timestamp):".utf8) + Array(body)
        let signature = "v0=" + Hex.encode(HMACSHA256.authenticationCode(for: base, key: key))
        return [
            "X-Slack-Request-Timestamp": "\(timestamp)", "X-Slack-Signature": signature, "Content-Type": contentType,
        ]
    }
}

extension TestServer {
    /// POSTs a correctly signed Slack request.
    func postSlack(_ path: String, _ body: String, contentType: String = "application/json", extraHeaders: [String: String] = [:])
        async throws -> HTTPResult
    {
        let data = Data(body.utf8)
        var headers = SlackTestSettings.headers(for: data, contentType: contentType)
        headers.merge(extraHeaders) { $1 }
        return try await request("POST", path, headers: headers, body: data)
    }

    /// An Events API delivery of fixture `name` (with optional replacements).
    func sendEvent(_ name: String, replacing pairs: [(String, String)] = [], headers: [String: String] = [:])
        async throws -> HTTPResult
    {
        try await postSlack("/slack/events", Fixtures.text(name, replacing: pairs), extraHeaders: headers)
    }

    /// A `/usero` command with the given raw form body, as a new invocation: Slack gives every invocation its own
    /// `trigger_id`, so two sends in the same second are two commands, not a replay.
    func sendCommand(_ body: String) async throws -> HTTPResult {
        let fresh = body.replacingOccurrences(
            of: "trigger_id=1234567890123.1234567890.abcdef0123456789abcdef0123456789",
            with: "trigger_id=\(UInt64.random(in: 1...UInt64.max)).1234567890.abcdef0123456789abcdef0123456789")
        return try await postSlack("/slack/commands", fresh, contentType: "application/x-www-form-urlencoded")
    }

    /// Creates a client and installs the app for it through the whole OAuth flow against the fake.
    func installSlack() async throws -> (id: String, key: String) {
        let client = try await createClient()
        try await installSlack(for: client)
        return client
    }

    /// Runs the OAuth flow for an existing client.
    func installSlack(for client: (id: String, key: String)) async throws {
        let state = try await installState(for: client)
        let done = try await request("GET", "/slack/oauth/callback?code=good-code&state=\(state)")
        // Required: a test goes on to wait for what the installed app does, which never comes without it.
        try #require(done.status == 200, "the install failed: \(done.text)")
    }

    /// The page of an install of `client` whose `oauth.v2.access` Slack answers with `answer`.
    func completeInstall(of client: (id: String, key: String), on fake: FakeSlack, slackAnswering answer: String)
        async throws -> HTTPResult
    {
        await fake.script("oauth.v2.access", .init(body: answer))
        return try await request("GET", "/slack/oauth/callback?code=good-code&state=\(try await installState(for: client))")
    }

    /// The `state` of a fresh install link of the client (what Slack hands back to the callback).
    func installState(for client: (id: String, key: String)) async throws -> String {
        let link = try await request("POST", "/api/slack/install-link", headers: ["Authorization": "Bearer \(client.key)"])
        #expect(link.status == 200)
        let linkURL = try #require(link.json["url"] as? String)
        let url = try #require(URLComponents(string: linkURL))
        return try #require(url.queryItems?.first { $0.name == "state" }?.value)
    }

    /// Returns once `condition` holds. The conditions read what the server stores, so it is checked now and again
    /// after each commit to the server's database (GRDB's observation), never by polling; `timeout` only bounds a
    /// test whose condition never comes true.
    func eventually(timeout: Duration = .seconds(60), _ condition: @Sendable () async throws -> Bool) async throws {
        if parts.backend.postgres != nil {
            // No commit observation across processes here: checked every 20 ms until it holds or time is up.
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: timeout)
            while clock.now < deadline {
                if try await condition() { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            Issue.record("condition not met within \(timeout)")
            return
        }
        let pool = parts.database.pool
        let met = try await withoutActuallyEscaping(condition) { condition in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    // One value now and one after every commit that changes any table.
                    let commits = ValueObservation.tracking(region: DatabaseRegion.fullDatabase) { db in
                        try db.execute(sql: "SELECT 1")
                    }
                    for try await _ in commits.values(in: pool) where try await condition() { return true }
                    return false
                }
                group.addTask {
                    // Conditions on what is not in the database (the logs) have no commit to wake on: checked
                    // every 100 ms as well, until the timeout.
                    // Stops when cancelled (the other task saw the condition first): a cancelled sleep returns at
                    // once, so ignoring it spun here until the deadline and held the group open that long.
                    let deadline = ContinuousClock.now.advanced(by: timeout)
                    while ContinuousClock.now < deadline {
                        do { try await Task.sleep(for: .milliseconds(100)) } catch { return false }
                        if (try? await condition()) == true { return true }
                    }
                    return false
                }
                let first = try await group.next() ?? false
                group.cancelAll()
                return first
            }
        }
        if !met { Issue.record("condition not met within \(timeout)") }
    }

    /// The client's feedback items as the admin API lists them.
    func items(_ client: (id: String, key: String)) async throws -> [[String: Any]] {
        let listed = try await request("GET", "/api/feedback", headers: ["Authorization": "Bearer \(client.key)"])
        return listed.json["items"] as? [[String: Any]] ?? []
    }
}
