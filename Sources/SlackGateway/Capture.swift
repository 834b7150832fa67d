public import Feedback
import Foundation

/// How a forward ended, as stored in job payloads and turned into the words the member sees.
public enum ForwardOutcome: String, Sendable {
    case captured
    case alreadyCaptured = "already_captured"
    case notInChannel = "not_in_channel"
    case channelNotFound = "channel_not_found"
    case messageNotFound = "message_not_found"
    case tokenRevoked = "token_revoked"
    case notInstalled = "not_installed"
    case slackUnavailable = "slack_unavailable"
    case ownPost = "own_post"
    /// The installation lacks a scope to read the conversation (a private channel without `groups:history`).
    case missingPermission = "missing_permission"
    /// Any other refusal by Slack: not a claim that the message is gone.
    case slackRefused = "slack_refused"

    /// The ephemeral text for the member who forwarded.
    public var text: String {
        switch self {
        case .captured: "Sent to usero :white_check_mark: Your team will find it in the feedback inbox."
        case .alreadyCaptured: "Already in usero :white_check_mark: This message is in the feedback inbox."
        case .notInChannel:
            "usero couldn't read that message: the app isn't a member of this channel. Invite @usero and try again."
        case .channelNotFound: "usero couldn't see this conversation, so the message was not captured."
        case .messageNotFound: "usero couldn't find that message (was it deleted?), so nothing was captured."
        case .tokenRevoked:
            "usero's access to this workspace was revoked, so nothing was captured. Ask an admin to reinstall usero."
        case .notInstalled: "usero isn't installed for this workspace, so nothing was captured."
        case .slackUnavailable: "usero couldn't reach Slack to read that message. Please try again later."
        case .ownPost:
            "That's usero's own post: the feedback it announces is already in the inbox, so nothing was captured."
        case .missingPermission:
            "usero isn't allowed to read this conversation, so nothing was captured. For a private channel, ask an admin "
                + "to reinstall usero with access to private channels."
        case .slackRefused: "Slack didn't let usero read that message, so nothing was captured."
        }
    }

    /// The outcome for a permanent Web API error code, if it is one usero explains.
    public static func forPermanentError(_ code: String) -> ForwardOutcome {
        switch code {
        case "not_in_channel": .notInChannel
        case "channel_not_found", "is_archived": .channelNotFound
        case "message_not_found", "thread_not_found": .messageNotFound
        case "token_revoked", "invalid_auth", "account_inactive", "not_authed": .tokenRevoked
        case "missing_scope", "no_permission", "not_allowed_token_type", "access_denied", "ekm_access_denied":
            .missingPermission
        // An error not known here says nothing about the message: the member is not told it may be deleted.
        default: .slackRefused
        }
    }
}

/// One forwarded message, ready to store for whichever client installed the workspace.
public struct CapturedMessage: Sendable, Equatable {
    public var teamId: String
    public var channelId: String
    public var messageTs: String?
    public var threadTs: String?
    public var authorId: String?
    public var forwardedBy: String?
    public var via: SlackCaptureMethod
    public var permalink: String?
    public var text: String?
    /// Found by a recovery sweep rather than a live event.
    public var recovered: Bool
    /// The author's bot id when a bot posted the message (not stored: it tells the app's own posts apart).
    public var authorBotId: String?
    /// Found by a recovery sweep: the other members who reacted with a trigger emoji, in Slack's order, for when
    /// `forwardedBy` was erased (`ErasedMembers.recoverable`). Not stored.
    public var otherForwarders: [Forwarder] = []

    /// A member who reacted to a message with a trigger emoji, and that emoji (its name, as in `via`).
    public struct Forwarder: Sendable, Equatable {
        public var member: String
        public var emoji: String

        public init(member: String, emoji: String) {
            self.member = member
            self.emoji = emoji
        }
    }

    /// Creates a forwarded message.
    public init(
        teamId: String, channelId: String, messageTs: String?, threadTs: String?, authorId: String?,
        forwardedBy: String?, via: SlackCaptureMethod, permalink: String?, text: String?, recovered: Bool = false,
        authorBotId: String? = nil
    ) {
        self.teamId = teamId
        self.channelId = channelId
        self.messageTs = messageTs
        self.threadTs = threadTs
        self.authorId = authorId
        self.forwardedBy = forwardedBy
        self.via = via
        self.permalink = permalink
        self.text = text
        self.recovered = recovered
        self.authorBotId = authorBotId
    }

    /// The row to insert for `clientId`.
    public func draft(clientId: String) -> FeedbackDraft {
        // A message's text is stored whole: a NUL in it (Slack allows one) would end it early on SQLite and be
        // refused by PostgreSQL, losing the forward. Slack's messages stop at 40,000 characters; what claims more is
        // cut to the public API's comment limit, as nothing else is stored unbounded.
        FeedbackDraft(
            clientId: clientId, source: .slack, comment: text.map { Self.bounded($0).replacingNUL },
            slack: SlackCapture(
                teamId: teamId, channelId: channelId, messageTs: messageTs, threadTs: threadTs, authorId: authorId,
                forwardedBy: forwardedBy, capturedVia: via, permalink: permalink, recovered: recovered))
    }
}

extension CapturedMessage {
    /// `text` cut to `SubmissionParser.maxCommentCharacters` scalars.
    static func bounded(_ text: String) -> String {
        let limit = SubmissionParser.maxCommentCharacters
        guard text.utf8.count > limit, text.unicodeScalars.count > limit else { return text }
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: text.unicodeScalars.prefix(limit))
        return String(scalars)
    }
}

/// The rules every capture path applies before anything is stored; stores call them inside their transaction.
public enum SlackCaptureRules {
    /// Why a forward to this workspace can't be stored, or nil when it can: an uninstalled (tombstoned) or unknown
    /// workspace captures nothing, one whose token Slack revoked is told so, and the app's own posts (its
    /// notifications of new feedback, already in the inbox) are not captured again, as recovery skips them too.
    public static func refusal(installation: Installation?, isTombstoned: Bool, message: CapturedMessage)
        -> ForwardOutcome?
    {
        guard !isTombstoned, let installation else { return .notInstalled }
        if installation.tokenEnvelope == nil { return .tokenRevoked }
        if installation.isOwnBot(user: message.authorId ?? "", botId: message.authorBotId) {
            return .ownPost
        }
        return nil
    }

    /// The answer to post through a shortcut's `response_url`.
    public static func response(
        url: String, outcome: ForwardOutcome, feedbackId: String?, message: CapturedMessage
    ) -> RespondJob {
        RespondJob(
            responseURL: url, outcome: outcome.rawValue, feedbackId: feedbackId, channel: message.channelId,
            ts: message.messageTs, user: message.forwardedBy)
    }

    /// What a member is told after their forward was stored: new, or already there.
    public static func outcome(isNew: Bool) -> ForwardOutcome { isNew ? .captured : .alreadyCaptured }

    /// Whether a capture job's result may be stored: the workspace did not uninstall or move to another client
    /// while the message was being fetched (else no author id would come back after a scrub).
    public static func mayComplete(installation: Installation?, isTombstoned: Bool, jobClient: String?) -> Bool {
        !isTombstoned && installation != nil && installation?.clientId == jobClient
    }
}
