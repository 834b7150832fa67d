public import Foundation

/// One queued job: the slow half of a Slack request, or local work with a deadline. Payloads hold ids and outcome
/// codes only, never message text.
public struct SlackJob: Sendable, Equatable {
    /// What a job does; the raw value is what the queue stores.
    public enum Kind: String, Sendable, CaseIterable {
        /// Fetch a reacted-to message and store it.
        case captureReaction = "slack.capture"
        /// Tell a member how their forward went.
        case notify = "slack.notify"
        /// Answer through an interaction's `response_url`.
        case respond = "slack.respond"
        /// Scrub author and forwarder ids of an uninstalled workspace (deadline: event + 60 s).
        case uninstall = "slack.uninstall"
        /// Revoke a token of a closed account.
        case revoke = "slack.revoke"
        /// Post a new `api`/`widget` item to the workspace's notify channel.
        case postFeedback = "slack.post"
        /// One step of a recovery sweep over the channels' recent history (re-enqueued with its progress).
        case recover = "slack.recover"
        /// Publish a member's App Home tab.
        case publishHome = "slack.home"
        /// Delete the post of an item deleted since (`chat.delete`).
        case unpost = "slack.unpost"
        /// Ask Slack whether the workspace's token still works (`auth.test`, daily): finds an uninstall whose
        /// `app_uninstalled` never arrived.
        case checkToken = "slack.check"

        /// Jobs an uninstall cancels: everything that would call Slack for the workspace with its (now deleted)
        /// token. The scrub and closed accounts' revocations stay.
        public static let cancelledByUninstall: [Kind] = [
            .captureReaction, .notify, .respond, .postFeedback, .recover, .publishHome, .unpost, .checkToken,
        ]

        /// Jobs that open their workspace's bot token (the installation's): an instance without the key it was
        /// sealed under can do nothing with them (`SlackJobKeyFilter`). The scrub needs no token, and a closed
        /// account's revocation carries its own envelope. (An answer through `response_url` needs none either, but
        /// it also asks for the row's permalink with the token: left to an instance that can do both.)
        public static let opensWorkspaceToken: Set<Kind> = Set(cancelledByUninstall)
    }

    /// The work and its typed payload.
    public enum Work: Sendable, Equatable {
        case captureReaction(CaptureReactionJob)
        case notify(NotifyJob)
        case respond(RespondJob)
        case uninstall(UninstallJob)
        case revoke(RevokeJob)
        case postFeedback(PostFeedbackJob)
        case recover(RecoverJob)
        case publishHome(PublishHomeJob)
        case unpost(UnpostJob)
        case checkToken(CheckTokenJob)

        /// The Slack member the work is for or by, when it names one.
        public var member: String? {
            switch self {
            case .captureReaction(let payload): payload.user
            case .notify(let payload): payload.user
            case .publishHome(let payload): payload.user
            case .respond(let payload): payload.user
            case .uninstall, .revoke, .postFeedback, .recover, .unpost, .checkToken: nil
            }
        }

        /// The stored kind.
        public var kind: Kind {
            switch self {
            case .captureReaction: .captureReaction
            case .notify: .notify
            case .respond: .respond
            case .uninstall: .uninstall
            case .revoke: .revoke
            case .postFeedback: .postFeedback
            case .recover: .recover
            case .publishHome: .publishHome
            case .unpost: .unpost
            case .checkToken: .checkToken
            }
        }

        /// The payload as stored: compact JSON of the kind's payload type.
        public func encodedPayload() throws -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            switch self {
            case .captureReaction(let payload): return try encoder.encode(payload)
            case .notify(let payload): return try encoder.encode(payload)
            case .respond(let payload): return try encoder.encode(payload)
            case .uninstall(let payload): return try encoder.encode(payload)
            case .revoke(let payload): return try encoder.encode(payload)
            case .postFeedback(let payload): return try encoder.encode(payload)
            case .recover(let payload): return try encoder.encode(payload)
            case .publishHome(let payload): return try encoder.encode(payload)
            case .unpost(let payload): return try encoder.encode(payload)
            case .checkToken(let payload): return try encoder.encode(payload)
            }
        }

        /// Decodes a stored job; throws `SlackJobDecodingError` for an unknown kind or a payload that does not fit
        /// its kind (never a default).
        public init(kind rawKind: String, payload: Data) throws {
            guard let kind = Kind(rawValue: rawKind) else { throw SlackJobDecodingError.unknownKind }
            let decoder = JSONDecoder()
            do {
                switch kind {
                case .captureReaction: self = .captureReaction(try decoder.decode(CaptureReactionJob.self, from: payload))
                case .notify: self = .notify(try decoder.decode(NotifyJob.self, from: payload))
                case .respond: self = .respond(try decoder.decode(RespondJob.self, from: payload))
                case .uninstall: self = .uninstall(try decoder.decode(UninstallJob.self, from: payload))
                case .revoke: self = .revoke(try decoder.decode(RevokeJob.self, from: payload))
                case .postFeedback: self = .postFeedback(try decoder.decode(PostFeedbackJob.self, from: payload))
                case .recover: self = .recover(try decoder.decode(RecoverJob.self, from: payload))
                case .publishHome: self = .publishHome(try decoder.decode(PublishHomeJob.self, from: payload))
                case .unpost: self = .unpost(try decoder.decode(UnpostJob.self, from: payload))
                case .checkToken: self = .checkToken(try decoder.decode(CheckTokenJob.self, from: payload))
                }
            } catch {
                throw SlackJobDecodingError.payloadMismatch(kind: kind)
            }
        }
    }

    /// The queue's id of the job.
    public var id: Int64
    /// The client the job works for; nil for jobs that must outlive the client (scrub, revoke).
    public var clientId: String?
    /// The workspace; jobs of one workspace run one at a time.
    public var teamId: String?
    public var work: Work
    /// Due instant, epoch milliseconds.
    public var runAt: Int64
    /// Failed attempts so far.
    public var attempts: Int
    /// When the job must have finished (the uninstall scrub), epoch milliseconds.
    public var deadlineAt: Int64?
    /// When the job was queued, epoch milliseconds; nil when the store does not say.
    public var createdAt: Int64?
    /// A post (`.postFeedback`): when it first went out to Slack without a known answer (`markPostSent`), epoch
    /// milliseconds; 0 when it never did. The uninstall scrub counts its rows there too (not read back).
    public var progress: Int64
    /// Which claim of the job this value was read under: each claim counts one up. A worker's finish, reschedule,
    /// lease renewal and post mark take effect only while the job's row still has it, so a worker that stalled past
    /// its lease (a paused process) and resumes after another took the job over changes nothing of the other's.
    public var claim: Int64

    /// The job as the worker that claimed it holds it.
    public var lease: SlackJobLease { SlackJobLease(id: id, claim: claim) }

    /// The stored kind.
    public var kind: Kind { work.kind }

    /// Creates a job value.
    public init(
        id: Int64, clientId: String?, teamId: String?, work: Work, runAt: Int64, attempts: Int, deadlineAt: Int64?,
        createdAt: Int64? = nil, progress: Int64 = 0, claim: Int64 = 0
    ) {
        self.progress = progress
        self.claim = claim
        self.id = id
        self.clientId = clientId
        self.teamId = teamId
        self.work = work
        self.runAt = runAt
        self.attempts = attempts
        self.deadlineAt = deadlineAt
        self.createdAt = createdAt
    }
}

/// A claimed job as its worker holds it: the job's id and the claim it was taken under (`SlackJob.claim`).
public struct SlackJobLease: Sendable, Hashable {
    public var id: Int64
    public var claim: Int64

    /// Creates a lease value.
    public init(id: Int64, claim: Int64) {
        self.id = id
        self.claim = claim
    }
}

/// A job a store could not decode; it is parked for an operator, never run with guessed fields.
public enum SlackJobDecodingError: Error, Sendable, Equatable {
    case unknownKind
    case payloadMismatch(kind: SlackJob.Kind)
}

/// A job to add to the queue.
public struct NewSlackJob: Sendable, Equatable {
    public var clientId: String?
    public var teamId: String?
    public var work: SlackJob.Work
    /// Due instant, epoch milliseconds.
    public var runAt: Int64
    /// Deadline, epoch milliseconds.
    public var deadlineAt: Int64?

    /// Creates a job to enqueue.
    public init(clientId: String?, teamId: String?, work: SlackJob.Work, runAt: Int64, deadlineAt: Int64? = nil) {
        self.clientId = clientId
        self.teamId = teamId
        self.work = work
        self.runAt = runAt
        self.deadlineAt = deadlineAt
    }

    /// This job, as the next step of a recovery sweep whose current step stored `stored` rows: its progress counts
    /// them. (The store calls it in the step's transaction, once it knows how many were new.) Other jobs as they are.
    public func countingRecovered(_ stored: Int) -> NewSlackJob {
        guard case .recover(var sweep) = work else { return self }
        sweep.captured += stored
        var job = self
        job.work = .recover(sweep)
        return job
    }

    /// The uninstall's scrub of the workspace's author and forwarder ids (those captured before a later
    /// installation only), due now. No client on the job: closing the account (which deletes its jobs) must not
    /// cancel it; the payload names the client for the audit entry.
    public static func uninstallScrub(team: String, client: String?, at now: Int64, deadline: Int64) -> NewSlackJob {
        NewSlackJob(
            clientId: nil, teamId: team, work: .uninstall(UninstallJob(clientId: client)), runAt: now,
            deadlineAt: deadline)
    }
}

/// `slack.capture`: fetch the reacted-to message `ts` in `channel` and store it, forwarded by `user`.
public struct CaptureReactionJob: Sendable, Equatable, Codable {
    public var channel: String
    public var ts: String
    public var user: String
    /// `SlackCaptureMethod` raw value (`reaction:wrench`).
    public var via: String

    /// Creates the payload.
    public init(channel: String, ts: String, user: String, via: String) {
        self.channel = channel
        self.ts = ts
        self.user = user
        self.via = via
    }
}

/// `slack.notify`: tell `user` in `channel` (in the thread `threadTs`, when set) how their forward went.
public struct NotifyJob: Sendable, Equatable, Codable {
    public var channel: String
    public var user: String
    /// `ForwardOutcome` raw value.
    public var outcome: String
    public var threadTs: String?
    /// The row a shortcut without a `response_url` stored, and its message's ts: its permalink is asked for once
    /// the member heard back, as a `slack.respond` job does for a shortcut's row.
    public var feedbackId: String?
    public var ts: String?

    /// Creates the payload.
    public init(
        channel: String, user: String, outcome: String, threadTs: String? = nil, feedbackId: String? = nil,
        ts: String? = nil
    ) {
        self.channel = channel
        self.user = user
        self.outcome = outcome
        self.threadTs = threadTs
        self.feedbackId = feedbackId
        self.ts = ts
    }
}

/// `slack.respond`: answer an interaction through its `response_url`, then fill the row's permalink.
public struct RespondJob: Sendable, Equatable, Codable {
    public var responseURL: String
    /// `ForwardOutcome` raw value.
    public var outcome: String
    public var feedbackId: String?
    public var channel: String?
    public var ts: String?
    /// The member who forwarded the message: told in the channel (or a direct message) when the `response_url`
    /// answer fails for good. Absent from jobs queued before it was kept.
    public var user: String?

    /// Creates the payload.
    public init(
        responseURL: String, outcome: String, feedbackId: String?, channel: String?, ts: String?, user: String? = nil
    ) {
        self.responseURL = responseURL
        self.outcome = outcome
        self.feedbackId = feedbackId
        self.channel = channel
        self.ts = ts
        self.user = user
    }
}

/// `slack.uninstall`: scrub the workspace's author and forwarder ids; the audit entry names `clientId`.
public struct UninstallJob: Sendable, Equatable, Codable {
    public var clientId: String?

    /// Creates the payload.
    public init(clientId: String?) {
        self.clientId = clientId
    }
}

/// `slack.revoke`: revoke a closed account's bot token, held sealed (base64 of the `KeyRing` envelope).
public struct RevokeJob: Sendable, Equatable, Codable {
    public var tokenEnvelope: String

    /// Creates the payload from the sealed envelope.
    public init(envelope: [UInt8]) {
        tokenEnvelope = Data(envelope).base64EncodedString()
    }

    /// The sealed envelope, or nil when the stored text is not base64.
    public var envelope: [UInt8]? { Data(base64Encoded: tokenEnvelope).map { [UInt8]($0) } }
}

/// `slack.post`: post the item `feedbackId` to the workspace's notify channel (read when the job runs, so a changed
/// or cleared channel applies to posts still waiting). Holds the id only, never the comment.
public struct PostFeedbackJob: Sendable, Equatable, Codable {
    public var feedbackId: String

    /// Creates the payload.
    public init(feedbackId: String) {
        self.feedbackId = feedbackId
    }
}

/// `slack.home`: publish the App Home tab for `user`.
public struct PublishHomeJob: Sendable, Equatable, Codable {
    public var user: String

    /// Creates the payload.
    public init(user: String) {
        self.user = user
    }
}

/// `slack.recover`: one step of a recovery sweep, carrying everything done so far, so a crash, a restart or a 429
/// resumes where it stopped. Holds channel ids, Slack cursors and counts, never message text.
public struct RecoverJob: Sendable, Equatable, Codable {
    /// Why it runs: `manual` (`POST /api/slack/recover`) or `startup` (the service was down).
    public var trigger: String
    /// The window: messages posted from `since` to `until` (epoch ms).
    public var since: Int64
    public var until: Int64
    /// Whether the list of the bot's channels is complete; `listCursor` continues it while it is not.
    public var listed: Bool
    public var listCursor: String?
    /// Channels still to read; the first is the one being read.
    public var channels: [String]
    /// The next `conversations.history` page of the current channel.
    public var historyCursor: String?
    /// Whether every history page of the current channel was read (its threads may still be pending).
    public var historyDone: Bool
    /// Thread parents (ts) of the current channel whose replies are still to read; the first is being read.
    public var threads: [String]
    /// The next `conversations.replies` page of the current thread.
    public var threadCursor: String?
    /// Progress, for the audit entry.
    public var channelsRead: Int
    public var channelsSkipped: Int
    /// History and reply pages read.
    public var pagesRead: Int
    /// Pages of the channel list read (nil in a sweep queued by an older version: none counted yet).
    public var listPagesRead: Int?
    /// Rows the sweep stored (not the messages it found: a message already held, deleted on purpose lately, or
    /// forwarded only by erased members is found and not stored).
    public var captured: Int
    /// Channels beyond the per-sweep limit that were not read.
    public var channelsOmitted: Int
    /// Why the sweep stopped before the end (`missing_scope`, …), if it did.
    public var stoppedBy: String?

    /// Whether the sweep has begun to read: listed channels, or started listing them.
    public var hasStarted: Bool { listed || listCursor != nil || !channels.isEmpty || pagesRead > 0 }

    /// A sweep that has not started yet.
    public init(trigger: String, since: Int64, until: Int64) {
        self.trigger = trigger
        self.since = since
        self.until = until
        listed = false
        listCursor = nil
        channels = []
        historyCursor = nil
        historyDone = false
        threads = []
        threadCursor = nil
        channelsRead = 0
        channelsSkipped = 0
        pagesRead = 0
        captured = 0
        channelsOmitted = 0
        stoppedBy = nil
    }
}

/// `slack.unpost`: the post of an item deleted since (by the admin, an erasure or a retention sweep), to delete from
/// the channel it went to. The stores queue it when they delete the item; the PostgreSQL store writes this payload
/// in SQL (`{"channel": …, "ts": …}`). A closed account's posts are handed over with its workspace's token, sealed
/// (base64 of the `KeyRing` envelope, as a revoke job holds it): the installation is gone by the time they run, and
/// the token is revoked only after them.
public struct UnpostJob: Sendable, Equatable, Codable {
    public var channel: String
    public var ts: String
    public var tokenEnvelope: String?

    /// Creates the payload; `envelope` for a post whose account was closed.
    public init(channel: String, ts: String, envelope: [UInt8]? = nil) {
        self.channel = channel
        self.ts = ts
        self.tokenEnvelope = envelope.map { Data($0).base64EncodedString() }
    }

    /// The sealed token it carries, or nil (none, or not base64).
    public var envelope: [UInt8]? { tokenEnvelope.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } }
}

/// `slack.check`: ask Slack whether the workspace's token still works. Queued once a day per installation
/// (`SlackStore.queueTokenChecks`); a token Slack refuses for good is taken as the uninstall it means.
public struct CheckTokenJob: Sendable, Equatable, Codable {
    /// Creates the payload.
    public init() {}
}
