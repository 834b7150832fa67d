public import Feedback
public import Foundation

/// What the Slack gateway needs stored: installations (tokens only sealed), tombstones of uninstalled workspaces,
/// OAuth states, seen event ids, the Slack side of captured rows, and its durable job queue.
///
/// Every method is one transaction. Methods that decide and enqueue together (`acceptReaction`,
/// `acceptUninstall`, `captureForward`, `completeCapture`) do so atomically, so a crash never leaves a row without
/// its follow-up job or a job without its dedupe record. The rules they apply are the module's own (`Installation`,
/// `SlackCaptureRules`); adapters only sequence reads and writes.
public protocol SlackStore: Sendable {
    // MARK: Installations

    /// The workspace's installation, unless it uninstalled (tombstone) or never installed.
    func activeInstallation(team: String) async throws -> Installation?
    /// The client's newest installation, if any.
    func installation(client: String) async throws -> Installation?
    /// Every installation that still holds a sealed token.
    func sealedInstallations() async throws -> [Installation]
    /// Stores an installation (replacing the workspace's previous one of the same client) and lifts the
    /// workspace's tombstone, unless its client is unknown or being deleted, or the workspace is installed for
    /// another live client (a workspace belongs to one client until it uninstalls).
    func saveInstallation(_ installation: Installation) async throws -> InstallationSaveResult
    /// Swaps a workspace's sealed token for a re-sealed one, only while it still holds `expected` (a reinstall in
    /// between wins); returns whether it swapped.
    func replaceTokenEnvelope(team: String, expected: [UInt8], with envelope: [UInt8], keyId: String) async throws
        -> Bool

    // MARK: OAuth states

    /// Records a one-time install state and forgets states that expired before `pruneBefore`.
    func saveOAuthState(nonce: String, clientID: String, expiresAt: Int64, pruneBefore: Int64) async throws
    /// Consumes the state: true once, while unexpired at `now`.
    func consumeOAuthState(nonce: String, clientID: String, now: Int64) async throws -> Bool

    // MARK: Ingest (answering Slack)

    /// A trigger reaction: unless the workspace is tombstoned or uninstalled, the token revoked, the reaction the
    /// bot's own, or the event id seen before, enqueue the capture (or, when the message is already captured,
    /// just the notice) and record the event id. Returns whether a job was enqueued.
    func acceptReaction(_ reaction: ReactionForward, at now: Int64) async throws -> Bool
    /// `app_uninstalled`: unless the event id was seen, tombstone the workspace (remembering its client), delete
    /// its installation and token and its pending Slack calls, and enqueue the scrub with its deadline. Returns
    /// whether the scrub was enqueued.
    func acceptUninstall(team: String, eventId: String?, at now: Int64, deadline: Int64) async throws -> Bool
    /// `tokens_revoked`: unless the event id was seen, forget the token when one of `botUserIds` is the bot's.
    func acceptTokensRevoked(team: String, eventId: String?, botUserIds: [String], at now: Int64) async throws
    /// A shortcut or slash-command forward: stores the message for the workspace's client unless it is there
    /// already, and enqueues the `response_url` answer when one is given.
    func captureForward(_ message: CapturedMessage, at now: Date, responseURL: String?) async throws -> CaptureResult

    // MARK: Captured rows

    /// The id of the row already holding this message for this client, if any.
    func capturedFeedbackID(client: String, team: String, channel: String, ts: String) async throws -> String?
    /// The end of a capture job: deletes the job; unless the workspace uninstalled or changed client meanwhile,
    /// stores the message and enqueues the member's notice. Returns whether the message was stored as new (nil:
    /// nothing was stored).
    /// `notice.outcome` is set from the result (`SlackCaptureRules.outcome(isNew:)`).
    func completeCapture(jobID: Int64, clientID: String, message: CapturedMessage, at now: Date, notice: NotifyJob)
        async throws -> Bool?
    /// Sets a captured row's permalink when it has none.
    func fillPermalink(feedbackID: String, permalink: String) async throws
    /// Nulls author and forwarder ids of up to `limit` of the workspace's rows past `cursor`; returns how many
    /// changed and the cursor to continue from (nil when there are no more rows).
    func scrubAuthors(team: String, after cursor: Int64, limit: Int) async throws -> (changed: Int, next: Int64?)

    // MARK: Job queue

    /// Adds a job.
    func enqueue(_ job: NewSlackJob) async throws
    /// Claims due jobs of `kinds` and leases them until `now + lease` ms: at most one job per workspace, and none
    /// of a workspace that already has a job of `kinds` under a live lease (Slack's limits are per workspace, so
    /// each workspace's calls run one at a time, in order), oldest first, at most `limit`. Jobs whose payload cannot
    /// be decoded are parked (never due again, their error recorded) and not returned.
    func claimDueJobs(now: Int64, limit: Int, lease: Int64, kinds: Set<SlackJob.Kind>) async throws -> [SlackJob]
    /// When a job of `kinds` could next be claimed (epoch ms): the earliest due instant of a job whose workspace is
    /// not busy, or the end of a live lease; nil when the queue holds none.
    func nextJobDueAt(now: Int64, kinds: Set<SlackJob.Kind>) async throws -> Int64?
    /// Deletes a finished job, enqueueing `next` in the same transaction when given.
    func finishJob(_ id: Int64, then next: NewSlackJob?) async throws
    /// Moves a job to `runAt` and releases its lease, recording the attempt and an error code (never a message).
    func rescheduleJob(_ id: Int64, runAt: Int64, countAttempt: Bool, error: String) async throws
    /// Slack's 429: every job of `kind` for `team` waits until at least `until` (epoch ms).
    func postponeJobs(team: String, kind: SlackJob.Kind, until: Int64) async throws
    /// Revoke jobs waiting to run, for re-sealing their envelopes.
    func pendingRevokeJobs() async throws -> [SlackJob]
    /// Swaps the envelope of a revoke job while it still holds `expected`; returns whether it swapped.
    func replaceRevokeEnvelope(jobID: Int64, expected: RevokeJob, with replacement: RevokeJob) async throws -> Bool
    /// Records a signed request's delivery key (its signature); false when it was seen before (a replay).
    func recordDelivery(_ key: String, at now: Int64) async throws -> Bool
    /// Forgets event ids and delivery keys seen before `cutoff` (epoch ms).
    func pruneSeenEvents(before cutoff: Int64) async throws

    // MARK: Account closure

    /// Hands every sealed token of the client to a `slack.revoke` job (not the client's, so it outlives it) and
    /// deletes the client's installations, in one transaction. Returns how many installations went.
    func handOverTokens(clientID: String, at now: Int64) async throws -> Int
    /// Deletes the client's queued jobs, OAuth states and tombstones; returns counts by kind (`jobs`,
    /// `oauthStates`, `slackTombstones`).
    func eraseClientRecords(clientID: String) async throws -> DeletionCounts
}

/// How saving an installation ended.
public enum InstallationSaveResult: Sendable, Equatable {
    case saved
    /// The client of the install link is unknown or being deleted.
    case clientGone
    /// The workspace is installed for another client; nothing changed.
    case ownedByAnotherClient
}

/// A trigger reaction as ingest hands it to the store.
public struct ReactionForward: Sendable, Equatable {
    public var team: String
    public var channel: String
    public var ts: String
    /// The member who reacted.
    public var user: String
    /// `bot_id` on the event, when a bot reacted.
    public var botId: String?
    public var eventId: String
    public var via: SlackCaptureMethod

    /// Creates a reaction forward.
    public init(
        team: String, channel: String, ts: String, user: String, botId: String?, eventId: String,
        via: SlackCaptureMethod
    ) {
        self.team = team
        self.channel = channel
        self.ts = ts
        self.user = user
        self.botId = botId
        self.eventId = eventId
        self.via = via
    }

    /// The job to enqueue for `installation`: the capture, or just the notice when the message is in the inbox.
    public func job(for installation: Installation, alreadyCaptured: Bool, at now: Int64) -> NewSlackJob {
        let work: SlackJob.Work =
            alreadyCaptured
            ? .notify(NotifyJob(channel: channel, user: user, outcome: ForwardOutcome.alreadyCaptured.rawValue))
            : .captureReaction(CaptureReactionJob(channel: channel, ts: ts, user: user, via: via.rawValue))
        return NewSlackJob(clientId: installation.clientId, teamId: team, work: work, runAt: now)
    }
}

/// How a shortcut or command forward ended.
public struct CaptureResult: Sendable, Equatable {
    public var outcome: ForwardOutcome
    /// The client of the workspace, when it is installed.
    public var clientId: String?
    /// The row holding the message, when it was stored now or before.
    public var feedbackId: String?

    /// Creates a result.
    public init(outcome: ForwardOutcome, clientId: String?, feedbackId: String?) {
        self.outcome = outcome
        self.clientId = clientId
        self.feedbackId = feedbackId
    }
}
