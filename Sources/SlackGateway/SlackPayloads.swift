import Feedback
import Foundation

/// The outer object of every `/slack/events` body. Every field but `type` is optional; unknown keys are ignored.
public struct EventEnvelope: Decodable, Sendable {
    public var type: String
    public var challenge: String?
    public var teamId: String?
    public var eventId: String?
    public var eventTime: Int64?
    /// `app_rate_limited`: the minute (epoch seconds) from which events are held back.
    public var minuteRateLimited: Int64?
    public var event: InnerEvent?
    public var authorizations: [Authorization]?

    /// The one installation Slack says can see the event.
    public struct Authorization: Decodable, Sendable {
        public var teamId: String?
        enum CodingKeys: String, CodingKey { case teamId = "team_id" }
    }

    enum CodingKeys: String, CodingKey {
        case type, challenge, event, authorizations
        case teamId = "team_id", eventId = "event_id", eventTime = "event_time"
        case minuteRateLimited = "minute_rate_limited"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        challenge = try c.decodeIfPresent(String.self, forKey: .challenge)
        teamId = try c.decodeIfPresent(String.self, forKey: .teamId)
        eventId = try c.decodeIfPresent(String.self, forKey: .eventId)
        // Slack's word, used only as a hint (the uninstall deadline falls back to now): a value that is no Int64
        // (a fraction, 1e30, a string) is ignored rather than turning the whole event, an uninstall among them, away.
        eventTime = (try? c.decodeIfPresent(Int64.self, forKey: .eventTime)) ?? nil
        minuteRateLimited = (try? c.decodeIfPresent(Int64.self, forKey: .minuteRateLimited)) ?? nil
        event = try c.decodeIfPresent(InnerEvent.self, forKey: .event)
        authorizations = try c.decodeIfPresent([Authorization].self, forKey: .authorizations)
    }

    /// The workspace that owns the event: the authorization's team first (Slack Connect), then the envelope's.
    public var workspace: String? { authorizations?.first?.teamId ?? teamId }
}

/// The inner `event`: only the fields usero reads. Message text is deliberately not decoded.
public struct InnerEvent: Decodable, Sendable {
    public var type: String?
    public var user: String?
    public var botId: String?
    public var reaction: String?
    public var item: Item?
    public var itemUser: String?
    public var tokens: Tokens?
    /// `app_home_opened`: `home` or `messages`.
    public var tab: String?

    /// What a reaction was added to.
    public struct Item: Decodable, Sendable {
        public var type: String?
        public var channel: String?
        public var ts: String?
    }

    /// `tokens_revoked`: user ids (not tokens) whose tokens died.
    public struct Tokens: Decodable, Sendable {
        public var oauth: [String]?
        public var bot: [String]?
    }

    enum CodingKeys: String, CodingKey {
        case type, user, reaction, item, tokens, tab
        case botId = "bot_id", itemUser = "item_user"
    }

    /// Every field as usero reads it, or nil: events share these names with other shapes (`user_change` and
    /// `team_join` carry `user` as an object), and an event usero does not handle is acknowledged and dropped
    /// whatever its fields hold; one it handles with a field of the wrong shape lacks that field, and is dropped.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func field<T: Decodable>(_ key: CodingKeys) -> T? { (try? c.decodeIfPresent(T.self, forKey: key)) ?? nil }
        type = field(.type)
        user = field(.user)
        botId = field(.botId)
        reaction = field(.reaction)
        item = field(.item)
        itemUser = field(.itemUser)
        tokens = field(.tokens)
        tab = field(.tab)
    }
}

/// The JSON inside a shortcut's `payload=` field.
public struct ShortcutPayload: Decodable, Sendable {
    public var type: String
    public var callbackId: String?
    public var responseURL: String?
    public var team: Team?
    public var user: User?
    public var channel: Channel?
    public var message: Message?

    public struct Team: Decodable, Sendable { public var id: String? }
    public struct User: Decodable, Sendable {
        public var id: String?
        public var teamId: String?
        enum CodingKeys: String, CodingKey { case id, teamId = "team_id" }
    }
    public struct Channel: Decodable, Sendable { public var id: String? }

    enum CodingKeys: String, CodingKey {
        case type, team, user, channel, message
        case callbackId = "callback_id", responseURL = "response_url"
    }

    /// The workspace: `team.id`, or the user's team for org-wide installs where `team` is null.
    public var workspace: String? { team?.id ?? user?.teamId }
}

/// A Slack message as the Web API and shortcut payloads carry it.
/// A message's metadata: its `event_type` and the string values of its `event_payload`. Any app may put metadata
/// on a message, in any shape: what does not fit is left out, never a reason to refuse the page.
public struct MessageMetadata: Decodable, Sendable, Equatable {
    public var eventType: String?
    public var payload: [String: String]

    /// Creates metadata (tests build their own).
    public init(eventType: String?, payload: [String: String]) {
        self.eventType = eventType
        self.payload = payload
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) {
        let fields = try? decoder.container(keyedBy: Key.self)
        eventType = try? fields?.decodeIfPresent(String.self, forKey: Key(stringValue: "event_type"))
        payload = [:]
        guard let values = try? fields?.nestedContainer(keyedBy: Key.self, forKey: Key(stringValue: "event_payload"))
        else { return }
        for key in values.allKeys.prefix(50) {
            if let value = try? values.decode(String.self, forKey: key) { payload[key.stringValue] = value }
        }
    }
}

public struct Message: Decodable, Sendable {
    public var ts: String?
    public var threadTs: String?
    public var user: String?
    public var botId: String?
    public var text: String?
    /// The reactions on the message, in Slack's order (history and replies include them).
    public var reactions: [Reaction]?
    /// How many replies a thread parent has.
    public var replyCount: Int?
    /// The message's metadata (history read with `include_all_metadata`), when it has some.
    public var metadata: MessageMetadata?
    /// The files shared with the message (a screenshot posted to the channel), as far as their names go.
    public var files: [File] = []
    /// The message's legacy attachments (what integrations post, often with no `text` of the message's own).
    public var attachments: [Attachment] = []

    /// A file shared with a message. Slack leaves the names out of a file it hides (`mode: hidden_by_limit`).
    public struct File: Decodable, Sendable {
        public var name: String?
        public var title: String?

        /// Creates a file (tests build their own).
        public init(name: String?, title: String?) {
            self.name = name
            self.title = title
        }

        public init(from decoder: any Decoder) {
            let fields = try? decoder.container(keyedBy: CodingKeys.self)
            name = try? fields?.decodeIfPresent(String.self, forKey: .name)
            title = try? fields?.decodeIfPresent(String.self, forKey: .title)
        }
        enum CodingKeys: String, CodingKey { case name, title }
    }

    /// A legacy attachment: its text, or the plain `fallback` Slack asks every attachment to carry.
    public struct Attachment: Decodable, Sendable {
        public var text: String?
        public var fallback: String?

        /// Creates an attachment (tests build their own).
        public init(text: String?, fallback: String?) {
            self.text = text
            self.fallback = fallback
        }

        public init(from decoder: any Decoder) {
            let fields = try? decoder.container(keyedBy: CodingKeys.self)
            text = try? fields?.decodeIfPresent(String.self, forKey: .text)
            fallback = try? fields?.decodeIfPresent(String.self, forKey: .fallback)
        }
        enum CodingKeys: String, CodingKey { case text, fallback }
    }

    /// One reaction: the emoji and who reacted (Slack may list only the first users).
    public struct Reaction: Decodable, Sendable {
        public var name: String?
        public var users: [String]?

        /// Creates a reaction (tests build their own).
        public init(name: String?, users: [String]?) {
            self.name = name
            self.users = users
        }
    }

    enum CodingKeys: String, CodingKey {
        case ts, user, text, reactions, metadata, files, attachments
        case threadTs = "thread_ts", botId = "bot_id", replyCount = "reply_count"
    }

    public init(from decoder: any Decoder) throws {
        let fields = try decoder.container(keyedBy: CodingKeys.self)
        ts = try fields.decodeIfPresent(String.self, forKey: .ts)
        threadTs = try fields.decodeIfPresent(String.self, forKey: .threadTs)
        user = try fields.decodeIfPresent(String.self, forKey: .user)
        botId = try fields.decodeIfPresent(String.self, forKey: .botId)
        text = try fields.decodeIfPresent(String.self, forKey: .text)
        reactions = try fields.decodeIfPresent([Reaction].self, forKey: .reactions)
        replyCount = try fields.decodeIfPresent(Int.self, forKey: .replyCount)
        metadata = try fields.decodeIfPresent(MessageMetadata.self, forKey: .metadata)
        // What a forward shows of files and attachments is a courtesy: a shape Slack did not document costs it,
        // never the message.
        files = (try? fields.decodeIfPresent([File].self, forKey: .files)) ?? []
        attachments = (try? fields.decodeIfPresent([Attachment].self, forKey: .attachments)) ?? []
    }

    /// Creates a message (tests build their own).
    public init(
        ts: String?, threadTs: String? = nil, user: String? = nil, botId: String? = nil, text: String? = nil,
        reactions: [Reaction]? = nil, replyCount: Int? = nil, metadata: MessageMetadata? = nil, files: [File] = [],
        attachments: [Attachment] = []
    ) {
        self.metadata = metadata
        self.files = files
        self.attachments = attachments
        self.ts = ts
        self.threadTs = threadTs
        self.user = user
        self.botId = botId
        self.text = text
        self.reactions = reactions
        self.replyCount = replyCount
    }

    /// The thread parent's ts when this message is a reply; nil for top-level messages and thread parents.
    public var parentTs: String? {
        guard let threadTs, threadTs != ts else { return nil }
        return threadTs
    }

    /// What a forward stores as the item's comment: the message's text, or when it has none (an integration's
    /// post) its attachments' text; then a line for each file shared with it, `[file: NAME]`, so that a screenshot
    /// posted without a word does not arrive as an empty item. Nil when the message has none of them.
    public var forwardedText: String? {
        var lines: [String] = []
        if let text, !text.isBlank {
            lines.append(text)
        } else {
            lines += attachments.prefix(Self.attachmentsShown).compactMap { attachment in
                [attachment.text, attachment.fallback].lazy.compactMap { $0 }.first { !$0.isBlank }
            }
        }
        let shown = files.prefix(Self.filesShown)
        lines += shown.map { "[file: \(Self.name(of: $0))]" }
        if files.count > shown.count { lines.append("[\(files.count - shown.count) more files]") }
        return lines.isEmpty ? text : lines.joined(separator: "\n")
    }

    /// How many attachments and files a forward names; Slack puts at most 10 files on a message.
    static let attachmentsShown = 5
    static let filesShown = 20

    /// A file's title (its name unless someone changed it), on one line and at most 200 characters; `file` when
    /// Slack left both out. Escaped as Slack escapes a message's text (`&amp;`, `&lt;`, `&gt;`), so that the whole
    /// comment is one kind of text.
    private static func name(of file: File) -> String {
        let given = [file.title, file.name].lazy.compactMap { $0 }.first { !$0.isBlank } ?? "file"
        let line = given.unicodeScalars.prefix(200).map { $0.properties.isWhitespace ? " " : Character($0) }
        return SlackMrkdwn.escape(String(line).trimmingSurroundingWhitespace)
    }
}
