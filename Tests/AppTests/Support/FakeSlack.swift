import Feedback
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SlackGateway
import Testing
@testable import Inbox
@testable import StoreSQLite
import Retention
import UseroTestSupport

/// A fake of Slack's Web API (and of `response_url`s): a real Hummingbird app on a loopback port that records every
/// call and answers from a per-method script, falling back to the fixtures' happy answers. The real client code
/// (URLSession, headers, status handling) runs against it.
actor FakeSlack {
    /// One request the service made.
    struct Call: Sendable {
        var method: String
        var path: String
        var query: [String: String]
        var form: [String: String]
        var authorization: String?
        var body: String
    }

    /// A scripted answer.
    struct Reply: Sendable {
        var status: Int = 200
        var headers: [String: String] = [:]
        var body: String
        /// How long the answer takes (a Slack that is slow but answers within the service's timeout).
        var delay: Duration = .zero

        /// This answer, `delay` late.
        func after(_ delay: Duration) -> Reply {
            var late = self
            late.delay = delay
            return late
        }
        /// The answer the fake would give anyway (`defaultReply`), `delay` late.
        static func late(_ delay: Duration) -> Reply { Reply(status: -3, body: "", delay: delay) }

        static func fixture(_ name: String, status: Int = 200, headers: [String: String] = [:]) -> Reply {
            Reply(status: status, headers: headers, body: Fixtures.text(name))
        }
        static let rateLimited = Reply.fixture("ratelimited.json", status: 429, headers: ["Retry-After": "1"])
        static let serverError = Reply(status: 503, body: "upstream unavailable")
        static func error(_ code: String) -> Reply { Reply(body: #"{"ok":false,"error":"\#(code)"}"#) }
        /// Accepts the request and answers nothing until the test calls `releaseHung()` (or the fake stops).
        static let hang = Reply(status: -1, body: "")
        /// Like `hang`, but once released answers as it would have (the default reply): a slow Slack.
        static let slow = Reply(status: -2, body: "")
    }

    private var hung: [CheckedContinuation<Void, Never>] = []
    private var released = false

    /// Lets every hung request finish (with a 503), e.g. before the test's servers stop.
    func releaseHung() {
        released = true
        for waiter in hung { waiter.resume() }
        hung = []
    }

    fileprivate func waitUntilReleased() async {
        if released { return }
        await withCheckedContinuation { hung.append($0) }
    }

    private(set) var calls: [Call] = []
    private var scripts: [String: [Reply]] = [:]
    /// Posts Slack took, per channel: their metadata (JSON text), in order. `conversations.history` with
    /// `include_all_metadata` lists them, as Slack would.
    private var posts: [String: [String]] = [:]

    /// Queues one-shot answers for `method` (e.g. `conversations.replies`), used before the defaults.
    func script(_ method: String, _ replies: Reply...) {
        scripts[method, default: []].append(contentsOf: replies)
    }

    /// Calls of one method so far.
    func calls(_ method: String) -> [Call] { calls.filter { $0.method == method } }

    /// Tests waiting for calls, resumed by `handle` as the calls arrive.
    private var waiters: [UUID: (method: String, count: Int, continuation: CheckedContinuation<Void, Never>)] = [:]

    /// Waits until at least `count` calls of `method` arrived (woken by their arrival, not by polling); returns them.
    /// `timeout` only bounds a test whose calls never come.
    func waitForCalls(_ method: String, count: Int = 1, timeout: Duration = .seconds(60)) async throws -> [Call] {
        let arrived = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.arrival(of: method, count: count) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !arrived { Issue.record("timed out waiting for \(count) call(s) of \(method); got \(calls(method).count)") }
        return calls(method)
    }

    /// Returns true once `count` calls of `method` arrived; false when cancelled first.
    private func arrival(of method: String, count: Int) async -> Bool {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if calls(method).count >= count || Task.isCancelled {
                    continuation.resume()
                } else {
                    waiters[id] = (method, count, continuation)
                }
            }
        } onCancel: {
            Task { await self.resumeWaiter(id) }
        }
        return calls(method).count >= count
    }

    private func resumeWaiter(_ id: UUID) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }

    fileprivate func handle(_ call: Call) -> Reply {
        calls.append(call)
        for (id, waiter) in waiters where calls(waiter.method).count >= waiter.count { resumeWaiter(id) }
        var reply = Self.defaultReply(call)
        var scripted = false
        if var queue = scripts[call.method], !queue.isEmpty {
            reply = queue.removeFirst()
            scripts[call.method] = queue
            scripted = true
        }
        // A post Slack took: answered ok, or (slow or never) answered later; what it takes is in the channel.
        if call.method == "chat.postMessage", let channel = call.form["channel"],
            reply.status < 0 || (reply.status == 200 && reply.body.contains(#""ok":true"#))
        {
            posts[channel, default: []].append(call.form["metadata"] ?? "null")
            if !scripted {
                // Its `ts` as the channel's history lists it below.
                let index = String(format: "%06d", posts[channel, default: []].count - 1)
                return Reply(body: #"{"ok":true,"channel":"\#(channel)","ts":"1800000000.\#(index)"}"#)
            }
        }
        if call.method == "conversations.history", call.query["include_all_metadata"] == "true",
            let channel = call.query["channel"], let taken = posts[channel], !scripted
        {
            // Newest first, as Slack lists them.
            let messages = taken.enumerated().reversed().map { index, metadata in
                #"{"type":"message","ts":"1800000000.\#(String(format: "%06d", index))","bot_id":"B0001","text":"New feedback","metadata":\#(metadata)}"#
            }
            return Reply(body: #"{"ok":true,"messages":[\#(messages.joined(separator: ","))],"has_more":false}"#)
        }
        return reply
    }

    static let botToken = "xoxb-0001-0009-AbCdEfGhIjKlMnOpQrStUvWx"

    fileprivate static func defaultReply(_ call: Call) -> Reply {
        let ts = call.query["ts"] ?? call.query["message_ts"] ?? call.form["ts"] ?? ""
        switch call.method {
        case "oauth.v2.access": return .fixture("oauth_v2_access_ok.json")
        case "auth.test":
            return Reply(body: #"{"ok":true,"url":"https://acme-product.slack.com/","team":"Acme Product","user":"usero","team_id":"T0001","user_id":"U0009","bot_id":"B0001"}"#)
        case "auth.revoke": return .fixture("auth_revoke_ok.json")
        case "conversations.replies":
            // A reply's ts: just that reply (bolt-python#783); a top-level ts: that message (parent first).
            return ts == "1700000450.000400"
                ? .fixture("conversations_replies_ok.json") : .fixture("conversations_history_ok.json")
        case "conversations.history":
            return ts == "1700000000.000100" || call.query["latest"] == "1700000000.000100"
                ? .fixture("conversations_history_ok.json") : .fixture("conversations_history_empty.json")
        case "chat.getPermalink":
            return call.query["message_ts"] == "1700000450.000400"
                ? .fixture("chat_getPermalink_thread_reply_ok.json") : .fixture("chat_getPermalink_ok.json")
        case "chat.postEphemeral": return .fixture("chat_postEphemeral_ok.json")
        case "chat.postMessage": return Reply(body: #"{"ok":true,"channel":"D0001","ts":"1700000999.000100"}"#)
        case "users.conversations":
            return Reply(body: #"{"ok":true,"channels":[],"response_metadata":{"next_cursor":""}}"#)
        case "views.publish": return Reply(body: #"{"ok":true,"view":{"id":"V0001"}}"#)
        case "chat.delete": return Reply(body: #"{"ok":true,"channel":"\#(call.form["channel"] ?? "")","ts":"\#(ts)"}"#)
        default: return Reply(body: "ok")
        }
    }

    /// Answers any path: `/api/<method>` for the Web API, anything else as a `response_url`.
    nonisolated func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            var buffer = try await request.body.collect(upTo: 1 << 20)
            let body = buffer.readString(length: buffer.readableBytes) ?? ""
            var query: [String: String] = [:]
            for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
            var form: [String: String] = [:]
            if request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true,
                let parsed = FormBody(Array(body.utf8))
            {
                for field in parsed.fields { form[field.name] = field.value }
            }
            let path = request.uri.path
            let method = path.hasPrefix("/api/") ? String(path.dropFirst(5)) : "response_url"
            let call = Call(
                method: method, path: path, query: query, form: form, authorization: request.headers[.authorization],
                body: body)
            var reply = await self.handle(call)
            if reply.status == -1 {
                await self.waitUntilReleased()
                reply = .serverError
            } else if reply.status == -2 {
                await self.waitUntilReleased()
                reply = Self.defaultReply(call)
            }
            if reply.delay > .zero { try? await Task.sleep(for: reply.delay) }
            if reply.status == -3 { reply = Self.defaultReply(call) }
            var headers = HTTPFields()
            headers[.contentType] = "application/json; charset=utf-8"
            if let retryAfter = reply.headers["Retry-After"] { headers[.retryAfter] = retryAfter }
            return Response(
                status: .init(code: reply.status), headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: reply.body)))
        }
        router.get("**", use: handler)
        router.post("**", use: handler)
        return router
    }
}

/// Runs `body` with a fake Slack listening on loopback; passes the fake and its API base URL (`…/api/`).
func withFakeSlack<T: Sendable>(_ body: @Sendable (FakeSlack, String) async throws -> T) async throws -> T {
    let fake = FakeSlack()
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    var logger = Logger(label: "fake-slack")
    logger.logLevel = .critical
    let app = Application(
        router: fake.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
    return try await withRunningService(app, ports: ports, logger: logger) { port in
        try await body(fake, "http://127.0.0.1:\(port)/api/")
    }
}
