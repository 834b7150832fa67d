public import Foundation
public import SlackGateway
import Synchronization

/// A `SlackWebAPI` double for unit tests: answers from canned pages, records every call (method and ids, never a
/// token), and fails a method on demand.
public final class FakeSlackWebAPI: SlackWebAPI {
    /// One call as the fake saw it.
    public struct Call: Sendable, Equatable {
        public var method: String
        public var channel: String?
        public var user: String?
        public var text: String?
        /// Block Kit blocks or a view (JSON text), for `chat.postMessage` with blocks and `views.publish`.
        public var json: String?
        /// The cursor asked for, for paged reads.
        public var cursor: String?
    }

    struct State {
        var pages: [String?: MessagePage] = [:]
        var cursors: [String?] = []
        var historyCalls = 0
        var calls: [Call] = []
        var failures: [String: [SlackAPIError]] = [:]
        var channelPages: [String?: ChannelPage] = [:]
        var channelHistory: [String: [String?: MessagePage]] = [:]
        var threadReplies: [String: [String?: MessagePage]] = [:]
        var lastPost: [String: Date] = [:]
        var rateLimited = 0
        var holds: [String: String] = [:]
        var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    }

    /// When set, `chat.postMessage` enforces Slack's pace per channel by `clock`: a post less than `interval`
    /// after the previous one to the same channel gets a 429 whose Retry-After says when to come back.
    public struct PostRateLimit: Sendable {
        public var clock: TestClock
        public var interval: TimeInterval

        /// Creates the limit.
        public init(clock: TestClock, interval: TimeInterval) {
            self.clock = clock
            self.interval = interval
        }
    }

    private let postLimit: PostRateLimit?

    private let state = Mutex(State())
    private let onPost = Mutex<(@Sendable () async throws -> Void)?>(nil)

    /// Sets what runs once Slack "took" a `chat.postMessage` with blocks, before it answers (a test acting at that
    /// instant: the item deleted while its post goes out).
    public func whenPosting(_ hook: (@Sendable () async throws -> Void)?) { onPost.withLock { $0 = hook } }
    private let repliesError: SlackAPIError?
    private let history: MessagePage
    private let permalinkURL: String

    /// A fake with `conversations.replies` pages by cursor, or an error for every replies call.
    public init(
        pages: [String?: MessagePage] = [:], repliesError: SlackAPIError? = nil,
        history: MessagePage = MessagePage(messages: [], nextCursor: nil),
        permalink: String = "https://example.slack.com/archives/C/p1", postRateLimit: PostRateLimit? = nil
    ) {
        postLimit = postRateLimit
        self.repliesError = repliesError
        self.history = history
        permalinkURL = permalink
        state.withLock { $0.pages = pages }
    }

    /// Cursors `conversations.replies` was asked with.
    public var cursors: [String?] { state.withLock { $0.cursors } }
    /// How often `conversations.history` was asked.
    public var historyCalls: Int { state.withLock { $0.historyCalls } }
    /// Every call, in order.
    public var calls: [Call] { state.withLock { $0.calls } }
    /// Calls of one method, in order.
    public func calls(_ method: String) -> [Call] { calls.filter { $0.method == method } }
    /// How many posts the rate limit refused.
    public var rateLimitedPosts: Int { state.withLock { $0.rateLimited } }

    /// Scripts `users.conversations`: its pages by cursor.
    public func setChannels(_ pages: [String?: ChannelPage]) { state.withLock { $0.channelPages = pages } }
    /// Scripts `conversations.history` of `channel`: its pages by cursor.
    public func setHistory(_ channel: String, _ pages: [String?: MessagePage]) {
        state.withLock { $0.channelHistory[channel] = pages }
    }
    /// Scripts `conversations.replies` of the thread `ts` in `channel`: its pages by cursor.
    public func setReplies(_ channel: String, ts: String, _ pages: [String?: MessagePage]) {
        state.withLock { $0.threadReplies[channel + "/" + ts] = pages }
    }

    /// The next calls of `method` (`chat.postEphemeral`, …) throw these errors, one each, in order.
    public func fail(_ method: String, with errors: SlackAPIError...) { fail(method, with: errors) }

    /// The next calls of `method` fail with `errors`, one each.
    public func fail(_ method: String, with errors: [SlackAPIError]) {
        state.withLock { $0.failures[method, default: []] += errors }
    }

    /// Calls of `method` answer only once a call of `trigger` has arrived: how a test sees that the two are asked
    /// at once (asked one after the other, the first would wait for ever; the test's time limit ends it).
    public func hold(_ method: String, until trigger: String) { state.withLock { $0.holds[method] = trigger } }

    private func waitForTrigger(of method: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                guard let trigger = state.holds[method], !state.calls.contains(where: { $0.method == trigger })
                else { return true }
                state.waiting[trigger, default: []].append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func record(
        _ method: String, channel: String? = nil, user: String? = nil, text: String? = nil, json: String? = nil,
        cursor: String? = nil
    ) throws {
        let released = state.withLock { state in
            state.calls.append(Call(method: method, channel: channel, user: user, text: text, json: json, cursor: cursor))
            return state.waiting.removeValue(forKey: method) ?? []
        }
        for waiter in released { waiter.resume() }
        try state.withLock { state in
            if var queued = state.failures[method], !queued.isEmpty {
                let error = queued.removeFirst()
                state.failures[method] = queued
                throw error
            }
        }
    }

    public func replies(channel: String, ts: String, cursor: String?, token: Redacted<String>) async throws -> MessagePage {
        try record("conversations.replies", channel: channel)
        await waitForTrigger(of: "conversations.replies")
        if let repliesError { throw repliesError }
        return state.withLock {
            $0.cursors.append(cursor)
            return $0.pages[cursor] ?? MessagePage(messages: [], nextCursor: nil)
        }
    }

    public func history(channel: String, ts: String, token: Redacted<String>) async throws -> MessagePage {
        try record("conversations.history", channel: channel)
        state.withLock { $0.historyCalls += 1 }
        return history
    }

    public func exchangeCode(_ code: String, redirectURI: String, clientID: String, clientSecret: Redacted<String>)
        async throws -> OAuthAccess
    {
        try record("oauth.v2.access")
        throw SlackAPIError.unreachable
    }

    /// Accepts the token, unless a test made it `fail`.
    public func authTest(token: Redacted<String>) async throws -> AuthIdentity {
        try record("auth.test")
        return AuthIdentity(userId: "U0BOT", botId: "B0BOT", teamId: "T0001")
    }

    public func revoke(token: Redacted<String>) async throws { try record("auth.revoke") }

    public func permalink(channel: String, ts: String, token: Redacted<String>) async throws -> String {
        try record("chat.getPermalink", channel: channel)
        return permalinkURL
    }

    public func postEphemeral(channel: String, user: String, text: String, threadTs: String?, token: Redacted<String>)
        async throws
    {
        try record("chat.postEphemeral", channel: channel, user: user, text: text)
    }

    public func postMessage(channel: String, text: String, token: Redacted<String>) async throws {
        try record("chat.postMessage", channel: channel, text: text)
    }

    public func respond(to responseURL: String, text: String) async throws { try record("response_url", text: text) }

    public func postMessage(channel: String, text: String, blocks: String, metadata: String, token: Redacted<String>)
        async throws -> String?
    {
        if let postLimit {
            let now = postLimit.clock.now()
            try state.withLock { state in
                if let last = state.lastPost[channel], now.timeIntervalSince(last) < postLimit.interval {
                    state.rateLimited += 1
                    // Slack's Retry-After: the whole seconds until a post would be accepted again.
                    let wait = postLimit.interval - now.timeIntervalSince(last)
                    throw SlackAPIError.rateLimited(retryAfter: max(1, Int(wait.rounded(.up))))
                }
                state.lastPost[channel] = now
            }
        }
        try record("chat.postMessage", channel: channel, text: text, json: blocks)
        if let hook = onPost.withLock({ $0 }) { try await hook() }
        // Each post its own `ts`, as Slack's: 1800000000.000001, .000002, …
        let count = calls("chat.postMessage").filter { $0.json != nil }.count
        return "1800000000." + String(repeating: "0", count: max(0, 6 - String(count).count)) + String(count)
    }

    /// `chat.delete`, recorded with the message's `ts` as its text.
    public func deleteMessage(channel: String, ts: String, token: Redacted<String>) async throws {
        try record("chat.delete", channel: channel, text: ts)
    }

    public func memberChannels(cursor: String?, token: Redacted<String>) async throws -> ChannelPage {
        try record("users.conversations", cursor: cursor)
        return state.withLock { $0.channelPages[cursor] ?? ChannelPage(channels: [], nextCursor: nil) }
    }

    public func history(channel: String, oldest: String, latest: String, cursor: String?, token: Redacted<String>)
        async throws -> MessagePage
    {
        try record("conversations.history", channel: channel, cursor: cursor)
        var page = state.withLock { $0.channelHistory[channel]?[cursor] ?? MessagePage(messages: [], nextCursor: nil) }
        // As Slack: only messages after `oldest` and before `latest` (a message without a readable `ts` is kept).
        if let from = Double(oldest), let to = Double(latest) {
            page.messages = page.messages.filter { message in
                guard let ts = message.ts.flatMap(Double.init) else { return true }
                return ts > from && ts < to
            }
        }
        return page
    }

    public func replies(channel: String, ts: String, oldest: String, cursor: String?, token: Redacted<String>)
        async throws -> MessagePage
    {
        try record("conversations.replies", channel: channel, cursor: cursor)
        return state.withLock {
            $0.threadReplies[channel + "/" + ts]?[cursor] ?? MessagePage(messages: [], nextCursor: nil)
        }
    }

    public func publishHome(user: String, view: String, token: Redacted<String>) async throws {
        try record("views.publish", user: user, json: view)
    }
}
