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
    }

    struct State {
        var pages: [String?: MessagePage] = [:]
        var cursors: [String?] = []
        var historyCalls = 0
        var calls: [Call] = []
        var failures: [String: [SlackAPIError]] = [:]
    }

    private let state = Mutex(State())
    private let repliesError: SlackAPIError?
    private let history: MessagePage
    private let permalinkURL: String

    /// A fake with `conversations.replies` pages by cursor, or an error for every replies call.
    public init(
        pages: [String?: MessagePage] = [:], repliesError: SlackAPIError? = nil,
        history: MessagePage = MessagePage(messages: [], nextCursor: nil),
        permalink: String = "https://example.slack.com/archives/C/p1"
    ) {
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

    /// The next calls of `method` (`chat.postEphemeral`, …) throw these errors, one each, in order.
    public func fail(_ method: String, with errors: SlackAPIError...) {
        state.withLock { $0.failures[method, default: []] += errors }
    }

    private func record(_ method: String, channel: String? = nil, user: String? = nil, text: String? = nil) throws {
        try state.withLock { state in
            state.calls.append(Call(method: method, channel: channel, user: user, text: text))
            if var queued = state.failures[method], !queued.isEmpty {
                let error = queued.removeFirst()
                state.failures[method] = queued
                throw error
            }
        }
    }

    public func replies(channel: String, ts: String, cursor: String?, token: Redacted<String>) async throws -> MessagePage {
        try record("conversations.replies", channel: channel)
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

    public func authTest(token: Redacted<String>) async throws -> AuthIdentity {
        try record("auth.test")
        throw SlackAPIError.unreachable
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
}
