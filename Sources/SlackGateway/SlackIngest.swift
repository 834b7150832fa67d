public import Feedback
import Foundation
import GRDB
public import Logging

/// The rules for verified Slack requests: decide quickly, store what must be stored and enqueue slow work in one
/// transaction, then answer. Knows nothing of HTTP.
public struct SlackIngest: Sendable {
    /// The bot events usero subscribes to and handles; every other event is acknowledged and dropped.
    public static let handledEvents: Set<String> = ["reaction_added", "app_uninstalled", "tokens_revoked"]
    /// The slash commands usero answers.
    public static let handledCommands: Set<String> = ["/usero"]
    /// The message shortcuts usero answers, by `callback_id`.
    public static let handledShortcuts: Set<String> = ["send_to_usero"]
    /// Reactions that forward a message, and how they are recorded.
    static let captureReactions: [String: SlackCaptureMethod] = [
        "wrench": .reactionWrench, "pushpin": .reactionPushpin,
    ]
    /// How long an `app_uninstalled` scrub may take, from the event.
    public static let scrubDeadline: Int64 = 60_000

    let database: AppDatabase
    let clock: any WallClock
    let wakeup: JobWakeup
    let logger: Logger

    /// Creates the ingest rules over the shared store.
    public init(database: AppDatabase, clock: any WallClock, wakeup: JobWakeup, logger: Logger) {
        self.database = database
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

    /// Handles a verified Events API body.
    public func receiveEvent(_ body: [UInt8]) async throws -> EventReply {
        // Most deliveries are dropped unread (message events above all): a one-pass peek tells them without decoding
        // the envelope. Anything the peek is unsure of, and everything at debug level (whose log names the team),
        // takes the full path below.
        if logger.logLevel > .debug, let peek = EventPeek(body), peek.type != "url_verification",
            peek.type != "event_callback" || peek.eventType.map({ !Self.handledEvents.contains($0) }) == true
        {
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
            logger.debug("Slack event", metadata: ["slack.event_type": "\(Self.loggable(type))", "slack.team_id": "\(team)"])
            switch type {
            case "reaction_added": try await reactionAdded(event, team: team, eventId: envelope.eventId)
            case "app_uninstalled": try await appUninstalled(team: team, eventId: envelope.eventId, eventTime: envelope.eventTime)
            case "tokens_revoked": try await tokensRevoked(event, team: team, eventId: envelope.eventId)
            default: break  // message events above all: dropped at ingestion, nothing stored or queued
            }
            return .acknowledged
        default:
            // app_rate_limited (no `event` wrapper) and anything new: acknowledged so Slack doesn't retry.
            logger.debug("Slack envelope", metadata: ["slack.envelope_type": "\(Self.loggable(envelope.type))"])
            return .acknowledged
        }
    }

    private func reactionAdded(_ event: InnerEvent, team: String, eventId: String?) async throws {
        guard let emoji = event.reaction, let via = Self.captureReactions[emoji], event.item?.type == "message",
            let channel = event.item?.channel, let ts = event.item?.ts, let user = event.user, let eventId
        else { return }
        let now = epochMillis(clock.now())
        let enqueued = try await database.write { db -> Bool in
            guard try !InstallationRecords.isTombstoned(team: team, in: db),
                let installation = try InstallationRecords.installation(team: team, in: db),
                user != installation.botUserId, event.botId == nil || event.botId != installation.botId,
                try InstallationRecords.recordEvent(eventId, at: now, in: db),
                installation.tokenEnvelope != nil
            else { return false }
            if try InstallationRecords.capturedRow(
                client: installation.clientId, team: team, channel: channel, ts: ts, in: db) != nil
            {
                // Already in the inbox: no need to spend a rate-limited fetch, just tell this member.
                try JobQueue.enqueue(
                    .notify, clientId: installation.clientId, teamId: team,
                    payload: ["channel": channel, "user": user, "outcome": ForwardOutcome.alreadyCaptured.rawValue],
                    runAt: now, in: db)
            } else {
                try JobQueue.enqueue(
                    .captureReaction, clientId: installation.clientId, teamId: team,
                    payload: ["channel": channel, "ts": ts, "user": user, "via": via.rawValue], runAt: now, in: db)
            }
            return true
        }
        if enqueued { wakeup.signal() }
    }

    private func appUninstalled(team: String, eventId: String?, eventTime: Int64?) async throws {
        let now = epochMillis(clock.now())
        let happened = eventTime.map { min($0 * 1000, now) } ?? now
        try await database.write { db in
            if let eventId { guard try InstallationRecords.recordEvent(eventId, at: now, in: db) else { return } }
            let installation = try InstallationRecords.installation(team: team, in: db)
            let previous = try String.fetchOne(
                db, sql: "SELECT client_id FROM slack_tombstone WHERE team_id = ?", arguments: [team])
            let clientId = installation?.clientId ?? previous
            try db.execute(
                sql: """
                    INSERT INTO slack_tombstone (team_id, client_id, uninstalled_at) VALUES (?, ?, ?)
                    ON CONFLICT(team_id) DO UPDATE SET client_id = coalesce(excluded.client_id, client_id)
                    """,
                arguments: [team, clientId, now])
            // The token goes in this very transaction; the id scrub follows in the job, within the deadline.
            try db.execute(sql: "DELETE FROM slack_installation WHERE team_id = ?", arguments: [team])
            try db.execute(
                sql: "DELETE FROM job WHERE team_id = ? AND kind IN (?, ?, ?)",
                arguments: [team, SlackJob.Kind.captureReaction.rawValue, SlackJob.Kind.notify.rawValue,
                            SlackJob.Kind.respond.rawValue])
            // No client_id on the job: closing the account (which cascades to its jobs) must not cancel the scrub.
            try JobQueue.enqueue(
                .uninstall, clientId: nil, teamId: team, payload: clientId.map { ["clientId": $0] } ?? [:],
                runAt: now, deadlineAt: happened + Self.scrubDeadline, in: db)
        }
        wakeup.signal()
    }

    private func tokensRevoked(_ event: InnerEvent, team: String, eventId: String?) async throws {
        let bots = event.tokens?.bot ?? []
        guard !bots.isEmpty else { return }
        let now = epochMillis(clock.now())
        try await database.write { db in
            if let eventId { guard try InstallationRecords.recordEvent(eventId, at: now, in: db) else { return } }
            guard let installation = try InstallationRecords.installation(team: team, in: db) else { return }
            if let bot = installation.botUserId, !bots.contains(bot) { return }
            try InstallationRecords.dropToken(team: team, in: db)
        }
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
        logger.debug("Slack shortcut", metadata: ["slack.team_id": "\(team)"])
        let now = clock.now()
        let responseURL = payload.responseURL
        try await database.write { db in
            let (outcome, installation, id) = try Self.capture(
                team: team, now: now, in: db
            ) { clientId in
                CapturedMessage(
                    clientId: clientId, teamId: team, channelId: channel, messageTs: ts, threadTs: message.parentTs,
                    authorId: message.user, forwardedBy: user, via: .shortcut, permalink: nil, text: message.text)
            }
            guard let responseURL else { return }
            var job = ["responseURL": responseURL, "outcome": outcome.rawValue, "channel": channel, "ts": ts]
            if let id { job["feedbackId"] = id }
            try JobQueue.enqueue(
                .respond, clientId: installation?.clientId, teamId: team, payload: job, runAt: epochMillis(now), in: db)
        }
        wakeup.signal()
    }

    // MARK: Slash command

    /// What `/usero` answers at once, ephemerally.
    public static let usage = """
        Send feedback to your team's usero inbox: `/usero Export to CSV times out`. \
        You can also react to any message with :wrench: or :pushpin:, or use the message menu → *Send to usero*.
        """

    /// Handles a verified `/slack/commands` body; returns the ephemeral text for the response body.
    public func receiveCommand(_ body: [UInt8]) async throws -> String {
        guard let form = FormBody(body) else { throw SlackGatewayError.malformedPayload }
        guard let command = form["command"], Self.handledCommands.contains(command) else { return Self.usage }
        let text = (form["text"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.lowercased() != "help" else { return Self.usage }
        guard let team = form["team_id"], let user = form["user_id"], let channel = form["channel_id"] else {
            throw SlackGatewayError.malformedPayload
        }
        logger.debug("Slack command", metadata: ["slack.team_id": "\(team)"])
        let now = clock.now()
        let outcome = try await database.write { db in
            try Self.capture(team: team, now: now, in: db) { clientId in
                CapturedMessage(
                    clientId: clientId, teamId: team, channelId: channel, messageTs: nil, threadTs: nil,
                    authorId: user, forwardedBy: user, via: .command, permalink: nil, text: text)
            }.0
        }
        return outcome == .captured ? "Sent to usero :white_check_mark: Thanks for the feedback." : outcome.text
    }

    /// Stores a forward for the team's client, unless the team uninstalled, never installed or lost its token.
    static func capture(
        team: String, now: Date, in db: Database, _ message: (String) -> CapturedMessage
    ) throws -> (ForwardOutcome, Installation?, String?) {
        guard try !InstallationRecords.isTombstoned(team: team, in: db),
            let installation = try InstallationRecords.installation(team: team, in: db)
        else { return (.notInstalled, nil, nil) }
        guard installation.tokenEnvelope != nil else { return (.tokenRevoked, installation, nil) }
        let (id, isNew) = try message(installation.clientId).store(at: now, in: db)
        return (isNew ? .captured : .alreadyCaptured, installation, id)
    }

    /// Event type names are Slack's identifiers; cap them anyway so a log line stays a line.
    static func loggable(_ type: String) -> String {
        String(type.prefix(64).filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." })
    }
}
