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

    // Issue 12: posting new feedback, recovery of missed reactions, App Home.

    /// `chat.postMessage` with Block Kit: `blocks` is the blocks' JSON text, `text` the notification fallback,
    /// `metadata` the message's metadata (JSON text). Links are not unfurled. Returns the message's `ts`, when Slack
    /// names one.
    func postMessage(channel: String, text: String, blocks: String, metadata: String, token: Redacted<String>)
        async throws -> String?
    /// `chat.delete`: deletes the app's own message `ts` in `channel`.
    func deleteMessage(channel: String, ts: String, token: Redacted<String>) async throws
    /// `users.conversations`: one page of the public and private channels the bot is a member of (not archived).
    func memberChannels(cursor: String?, token: Redacted<String>) async throws -> ChannelPage
    /// `conversations.history`: one page of the top-level messages posted in `channel` between `oldest` and
    /// `latest` (Slack timestamps), newest first, with their metadata.
    func history(channel: String, oldest: String, latest: String, cursor: String?, token: Redacted<String>)
        async throws -> MessagePage
    /// `conversations.replies`: one page of the thread `ts` (parent first), replies posted since `oldest`.
    func replies(channel: String, ts: String, oldest: String, cursor: String?, token: Redacted<String>) async throws
        -> MessagePage
    /// `views.publish`: `view` (a Home tab view's JSON text) as `user`'s Home tab.
    func publishHome(user: String, view: String, token: Redacted<String>) async throws
}

/// One page of channel ids.
public struct ChannelPage: Sendable {
    public var channels: [String]
    public var nextCursor: String?

    /// Creates a page.
    public init(channels: [String], nextCursor: String?) {
        self.channels = channels
        self.nextCursor = nextCursor
    }
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
    /// Whether the token expires (the app has token rotation on: a `refresh_token`, an `expires_in`, an `xoxe.`
    /// token). usero keeps no refresh token, so such a token would stop working 12 hours later.
    public var expires: Bool

    /// Creates an answer (tests build their own).
    public init(
        accessToken: Redacted<String>, scope: String, botUserId: String?, appId: String?, teamId: String?,
        teamName: String?, enterpriseId: String?, installerUserId: String?, expires: Bool = false
    ) {
        self.expires = expires
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
