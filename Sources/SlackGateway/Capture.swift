import Feedback
import Foundation
import GRDB

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

    /// The ephemeral text for the member who forwarded.
    public var text: String {
        switch self {
        case .captured: "Sent to usero :white_check_mark: Your team will find it in the feedback inbox."
        case .alreadyCaptured: "Already in usero :white_check_mark: This message was forwarded before."
        case .notInChannel:
            "usero couldn't read that message: the app isn't a member of this channel. Invite @usero and try again."
        case .channelNotFound: "usero couldn't see this conversation, so the message was not captured."
        case .messageNotFound: "usero couldn't find that message (was it deleted?), so nothing was captured."
        case .tokenRevoked:
            "usero's access to this workspace was revoked, so nothing was captured. Ask an admin to reinstall usero."
        case .notInstalled: "usero isn't installed for this workspace, so nothing was captured."
        case .slackUnavailable: "usero couldn't reach Slack to read that message. Please try again later."
        }
    }

    /// The outcome for a permanent Web API error code, if it is one usero explains.
    static func forPermanentError(_ code: String) -> ForwardOutcome {
        switch code {
        case "not_in_channel": .notInChannel
        case "channel_not_found", "is_archived": .channelNotFound
        case "message_not_found", "thread_not_found": .messageNotFound
        case "token_revoked", "invalid_auth", "account_inactive", "not_authed": .tokenRevoked
        default: .messageNotFound
        }
    }
}

/// One forwarded message, ready to store.
struct CapturedMessage: Sendable {
    var clientId: String
    var teamId: String
    var channelId: String
    var messageTs: String?
    var threadTs: String?
    var authorId: String?
    var forwardedBy: String?
    var via: SlackCaptureMethod
    var permalink: String?
    var text: String?

    /// Stores the message unless this client already holds it; returns the row id and whether it was new.
    ///
    /// The unique index on (client, team, channel, ts) is the real guard: losing a race to a concurrent forward
    /// surfaces as a UNIQUE violation, which means "already captured".
    func store(at now: Date, in db: Database) throws -> (id: String, isNew: Bool) {
        if let ts = messageTs,
            let id = try InstallationRecords.capturedRow(client: clientId, team: teamId, channel: channelId, ts: ts, in: db)
        {
            return (id, false)
        }
        let draft = FeedbackDraft(
            clientId: clientId, source: .slack, comment: text,
            slack: SlackCapture(
                teamId: teamId, channelId: channelId, messageTs: messageTs, threadTs: threadTs, authorId: authorId,
                forwardedBy: forwardedBy, capturedVia: via, permalink: permalink))
        let item = FeedbackItem(id: Identifiers.newFeedbackID(), clientId: clientId, createdAt: now, draft: draft)
        do {
            try SQLiteFeedbackStore.insert(item, into: db)
            return (item.id, true)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            if let ts = messageTs,
                let id = try InstallationRecords.capturedRow(
                    client: clientId, team: teamId, channel: channelId, ts: ts, in: db)
            {
                return (id, false)
            }
            throw error
        }
    }
}
