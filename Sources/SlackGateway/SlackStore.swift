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
    /// whether the scrub was enqueued. A retried event of an installation before the current one
    /// (`Installation.isLater(thanRetriedEventAt:)`) leaves the installation alone and enqueues only the scrub, which
    /// spares what the workspace captured since it installed again.
    func acceptUninstall(team: String, eventId: String?, at now: Int64, deadline: Int64, retriedEventAt: Int64?)
        async throws -> Bool
    /// A token Slack refuses for good, to a job and again to `auth.test` (the workspace uninstalled while the
    /// service was down for longer than Slack retries `app_uninstalled`, or the workspace was deactivated): when the
    /// workspace's installation still holds `envelope`, what `acceptUninstall` does for a first delivery. Returns
    /// whether it did; false when the installation is gone or holds another token (installed again meanwhile).
    func acceptLostToken(team: String, envelope: [UInt8], at now: Int64, deadline: Int64) async throws -> Bool
    /// Slack answered `invalid_auth` for the token `envelope` seals, to a job and again to `auth.test`: the token is
    /// invalid, or the Slack app's allowed IP ranges leave this server out (a setting of the operator's, which a move
    /// of the server breaks). Records the refusal at `now` and returns when the refusals began: the first of a run in
    /// which none followed the one before by more than `gap` ms (`now` itself after a longer break). With `now` nil
    /// (`auth.test` accepted the token again), forgets them and returns nil. Nil too when the installation is gone or
    /// holds another token (installed again since: its refusals are forgotten with it).
    func noteTokenRefusal(team: String, envelope: [UInt8], at now: Int64?, continuingWithin gap: Int64)
        async throws -> Int64?
    /// `tokens_revoked`: unless the event id was seen, forget the token when one of `botUserIds` is the bot's and
    /// the event is not a retried one of an installation before the current one.
    func acceptTokensRevoked(
        team: String, eventId: String?, botUserIds: [String], at now: Int64, retriedEventAt: Int64?) async throws
    /// A shortcut or slash-command forward: stores the message for the workspace's client unless it is there
    /// already, and enqueues the `response_url` answer when one is given.
    func captureForward(_ message: CapturedMessage, at now: Date, responseURL: String?) async throws -> CaptureResult

    // MARK: Captured rows

    /// The id of the row already holding this message for this client, if any.
    func capturedFeedbackID(client: String, team: String, channel: String, ts: String) async throws -> String?
    /// The end of a capture job: deletes the job; unless the job was gone already (cancelled by an erasure of its
    /// member, or finished by another worker after its lease ran out) or the workspace uninstalled or changed client
    /// meanwhile, stores the message and enqueues the member's notice. Returns whether the message was stored as new
    /// (nil: nothing was stored).
    /// `notice.outcome` is set from the result (`SlackCaptureRules.outcome(isNew:)`).
    func completeCapture(jobID: Int64, clientID: String, message: CapturedMessage, at now: Date, notice: NotifyJob)
        async throws -> Bool?
    /// Sets a captured row's permalink when it has none.
    func fillPermalink(feedbackID: String, permalink: String) async throws
    /// Nulls author and forwarder ids of up to `limit` of the workspace's rows past `cursor`; returns how many
    /// changed, the cursor to continue from (nil when there are no more rows), and how many the uninstall job `job`
    /// has changed in all: the count is kept on the job's row in the same transaction, so that a scrub another worker
    /// takes over after a crash still counts what the first changed (its audit entry says how many rows lost their
    /// ids). Without a job (nil), that total is this batch's; when the job's row is gone (another worker took the
    /// job over after this one's lease ran out, and finished it), nil: the job is no longer this worker's to record.
    func scrubAuthors(team: String, after cursor: Int64, limit: Int, job: Int64?) async throws
        -> (changed: Int, next: Int64?, jobTotal: Int?)

    // MARK: Job queue

    /// Adds a job.
    func enqueue(_ job: NewSlackJob) async throws
    /// Claims due jobs of `kinds` and leases them until `now + lease` ms: at most one job per workspace, and none
    /// of a workspace that already has a job of `kinds` under a live lease (Slack's limits are per workspace, so
    /// each workspace's calls run one at a time, in order), oldest first, at most `limit`. Jobs whose payload cannot
    /// be decoded are parked (never due again, their error recorded) and not returned.
    ///
    /// Several lanes are claimed in one transaction, in order, each by these rules for its own kinds: one write (and
    /// one commit) for the worker's whole claim, where a transaction per lane made a reaction wait for four.
    ///
    /// With `passingOver`, jobs it matches are left for other instances: not claimed, not counted as their
    /// workspace's turn. When a store several instances share finds due jobs it passes over that it has not
    /// announced yet, it announces them (see `listenForJobsLeftHere`), so an instance that can run them claims them
    /// now instead of at its next poll.
    func claimDueJobs(now: Int64, lanes: [SlackJobLane], passingOver: SlackJobKeyFilter?) async throws -> [SlackJob]
    /// When a job of `kinds` could next be claimed (epoch ms): the earliest due instant of a job whose workspace is
    /// not busy, or the end of a live lease; nil when the queue holds none. Jobs `passingOver` matches are left out.
    func nextJobDueAt(now: Int64, kinds: Set<SlackJob.Kind>, passingOver: SlackJobKeyFilter?) async throws -> Int64?
    /// Calls `wake` whenever another instance sharing the store leaves due jobs it cannot run (a claim passing them
    /// over announced them), until the calling task is cancelled. A store that one process owns has no other
    /// instance: it returns at once.
    func listenForJobsLeftHere(_ wake: @escaping @Sendable () -> Void) async
    /// Extends the leases of jobs still running here to `until` (epoch ms), so that a lease can be short (another
    /// instance takes over soon after this one dies) while a job may run longer than it. A job no longer leased at
    /// `now` (finished, rescheduled, handed back, or expired) or claimed again since (`SlackJob.claim`) is left as
    /// it is.
    func renewJobLeases(_ leases: [SlackJobLease], now: Int64, until: Int64) async throws
    /// Deletes a finished job, enqueueing `next` in the same transaction, when the job is still there under `claim`
    /// (nil: whoever holds it, for cancelling queued work). Returns whether it was: false when another worker
    /// took the job over (claimed it again after this one's lease ran out) or it was deleted meanwhile; then
    /// nothing is deleted and `next` is not queued (the other worker queues its own).
    @discardableResult
    func finishJob(_ id: Int64, claim: Int64?, then next: NewSlackJob?) async throws -> Bool
    /// Moves a job to `runAt` and releases its lease, recording the attempt and an error code (never a message),
    /// when the job is still there under `claim` (nil: whoever holds it).
    func rescheduleJob(_ id: Int64, claim: Int64?, runAt: Int64, countAttempt: Bool, error: String) async throws
    /// Slack's 429: every job of `kind` for `team` waits until at least `until` (epoch ms), and is marked as waiting
    /// out a rate limit (`last_error` "ratelimited"); while one such job waits, jobs of that kind and workspace
    /// enqueued later are not claimed (`claimDueJobs`, `nextJobDueAt`) either. Only while `lease` (the job whose call
    /// Slack refused) is still its worker's (nil: in any case): a worker that stalled and resumes after another took
    /// its job over must not release the other's lease (a third worker then posted the item a second time).
    func postponeJobs(team: String, kind: SlackJob.Kind, until: Int64, by lease: SlackJobLease?) async throws
    /// Jobs of `kind` waiting or running (`team`'s only, when given): revoke jobs for re-sealing their envelopes, a
    /// member's queued work for cancelling it. A job whose payload no longer decodes is left out.
    func pendingJobs(kind: SlackJob.Kind, team: String?) async throws -> [SlackJob]
    /// Queues `job` unless a pending job of its kind and workspace satisfies `covers`, checked and queued in one
    /// transaction: requests on several instances at once queue one job. Whether it queued.
    func enqueueUnlessPending(_ job: NewSlackJob, coveredBy covers: @escaping @Sendable (SlackJob) -> Bool) async throws -> Bool
    /// Swaps the payload of a job that carries a sealed token (a revoke, a closed account's post deletion) while it
    /// still holds `expected` (of the same kind); returns whether it swapped.
    func replaceJobWork(jobID: Int64, expected: SlackJob.Work, with replacement: SlackJob.Work) async throws -> Bool
    /// Records a signed request's delivery key (its signature); false when it was seen before (a replay).
    func recordDelivery(_ key: String, at now: Int64) async throws -> Bool
    /// Forgets event ids and delivery keys seen before `cutoff` (epoch ms).
    func pruneSeenEvents(before cutoff: Int64) async throws
    /// Forgets the addresses of captured messages whose rows were deleted before `cutoff` (epoch ms; see
    /// `RemovedCaptures`).
    func forgetRemovedCaptures(before cutoff: Int64) async throws
    /// Remembers that a member of `clientID` (`ErasedMembers.key`) was erased at `now` (epoch ms), once the captures
    /// of the client being stored at this moment are committed: the erasure's deletions that follow see their rows,
    /// and every capture after this sees the record (`ErasedMembers`).
    func recordErasedMember(clientID: String, memberKey: String, at now: Int64) async throws
    /// Forgets erasures recorded before `cutoff` (epoch ms; `ErasedMembers.horizon`).
    func forgetErasedMembers(before cutoff: Int64) async throws

    // MARK: Settings (issue 12)

    /// Applies `change`, made at `now` (epoch ms), to the settings of the client's installation (its newest) in one
    /// transaction, as `Installation.applying(_:at:)` says. Returns the installation as changed, or nil when the
    /// client has none (or the workspace uninstalled).
    func updateSettings(client: String, _ change: SlackSettingsChange, at now: Int64) async throws -> Installation?
    /// Records the last failure (`code`) posting to `channel`, or clears it (`code` nil); only while `channel` is
    /// still the workspace's notify channel, and while `lease` (the post job whose outcome it is) is still its
    /// worker's (nil: in any case): a worker that stalled past its lease must not overwrite what the worker that took
    /// the job over found since (a problem cleared by a good post, or a newer one).
    func recordNotifyProblem(team: String, channel: String, code: String?, at now: Int64, by lease: SlackJobLease?)
        async throws
    /// Records that an event from `team` arrived at `now` (the value never moves back).
    func recordEventSeen(team: String, at now: Int64) async throws

    // MARK: Notifications, recovery, App Home (issue 12)

    /// One item of this client (what a notification posts), or nil when it is gone.
    func feedbackItem(id: String, client: String) async throws -> FeedbackItem?
    /// Records that the post job `job` is going out to Slack at `at` (epoch ms), before the call: when its answer is
    /// lost (a crash, a timeout), the next try looks for the post in the channel since the first such instant
    /// instead of posting it twice (`SlackJob.progress`, kept at that first instant). Only while the caller still
    /// holds the job (its claim, its lease live at `at`); false otherwise, and then the caller must not post: the
    /// job is another worker's, or will be once its lease is taken.
    func markPostSent(_ job: SlackJobLease, at: Int64) async throws -> Bool
    /// Forgets that mark: Slack answered that it did not take the post (a 429, an error of its own), so the next try
    /// posts without looking first. Only while the caller still holds the job: a stale worker's answer says nothing
    /// of the post the worker that took the job over may have sent.
    func unmarkPostSent(_ job: SlackJobLease) async throws
    /// Remembers where an item's post went, unless the item is gone (false): deleting the item later (by the admin,
    /// an erasure, a retention sweep) queues a `slack.unpost` job for each of its posts in the deletion's own
    /// transaction, and forgets them. An item may have two posts (a repeat); the same post recorded twice is one.
    /// Closing the account forgets its posts with everything else.
    func recordPost(_ post: PostedMessage, at now: Int64) async throws -> Bool

    /// Makes the workspace's waiting jobs of `kind` due no earlier than `notBefore` (epoch ms), keeping their order:
    /// the pace of posting to a channel. For `.postFeedback` the installation keeps the instant too
    /// (`Installation.postNotBefore`), so posts enqueued later wait behind (never move back). Only while `lease` (the
    /// job that sets the pace) is still its worker's (nil: in any case).
    func holdJobs(team: String, kind: SlackJob.Kind, notBefore: Int64, by lease: SlackJobLease?) async throws
    /// The end of one recovery step, in one transaction: deletes the step's job, and only while it is still under
    /// `job`'s claim (otherwise nothing changes: `.jobGone`); unless the workspace
    /// uninstalled or moved to another client meanwhile (`.notStored`), stores each of `messages` this client does
    /// not hold yet and did not delete lately (`RemovedCaptures`: a sweep never brings back a row deleted on purpose),
    /// flagged recovered, and enqueues `next` (the sweep with its progress, the rows stored now counted:
    /// `next.countingRecovered(stored)`).
    func completeRecoveryStep(_ job: SlackJobLease, clientID: String, messages: [CapturedMessage], next: NewSlackJob?,
                              at now: Date) async throws -> RecoveryStepOutcome
    /// Records that the service is alive at `now`. When the previous record says it was down
    /// (`SlackRecoveryRules.afterDowntime`), enqueues a recovery sweep of that window for every workspace that is
    /// installed with a token, in the same transaction, so instances starting together enqueue it once. Returns how
    /// many sweeps were enqueued.
    func heartbeat(at now: Int64) async throws -> Int
    /// Queues a `slack.check` of the token (due `now`) for up to `limit` workspaces installed with one whose token
    /// was last checked (else installed) before `checkedBefore` and that have none queued, oldest first, and records
    /// `now` as their last check, in one transaction: instances beating together queue each check once. Returns how
    /// many were queued.
    func queueTokenChecks(checkedBefore: Int64, at now: Int64, limit: Int) async throws -> Int
    /// `app_home_opened`: unless the workspace is uninstalled, its token revoked, or the event id seen before,
    /// enqueues the Home tab for `user`. Returns whether a job was enqueued.
    func acceptHomeOpened(team: String, user: String, eventId: String, at now: Int64) async throws -> Bool
    /// How many Slack messages from `team` the client captured since `since` (epoch ms).
    func captureCount(client: String, team: String, since: Int64) async throws -> Int

    // MARK: Account closure

    /// Hands every sealed token of the client to a `slack.revoke` job (not the client's, so it outlives it) and
    /// deletes the client's installations, in one transaction. The posts of the client's items to a workspace whose
    /// token it hands over, and the post deletions the client has queued there, become `slack.unpost` jobs of no
    /// client carrying that token (`UnpostJob.envelope`; the revocation waits for them). Returns how many
    /// installations went.
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
    /// The client is connected to another workspace (named here), not uninstalled: a project has one workspace,
    /// whose settings and notifications its admin API shows. Nothing changed.
    case clientHasAnotherWorkspace(teamName: String)
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

    /// The emoji of the reaction (`reaction:NAME`), nil for other methods.
    public var emoji: String? {
        if case .reaction(let name) = via { return name }
        return nil
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

extension Installation {
    /// Whether `reaction` forwards a message in this workspace: the token is alive, the reaction is not the app's
    /// own, and its emoji is one of the workspace's trigger emoji.
    public func captures(_ reaction: ReactionForward) -> Bool {
        guard tokenEnvelope != nil, !isOwnBot(user: reaction.user, botId: reaction.botId), let emoji = reaction.emoji
        else { return false }
        return settings.triggers(emoji)
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

/// How a recovery step ended in the store (`SlackStore.completeRecoveryStep`).
public enum RecoveryStepOutcome: Sendable, Equatable {
    /// The step's messages were stored (this many rows new) and the sweep's next step, if any, queued.
    case stored(Int)
    /// The workspace uninstalled or moved to another client meanwhile: nothing stored, the sweep ends.
    case notStored
    /// The job is no longer under this worker's claim: another worker took it over (this one stalled past its
    /// lease) and ends it, or an uninstall or erasure cancelled it. Nothing changed.
    case jobGone
}

/// The jobs a claim leaves to other instances: those of `kinds` (the ones that open their workspace's bot token)
/// whose workspace's token is sealed under a key that is not in `keyIDs`, queued after `queuedAfter` (epoch ms).
///
/// An instance started with another `USERO_TOKEN_KEY` (or without a previous key a token is still sealed under) so
/// never takes a job it could only hand back, where taking turns with the instances that have the key held captures
/// it acknowledged for seconds. A job queued before `queuedAfter` (a day ago: no instance with the key took it
/// meanwhile) is claimed as any other, and fails as one (`SlackJobRunner.run`). A workspace whose installation is
/// gone, or holds no token, is never passed over.
public struct SlackJobKeyFilter: Sendable, Hashable {
    public var keyIDs: Set<String>
    public var kinds: Set<SlackJob.Kind>
    public var queuedAfter: Int64

    public init(keyIDs: Set<String>, kinds: Set<SlackJob.Kind> = SlackJob.Kind.opensWorkspaceToken, queuedAfter: Int64) {
        self.keyIDs = keyIDs
        self.kinds = kinds
        self.queuedAfter = queuedAfter
    }

    /// Whether a job of `kind` queued at `createdAt` (nil: unknown, taken as recent) for a workspace whose token is
    /// sealed under `tokenKeyID` (nil: no token, or no installation) is passed over.
    public func passesOver(kind: SlackJob.Kind, createdAt: Int64?, tokenKeyID: String?) -> Bool {
        guard let tokenKeyID, kinds.contains(kind), (createdAt ?? .max) > queuedAfter else { return false }
        return !keyIDs.contains(tokenKeyID)
    }
}

/// One lane of a claim: the job kinds it takes, how many at most, and how long they are leased (ms).
public struct SlackJobLane: Sendable, Hashable {
    public var kinds: Set<SlackJob.Kind>
    public var limit: Int
    public var lease: Int64

    public init(kinds: Set<SlackJob.Kind>, limit: Int, lease: Int64) {
        self.kinds = kinds
        self.limit = limit
        self.lease = lease
    }
}

extension SlackStore {
    /// Claims due jobs, passing over none (see the requirement).
    public func claimDueJobs(now: Int64, lanes: [SlackJobLane]) async throws -> [SlackJob] {
        try await claimDueJobs(now: now, lanes: lanes, passingOver: nil)
    }

    /// When a job of `kinds` could next be claimed, passing over none (see the requirement).
    public func nextJobDueAt(now: Int64, kinds: Set<SlackJob.Kind>) async throws -> Int64? {
        try await nextJobDueAt(now: now, kinds: kinds, passingOver: nil)
    }

    /// `app_uninstalled` delivered for the first time (see the requirement).
    public func acceptUninstall(team: String, eventId: String?, at now: Int64, deadline: Int64) async throws -> Bool {
        try await acceptUninstall(team: team, eventId: eventId, at: now, deadline: deadline, retriedEventAt: nil)
    }

    /// `tokens_revoked` delivered for the first time (see the requirement).
    public func acceptTokensRevoked(team: String, eventId: String?, botUserIds: [String], at now: Int64) async throws {
        try await acceptTokensRevoked(team: team, eventId: eventId, botUserIds: botUserIds, at: now, retriedEventAt: nil)
    }

    /// Claims due jobs of `kinds` (one lane; see `claimDueJobs(now:lanes:)`).
    public func claimDueJobs(now: Int64, limit: Int, lease: Int64, kinds: Set<SlackJob.Kind>) async throws
        -> [SlackJob]
    {
        try await claimDueJobs(now: now, lanes: [SlackJobLane(kinds: kinds, limit: limit, lease: lease)])
    }

    /// Deletes the finished job `job` if this worker still holds it (see `finishJob(_:claim:then:)`).
    @discardableResult
    public func finishJob(_ job: SlackJob, then next: NewSlackJob?) async throws -> Bool {
        try await finishJob(job.id, claim: job.claim, then: next)
    }

    /// Reschedules `job` if this worker still holds it (see `rescheduleJob(_:claim:runAt:countAttempt:error:)`).
    public func rescheduleJob(_ job: SlackJob, runAt: Int64, countAttempt: Bool, error: String) async throws {
        try await rescheduleJob(job.id, claim: job.claim, runAt: runAt, countAttempt: countAttempt, error: error)
    }

    /// One batch of a scrub no job counts (benchmarks and tests).
    public func scrubAuthors(team: String, after cursor: Int64, limit: Int) async throws -> (changed: Int, next: Int64?) {
        let batch = try await scrubAuthors(team: team, after: cursor, limit: limit, job: nil)
        return (batch.changed, batch.next)
    }
}

/// Where an item's post to the notify channel went: what `chat.delete` needs to delete it once the item goes.
public struct PostedMessage: Sendable, Equatable {
    public var feedbackId: String
    public var clientId: String
    public var teamId: String
    public var channel: String
    public var ts: String

    /// Creates the record.
    public init(feedbackId: String, clientId: String, teamId: String, channel: String, ts: String) {
        self.feedbackId = feedbackId
        self.clientId = clientId
        self.teamId = teamId
        self.channel = channel
        self.ts = ts
    }
}
