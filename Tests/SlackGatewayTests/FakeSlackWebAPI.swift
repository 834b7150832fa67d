import Foundation
import SlackGateway
import Synchronization

/// A `SlackWebAPI` double that answers `conversations.replies` from canned pages and records the cursors it saw.
final class FakeSlackWebAPI: SlackWebAPI {
    private let state = Mutex<(pages: [String?: MessagePage], cursors: [String?], historyCalls: Int)>(([:], [], 0))
    private let repliesError: SlackAPIError?
    private let history: MessagePage

    init(pages: [String?: MessagePage] = [:], repliesError: SlackAPIError? = nil,
         history: MessagePage = MessagePage(messages: [], nextCursor: nil)) {
        self.repliesError = repliesError
        self.history = history
        state.withLock { $0.pages = pages }
    }

    var cursors: [String?] { state.withLock { $0.cursors } }
    var historyCalls: Int { state.withLock { $0.historyCalls } }

    func replies(channel: String, ts: String, cursor: String?, token: Redacted<String>) async throws -> MessagePage {
        if let repliesError { throw repliesError }
        return state.withLock {
            $0.cursors.append(cursor)
            return $0.pages[cursor] ?? MessagePage(messages: [], nextCursor: nil)
        }
    }

    func history(channel: String, ts: String, token: Redacted<String>) async throws -> MessagePage {
        state.withLock { $0.historyCalls += 1 }
        return history
    }

    func exchangeCode(_ code: String, redirectURI: String, clientID: String, clientSecret: Redacted<String>)
        async throws -> OAuthAccess
    { throw SlackAPIError.unreachable }
    func authTest(token: Redacted<String>) async throws -> AuthIdentity { throw SlackAPIError.unreachable }
    func revoke(token: Redacted<String>) async throws {}
    func permalink(channel: String, ts: String, token: Redacted<String>) async throws -> String { "" }
    func postEphemeral(channel: String, user: String, text: String, threadTs: String?, token: Redacted<String>)
        async throws {}
    func respond(to responseURL: String, text: String) async throws {}
}
