import Foundation

/// The Slack Web API calls usero makes. Tokens travel only as `Redacted`, and only into the `Authorization` header.
public protocol SlackWebAPI: Sendable {
    /// `oauth.v2.access`: exchanges an install code (client credentials via HTTP Basic).
    func exchangeCode(_ code: String, redirectURI: String, clientID: String, clientSecret: Redacted<String>)
        async throws -> OAuthAccess
    /// `auth.test`: who the token belongs to.
    func authTest(token: Redacted<String>) async throws -> AuthIdentity
    /// `auth.revoke`.
    func revoke(token: Redacted<String>) async throws
    /// `conversations.replies?channel&ts[&cursor]`: one page.
    func replies(channel: String, ts: String, cursor: String?, token: Redacted<String>) async throws -> MessagePage
    /// `conversations.history` narrowed to exactly `ts`.
    func history(channel: String, ts: String, token: Redacted<String>) async throws -> MessagePage
    /// `chat.getPermalink`.
    func permalink(channel: String, ts: String, token: Redacted<String>) async throws -> String
    /// `chat.postEphemeral` to `user` in `channel`.
    func postEphemeral(channel: String, user: String, text: String, threadTs: String?, token: Redacted<String>)
        async throws
    /// `chat.postMessage`: a message in `channel`; a member's user id as `channel` is a direct message from the
    /// app, which reaches the member where an ephemeral in a channel the bot is not in cannot.
    func postMessage(channel: String, text: String, token: Redacted<String>) async throws
    /// POSTs an ephemeral reply to an interaction's `response_url` (no token).
    func respond(to responseURL: String, text: String) async throws
}

/// What `oauth.v2.access` returns that usero keeps.
public struct OAuthAccess: Sendable {
    public var accessToken: Redacted<String>
    public var scope: String
    public var botUserId: String?
    public var appId: String?
    public var teamId: String?
    public var teamName: String?
    public var enterpriseId: String?
    public var installerUserId: String?

    /// Creates an answer (tests build their own).
    public init(
        accessToken: Redacted<String>, scope: String, botUserId: String?, appId: String?, teamId: String?,
        teamName: String?, enterpriseId: String?, installerUserId: String?
    ) {
        self.accessToken = accessToken
        self.scope = scope
        self.botUserId = botUserId
        self.appId = appId
        self.teamId = teamId
        self.teamName = teamName
        self.enterpriseId = enterpriseId
        self.installerUserId = installerUserId
    }
}

/// What `auth.test` returns that usero keeps.
public struct AuthIdentity: Sendable {
    public var userId: String?
    public var botId: String?
    public var teamId: String?

    /// Creates an identity.
    public init(userId: String?, botId: String?, teamId: String?) {
        self.userId = userId
        self.botId = botId
        self.teamId = teamId
    }
}

/// One page of messages.
public struct MessagePage: Sendable {
    public var messages: [Message]
    public var nextCursor: String?

    /// Creates a page.
    public init(messages: [Message], nextCursor: String?) {
        self.messages = messages
        self.nextCursor = nextCursor
    }
}
