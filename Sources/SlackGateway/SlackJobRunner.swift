public import Feedback
import Foundation
import GRDB
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

    let database: AppDatabase
    let api: any SlackWebAPI
    let keyRing: KeyRing
    let clock: any WallClock
    let logger: Logger
    let wakeup: JobWakeup

    /// Creates a runner.
    public init(
        database: AppDatabase, api: any SlackWebAPI, keyRing: KeyRing, clock: any WallClock, logger: Logger,
        wakeup: JobWakeup
    ) {
        self.database = database
        self.api = api
        self.keyRing = keyRing
        self.clock = clock
        self.logger = logger
        self.wakeup = wakeup
    }

    var now: Int64 { epochMillis(clock.now()) }

    /// Runs `job` and records what follows: deletion, a later `run_at`, or a give-up.
    public func run(_ job: SlackJob) async -> Result {
        var metadata: Logger.Metadata = ["slack.job_id": "\(job.id)", "slack.job_kind": "\(job.kind.rawValue)"]
        if let team = job.teamId { metadata["slack.team_id"] = "\(team)" }
        do {
            switch job.kind {
            case .captureReaction: try await captureReaction(job)
            case .notify: try await notify(job)
            case .respond: try await respond(job)
            case .uninstall: try await scrub(job)
            case .revoke: try await revoke(job)
            }
            logger.debug("Slack job done", metadata: metadata)
            return .finished
        } catch is CancellationError {
            return .retryLater
        } catch let error as SlackAPIError {
            metadata["slack.error"] = "\(Self.code(error))"
            return await failed(job, error: error, metadata: metadata)
        } catch {
            metadata["error.type"] = "\(type(of: error))"
            logger.warning("Slack job failed", metadata: metadata)
            return await retryOrDrop(job, code: "internal", metadata: metadata)
        }
    }

    // MARK: Failures

    private func failed(_ job: SlackJob, error: SlackAPIError, metadata: Logger.Metadata) async -> Result {
        if case .rateLimited(let seconds) = error, let team = job.teamId {
            // Every job of this kind for this workspace waits out Slack's Retry-After: no spinning.
            let until = now + Int64(seconds) * 1000
            _ = try? await database.write { db in
                try db.execute(
                    sql: """
                        UPDATE job SET run_at = max(run_at, ?), last_error = 'ratelimited'
                        WHERE team_id = ? AND kind = ?
                        """,
                    arguments: [until, team, job.kind.rawValue])
            }
            logger.debug("Slack rate limit", metadata: metadata)
            return .rateLimited
        }
        if error.isRetryable { return await retryOrDrop(job, code: Self.code(error), metadata: metadata) }
        logger.debug("Slack job ended", metadata: metadata)
        await giveUp(job, error: error)
        return .finished
    }

    private func retryOrDrop(_ job: SlackJob, code: String, metadata: Logger.Metadata) async -> Result {
        if job.attempts + 1 >= Self.maxAttempts(job.kind) {
            logger.warning("Slack job gave up", metadata: metadata)
            await giveUp(job, error: .unreachable)
            return .finished
        }
        let delay = Self.backoff(attempt: job.attempts)
        _ = try? await database.write { db in
            try JobQueue.reschedule(job.id, runAt: now + delay, countAttempt: true, error: code, in: db)
        }
        return .retryLater
    }

    /// Ends a job for good; a failed capture still tells the forwarder why, when Slack lets us.
    private func giveUp(_ job: SlackJob, error: SlackAPIError) async {
        let outcome: ForwardOutcome
        if case .slack(let code) = error { outcome = .forPermanentError(code) } else { outcome = .slackUnavailable }
        let tellForwarder = job.kind == .captureReaction && !error.meansInstallationGone
        let channel = job.payload["channel"], user = job.payload["user"], now = self.now
        _ = try? await database.write { db in
            try JobQueue.delete(job.id, in: db)
            if tellForwarder, let channel, let user {
                try JobQueue.enqueue(
                    .notify, clientId: job.clientId, teamId: job.teamId,
                    payload: ["channel": channel, "user": user, "outcome": outcome.rawValue], runAt: now, in: db)
            }
        }
        if tellForwarder { wakeup.signal() }
    }

    /// Attempts before giving up: the scrub never gives up (it is local work with a deadline).
    static func maxAttempts(_ kind: SlackJob.Kind) -> Int {
        switch kind {
        case .captureReaction: 8
        case .notify, .respond, .revoke: 5
        case .uninstall: Int.max
        }
    }

    /// 1 s, 2 s, 4 s … capped at 5 minutes (milliseconds).
    static func backoff(attempt: Int) -> Int64 {
        Int64(1 << min(attempt, 8)) * 1000 > 300_000 ? 300_000 : Int64(1 << min(attempt, 8)) * 1000
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
        guard let team else { return nil }
        let found = try await database.read { db -> Installation? in
            guard try !InstallationRecords.isTombstoned(team: team, in: db) else { return nil }
            return try InstallationRecords.installation(team: team, in: db)
        }
        guard let installation = found, let envelope = installation.tokenEnvelope else { return nil }
        return (installation, try open(envelope, team: team))
    }

    func open(_ envelope: [UInt8], team: String) throws -> Redacted<String> {
        let secret = try keyRing.open(envelope, associatedData: Array(team.utf8))
        return Redacted(secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    // MARK: Kinds

    private func captureReaction(_ job: SlackJob) async throws {
        guard let channel = job.payload["channel"], let ts = job.payload["ts"], let user = job.payload["user"],
            let via = job.payload["via"].flatMap(SlackCaptureMethod.init(rawValue:)), let team = job.teamId,
            case let (installation, token)? = try await token(team: team)
        else {
            try await database.write { db in try JobQueue.delete(job.id, in: db) }
            return
        }
        // Forwarded again while this job waited (another member, the shortcut): no rate-limited fetch needed.
        let clientId = installation.clientId
        if try await database.read({ db in
            try InstallationRecords.capturedRow(client: clientId, team: team, channel: channel, ts: ts, in: db)
        }) != nil {
            let now = self.now
            try await database.write { db in
                try JobQueue.delete(job.id, in: db)
                try JobQueue.enqueue(
                    .notify, clientId: clientId, teamId: team,
                    payload: ["channel": channel, "user": user, "outcome": ForwardOutcome.alreadyCaptured.rawValue],
                    runAt: now, in: db)
            }
            wakeup.signal()
            return
        }
        guard let message = try await fetchMessage(channel: channel, ts: ts, token: token) else {
            throw SlackAPIError.slack(code: "message_not_found")
        }
        let permalink: String?
        do {
            permalink = try await api.permalink(channel: channel, ts: ts, token: token)
        } catch let error as SlackAPIError where !error.isRetryable {
            permalink = nil
        }
        let now = clock.now()
        try await database.write { db in
            try JobQueue.delete(job.id, in: db)
            // An uninstall may have landed while we fetched: then nothing is stored, so no author id comes back.
            guard try !InstallationRecords.isTombstoned(team: team, in: db),
                try InstallationRecords.installation(team: team, in: db)?.clientId == installation.clientId
            else { return }
            let (_, isNew) = try CapturedMessage(
                clientId: installation.clientId, teamId: team, channelId: channel, messageTs: ts,
                threadTs: message.parentTs, authorId: message.user, forwardedBy: user, via: via,
                permalink: permalink, text: message.text
            ).store(at: now, in: db)
            var payload = ["channel": channel, "user": user]
            payload["outcome"] = (isNew ? ForwardOutcome.captured : .alreadyCaptured).rawValue
            if let parent = message.parentTs { payload["threadTs"] = parent }
            try JobQueue.enqueue(
                .notify, clientId: installation.clientId, teamId: team, payload: payload, runAt: epochMillis(now),
                in: db)
        }
        wakeup.signal()
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

    private func notify(_ job: SlackJob) async throws {
        if let channel = job.payload["channel"], let user = job.payload["user"],
            let outcome = job.payload["outcome"].flatMap(ForwardOutcome.init(rawValue:)),
            case let (_, token)? = try await token(team: job.teamId)
        {
            try await api.postEphemeral(
                channel: channel, user: user, text: outcome.text, threadTs: job.payload["threadTs"], token: token)
        }
        try await database.write { db in try JobQueue.delete(job.id, in: db) }
    }

    private func respond(_ job: SlackJob) async throws {
        if let url = job.payload["responseURL"],
            let outcome = job.payload["outcome"].flatMap(ForwardOutcome.init(rawValue:))
        {
            try await api.respond(to: url, text: outcome.text)
        }
        try await database.write { db in try JobQueue.delete(job.id, in: db) }
        try? await fillPermalink(job)
    }

    /// Shortcut rows arrive without a permalink; ask Slack once, best effort.
    private func fillPermalink(_ job: SlackJob) async throws {
        guard let id = job.payload["feedbackId"], let channel = job.payload["channel"], let ts = job.payload["ts"],
            case let (_, token)? = try await token(team: job.teamId)
        else { return }
        let link = try await api.permalink(channel: channel, ts: ts, token: token)
        try await database.write { db in
            try db.execute(
                sql: "UPDATE feedback SET slack_permalink = ? WHERE id = ? AND slack_permalink IS NULL",
                arguments: [link, id])
        }
    }
}
