public import Foundation

/// Where an item came from.
public enum FeedbackSource: String, Sendable, Codable, CaseIterable {
    case api, widget, slack
}

/// A screenshot object as returned by `POST /api/screenshots` and attached to feedback.
public struct ScreenshotRef: Sendable, Equatable, Codable {
    public var fileName: String
    public var url: String
    public var fileSize: Int64
    public var mimeType: String
    public var width: Int64?
    public var height: Int64?

    /// Creates a screenshot object.
    public init(fileName: String, url: String, fileSize: Int64, mimeType: String, width: Int64?, height: Int64?) {
        self.fileName = fileName
        self.url = url
        self.fileSize = fileSize
        self.mimeType = mimeType
        self.width = width
        self.height = height
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(fileName, forKey: .fileName)
        try container.encode(url, forKey: .url)
        try container.encode(fileSize, forKey: .fileSize)
        try container.encode(mimeType, forKey: .mimeType)
        try container.encodeIfPresent(width, forKey: .width)
        try container.encodeIfPresent(height, forKey: .height)
    }
}

/// How a Slack message reached the inbox: a reaction with one of the workspace's trigger emoji (`reaction:NAME`),
/// the message shortcut, or the slash command. Any valid emoji name round-trips through its raw value.
public enum SlackCaptureMethod: Sendable, Hashable, Codable, RawRepresentable {
    /// A reaction with the emoji `name` (a valid emoji name, see `isEmojiName`).
    case reaction(String)
    case shortcut
    case command

    /// `reaction:wrench`, one of the two default trigger emoji.
    public static var reactionWrench: Self { .reaction("wrench") }
    /// `reaction:pushpin`, the other default.
    public static var reactionPushpin: Self { .reaction("pushpin") }

    /// Parses `reaction:NAME`, `shortcut` or `command`; nil for anything else (including an invalid emoji name).
    public init?(rawValue: String) {
        switch rawValue {
        case "shortcut": self = .shortcut
        case "command": self = .command
        default:
            guard rawValue.hasPrefix("reaction:") else { return nil }
            let name = String(rawValue.dropFirst("reaction:".count))
            guard Self.isEmojiName(name) else { return nil }
            self = .reaction(name)
        }
    }

    public var rawValue: String {
        switch self {
        case .reaction(let name): "reaction:\(name)"
        case .shortcut: "shortcut"
        case .command: "command"
        }
    }

    /// Longest emoji name accepted (Slack's own custom-emoji names are far shorter).
    public static let maxEmojiNameLength = 100

    /// Whether `name` is an emoji short name as Slack reports it in `reaction_added`: 1-100 of `a-z 0-9 _ + ' -`,
    /// no colons (skin-tone variants such as `thumbsup::skin-tone-2` are not trigger emoji).
    public static func isEmojiName(_ name: some StringProtocol) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxEmojiNameLength else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"),
                UInt8(ascii: "+"), UInt8(ascii: "'"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "capture method"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// The Slack side of a captured item. Author and forwarder ids are scrubbed (nil) after an uninstall.
public struct SlackCapture: Sendable, Equatable, Codable {
    public var teamId: String
    public var channelId: String?
    public var messageTs: String?
    public var threadTs: String?
    public var authorId: String?
    public var forwardedBy: String?
    public var capturedVia: SlackCaptureMethod
    public var permalink: String?
    /// Captured by the recovery sweep (a reaction the service missed while it was down), not by a live event.
    public var recovered: Bool

    /// Creates a Slack capture record.
    public init(
        teamId: String, channelId: String?, messageTs: String?, threadTs: String?, authorId: String?,
        forwardedBy: String?, capturedVia: SlackCaptureMethod, permalink: String?, recovered: Bool = false
    ) {
        self.teamId = teamId
        self.channelId = channelId
        self.messageTs = messageTs
        self.threadTs = threadTs
        self.authorId = authorId
        self.forwardedBy = forwardedBy
        self.capturedVia = capturedVia
        self.permalink = permalink
        self.recovered = recovered
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(teamId, forKey: .teamId)
        try c.encode(channelId, forKey: .channelId)
        try c.encode(messageTs, forKey: .messageTs)
        try c.encode(threadTs, forKey: .threadTs)
        try c.encode(authorId, forKey: .authorId)
        try c.encode(forwardedBy, forKey: .forwardedBy)
        try c.encode(capturedVia, forKey: .capturedVia)
        try c.encode(permalink, forKey: .permalink)
        try c.encode(recovered, forKey: .recovered)
    }
}

/// A validated feedback item before it is stored.
public struct FeedbackDraft: Sendable, Equatable {
    public var clientId: String
    public var source: FeedbackSource
    public var rating: Int?
    public var comment: String?
    public var userEmail: String?
    public var pageUrl: String?
    public var pageTitle: String?
    public var referrer: String?
    public var environment: String?
    public var metadata: JSONValue?
    public var screenshots: [ScreenshotRef]
    public var sessionReplayId: String?
    public var replayOffsetMs: Int64?
    public var userId: String?
    public var slack: SlackCapture?
    /// The client's `Idempotency-Key` for this submission, if it sent one: see `SubmissionKey`. Stored, never read
    /// back.
    public var submissionKey: SubmissionKey?

    /// Creates a draft; every optional field defaults to absent.
    public init(
        clientId: String, source: FeedbackSource, rating: Int? = nil, comment: String? = nil,
        userEmail: String? = nil, pageUrl: String? = nil, pageTitle: String? = nil, referrer: String? = nil,
        environment: String? = nil, metadata: JSONValue? = nil, screenshots: [ScreenshotRef] = [],
        sessionReplayId: String? = nil, replayOffsetMs: Int64? = nil, userId: String? = nil,
        slack: SlackCapture? = nil
    ) {
        self.clientId = clientId
        self.source = source
        self.rating = rating
        self.comment = comment
        self.userEmail = userEmail
        self.pageUrl = pageUrl
        self.pageTitle = pageTitle
        self.referrer = referrer
        self.environment = environment
        self.metadata = metadata
        self.screenshots = screenshots
        self.sessionReplayId = sessionReplayId
        self.replayOffsetMs = replayOffsetMs
        self.userId = userId
        self.slack = slack
    }
}

/// A stored feedback item, encoded exactly as the admin API shows it (absent values as `null`).
public struct FeedbackItem: Sendable, Equatable, Encodable {
    public var id: String
    public var clientId: String
    public var createdAt: Date
    public var draft: FeedbackDraft

    /// Creates a stored item.
    public init(id: String, clientId: String, createdAt: Date, draft: FeedbackDraft) {
        self.id = id
        self.clientId = clientId
        self.createdAt = createdAt
        self.draft = draft
    }

    /// A new item for `draft`, created at `date`, under a new id.
    public init(newAt date: Date, draft: FeedbackDraft) {
        self.init(id: Identifiers.newFeedbackID(createdAt: date), clientId: draft.clientId, createdAt: date, draft: draft)
    }

    enum Keys: String, CodingKey {
        case id, source, createdAt, rating, comment, userEmail, pageUrl, pageTitle, referrer, environment
        case metadata, screenshots, sessionReplayId, replayOffsetMs, userId, slack, recovered
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(id, forKey: .id)
        try c.encode(draft.source, forKey: .source)
        try c.encode(iso8601(createdAt), forKey: .createdAt)
        try c.encode(draft.rating, forKey: .rating)
        try c.encode(draft.comment, forKey: .comment)
        try c.encode(draft.userEmail, forKey: .userEmail)
        try c.encode(draft.pageUrl, forKey: .pageUrl)
        try c.encode(draft.pageTitle, forKey: .pageTitle)
        try c.encode(draft.referrer, forKey: .referrer)
        try c.encode(draft.environment, forKey: .environment)
        try c.encode(draft.metadata ?? .null, forKey: .metadata)
        try c.encode(draft.screenshots, forKey: .screenshots)
        try c.encode(draft.sessionReplayId, forKey: .sessionReplayId)
        try c.encode(draft.replayOffsetMs, forKey: .replayOffsetMs)
        try c.encode(draft.userId, forKey: .userId)
        try c.encode(draft.slack, forKey: .slack)
        // Also inside `slack`; here too so a client can filter on it without looking into `slack`.
        try c.encode(draft.slack?.recovered ?? false, forKey: .recovered)
    }
}

// MARK: The admin API's JSON, written directly

extension FeedbackItem {
    /// The item's JSON with the members `encode(to:)` writes, in the order it lists them (the contract's), absent
    /// values as `null`.
    ///
    /// The admin list writes pages of these. Through JSONEncoder a page of 20 items cost about 2 ms of CPU, most of
    /// it the encoder's dynamic casts of every value (40 % of the route's samples); written here it is a string of
    /// appends. `FeedbackItemJSONTests` holds the two to the same parsed JSON.
    public var jsonText: String {
        var text = ""
        appendJSON(to: &text)
        return text
    }

    /// Appends `jsonText` to `text`.
    public func appendJSON(to text: inout String) {
        let d = draft
        var object = JSONObjectText(opening: &text)
        object.string("id", id, in: &text)
        object.string("source", d.source.rawValue, in: &text)
        object.string("createdAt", iso8601(createdAt), in: &text)
        object.integer("rating", d.rating.map(Int64.init), in: &text)
        object.string("comment", d.comment, in: &text)
        object.string("userEmail", d.userEmail, in: &text)
        object.string("pageUrl", d.pageUrl, in: &text)
        object.string("pageTitle", d.pageTitle, in: &text)
        object.string("referrer", d.referrer, in: &text)
        object.string("environment", d.environment, in: &text)
        object.member("metadata", in: &text) { (d.metadata ?? .null).appendJSON(to: &$0) }
        object.member("screenshots", in: &text) { text in
            text += "["
            for (index, shot) in d.screenshots.enumerated() {
                if index > 0 { text += "," }
                shot.appendJSON(to: &text)
            }
            text += "]"
        }
        object.string("sessionReplayId", d.sessionReplayId, in: &text)
        object.integer("replayOffsetMs", d.replayOffsetMs, in: &text)
        object.string("userId", d.userId, in: &text)
        object.member("slack", in: &text) { text in
            if let slack = d.slack { slack.appendJSON(to: &text) } else { text += "null" }
        }
        object.bool("recovered", d.slack?.recovered ?? false, in: &text)
        object.close(&text)
    }
}

extension ScreenshotRef {
    /// Appends the object `encode(to:)` writes (width and height left out when unknown).
    func appendJSON(to text: inout String) {
        var object = JSONObjectText(opening: &text)
        object.string("fileName", fileName, in: &text)
        object.string("url", url, in: &text)
        object.integer("fileSize", fileSize, in: &text)
        object.string("mimeType", mimeType, in: &text)
        if let width { object.integer("width", width, in: &text) }
        if let height { object.integer("height", height, in: &text) }
        object.close(&text)
    }
}

extension SlackCapture {
    /// Appends the object `encode(to:)` writes.
    func appendJSON(to text: inout String) {
        var object = JSONObjectText(opening: &text)
        object.string("teamId", teamId, in: &text)
        object.string("channelId", channelId, in: &text)
        object.string("messageTs", messageTs, in: &text)
        object.string("threadTs", threadTs, in: &text)
        object.string("authorId", authorId, in: &text)
        object.string("forwardedBy", forwardedBy, in: &text)
        object.string("capturedVia", capturedVia.rawValue, in: &text)
        object.string("permalink", permalink, in: &text)
        object.bool("recovered", recovered, in: &text)
        object.close(&text)
    }
}

/// One JSON object written member by member into the caller's text. It keeps only whether a member came yet; the
/// text stays the caller's (a writer that held the text while it wrote, handing it back at the end, made the optimized
/// build copy the whole page once per item: 20 copies of up to 18 KB for a page of 20). Member names are the caller's
/// fixed ASCII spellings, written unescaped.
public struct JSONObjectText {
    private var isEmpty = true

    /// Writes the opening brace.
    public init(opening text: inout String) {
        text += "{"
    }

    /// Writes a member whose value `writeValue` writes.
    public mutating func member(_ name: String, in text: inout String, _ writeValue: (inout String) -> Void) {
        text += isEmpty ? "\"" : ",\""
        isEmpty = false
        text += name
        text += "\":"
        writeValue(&text)
    }

    /// Writes a string member (`null` for nil).
    public mutating func string(_ name: String, _ value: String?, in text: inout String) {
        member(name, in: &text) { text in
            if let value { JSONValue.appendQuoted(value, to: &text) } else { text += "null" }
        }
    }

    /// Writes an integer member (`null` for nil).
    public mutating func integer(_ name: String, _ value: Int64?, in text: inout String) {
        member(name, in: &text) { $0 += value.map { String($0) } ?? "null" }
    }

    /// Writes a Boolean member.
    public mutating func bool(_ name: String, _ value: Bool, in text: inout String) {
        member(name, in: &text) { $0 += value ? "true" : "false" }
    }

    /// Writes the closing brace.
    public func close(_ text: inout String) {
        text += "}"
    }
}
