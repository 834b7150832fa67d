import Feedback
import Foundation

/// A workspace's installation as stored; the bot token only as a sealed envelope.
public struct Installation: Sendable {
    public var teamId: String
    public var clientId: String
    public var enterpriseId: String?
    public var teamName: String?
    public var botUserId: String?
    public var botId: String?
    public var appId: String?
    public var scopes: String
    public var installerUserId: String?
    /// `KeyRing` envelope of the bot token, bound to `teamId`; nil once Slack revoked the token.
    public var tokenEnvelope: [UInt8]?
    public var tokenKeyId: String?
    public var installedAt: Int64
    /// When this client first installed the app in the workspace, kept through its reinstalls (epoch ms; nil: at
    /// `installedAt`). A reinstall moves `installedAt` (retried events from before it are an earlier installation's),
    /// but the reactions made meanwhile, with the app still in the workspace, were forwards all the same: a recovery
    /// sweep reaches back to this, not to the reinstall.
    public var firstInstalledAt: Int64?
    /// The workspace's trigger emoji and notify channel; they belong to this installation.
    public var settings: SlackSettings
    /// When each trigger emoji chosen after the installation began became one (epoch ms); the others trigger since
    /// `installedAt`. Kept and cleared with `settings`.
    public var triggerEmojiAddedAt: [String: Int64]
    /// The last failure posting to the notify channel that the admin must fix, until a post succeeds again.
    public var notifyProblem: NotifyProblem?
    /// When an event from this workspace last arrived (epoch ms, recorded at most once a minute).
    public var lastEventAt: Int64?
    /// The workspace's next post to its notify channel may not leave before this instant (epoch ms): the pace
    /// (and any 429 or backoff) of posts already sent, which posts enqueued later must respect too.
    public var postNotBefore: Int64?

    /// Creates an installation value.
    public init(
        teamId: String, clientId: String, enterpriseId: String?, teamName: String?, botUserId: String?, botId: String?,
        appId: String?, scopes: String, installerUserId: String?, tokenEnvelope: [UInt8]?, tokenKeyId: String?,
        installedAt: Int64, settings: SlackSettings = SlackSettings(), triggerEmojiAddedAt: [String: Int64] = [:],
        notifyProblem: NotifyProblem? = nil, lastEventAt: Int64? = nil, postNotBefore: Int64? = nil
    ) {
        self.teamId = teamId
        self.clientId = clientId
        self.enterpriseId = enterpriseId
        self.teamName = teamName
        self.botUserId = botUserId
        self.botId = botId
        self.appId = appId
        self.scopes = scopes
        self.installerUserId = installerUserId
        self.tokenEnvelope = tokenEnvelope
        self.tokenKeyId = tokenKeyId
        self.installedAt = installedAt
        self.settings = settings
        self.triggerEmojiAddedAt = triggerEmojiAddedAt
        self.notifyProblem = notifyProblem
        self.lastEventAt = lastEventAt
        self.postNotBefore = postNotBefore
    }

    /// How much earlier than an installation a retried event must say it happened to be taken for an earlier
    /// installation's: Slack's clock and this server's may differ by seconds.
    public static let retriedEventLeeway: Int64 = 10_000

    /// Whether an event Slack delivers again, saying it happened at `eventTime` (epoch ms; nil: a first delivery, or
    /// no time given), belongs to an installation before this one. Slack retries a failed delivery for minutes, so
    /// an `app_uninstalled` or `tokens_revoked` of an earlier installation can arrive after the workspace installed
    /// usero again; it must not undo that. A first delivery arrives as it happens and is never judged by its time.
    public func isLater(thanRetriedEventAt eventTime: Int64?) -> Bool {
        guard let eventTime else { return false }
        return eventTime < installedAt - Self.retriedEventLeeway
    }

    /// Whether a reaction by `user` (or by the bot `botId`) is the app's own, which never captures.
    public func isOwnBot(user: String, botId: String?) -> Bool {
        user == botUserId || (botId != nil && botId == self.botId)
    }

    /// Whether a `emoji` reaction on a message posted at `postedAt` (epoch ms) was a forward: the emoji triggers, and
    /// did so already when the message was posted. Slack does not say when a reaction was made, so a recovery
    /// sweep cannot tell a reaction made before the app was installed, or before the workspace chose that emoji,
    /// from one made since; it counts only reactions on messages posted while their emoji captured. (A live
    /// `reaction_added` is always a forward: it happens now.)
    public func forwards(reaction emoji: String, onMessagePostedAt postedAt: Int64) -> Bool {
        let since = min(firstInstalledAt ?? installedAt, installedAt)
        return settings.triggers(emoji) && postedAt >= max(since, triggerEmojiAddedAt[emoji] ?? since)
    }

    /// The installation after `change` made at `now`: an emoji that becomes a trigger records when; one that
    /// stays keeps its instant; a new notify channel clears the last posting problem.
    public func applying(_ change: SlackSettingsChange, at now: Int64) -> Installation {
        var changed = self
        if let emoji = change.triggerEmoji {
            changed.settings.triggerEmoji = emoji
            changed.triggerEmojiAddedAt = emoji.reduce(into: [:]) { addedAt, name in
                if settings.triggers(name) {
                    if let since = triggerEmojiAddedAt[name] { addedAt[name] = since }
                } else {
                    addedAt[name] = now
                }
            }
        }
        if let channel = change.notifyChannel { changed.settings.notifyChannel = channel }
        if changed.settings.notifyChannel != settings.notifyChannel { changed.notifyProblem = nil }
        return changed
    }

    /// `triggerEmojiAddedAt` as the stores keep it (`slack_installation.trigger_emoji_added_at`): `name=millis`
    /// pairs, comma-separated, sorted; nil when empty.
    public var storedTriggerEmojiAddedAt: String? {
        triggerEmojiAddedAt.isEmpty
            ? nil : triggerEmojiAddedAt.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// Reads `storedTriggerEmojiAddedAt` back; nil when it is not valid.
    public static func triggerEmojiAddedAt(stored text: String) -> [String: Int64]? {
        var addedAt: [String: Int64] = [:]
        for pair in text.split(separator: ",").prefix(SlackSettings.maxTriggerEmoji) {
            let parts = pair.split(separator: "=")
            guard parts.count == 2, SlackCaptureMethod.isEmojiName(String(parts[0])), let millis = Int64(parts[1])
            else { return nil }
            addedAt[String(parts[0])] = millis
        }
        return addedAt
    }

    /// The column of a stored installation that does not read back as what the stores write.
    public struct UndecodableColumn: Error, Sendable {
        public let name: String
    }

    /// Sets `settings`, `triggerEmojiAddedAt` and `notifyProblem` from the columns the stores keep them in
    /// (`trigger_emoji`, `trigger_emoji_added_at`, `notify_channel`, `notify_error`, `notify_error_at`), so that every
    /// store reads them alike; throws naming the column that does not decode.
    public mutating func restoreSettings(
        triggerEmoji: String?, triggerEmojiAddedAt: String?, notifyChannel: String?, notifyError: String?,
        notifyErrorAt: Int64?
    ) throws(UndecodableColumn) {
        var settings = SlackSettings()
        if let triggerEmoji {
            guard let names = SlackSettings.triggerEmoji(stored: triggerEmoji) else {
                throw UndecodableColumn(name: "trigger_emoji")
            }
            settings.triggerEmoji = names
        }
        var addedAt: [String: Int64] = [:]
        if let triggerEmojiAddedAt {
            guard let decoded = Self.triggerEmojiAddedAt(stored: triggerEmojiAddedAt) else {
                throw UndecodableColumn(name: "trigger_emoji_added_at")
            }
            addedAt = decoded
        }
        settings.notifyChannel = notifyChannel
        self.settings = settings
        self.triggerEmojiAddedAt = addedAt
        notifyProblem = notifyChannel.flatMap { channel in
            notifyError.map { NotifyProblem(channel: channel, code: $0, at: notifyErrorAt ?? 0) }
        }
    }

    /// Whether `id` looks like a Slack workspace (`T…`) or organisation (`E…`) id: an upper-case letter and 1 to 31
    /// upper-case letters or digits.
    public static func isTeamID(_ id: String) -> Bool {
        SlackSettings.isSlackID(id, startingWith: "TE", length: 2...32)
    }

    /// Whether the installation grants `scope` (its granted scopes are comma-separated).
    public func grants(_ scope: String) -> Bool {
        scopes.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == scope }
    }

    /// What the admin API shows: never the token.
    public var summary: InstallationSummary {
        InstallationSummary(
            teamId: teamId, teamName: teamName, installedAt: iso8601Millis(installedAt),
            scopes: scopes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
            tokenRevoked: tokenEnvelope == nil ? true : nil)
    }
}

/// `GET /api/slack/installation`: `{"teamId","teamName","installedAt","scopes"}`, and `"tokenRevoked": true` once
/// Slack revoked the bot token (`tokens_revoked`): nothing is captured or posted until the workspace is installed
/// again, which the inbox says too.
public struct InstallationSummary: Sendable, Codable, Equatable {
    public var teamId: String
    public var teamName: String?
    public var installedAt: String
    public var scopes: [String]
    public var tokenRevoked: Bool?

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(teamId, forKey: .teamId)
        try c.encode(teamName, forKey: .teamName)
        try c.encode(installedAt, forKey: .installedAt)
        try c.encode(scopes, forKey: .scopes)
        try c.encodeIfPresent(tokenRevoked, forKey: .tokenRevoked)
    }
}

func iso8601Millis(_ millis: Int64) -> String {
    iso8601(millis: millis)
}
