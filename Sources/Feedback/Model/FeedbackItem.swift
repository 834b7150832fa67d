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

/// How a Slack message reached the inbox.
public enum SlackCaptureMethod: String, Sendable, Codable, CaseIterable {
    case reactionWrench = "reaction:wrench"
    case reactionPushpin = "reaction:pushpin"
    case shortcut
    case command
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

    /// Creates a Slack capture record.
    public init(
        teamId: String, channelId: String?, messageTs: String?, threadTs: String?, authorId: String?,
        forwardedBy: String?, capturedVia: SlackCaptureMethod, permalink: String?
    ) {
        self.teamId = teamId
        self.channelId = channelId
        self.messageTs = messageTs
        self.threadTs = threadTs
        self.authorId = authorId
        self.forwardedBy = forwardedBy
        self.capturedVia = capturedVia
        self.permalink = permalink
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

    enum Keys: String, CodingKey {
        case id, source, createdAt, rating, comment, userEmail, pageUrl, pageTitle, referrer, environment
        case metadata, screenshots, sessionReplayId, replayOffsetMs, userId, slack
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
    }
}
