public import Feedback
import Foundation
public import Logging
import Metrics
import Synchronization

/// The rules for verified Slack requests: decide quickly, store what must be stored and enqueue slow work in one
/// transaction, then answer. Knows nothing of HTTP.
public struct SlackIngest: Sendable {
    /// The bot events usero subscribes to and handles; every other event is acknowledged and dropped.
    public static let handledEvents: Set<String> = [
        "reaction_added", "app_uninstalled", "tokens_revoked", "app_home_opened",
    ]
    /// The slash commands usero answers.
    public static let handledCommands: Set<String> = ["/usero"]
    /// The message shortcuts usero answers, by `callback_id`.
    public static let handledShortcuts: Set<String> = ["send_to_usero"]
    /// How long an `app_uninstalled` scrub may take, from the event.
    public static let scrubDeadline: Int64 = 60_000

    let store: any SlackStore
    let clock: any WallClock
    let wakeup: JobWakeup
    let logger: Logger
    let lastEvents = LastEventTracker()

    /// Creates the ingest rules over the store.
    public init(store: any SlackStore, clock: any WallClock, wakeup: JobWakeup, logger: Logger) {
        self.store = store
        self.clock = clock
        self.wakeup = wakeup
        self.logger = logger
    }

    // MARK: Events API

    /// What `/slack/events` answers.
    public enum EventReply: Sendable, Equatable {
        /// `url_verification`: echo the challenge.
        case challenge(String)
        /// 200, nothing else to say.
        case acknowledged
    }

    /// Handles a verified Events API body; `retried`: Slack delivers it again (`X-Slack-Retry-Num`).
    public func receiveEvent(_ body: [UInt8], retried: Bool = false) async throws -> EventReply {
        // Most deliveries are dropped unread (message events above all): a one-pass peek tells them without decoding
        // the envelope. Anything the peek is unsure of, and everything at debug level (whose log names the team),
        // takes the full path below.
        if logger.logLevel > .debug, let peek = EventPeek(body), peek.type != "url_verification",
            peek.type != "app_rate_limited",
            peek.type != "event_callback" || peek.eventType.map({ !Self.handledEvents.contains($0) }) == true
        {
            // As on the full path: an event with a type and a workspace counts as seen (at most one write a minute).
            if peek.type == "event_callback", peek.eventType != nil, let team = peek.workspace {
                guard Self.areSlackIDs(team) else { throw SlackGatewayError.malformedPayload }
                try await noteEvent(team: team)
            }
            return .acknowledged
        }
        guard let envelope = try? JSONDecoder().decode(EventEnvelope.self, from: Data(body)) else {
            throw SlackGatewayError.malformedPayload
        }
        switch envelope.type {
        case "url_verification":
            return .challenge(envelope.challenge ?? "")
        case "event_callback":
            guard let event = envelope.event, let type = event.type, let team = envelope.workspace else {
                return .acknowledged
            }
            guard Self.areSlackIDs(team, envelope.eventId) else { throw SlackGatewayError.malformedPayload }
            logger.debug("Slack event", metadata: ["slack.event_type": "\(Self.loggable(type))", "slack.team_id": "\(team)"])
            try await noteEvent(team: team)
            switch type {
            case "reaction_added": try await reactionAdded(event, team: team, eventId: envelope.eventId)
            case "app_home_opened": try await homeOpened(event, team: team, eventId: envelope.eventId)
            case "app_uninstalled":
                try await appUninstalled(team: team, eventId: envelope.eventId, eventTime: envelope.eventTime, retried: retried)
            case "tokens_revoked":
                try await tokensRevoked(
                    event, team: team, eventId: envelope.eventId, eventTime: envelope.eventTime, retried: retried)
            default: break  // message events above all: dropped at ingestion, nothing stored or queued
            }
            return .acknowledged
        case "app_rate_limited":
            // No `event` wrapper. Slack holds back this workspace's events for now: reactions made meanwhile never
            // arrive, which an operator must hear of (a warning and a counter) to sweep them.
            let team = envelope.teamId.flatMap { Self.areSlackIDs($0) ? $0 : nil } ?? "-"
            let minute = envelope.minuteRateLimited.map { iso8601(millis: min(max($0, 0), 1 << 40) * 1000) }
            Counter(label: "usero_slack_events_rate_limited_total").increment()
            logger.warning(
                "Slack is holding back this workspace's events (app_rate_limited): reactions made meanwhile are not delivered; POST /api/slack/recover sweeps them",
                metadata: ["slack.team_id": "\(team)", "slack.minute_rate_limited": "\(minute ?? "-")"])
            return .acknowledged
        default:
            // Anything new: acknowledged so Slack doesn't retry.
            logger.debug("Slack envelope", metadata: ["slack.envelope_type": "\(Self.loggable(envelope.type))"])
            return .acknowledged
        }
    }

    private func reactionAdded(_ event: InnerEvent, team: String, eventId: String?) async throws {
        guard let emoji = event.reaction.map(SlackSettings.emoji(reported:)), SlackCaptureMethod.isEmojiName(emoji),
            event.item?.type == "message",
            let channel = event.item?.channel, let ts = event.item?.ts, let user = event.user, let eventId,
            Self.areSlackIDs(channel, ts, user)
        else { return }
        // Most reactions are not the workspace's trigger emoji: a read drops them without a write. The store checks
        // again inside its transaction, since the settings may change in between.
        guard let installation = try await store.activeInstallation(team: team),
            installation.settings.triggers(emoji)
        else { return }
        let reaction = ReactionForward(
            team: team, channel: channel, ts: ts, user: user, botId: event.botId, eventId: eventId,
            via: .reaction(emoji))
        if try await store.acceptReaction(reaction, at: epochMillis(clock.now())) { wakeup.signal() }
    }

    /// The Home tab was opened: its view is published by a job (Slack wants the event answered at once).
    private func homeOpened(_ event: InnerEvent, team: String, eventId: String?) async throws {
        guard event.tab == nil || event.tab == "home", let user = event.user, Self.areSlackIDs(user), let eventId
        else { return }
        if try await store.acceptHomeOpened(team: team, user: user, eventId: eventId, at: epochMillis(clock.now())) {
            wakeup.signal()
        }
    }

    /// Records, at most once a minute per workspace and process, that the workspace's events arrive: the default
    /// start of `POST /api/slack/recover`.
    private func noteEvent(team: String) async throws {
        let now = epochMillis(clock.now())
        guard lastEvents.shouldRecord(team: team, at: now) else { return }
        try await store.recordEventSeen(team: team, at: now)
    }

    /// `event_time` (Slack's word, in seconds) in epoch ms, when it is one: bounded before it meets arithmetic,
    /// and never later than now.
    private func bounded(eventTime: Int64?) -> Int64? {
        let now = epochMillis(clock.now())
        return eventTime.flatMap { $0 > 0 && $0 <= now / 1000 ? $0 * 1000 : nil }
    }

    private func appUninstalled(team: String, eventId: String?, eventTime: Int64?, retried: Bool) async throws {
        let now = epochMillis(clock.now())
        let happened = bounded(eventTime: eventTime)
        if try await store.acceptUninstall(
            team: team, eventId: eventId, at: now, deadline: (happened ?? now) + Self.scrubDeadline,
            retriedEventAt: retried ? happened : nil)
        {
            wakeup.signal()
        }
    }

    private func tokensRevoked(_ event: InnerEvent, team: String, eventId: String?, eventTime: Int64?, retried: Bool)
        async throws
    {
        let bots = (event.tokens?.bot ?? []).filter { Self.areSlackIDs($0) }
        guard !bots.isEmpty else { return }
        try await store.acceptTokensRevoked(
            team: team, eventId: eventId, botUserIds: bots, at: epochMillis(clock.now()),
            retriedEventAt: retried ? bounded(eventTime: eventTime) : nil)
    }

    // MARK: Replays

    /// Whether this signed request is new: a shortcut or command replayed with the same timestamp and signature
    /// (within the 5-minute window the signature check allows) is answered but never stored twice. Kept in the
    /// store, so it holds across instances and restarts.
    public func isFirstDelivery(signature: String?) async throws -> Bool {
        guard let signature, !signature.isEmpty else { return true }
        return try await store.recordDelivery(String(signature.prefix(128)), at: epochMillis(clock.now()))
    }

    // MARK: Shortcut

    /// Handles a verified interactivity body (`payload=` JSON). Slack wants an empty 200.
    public func receiveInteraction(_ body: [UInt8]) async throws {
        guard let form = FormBody(body), let json = form["payload"],
            let payload = try? JSONDecoder().decode(ShortcutPayload.self, from: Data(json.utf8))
        else { throw SlackGatewayError.malformedPayload }
        guard payload.type == "message_action", let callback = payload.callbackId,
            Self.handledShortcuts.contains(callback), let team = payload.workspace, let channel = payload.channel?.id,
            let message = payload.message, let ts = message.ts, let user = payload.user?.id
        else { return }
        guard Self.areSlackIDs(team, channel, ts, user, message.user, message.parentTs) else {
            throw SlackGatewayError.malformedPayload
        }
        logger.debug("Slack shortcut", metadata: ["slack.team_id": "\(team)"])
        let captured = CapturedMessage(
            teamId: team, channelId: channel, messageTs: ts, threadTs: message.parentTs, authorId: message.user,
            forwardedBy: user, via: .shortcut, permalink: nil, text: message.forwardedText, authorBotId: message.botId)
        // Bounded before it is stored with the job (it is called only if it starts with an allowed prefix): one
        // that is no URL Slack sends is treated as missing.
        let responseURL = payload.responseURL.flatMap { Self.isVisibleASCII($0, atMost: 4096) ? $0 : nil }
        let result = try await store.captureForward(captured, at: clock.now(), responseURL: responseURL)
        if responseURL == nil, let client = result.clientId {
            // Slack sends every shortcut with a `response_url`; one without is still answered, by the app itself
            // (ephemerally in the channel, or in a direct message), as when that URL refuses the answer.
            try await store.enqueue(
                NewSlackJob(
                    clientId: client, teamId: team,
                    work: .notify(
                        NotifyJob(
                            channel: channel, user: user, outcome: result.outcome.rawValue,
                            feedbackId: result.outcome == .captured ? result.feedbackId : nil, ts: ts)),
                    runAt: epochMillis(clock.now())))
        }
        wakeup.signal()
    }

    // MARK: Slash command

    /// What `/usero` answers at once, ephemerally, in a workspace with the default trigger emoji.
    public static let usage = usage(triggerEmoji: SlackSettings.defaultTriggerEmoji)

    /// The usage text naming the workspace's own trigger emoji.
    public static func usage(triggerEmoji: [String]) -> String {
        let named = SlackSettings.spoken(triggerEmoji)
        return """
            Send feedback to your team's usero inbox: `/usero Export to CSV times out`. \
            You can also react to any message with \(named), or use the message menu → *Send to usero*.
            """
    }

    /// What a `/usero` longer than a feedback comment may be is answered.
    public static let tooLong =
        "That's longer than usero takes (\(SubmissionParser.maxCommentCharacters) characters), so nothing was sent. "
        + "Shorten it, or send it in parts."

    /// What a replayed `/usero` request is answered.
    public static let replayed = "This request was already received; nothing more was sent to usero."

    /// Handles a verified `/slack/commands` body; returns the ephemeral text for the response body.
    public func receiveCommand(_ body: [UInt8]) async throws -> String {
        guard let form = FormBody(body) else { throw SlackGatewayError.malformedPayload }
        guard let command = form["command"], Self.handledCommands.contains(command) else { return Self.usage }
        let text = (form["text"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.lowercased() != "help" else {
            // The workspace's own trigger emoji, when it is installed.
            guard let team = form["team_id"], Self.areSlackIDs(team),
                let installation = try await store.activeInstallation(team: team)
            else {
                return Self.usage
            }
            return Self.usage(triggerEmoji: installation.settings.triggerEmoji)
        }
        guard let team = form["team_id"], let user = form["user_id"], let channel = form["channel_id"],
            !text.containsNUL, Self.areSlackIDs(team, user, channel)
        else {
            throw SlackGatewayError.malformedPayload
        }
        // The public API's limit for a comment holds for `/usero` too: the member is told, nothing is stored.
        guard text.unicodeScalars.count <= SubmissionParser.maxCommentCharacters else { return Self.tooLong }
        logger.debug("Slack command", metadata: ["slack.team_id": "\(team)"])
        let captured = CapturedMessage(
            teamId: team, channelId: channel, messageTs: nil, threadTs: nil, authorId: user, forwardedBy: user,
            via: .command, permalink: nil, text: text)
        let outcome = try await store.captureForward(captured, at: clock.now(), responseURL: nil).outcome
        return outcome == .captured ? "Sent to usero :white_check_mark: Thanks for the feedback." : outcome.text
    }

    /// `value` when it is a Slack id (as `areSlackIDs` judges), else nil: for ids read from the Web API's answers,
    /// stored as the author or the thread of a row (a NUL in one made PostgreSQL refuse the row, and its job fail
    /// until it gave up).
    static func slackID(_ value: String?) -> String? {
        guard let value, areSlackIDs(value) else { return nil }
        return value
    }

    /// Whether each of `values` that is there looks like one of Slack's ids or timestamps: not empty, at most 64
    /// bytes, printable ASCII without spaces. They are stored with the row (`forwardedBy`, the channel, the ts) and
    /// looked up: a signed request with a 100,000-character user id, or a NUL in its team id (which PostgreSQL
    /// refuses in text), is not Slack's, and is answered 400 or dropped, never stored.
    static func areSlackIDs(_ values: String?...) -> Bool {
        values.allSatisfy { value in
            value.map { !$0.isEmpty && isVisibleASCII($0, atMost: 64) } ?? true
        }
    }

    /// Whether `value` is at most `maxBytes` of printable ASCII without spaces, the shape of every id, scope and URL
    /// Slack sends.
    static func isVisibleASCII(_ value: String, atMost maxBytes: Int) -> Bool {
        value.utf8.count <= maxBytes && value.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// Event type names are Slack's identifiers; cap them anyway so a log line stays a line.
    static func loggable(_ type: String) -> String {
        String(type.prefix(64).filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." })
    }
}

/// When each workspace's arrival of events was last recorded, in this process: the record is written at most once a
/// minute per workspace, so a busy workspace's events cost no extra write each.
final class LastEventTracker: Sendable {
    private let recorded = Mutex<[String: Int64]>([:])
    /// How often the record is refreshed.
    static let interval: Int64 = 60_000

    func shouldRecord(team: String, at now: Int64) -> Bool {
        recorded.withLock { seen in
            if let last = seen[team], now - last < Self.interval, now >= last { return false }
            if seen.count > 10_000 { seen.removeAll() }
            seen[team] = now
            return true
        }
    }
}
