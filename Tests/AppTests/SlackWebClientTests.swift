import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
@testable import SlackGateway
import Synchronization
import Testing
import UseroTestSupport

@testable import usero

/// The live Slack client (`HTTPSlackWebAPI`) against a small server on loopback: where it refuses to go, what it
/// refuses to follow or read, and how it bounds what Slack tells it (issue 11, item 6).
@Suite struct SlackWebClientTests {
    static let token = Redacted("xoxb-test-token")

    @Test func aResponseURLOutsideThePrefixesIsNeverCalled() async throws {
        try await withHostile { host, root in
            // Given a client that may call only <root>/hooks/
            let api = HTTPSlackWebAPI(baseURL: URL(string: root + "/api/")!, responseURLPrefixes: [root + "/hooks/"])

            // When response_urls point elsewhere on that host, at a look-alike path, or carry user info
            for url in [
                root + "/elsewhere/T0001/1/abc", root + "/hooks.evil/x", root + "/hook", root.replacingOccurrences(
                    of: "127.0.0.1", with: "localhost") + "/hooks/x",
                "http://user@" + root.dropFirst("http://".count) + "/hooks/x", root + "/hooks/a b",
                // Dot segments, which a normalising server would resolve outside the prefix
                root + "/hooks/../api/traversal", root + "/hooks/%2e%2e/api/traversal", root + "/hooks/x/../../api/t",
                root + "/hooks/%2E./api/t", root + "/hooks/./x",
            ] {
                // Then each is refused, without a connection
                await #expect(throws: SlackAPIError.slack(code: HTTPSlackWebAPI.responseURLNotAllowed)) {
                    try await api.respond(to: url, text: "Sent to usero")
                }
            }
            #expect(host.hits.isEmpty)

            // And the default prefixes (https://hooks.slack.com/) refuse loopback too
            let strict = HTTPSlackWebAPI(baseURL: URL(string: root + "/api/")!)
            await #expect(throws: SlackAPIError.slack(code: HTTPSlackWebAPI.responseURLNotAllowed)) {
                try await strict.respond(to: root + "/hooks/ok", text: "Sent to usero")
            }
            #expect(host.hits.isEmpty)

            // While one under the prefix is called, once
            try await api.respond(to: root + "/hooks/ok", text: "Sent to usero")
            #expect(host.hits == ["/hooks/ok"])
        }
    }

    @Test func aBareOriginPrefixDoesNotAdmitALookAlikeHost() {
        let prefix = ResponseURLPrefix("https://hooks.slack.com")
        #expect(prefix?.admits("https://hooks.slack.com/commands/T1/2/x") == true)
        #expect(prefix?.admits("https://hooks.slack.com.evil.example/commands") == false)
        #expect(prefix?.admits("https://hooks.slack.com:8443/commands") == false)
        #expect(ResponseURLPrefix("ftp://hooks.slack.com/") == nil)
        #expect(ResponseURLPrefix("not a url") == nil)
    }

    @Test func redirectsAreNeverFollowed() async throws {
        try await withHostile { host, root in
            let api = HTTPSlackWebAPI(baseURL: URL(string: root + "/api/")!, responseURLPrefixes: [root + "/hooks/"])
            // A response_url that redirects: the 302 ends the call, its target is never asked
            await #expect(throws: SlackAPIError.http(status: 302)) {
                try await api.respond(to: root + "/hooks/redirect", text: "Sent to usero")
            }
            // A Web API method that redirects: the same
            await #expect(throws: SlackAPIError.http(status: 301)) {
                _ = try await api.permalink(channel: "C1", ts: "1.2", token: Self.token)
            }
            #expect(host.hits == ["/hooks/redirect", "/api/chat.getPermalink"])
        }
    }

    @Test func aHugeRetryAfterIsClampedWhereItIsRead() async throws {
        try await withHostile { host, root in
            let api = HTTPSlackWebAPI(baseURL: URL(string: root + "/api/")!, responseURLPrefixes: [root + "/hooks/"])
            host.setRetryAfter("99999999999999999999999")
            await #expect(throws: SlackAPIError.rateLimited(retryAfter: 3600)) {
                _ = try await api.replies(channel: "C1", ts: "1.2", cursor: nil, token: Self.token)
            }
            host.setRetryAfter("0")
            await #expect(throws: SlackAPIError.rateLimited(retryAfter: 1)) {
                _ = try await api.replies(channel: "C1", ts: "1.2", cursor: nil, token: Self.token)
            }
            // A response_url host is bounded the same way
            host.setRetryAfter("86400000")
            await #expect(throws: SlackAPIError.rateLimited(retryAfter: 3600)) {
                try await api.respond(to: root + "/hooks/ratelimited", text: "Sent to usero")
            }
        }
        #expect(HTTPSlackWebAPI.retryAfterSeconds("7") == 7)
        #expect(HTTPSlackWebAPI.retryAfterSeconds(" 120 ") == 120)
        #expect(HTTPSlackWebAPI.retryAfterSeconds("+5") == 5)
        #expect(HTTPSlackWebAPI.retryAfterSeconds("-5") == 1)
        #expect(HTTPSlackWebAPI.retryAfterSeconds(String(repeating: "9", count: 400)) == 30)
        #expect(HTTPSlackWebAPI.retryAfterSeconds("9223372036854775808") == 3600)
        #expect(HTTPSlackWebAPI.retryAfterSeconds("Wed, 21 Oct 2015 07:28:00 GMT") == 30)
        #expect(HTTPSlackWebAPI.retryAfterSeconds(nil) == 30)
    }

    @Test func oversizedAnswersAreNotRead() async throws {
        try await withHostile { host, root in
            // A deadline far past what reading 5 MB over loopback takes, even beside the whole suite on two cores
            // (once over the default 10 s there): the byte cap, not the deadline, is what ends these calls.
            let api = HTTPSlackWebAPI(
                baseURL: URL(string: root + "/api/")!, timeout: 120, responseURLPrefixes: [root + "/hooks/"])
            await #expect(throws: SlackAPIError.malformedResponse) {
                _ = try await api.history(channel: "C1", ts: "1.2", token: Self.token)  // 5 MB, declared
            }
            await #expect(throws: SlackAPIError.malformedResponse) {
                _ = try await api.authTest(token: Self.token)  // 5 MB, chunked (no length up front)
            }
            await #expect(throws: SlackAPIError.malformedResponse) {
                try await api.respond(to: root + "/hooks/big", text: "Sent to usero")  // 100 KB
            }
        }
    }

    @Test func aSlackThatNeverAnswersIsBoundedByTheTimeout() async throws {
        try await withHostile { host, root in
            let api = HTTPSlackWebAPI(
                baseURL: URL(string: root + "/api/")!, timeout: 0.5, responseURLPrefixes: [root + "/hooks/"])
            await #expect(throws: SlackAPIError.unreachable) {
                _ = try await api.postEphemeral(channel: "C1", user: "U1", text: "hi", threadTs: nil, token: Self.token)
            }
            host.release()
        }
    }

    /// The deadline covers the body too: a server that sends its head and then a byte now and then cannot hold a call
    /// (and a workspace's job lane, past its lease) for longer than the timeout.
    @Test func aSlackThatDripsItsAnswerIsBoundedByTheTimeout() async throws {
        try await withHostile { _, root in
            let api = HTTPSlackWebAPI(
                baseURL: URL(string: root + "/api/")!, timeout: 1, responseURLPrefixes: [root + "/hooks/"])
            let started = ContinuousClock.now
            await #expect(throws: SlackAPIError.unreachable) {
                try await api.respond(to: root + "/hooks/drip", text: "Sent to usero")
            }
            // The answer would take 20 s; the call ends near its 1 s deadline. A bound, not a speed measure: in a
            // clean clone's full suite the two cores' cooperative threads were once busy enough that the call, cut
            // at its deadline, ended 10.2 s after it began. Anything short of the 20 s shows the deadline ended it.
            #expect(ContinuousClock.now - started < .seconds(15))
        }
    }

    @Test func aShortcutWhoseResponseURLIsElsewhereIsCapturedButTheURLIsNeverCalled() async throws {
        try await withFakeSlack { fake, api in
            try await TestServer.run(configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) { server in
                let client = try await server.installSlack()
                let elsewhere = api.replacingOccurrences(of: "/api/", with: "/elsewhere/")
                let body = Fixtures.text(
                    "shortcut_message_action.body.txt",
                    replacing: [("https%3A%2F%2Fhooks.slack.com%2Fapp%2F", SlackCaptureTests.formEscape(elsewhere))])
                let ack = try await server.postSlack(
                    "/slack/interactivity", body, contentType: "application/x-www-form-urlencoded")
                #expect(ack.status == 200)
                // The row is stored and the answer job ends without a call
                try await server.eventually { try await server.items(client).count == 1 }
                try await server.eventually { try await server.count("job") == 0 }
                #expect(await fake.calls("response_url").isEmpty)
                #expect(!server.logs.text.contains("/elsewhere/"))
            }
        }
    }
}

/// A reaction on a reply deep in a long thread: the capture asks Slack for that one message, not for the thread from
/// its start (which it pages through only so far).
@Suite struct SlackThreadFetchTests {
    @Test func aReplyDeepInALongThreadIsFoundInOneCall() async throws {
        let thread = ThreadSlack(replies: 400)
        try await thread.run { root in
            let api = HTTPSlackWebAPI(baseURL: URL(string: root + "/api/")!)
            let wanted = ThreadSlack.ts(350)
            let page = try await api.replies(channel: "C0001", ts: wanted, cursor: nil, token: SlackWebClientTests.token)
            #expect(page.messages.compactMap(\.ts).contains(wanted))
            #expect(page.messages.first { $0.ts == wanted }?.text == "reply 350")
            #expect(thread.calls == 1)
            // The parent itself comes the same way.
            let parent = try await api.replies(
                channel: "C0001", ts: ThreadSlack.ts(0), cursor: nil, token: SlackWebClientTests.token)
            #expect(parent.messages.compactMap(\.ts) == [ThreadSlack.ts(0)])
        }
    }
}

/// `conversations.replies` over one thread of a parent and `replies` replies, as Slack documents it: `ts` names the
/// parent or any reply; `oldest`/`latest` (with `inclusive`) bound the replies; the parent always comes first;
/// `limit` and `cursor` page.
final class ThreadSlack: Sendable {
    let replies: Int
    private let count = Mutex(0)
    var calls: Int { count.withLock { $0 } }

    init(replies: Int) { self.replies = replies }

    static func ts(_ index: Int) -> String { "1700000000.\(String(format: "%06d", index))" }

    func run(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router(context: BasicRequestContext.self)
        router.get("/api/conversations.replies") { request, _ -> Response in
            self.count.withLock { $0 += 1 }
            let query = request.uri.queryParameters
            let all = (0...self.replies).map { (ts: Self.ts($0), text: $0 == 0 ? "parent" : "reply \($0)") }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            func answer(_ object: [String: Any]) throws -> Response {
                Response(
                    status: .ok, headers: headers,
                    body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))))
            }
            guard let ts = query["ts"].map(String.init), all.contains(where: { $0.ts == ts }) else {
                return try answer(["ok": false, "error": "thread_not_found"])
            }
            let inclusive = query["inclusive"] == "true"
            let oldest = query["oldest"].flatMap { Double(String($0)) }
            let latest = query["latest"].flatMap { Double(String($0)) }
            let inWindow = all.dropFirst().filter { message in
                let at = Double(message.ts)!
                if let oldest, inclusive ? at < oldest : at <= oldest { return false }
                if let latest, inclusive ? at > latest : at >= latest { return false }
                return true
            }
            let listed = [all[0]] + inWindow.filter { $0.ts != all[0].ts }
            let start = query["cursor"].flatMap { Int(String($0)) } ?? 0
            let limit = query["limit"].flatMap { Int(String($0)) } ?? 100
            let end = min(start + limit, listed.count)
            var object: [String: Any] = [
                "ok": true, "messages": listed[start..<end].map { ["type": "message", "ts": $0.ts, "text": $0.text] },
            ]
            if end < listed.count { object["response_metadata"] = ["next_cursor": "\(end)"] }
            return try answer(object)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "thread-slack")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        try await withRunningService(app, ports: ports, logger: logger) { port in
            try await body("http://127.0.0.1:\(port)")
        }
    }
}

/// A loopback server that misbehaves on purpose; records the paths it was asked for.
final class HostileSlack: Sendable {
    private let state = Mutex<(hits: [String], retryAfter: String)>(([], "1"))
    private let (released, releaseContinuation) = AsyncStream.makeStream(of: Void.self)

    var hits: [String] { state.withLock { $0.hits } }
    func setRetryAfter(_ value: String) { state.withLock { $0.retryAfter = value } }
    /// Lets a hanging answer finish (so the server can shut down).
    func release() { releaseContinuation.finish() }

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            _ = try await request.body.collect(upTo: 1 << 20)
            let path = request.uri.path
            let retryAfter = self.state.withLock { state -> String in
                state.hits.append(path)
                return state.retryAfter
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json; charset=utf-8"
            switch path {
            case "/hooks/redirect":
                headers[.location] = "/hooks/target"
                return Response(status: .found, headers: headers)
            case "/api/chat.getPermalink":
                headers[.location] = "/hooks/target"
                return Response(status: .movedPermanently, headers: headers)
            case "/api/conversations.replies", "/hooks/ratelimited":
                headers[.retryAfter] = retryAfter
                return Response(
                    status: .tooManyRequests, headers: headers,
                    body: .init(byteBuffer: ByteBuffer(string: #"{"ok":false,"error":"ratelimited"}"#)))
            case "/api/conversations.history":
                let big = #"{"ok":true,"messages":[],"pad":""# + String(repeating: "x", count: 5 << 20) + #""}"#
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: big)))
            case "/api/auth.test":
                let chunk = ByteBuffer(string: String(repeating: "x", count: 64 << 10))
                return Response(
                    status: .ok, headers: headers,
                    body: ResponseBody { writer in
                        for _ in 0..<80 { try await writer.write(chunk) }
                        try await writer.finish(nil)
                    })
            case "/api/team.info", "/hooks/drip":
                // The head at once, then a byte every 200 ms for 20 s: each read comes well within any read timeout.
                return Response(
                    status: .ok, headers: headers,
                    body: ResponseBody { writer in
                        for _ in 0..<100 {
                            try await writer.write(ByteBuffer(string: " "))
                            try await Task.sleep(for: .milliseconds(200))
                        }
                        try await writer.write(ByteBuffer(string: #"{"ok":true}"#))
                        try await writer.finish(nil)
                    })
            case "/hooks/big":
                return Response(
                    status: .ok, headers: headers,
                    body: .init(byteBuffer: ByteBuffer(string: String(repeating: "x", count: 100 << 10))))
            case "/api/chat.postEphemeral":
                // Accept, and never answer (until the test lets go).
                for await _ in self.released {}
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"ok":true}"#)))
            default:
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "ok")))
            }
        }
        router.get("**", use: handler)
        router.post("**", use: handler)
        return router
    }
}

/// Runs `body` with a `HostileSlack` on a loopback port; passes it and its root URL (`http://127.0.0.1:PORT`).
func withHostile<T: Sendable>(_ body: @Sendable (HostileSlack, String) async throws -> T) async throws -> T {
    let host = HostileSlack()
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    var logger = Logger(label: "hostile-slack")
    logger.logLevel = .critical
    let app = Application(
        router: host.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
    return try await withRunningService(app, ports: ports, logger: logger) { port in
        // A hanging answer must end before the server's graceful shutdown can.
        defer { host.release() }
        return try await body(host, "http://127.0.0.1:\(port)")
    }
}
