public import Feedback
import Foundation

/// The rules of recovering reactions the service missed: which window a sweep covers and which messages it
/// captures. Messages without a trigger-emoji reaction are read and dropped: never stored, never logged.
public enum SlackRecoveryRules {
    /// How far back a startup sweep looks at most.
    public static let maxStartupWindow: Int64 = 24 * 3_600_000
    /// How far back `POST /api/slack/recover` looks at most.
    public static let maxManualWindow: Int64 = 7 * 24 * 3_600_000
    /// A gap between heartbeats shorter than this is a restart Slack's own retries cover (they come after about a
    /// minute and five minutes); longer, and the start sweeps the gap.
    public static let downtimeThreshold: Int64 = 90_000
    /// How often a running service records that it is alive.
    public static let heartbeatInterval: Duration = .seconds(30)
    /// Extra time swept before the last heartbeat, for events that arrived just before the stop.
    public static let margin: Int64 = 60_000
    /// Most channels one sweep reads; the rest are counted as omitted.
    public static let maxChannels = 1_000
    /// Most thread parents a sweep holds to read at once, bounding its stored step. The replies of one history
    /// page's threads are read before its next page, and a page is read for its first 1,000 messages, so this
    /// holds a page's threads whole.
    public static let maxThreadsPerChannel = 1_000
    /// Most pages of the bot's channel list one sweep reads (1,000 channels take 5 at Slack's 200 a page).
    public static let maxListPages = 50
    /// Most history and reply pages one sweep reads; the channels left are counted as omitted. A Slack (or a wrong
    /// `SLACK_API_URL`) that answers every page with another cursor would otherwise keep a sweep reading for ever.
    public static let maxPages = 20_000
    /// Slack cursors longer than this are not followed (they are Slack's word; real ones are far shorter).
    public static let maxCursorLength = 1_024

    /// The sweep a start needs after the service was last alive at `lastAlive`, or nil when it was not down long
    /// enough to have missed anything Slack does not retry (or never ran before).
    public static func afterDowntime(lastAlive: Int64?, now: Int64) -> RecoverJob? {
        guard let lastAlive, now - lastAlive >= downtimeThreshold else { return nil }
        let since = max(lastAlive - margin, now - maxStartupWindow)
        return RecoverJob(trigger: "startup", since: since, until: now)
    }

    /// How recent the end of a queued sweep that has not started must be for it to cover a new request (epoch ms).
    public static let mergeWindow: Int64 = 60_000

    /// The sweep `POST /api/slack/recover` asks for: from `since` (default: the last event seen from the
    /// workspace, else its install), never more than 7 days back. Throws `FeedbackError.invalid` naming `since`
    /// when it is in the future.
    public static func manual(since: Int64?, installation: Installation, now: Int64) throws -> RecoverJob {
        let start = since ?? installation.lastEventAt ?? installation.installedAt
        guard start <= now + 60_000 else {
            throw FeedbackError.invalid(issues: ["since": ["Must not be in the future"]])
        }
        return RecoverJob(trigger: "manual", since: max(min(start, now), now - maxManualWindow), until: now)
    }

    // MARK: Messages

    /// A Slack timestamp (`1700000000.000100`) for an instant in epoch milliseconds.
    public static func slackTs(_ millis: Int64) -> String {
        let seconds = millis / 1000
        let micros = (millis % 1000) * 1000
        let digits = String(micros)
        return "\(seconds)." + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// `ts` when it reads as a Slack timestamp (Slack's word, kept and sent back later), else nil.
    public static func timestamp(_ ts: String?) -> String? {
        ts.flatMap { millis(ofTs: $0) != nil ? $0 : nil }
    }

    /// Epoch milliseconds of a Slack timestamp, or nil when it is not one (digits, a dot, digits; bounded).
    public static func millis(ofTs ts: String) -> Int64? {
        guard ts.utf8.count <= 32 else { return nil }
        let parts = ts.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...12).contains(parts[0].count), (1...9).contains(parts[1].count),
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let seconds = Int64(parts[0])
        else { return nil }
        let fraction = Int64(parts[1].prefix(3).padding(toLength: 3, withPad: "0", startingAt: 0)) ?? 0
        return seconds * 1000 + fraction
    }

    /// The messages of a page that a sweep captures: posted inside the window, not by the app itself, and
    /// carrying a trigger-emoji reaction by someone other than the bot, on a message posted while that emoji
    /// captured (`Installation.forwards(reaction:onMessagePostedAt:)`; `forwardedBy` is the first such user of the
    /// first such reaction, `otherForwarders` the next ones, at most 20). Every other message is dropped here, unread
    /// beyond its reactions.
    public static func captures(
        in messages: [Message], channel: String, installation: Installation, window: ClosedRange<Int64>
    ) -> [CapturedMessage] {
        messages.prefix(1_000).compactMap { message -> CapturedMessage? in
            guard let ts = message.ts, let at = millis(ofTs: ts), window.contains(at), let reactions = message.reactions,
                !installation.isOwnBot(user: message.user ?? "", botId: message.botId)
            else { return nil }
            var forwarders: [CapturedMessage.Forwarder] = []
            for reaction in reactions.prefix(100) {
                guard let name = reaction.name.map(SlackSettings.emoji(reported:)),
                    installation.forwards(reaction: name, onMessagePostedAt: at)
                else {
                    continue
                }
                for user in (reaction.users ?? []).prefix(100) where user != installation.botUserId {
                    guard let member = SlackIngest.slackID(user) else { continue }
                    guard forwarders.count < 21, !forwarders.contains(where: { $0.member == member }) else { continue }
                    forwarders.append(.init(member: member, emoji: name))
                }
            }
            guard let forwarder = forwarders.first else { return nil }
            var captured = CapturedMessage(
                teamId: installation.teamId, channelId: channel, messageTs: ts,
                threadTs: SlackIngest.slackID(message.parentTs), authorId: SlackIngest.slackID(message.user),
                forwardedBy: forwarder.member, via: .reaction(forwarder.emoji), permalink: nil,
                text: message.forwardedText, recovered: true)
            captured.otherForwarders = Array(forwarders.dropFirst())
            return captured
        }
    }

    /// The audit counts of a finished (or stopped) sweep: what it covered, never what it read.
    public static func auditCounts(_ sweep: RecoverJob) -> DeletionCounts {
        var counts = DeletionCounts([
            "channelsRead": sweep.channelsRead, "channelsSkipped": sweep.channelsSkipped,
            "channelsOmitted": sweep.channelsOmitted, "pagesRead": sweep.pagesRead, "captured": sweep.captured,
            "windowStartEpochSeconds": Int(sweep.since / 1000), "windowEndEpochSeconds": Int(sweep.until / 1000),
        ])
        if let stopped = sweep.stoppedBy {
            counts["stopped:" + String(stopped.prefix(64).filter { $0.isLetter || $0.isNumber || $0 == "_" })] = 1
        }
        if sweep.stoppedBy != nil || sweep.channelsSkipped > 0 || sweep.channelsOmitted > 0 { counts["partial"] = 1 }
        return counts
    }
}
