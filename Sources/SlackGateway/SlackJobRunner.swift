public import Feedback
import Foundation
public import Logging
public import UseroCrypto

/// Does one job: the slow half of every Slack request. Decides retry, reschedule or give-up from the error.
public struct SlackJobRunner: Sendable {
    /// How a job run ended, for the worker's per-workspace loop.
    public enum Result: Sendable, Equatable {
        case finished
        case retryLater
        /// Slack said 429: the rest of this workspace's work of this kind waits too.
        case rateLimited
    }

    /// Rows scrubbed per transaction on uninstall: big enough to finish 1M rows in seconds, small enough to
    /// keep other writers waiting only briefly.
    public static let scrubBatch = 25_000
    /// The longest a Slack `Retry-After` may postpone a workspace's jobs (an hour); longer answers are clamped.
    public static let maxRetryAfterSeconds = 3_600
    /// A 429 does not count as a failed attempt, so a job Slack keeps rate-limiting would otherwise wait for ever:
    /// one queued this long ago (a day, epoch ms) is given up at its next 429, as a job out of attempts is.
    public static let rateLimitedGiveUpAge: Int64 = 86_400_000
    /// How long a job whose token was sealed under a key this instance lacks waits before any instance may claim it
    /// again (epoch ms). The worker's claim passes such jobs over (`SlackJobWorker.keyFilter`), so this is for what
    /// it cannot see coming: a closed account's revocation (its envelope travels in the job), and a token sealed
    /// again under another key between the claim and the run. Short, not a spin: each turn costs one claim and one
    /// write.
    public static let unknownKeyDelay: Int64 = 2_000

    /// What the outbound jobs (issue 12) need beyond the store and Slack.
    public struct Options: Sendable {
        /// The service's external base URL: links to the inbox in posts and the Home tab.
        public var publicURL: String
        /// Least time between two posts to a workspace's notify channel (Slack allows about one message a second
        /// per channel), epoch ms.
        public var postInterval: Int64
        /// Time between two steps of a recovery sweep, ms: each step is one `users.conversations`,
        /// `conversations.history` or `conversations.replies` call, and Tier 3 allows about 50 a minute.
        public var recoveryStepInterval: Int64

        /// Creates options.
        public init(publicURL: String = "http://127.0.0.1:8080", postInterval: Int64 = 1_000, recoveryStepInterval: Int64 = 1_200) {
            self.publicURL = publicURL
            self.postInterval = postInterval
            self.recoveryStepInterval = recoveryStepInterval
        }
    }

    let store: any SlackStore
    let auditor: any DeletionAuditor
    let api: any SlackWebAPI
    let keyRing: KeyRing
    let clock: any WallClock
    let logger: Logger
    let wakeup: JobWakeup
    let options: Options

    /// Creates a runner.
    public init(
        store: any SlackStore, auditor: any DeletionAuditor, api: any SlackWebAPI, keyRing: KeyRing,
        clock: any WallClock, logger: Logger, wakeup: JobWakeup, options: Options = Options()
    ) {
        self.store = store
        self.auditor = auditor
        self.api = api
        self.keyRing = keyRing
        self.clock = clock
        self.logger = logger
        self.wakeup = wakeup
        self.options = options
    }

    var now: Int64 { epochMillis(clock.now()) }

    /// Runs `job` and records what follows: deletion, a later `run_at`, or a give-up.
    public func run(_ job: SlackJob) async -> Result {
        var metadata: Logger.Metadata = ["slack.job_id": "\(job.id)", "slack.job_kind": "\(job.kind.rawValue)"]
        if let team = job.teamId { metadata["slack.team_id"] = "\(team)" }
        do {
            switch job.work {
            case .captureReaction(let payload): try await captureReaction(job, payload)
            case .notify(let payload): try await notify(job, payload)
            case .respond(let payload): try await respond(job, payload)
            case .uninstall(let payload): try await scrub(job, payload)
            case .revoke(let payload): try await revoke(job, payload)
            case .postFeedback(let payload): try await postFeedback(job, payload)
            case .recover(let payload): try await recover(job, payload)
            case .publishHome(let payload): try await publishHome(job, payload)
            case .unpost(let payload): try await unpost(job, payload)
            case .checkToken: try await checkToken(job)
            }
            logger.debug("Slack job ran", metadata: metadata)
            return .finished
        } catch is CancellationError {
            return .retryLater
        } catch CryptoError.unknownKey where job.createdAt.map({ now - $0 < Self.rateLimitedGiveUpAge }) ?? true {
            // The token was sealed under a key this instance does not have: a replica started with another
            // `USERO_TOKEN_KEY` (said at its start). Failing here would use up the job's attempts on every instance
            // (this one would keep taking the retries); it is left for one that has the key, or for the key to be
            // set, or for the workspace to install again, without an attempt used. A day on, it fails as any other.
            logger.debug("Slack job left for an instance with its token's key", metadata: metadata)
            _ = try? await store.rescheduleJob(
                job, runAt: now + Self.unknownKeyDelay, countAttempt: false, error: "token_key_unknown")
            return .retryLater
        } catch let error as SlackAPIError {
            metadata["slack.error"] = "\(Self.code(error))"
            return await failed(job, error: error, metadata: metadata)
        } catch {
            metadata.merge(errorMetadata(error)) { _, new in new }
            logger.warning("Slack job failed", metadata: metadata)
            return await retryOrDrop(job, code: "internal", metadata: metadata)
        }
    }

    /// Deletes the finished job, queueing `next` with it; when another worker took the job over meanwhile (this one
    /// stalled past its lease), nothing is written, and the log says so: only the worker that holds a job records it
    /// as done.
    func finish(_ job: SlackJob, then next: NewSlackJob?) async throws {
        if try await !store.finishJob(job, then: next) { takenOver(job) }
    }

    /// Says that `job`'s end was dropped: another worker took the job over while this one stalled past its lease, or
    /// the job was cancelled meanwhile (an uninstall, an erasure of its member).
    func takenOver(_ job: SlackJob) {
        logger.info(
            "Slack job was taken over by another worker or cancelled: this one's end of it is dropped",
            metadata: ["slack.job_id": "\(job.id)", "slack.job_kind": "\(job.kind.rawValue)"])
    }

    // MARK: Failures

    private func failed(_ job: SlackJob, error: SlackAPIError, metadata: Logger.Metadata) async -> Result {
        if case .rateLimited = error, job.kind != .uninstall, let created = job.createdAt,
            now - created >= Self.rateLimitedGiveUpAge
        {
            logger.warning("Slack job gave up", metadata: metadata)
            await giveUp(job, error: error)
            return .finished
        }
        if case .rateLimited(let seconds) = error, let team = job.teamId {
            // Every job of this kind for this workspace waits out Slack's Retry-After: no spinning. The figure is
            // Slack's word, so it is clamped before it meets arithmetic.
            let wait = Int64(min(max(seconds, 1), Self.maxRetryAfterSeconds)) * 1000
            _ = try? await store.postponeJobs(team: team, kind: job.kind, until: now + wait, by: job.lease)
            if job.kind == .postFeedback {
                // Posts enqueued while this one waits queue behind it.
                _ = try? await store.holdJobs(team: team, kind: .postFeedback, notBefore: now + wait, by: job.lease)
            }
            logger.debug("Slack rate limit", metadata: metadata)
            return .rateLimited
        }
        if error.isRetryable { return await retryOrDrop(job, code: Self.code(error), metadata: metadata) }
        if error.meansInstallationGone {
            switch await uninstallIfTokenIsDead(job, metadata: metadata) {
            case .uninstalled: return .finished
            case .unknown: return await retryOrDrop(job, code: Self.code(error), metadata: metadata)
            case .refused(let since):
                // Said, with what it means, by the check. Tried again within the hour, and at the grace's end.
                let next = min(now + Self.refusedRetryDelay, since + Self.invalidAuthGrace)
                await reschedule(job, runAt: max(next, now), countAttempt: false, code: Self.code(error))
                return .retryLater
            case .alive where job.kind == .checkToken:
                // The daily check's own `auth.test` refused the token, the second accepted it: a moment's refusal,
                // nothing dropped. The next check comes in a day.
                logger.info("Slack refused this workspace's token once, then accepted it: the token works", metadata: metadata)
            case .alive:
                // Slack refuses the stored token for this call, but not to `auth.test` (or the job used none):
                // nobody can be told in Slack, so the operator is, once a job. Never the token.
                logger.warning(
                    "Slack refused this workspace's token: what it asked is dropped until usero is installed again",
                    metadata: metadata)
            }
        } else {
            logger.debug("Slack job ended", metadata: metadata)
        }
        await giveUp(job, error: error)
        return .finished
    }

    /// What `auth.test` said of a token Slack refused to a job.
    enum TokenCheck: Equatable {
        /// Refused again: the workspace was treated as uninstalled.
        case uninstalled
        /// Accepted, installed again since, or the job used no workspace token: the refusal was of something else.
        case alive
        /// Slack could not be asked (unreachable, rate-limited): the job tries again later.
        case unknown
        /// Refused with `invalid_auth` since this instant, for less than `invalidAuthGrace` so far: the installation
        /// stays, and the job tries again.
        case refused(since: Int64)
    }

    /// How long Slack must have been answering `invalid_auth` for an installation's token, without a break, before
    /// it is taken for an uninstall (3 days). Unlike `token_revoked` and `account_inactive`, that answer also means
    /// that the Slack app's allowed IP ranges leave this server out, an operator's setting that a move of the server
    /// breaks: an uninstall then would delete every workspace's token and scrub its members' ids for a mistake that
    /// is mended in a minute. Over a weekend, the warnings have said so.
    public static let invalidAuthGrace: Int64 = 3 * 86_400_000
    /// Meanwhile a refused job tries again this often (1 hour), without using an attempt: its work goes on once the
    /// token works again, and while it does not, the refusals go on being recorded, so that the grace ends for a
    /// workspace that uninstalled for real without waiting for new work to call Slack.
    public static let refusedRetryDelay: Int64 = 3_600_000
    /// Refusals further apart than this (6 hours: refused jobs come back every hour) are two outages, not one: the
    /// grace starts over from the later one.
    public static let refusalGap: Int64 = 6 * 3_600_000

    /// Slack refused the workspace's token to `job`. Its `app_uninstalled` may have been missed: Slack retries an
    /// event for a few minutes only, and the service may have been down longer (the startup recovery sweep is then
    /// the first to call with the token). When `auth.test` refuses the token too (`token_revoked`,
    /// `account_inactive`; `invalid_auth` once it has lasted `invalidAuthGrace`), the installation that holds it is
    /// treated as the event would have: token deleted, pending calls cancelled (this job among them), and the
    /// author ids scrubbed within the scrub's deadline from now, the promise kept from the moment it can be.
    private func uninstallIfTokenIsDead(_ job: SlackJob, metadata: Logger.Metadata) async -> TokenCheck {
        guard SlackJob.Kind.opensWorkspaceToken.contains(job.kind), let team = job.teamId,
            case let (installation, token)? = try? await token(team: team),
            let envelope = installation.tokenEnvelope
        else { return .alive }
        do {
            _ = try await api.authTest(token: token)
            // Accepted: a refusal recorded before is over (an IP range mended, say).
            _ = try? await store.noteTokenRefusal(team: team, envelope: envelope, at: nil, continuingWithin: Self.refusalGap)
            return .alive
        } catch let error as SlackAPIError where error.meansTokenDead {
            do {
                let now = self.now
                if error == .slack(code: "invalid_auth") {
                    guard let since = try await store.noteTokenRefusal(
                        team: team, envelope: envelope, at: now, continuingWithin: Self.refusalGap)
                    else { return .alive }
                    guard now - since >= Self.invalidAuthGrace else {
                        var metadata = metadata
                        metadata["slack.refused_since"] = "\(iso8601(millis: since))"
                        logger.warning(
                            "Slack answers invalid_auth for this workspace's token: it is no longer valid, or the Slack app's allowed IP ranges leave this server out; the job tries again hourly, and the workspace is treated as uninstalled (token deleted, author ids scrubbed) once this has lasted 3 days",
                            metadata: metadata)
                        return .refused(since: since)
                    }
                }
                guard try await store.acceptLostToken(
                    team: team, envelope: envelope, at: now, deadline: now + SlackIngest.scrubDeadline)
                else { return .alive }
            } catch {
                return .unknown
            }
            // Uninstalled while usero could not hear it, or the workspace deactivated.
            logger.warning(
                "Slack refuses this workspace's token for good: treated as uninstalled, token deleted, author ids scrubbed",
                metadata: metadata)
            wakeup.signal()
            return .uninstalled
        } catch let error as SlackAPIError where !error.isRetryable {
            return .alive
        } catch {
            return .unknown
        }
    }

    private func retryOrDrop(_ job: SlackJob, code: String, metadata: Logger.Metadata) async -> Result {
        if job.attempts + 1 >= Self.maxAttempts(job.kind) || Self.outlived(job, now: now) {
            var metadata = metadata
            if case .unpost(let post) = job.work {
                // Nothing else knows where the post is any more: the operator may delete it by hand.
                metadata["slack.channel"] = "\(post.channel)"
                metadata["slack.ts"] = "\(post.ts)"
            }
            logger.warning("Slack job gave up", metadata: metadata)
            if job.kind == .postFeedback, let team = job.teamId,
                let channel = try? await store.activeInstallation(team: team)?.settings.notifyChannel
            {
                // A post given up on after its retries leaves the admin a word too (see `postFeedback`).
                _ = try? await store.recordNotifyProblem(
                    team: team, channel: channel, code: "unreachable", at: now, by: job.lease)
            }
            await giveUp(job, error: .unreachable)
            return .finished
        }
        await reschedule(job, runAt: now + Self.retryDelay(job.kind, attempt: job.attempts), countAttempt: true, code: code)
        return .retryLater
    }

    /// Runs `job` again at `runAt`.
    private func reschedule(_ job: SlackJob, runAt: Int64, countAttempt: Bool, code: String) async {
        if job.kind == .postFeedback, let team = job.teamId {
            // Posts arrive in order: the ones behind this one wait with it. Held while this one still holds its
            // lease, as the pace is on success: rescheduled first, it freed the workspace's lane, and a worker
            // claiming in between posted the next item before this one.
            _ = try? await store.holdJobs(team: team, kind: .postFeedback, notBefore: runAt, by: job.lease)
        }
        _ = try? await store.rescheduleJob(job, runAt: runAt, countAttempt: countAttempt, error: code)
    }

    /// Ends a job for good; a failed capture still tells the forwarder why, when Slack lets us.
    private func giveUp(_ job: SlackJob, error: SlackAPIError) async {
        let outcome: ForwardOutcome
        if case .slack(let code) = error { outcome = .forPermanentError(code) } else { outcome = .slackUnavailable }
        var notice: NewSlackJob?
        if case .captureReaction(let payload) = job.work, !error.meansInstallationGone {
            notice = NewSlackJob(
                clientId: job.clientId, teamId: job.teamId,
                work: .notify(NotifyJob(channel: payload.channel, user: payload.user, outcome: outcome.rawValue)),
                runAt: now)
        }
        if case .respond(let payload) = job.work, let channel = payload.channel, let user = payload.user {
            // The shortcut's answer could not go through its `response_url` (expired after 30 minutes and five
            // uses, or Slack unreachable all along): the member hears what became of the forward from the app
            // itself, in the channel or, where the app may not post, in a direct message.
            notice = NewSlackJob(
                clientId: job.clientId, teamId: job.teamId,
                work: .notify(NotifyJob(channel: channel, user: user, outcome: payload.outcome)), runAt: now)
        }
        if case .recover(var sweep) = job.work {
            // A sweep that cannot go on still says in the audit what it covered.
            sweep.stoppedBy = SlackJobRunner.code(error)
            await recordRecovery(job, sweep)
        }
        _ = try? await finish(job, then: notice)
        if notice != nil { wakeup.signal() }
    }

    /// Attempts before giving up: the scrub never gives up (it is local work with a deadline), and the deletion of a
    /// post gives up by its age (`outlived`).
    static func maxAttempts(_ kind: SlackJob.Kind) -> Int {
        switch kind {
        case .captureReaction: 8
        case .notify, .respond, .revoke, .publishHome, .checkToken: 5
        case .recover: 8
        // A post waits out a Slack outage of about a quarter of an hour before it is dropped.
        case .postFeedback: 12
        case .uninstall, .unpost: Int.max
        }
    }

    /// How long the deletion of a deleted item's post keeps trying through failures Slack may recover from (an
    /// outage, the network): the job is the only record of where the post is, so a quarter of an hour's attempts
    /// (as a post has) would leave the item's text in the channel after any longer outage (epoch ms).
    public static let unpostGiveUpAge: Int64 = 86_400_000

    /// How often the deletion of a post looks again for a token its workspace revoked (epoch ms).
    public static let tokenAwaitedDelay: Int64 = 600_000

    /// Whether `job` is too old to try again: only the deletion of a post is judged by its age.
    static func outlived(_ job: SlackJob, now: Int64) -> Bool {
        job.kind == .unpost && job.createdAt.map { now - $0 >= unpostGiveUpAge } ?? false
    }

    /// The wait before a failed job runs again (milliseconds): `backoff`, except for the uninstall scrub, which has a
    /// 60-second deadline to keep and retries every second or two whatever went wrong (a busy store, a failover).
    static func retryDelay(_ kind: SlackJob.Kind, attempt: Int) -> Int64 {
        kind == .uninstall ? min(backoff(attempt: attempt), 2_000) : backoff(attempt: attempt)
    }

    /// 1 s, 2 s, 4 s … doubling up to 256 s, the wait from the ninth attempt on (milliseconds).
    static func backoff(attempt: Int) -> Int64 {
        (Int64(1) << Int64(min(max(attempt, 0), 8))) * 1000
    }

    static func code(_ error: SlackAPIError) -> String {
        switch error {
        case .rateLimited: "ratelimited"
        case .server(let status): "http_\(status)"
        case .http(let status): "http_\(status)"
        case .slack(let code): String(code.prefix(64))
        case .unreachable: "unreachable"
        case .malformedResponse: "malformed_response"
        }
    }

    // MARK: Tokens

    /// The installation's bot token, opened; nil when the workspace is gone, tombstoned or its token revoked.
    func token(team: String?) async throws -> (Installation, Redacted<String>)? {
        guard let team, let installation = try await store.activeInstallation(team: team),
            let envelope = installation.tokenEnvelope
        else { return nil }
        return (installation, try open(envelope, team: team))
    }

    func open(_ envelope: [UInt8], team: String) throws -> Redacted<String> {
        let secret = try keyRing.open(envelope, associatedData: Array(team.utf8))
        return Redacted(secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    // MARK: Kinds

    private func captureReaction(_ job: SlackJob, _ payload: CaptureReactionJob) async throws {
        guard let via = SlackCaptureMethod(rawValue: payload.via), let team = job.teamId,
            case let (installation, token)? = try await token(team: team)
        else {
            try await finish(job, then: nil)
            return
        }
        let (channel, ts, user) = (payload.channel, payload.ts, payload.user)
        // Forwarded again while this job waited (another member, the shortcut): no rate-limited fetch needed.
        let clientId = installation.clientId
        if try await store.capturedFeedbackID(client: clientId, team: team, channel: channel, ts: ts) != nil {
            let notice = NotifyJob(channel: channel, user: user, outcome: ForwardOutcome.alreadyCaptured.rawValue)
            try await finish(
                job, then: NewSlackJob(clientId: clientId, teamId: team, work: .notify(notice), runAt: now))
            wakeup.signal()
            return
        }
        // The message and its permalink are asked for at once: the row waits for one round trip to Slack instead of
        // two. (When the message turns out to be missing, the permalink was asked for nothing.)
        async let link = permalinkUnlessRefused(channel: channel, ts: ts, token: token)
        guard let message = try await fetchMessage(channel: channel, ts: ts, token: token) else {
            throw SlackAPIError.slack(code: "message_not_found")
        }
        let permalink = try await link
        // The app's own post (a notification of feedback already in the inbox): said so, nothing stored.
        if installation.isOwnBot(user: message.user ?? "", botId: message.botId) {
            let notice = NotifyJob(
                channel: channel, user: user, outcome: ForwardOutcome.ownPost.rawValue,
                threadTs: SlackIngest.slackID(message.parentTs))
            try await finish(
                job, then: NewSlackJob(clientId: clientId, teamId: team, work: .notify(notice), runAt: now))
            wakeup.signal()
            return
        }
        let thread = SlackIngest.slackID(message.parentTs)
        let captured = CapturedMessage(
            teamId: team, channelId: channel, messageTs: ts, threadTs: thread,
            authorId: SlackIngest.slackID(message.user), forwardedBy: user, via: via, permalink: permalink,
            text: message.forwardedText)
        let notice = NotifyJob(channel: channel, user: user, outcome: ForwardOutcome.captured.rawValue, threadTs: thread)
        // An uninstall may have landed while we fetched: then nothing is stored, so no author id comes back.
        if try await store.completeCapture(
            jobID: job.id, clientID: clientId, message: captured, at: clock.now(), notice: notice) != nil
        {
            wakeup.signal()
        }
    }

    /// The message's permalink; nil when Slack refuses it for good (the row is stored without one).
    private func permalinkUnlessRefused(channel: String, ts: String, token: Redacted<String>) async throws -> String? {
        do {
            return try await api.permalink(channel: channel, ts: ts, token: token)
        } catch let error as SlackAPIError where !error.isRetryable {
            return nil
        }
    }

    /// `conversations.replies` covers top-level messages and replies in one call (pick the exact ts, follow the
    /// cursor); `conversations.history` is the fallback when Slack says the thread isn't there.
    func fetchMessage(channel: String, ts: String, token: Redacted<String>) async throws -> Message? {
        do {
            var cursor: String?
            for _ in 0..<20 {
                let page = try await api.replies(channel: channel, ts: ts, cursor: cursor, token: token)
                if let found = page.messages.first(where: { $0.ts == ts }) { return found }
                guard let next = page.nextCursor else { return nil }
                cursor = next
            }
            return nil
        } catch SlackAPIError.slack(code: "thread_not_found") {
            let page = try await api.history(channel: channel, ts: ts, token: token)
            return page.messages.first { $0.ts == ts }
        }
    }

    private func notify(_ job: SlackJob, _ payload: NotifyJob) async throws {
        do {
            if let outcome = ForwardOutcome(rawValue: payload.outcome),
                case let (_, token)? = try await token(team: job.teamId)
            {
                do {
                    try await api.postEphemeral(
                        channel: payload.channel, user: payload.user, text: outcome.text, threadTs: payload.threadTs,
                        token: token)
                } catch let error as SlackAPIError where error.meansChannelUnreachable {
                    // Slack refuses an ephemeral in a channel the bot is not in (the very case being explained): the
                    // member hears it in a direct message from the app instead.
                    try await api.postMessage(channel: payload.user, text: outcome.text, token: token)
                }
            }
        } catch {
            // The row's permalink does not depend on the notice reaching the member: asked for at the first failure,
            // as a `slack.respond` job does.
            if job.attempts == 0 { try? await fillPermalink(job, payload) }
            throw error
        }
        try await finish(job, then: nil)
        try? await fillPermalink(job, payload)
    }

    /// The permalink of the row a shortcut without a usable `response_url` stored, best effort.
    private func fillPermalink(_ job: SlackJob, _ payload: NotifyJob) async throws {
        guard let id = payload.feedbackId, let ts = payload.ts else { return }
        try await fillPermalink(job, feedbackID: id, channel: payload.channel, ts: ts)
    }

    private func respond(_ job: SlackJob, _ payload: RespondJob) async throws {
        do {
            if let outcome = ForwardOutcome(rawValue: payload.outcome) {
                try await api.respond(to: payload.responseURL, text: outcome.text)
            }
        } catch {
            // The row's permalink does not depend on the answer reaching the forwarder (a `response_url` expired,
            // or not Slack's): it is asked for all the same, at the first failure (not again at each retry).
            if job.attempts == 0 { try? await fillPermalink(job, payload) }
            throw error
        }
        try await finish(job, then: nil)
        try? await fillPermalink(job, payload)
    }

    /// Shortcut rows arrive without a permalink; ask Slack once, best effort.
    private func fillPermalink(_ job: SlackJob, _ payload: RespondJob) async throws {
        guard let id = payload.feedbackId, let channel = payload.channel, let ts = payload.ts else { return }
        try await fillPermalink(job, feedbackID: id, channel: channel, ts: ts)
    }

    private func fillPermalink(_ job: SlackJob, feedbackID: String, channel: String, ts: String) async throws {
        guard case let (_, token)? = try await token(team: job.teamId) else { return }
        let link = try await api.permalink(channel: channel, ts: ts, token: token)
        try await store.fillPermalink(feedbackID: feedbackID, permalink: link)
    }
}
