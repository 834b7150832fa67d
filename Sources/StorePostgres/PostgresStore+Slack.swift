public import Feedback
public import Foundation
import PostgresNIO
public import SlackGateway

/// Transaction-level advisory lock keys: "usero:jc" (job claims) and "usero:hb" (heartbeat) in ASCII.
enum PostgresLocks {
    /// Serialises claims across instances, so "one job per workspace at a time" holds for all of them together.
    static let jobClaim: Int64 = 0x7573_6572_6f3a_6a63
    /// Serialises heartbeats, so one instance (not each) enqueues the sweep after a downtime.
    static let heartbeat: Int64 = 0x7573_6572_6f3a_6862
    /// Serialises uploads checked against the per-client quota, so two instances cannot pass it together: the seed of
    /// each client's key (`PostgresStore.lockUploadQuota`).
    static let uploadQuota: Int64 = 0x7573_6572_6f3a_7571
    /// Serialises "queue unless one is pending" checks, so two instances cannot both find none and both queue: the
    /// seed of each kind and workspace's key (`PostgresStore.enqueueUnlessPending`).
    static let enqueueUnlessPending: Int64 = 0x7573_6572_6f3a_6571

    /// Takes, for the rest of `tx`, the lock of `key` among those `seed` derives (one a client, one a workspace),
    /// waiting as long as the transaction's lock timeout allows.
    static func lock(_ seed: Int64, key: String, in tx: PostgresTransaction) async throws {
        try await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(\(key), \(seed)))")
    }
}

extension PostgresStore: SlackStore {
    // MARK: Installations

    public func activeInstallation(team: String) async throws -> Installation? {
        var sql = SQLBuilder(PGInstallationRecord.select)
        let team = sql.bind(team)
        sql.append(" WHERE team_id = \(team) AND team_id NOT IN (SELECT team_id FROM slack_tombstone)")
        return try await row(sql.query).map { try PGInstallationRecord.installation($0) }
    }

    public func installation(client: String) async throws -> Installation? {
        var sql = SQLBuilder(PGInstallationRecord.select)
        sql.append(" WHERE client_id = \(sql.bind(client)) ORDER BY installed_at DESC LIMIT 1")
        return try await row(sql.query).map { try PGInstallationRecord.installation($0) }
    }

    public func sealedInstallations() async throws -> [Installation] {
        try await rows(PostgresQuery(unsafeSQL: "\(PGInstallationRecord.select) WHERE token_envelope IS NOT NULL"))
            .map { try PGInstallationRecord.installation($0) }
    }

    public func saveInstallation(_ i: Installation) async throws -> InstallationSaveResult {
        let envelope = i.tokenEnvelope.map { Data($0) }
        return try await write { tx in
            guard try await Self.liveClient(id: i.clientId, in: tx) != nil else { return .clientGone }
            // Locks the workspace's row (when there is one) so that two installs racing decide one after the other.
            // When there is none yet, two installs racing both get here; the upsert's own condition below decides
            // then: the second waits for the first's row and takes it over only on the same terms.
            if let existing = try await Self.installation(team: i.teamId, lock: .update, in: tx),
                existing.clientId != i.clientId, try await !Self.isTombstoned(team: i.teamId, in: tx),
                try await Self.liveClient(id: existing.clientId, in: tx) != nil
            {
                return .ownedByAnotherClient
            }
            // The client's row, locked against another install of the same client (not against its feedback's
            // key checks): two installs of two workspaces racing decide one after the other.
            try await tx.execute("SELECT 1 FROM client WHERE id = \(i.clientId) FOR NO KEY UPDATE")
            if let other = try await tx.row(
                """
                SELECT team_id, team_name FROM slack_installation i
                WHERE client_id = \(i.clientId) AND team_id <> \(i.teamId) AND token_envelope IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM slack_tombstone t WHERE t.team_id = i.team_id)
                LIMIT 1
                """)
            {
                let name: String? = try other.value("team_name")
                return .clientHasAnotherWorkspace(teamName: try name ?? other.value("team_id"))
            }
            // A reinstall by the same client keeps the channel's problem unless connecting again mends it.
            let mended = NotifyProblem.mendedByReconnecting.sorted()
            let written = try await tx.execute(
                """
                INSERT INTO slack_installation (team_id, client_id, enterprise_id, team_name, bot_user_id, bot_id,
                    app_id, scopes, installer_user_id, token_envelope, token_key_id, installed_at, first_installed_at)
                VALUES (\(i.teamId), \(i.clientId), \(i.enterpriseId), \(i.teamName), \(i.botUserId), \(i.botId),
                    \(i.appId), \(i.scopes), \(i.installerUserId), \(envelope), \(i.tokenKeyId), \(i.installedAt),
                    \(i.installedAt))
                ON CONFLICT (team_id) DO UPDATE SET
                    -- A reinstall by the same client keeps when it first installed.
                    first_installed_at = CASE WHEN slack_installation.client_id = excluded.client_id
                        THEN COALESCE(slack_installation.first_installed_at, slack_installation.installed_at)
                        ELSE excluded.installed_at END,
                    trigger_emoji = CASE WHEN slack_installation.client_id = excluded.client_id
                        THEN slack_installation.trigger_emoji END,
                    trigger_emoji_added_at = CASE WHEN slack_installation.client_id = excluded.client_id
                        THEN slack_installation.trigger_emoji_added_at END,
                    notify_channel = CASE WHEN slack_installation.client_id = excluded.client_id
                        THEN slack_installation.notify_channel END,
                    notify_error = CASE WHEN slack_installation.client_id = excluded.client_id
                        AND NOT slack_installation.notify_error = ANY(\(mended)) THEN slack_installation.notify_error END,
                    notify_error_at = CASE WHEN slack_installation.client_id = excluded.client_id
                        AND NOT slack_installation.notify_error = ANY(\(mended)) THEN slack_installation.notify_error_at END,
                    client_id = excluded.client_id,
                    enterprise_id = excluded.enterprise_id, team_name = excluded.team_name,
                    bot_user_id = excluded.bot_user_id, bot_id = excluded.bot_id, app_id = excluded.app_id,
                    scopes = excluded.scopes, installer_user_id = excluded.installer_user_id,
                    token_envelope = excluded.token_envelope, token_key_id = excluded.token_key_id,
                    installed_at = excluded.installed_at, token_refused_at = NULL, token_refused_last = NULL,
                    token_checked_at = NULL
                WHERE slack_installation.client_id = excluded.client_id
                    OR EXISTS (SELECT 1 FROM slack_tombstone t WHERE t.team_id = excluded.team_id)
                    OR NOT EXISTS (SELECT 1 FROM client WHERE id = slack_installation.client_id
                        AND \(unescaped: pgLiveClientCondition))
                """)
            if written == 0 { return .ownedByAnotherClient }
            try await tx.execute("DELETE FROM slack_tombstone WHERE team_id = \(i.teamId)")
            return .saved
        }
    }

    public func replaceTokenEnvelope(team: String, expected: [UInt8], with envelope: [UInt8], keyId: String)
        async throws -> Bool
    {
        let old = Data(expected)
        let new = Data(envelope)
        return try await write { tx in
            try await tx.execute(
                """
                UPDATE slack_installation SET token_envelope = \(new), token_key_id = \(keyId)
                WHERE team_id = \(team) AND token_envelope = \(old)
                """) > 0
        }
    }

    static func activeInstallation(team: String, in tx: PostgresTransaction) async throws -> Installation? {
        guard try await !isTombstoned(team: team, in: tx) else { return nil }
        return try await installation(team: team, in: tx)
    }

    /// How `installation(team:lock:in:)` locks the workspace's row until the transaction ends.
    enum InstallationLock {
        case none
        /// For a write that relies on the installation staying (a capture): an uninstall, which takes the row
        /// `.update`, waits for it to commit, or it waits for the uninstall and then sees the workspace gone. Without
        /// it, a capture committing on one instance while another accepted the uninstall and ran its scrub kept its
        /// member ids past the scrub (READ COMMITTED: neither saw the other's uncommitted rows).
        case share
        /// For a write that changes or removes the installation.
        case update
    }

    static func installation(team: String, lock: InstallationLock = .none, in tx: PostgresTransaction) async throws
        -> Installation?
    {
        var sql = SQLBuilder(PGInstallationRecord.select)
        sql.append(" WHERE team_id = \(sql.bind(team))")
        switch lock {
        case .none: break
        case .share: sql.append(" FOR SHARE")
        case .update: sql.append(" FOR UPDATE")
        }
        return try await tx.row(sql.query).map { try PGInstallationRecord.installation($0) }
    }

    static func isTombstoned(team: String, in tx: PostgresTransaction) async throws -> Bool {
        try await tx.scalar("SELECT EXISTS (SELECT 1 FROM slack_tombstone WHERE team_id = \(team))", as: Bool.self)
            ?? false
    }

    /// Records an event id; false when it was seen before (a retry, or the same delivery on another instance:
    /// the primary key decides, and a concurrent insert waits for the other's commit).
    static func recordEvent(_ eventId: String, at now: Int64, in tx: PostgresTransaction) async throws -> Bool {
        try await tx.execute(
            "INSERT INTO slack_event_seen (event_id, seen_at) VALUES (\(eventId), \(now)) ON CONFLICT DO NOTHING") > 0
    }

    // MARK: OAuth states

    public func saveOAuthState(nonce: String, clientID: String, expiresAt: Int64, pruneBefore: Int64) async throws {
        try await write { tx in
            try await tx.execute("DELETE FROM oauth_state WHERE expires_at < \(pruneBefore)")
            try await tx.execute(
                "INSERT INTO oauth_state (nonce, client_id, expires_at) VALUES (\(nonce), \(clientID), \(expiresAt))")
        }
    }

    public func consumeOAuthState(nonce: String, clientID: String, now: Int64) async throws -> Bool {
        try await write { tx in
            try await tx.execute(
                """
                DELETE FROM oauth_state WHERE nonce = \(nonce) AND client_id = \(clientID) AND expires_at >= \(now)
                """) == 1
        }
    }

    // MARK: Ingest

    public func acceptReaction(_ reaction: ReactionForward, at now: Int64) async throws -> Bool {
        try await write { tx in
            guard let installation = try await Self.activeInstallation(team: reaction.team, in: tx),
                installation.captures(reaction),
                try await Self.recordEvent(reaction.eventId, at: now, in: tx)
            else { return false }
            let captured = try await Self.capturedFeedbackID(
                client: installation.clientId, team: reaction.team, channel: reaction.channel, ts: reaction.ts, in: tx)
            try await Self.enqueue(reaction.job(for: installation, alreadyCaptured: captured != nil, at: now), in: tx)
            return true
        }
    }

    public func acceptUninstall(team: String, eventId: String?, at now: Int64, deadline: Int64, retriedEventAt: Int64?)
        async throws -> Bool
    {
        try await write { tx in
            if let eventId { guard try await Self.recordEvent(eventId, at: now, in: tx) else { return false } }
            let installation = try await Self.installation(team: team, lock: .update, in: tx)
            if let installation, installation.isLater(thanRetriedEventAt: retriedEventAt) {
                try await Self.enqueue(
                    NewSlackJob.uninstallScrub(team: team, client: installation.clientId, at: now, deadline: deadline), in: tx)
                return true
            }
            try await Self.uninstall(team: team, installation: installation, at: now, deadline: deadline, in: tx)
            return true
        }
    }

    public func acceptLostToken(team: String, envelope: [UInt8], at now: Int64, deadline: Int64) async throws -> Bool {
        try await write { tx in
            guard let installation = try await Self.installation(team: team, lock: .update, in: tx),
                installation.tokenEnvelope == envelope
            else { return false }
            try await Self.uninstall(team: team, installation: installation, at: now, deadline: deadline, in: tx)
            return true
        }
    }

    public func noteTokenRefusal(team: String, envelope: [UInt8], at now: Int64?, continuingWithin gap: Int64)
        async throws -> Int64?
    {
        let sealed = Data(envelope)
        return try await write { tx in
            // Every right-hand side reads the row as it was.
            try await tx.scalar(
                """
                UPDATE slack_installation SET
                    token_refused_at = CASE
                        WHEN \(now)::bigint IS NULL THEN NULL
                        WHEN token_refused_last IS NULL OR \(now)::bigint - token_refused_last > \(gap) THEN \(now)
                        ELSE token_refused_at END,
                    token_refused_last = \(now)
                WHERE team_id = \(team) AND token_envelope = \(sealed) RETURNING token_refused_at
                """, as: Int64?.self) ?? nil
        }
    }

    /// Tombstones the workspace (remembering its client), deletes its installation and token and its pending Slack
    /// calls, and enqueues the scrub with its deadline.
    private static func uninstall(
        team: String, installation: Installation?, at now: Int64, deadline: Int64, in tx: PostgresTransaction
    ) async throws {
        let cancelled = SlackJob.Kind.cancelledByUninstall.map(\.rawValue)
        let previous = try await tx.scalar(
            "SELECT client_id FROM slack_tombstone WHERE team_id = \(team)", as: String?.self) ?? nil
        let clientId = installation?.clientId ?? previous
        try await tx.execute(
            """
            INSERT INTO slack_tombstone (team_id, client_id, uninstalled_at) VALUES (\(team), \(clientId), \(now))
            ON CONFLICT (team_id) DO UPDATE
            SET client_id = coalesce(excluded.client_id, slack_tombstone.client_id)
            """)
        // The token goes in this very transaction; the id scrub follows in the job, within the deadline.
        try await tx.execute("DELETE FROM slack_installation WHERE team_id = \(team)")
        try await tx.execute("DELETE FROM job WHERE team_id = \(team) AND kind = ANY(\(cancelled))")
        try await enqueue(NewSlackJob.uninstallScrub(team: team, client: clientId, at: now, deadline: deadline), in: tx)
    }

    public func acceptTokensRevoked(
        team: String, eventId: String?, botUserIds: [String], at now: Int64, retriedEventAt: Int64?
    ) async throws {
        try await write { tx in
            if let eventId { guard try await Self.recordEvent(eventId, at: now, in: tx) else { return } }
            guard let installation = try await Self.installation(team: team, in: tx),
                !installation.isLater(thanRetriedEventAt: retriedEventAt)
            else { return }
            if let bot = installation.botUserId, !botUserIds.contains(bot) { return }
            // No post is tried without a token: the channel's problem says why (until a reinstall mends it).
            try await tx.execute(
                """
                UPDATE slack_installation SET token_envelope = NULL, token_key_id = NULL,
                    notify_error = CASE WHEN notify_channel IS NOT NULL THEN 'token_revoked' END,
                    notify_error_at = CASE WHEN notify_channel IS NOT NULL THEN \(now) END
                WHERE team_id = \(team)
                """)
        }
    }

    public func captureForward(_ message: CapturedMessage, at now: Date, responseURL: String?) async throws
        -> CaptureResult
    {
        try await write { tx in
            let installation = try await Self.installation(team: message.teamId, lock: .share, in: tx)
            let tombstoned = try await Self.isTombstoned(team: message.teamId, in: tx)
            let result: CaptureResult
            if let refusal = SlackCaptureRules.refusal(
                installation: installation, isTombstoned: tombstoned, message: message)
            {
                result = CaptureResult(
                    outcome: refusal, clientId: tombstoned ? nil : installation?.clientId, feedbackId: nil)
            } else if let installation {
                let (id, isNew) = try await Self.store(message, clientId: installation.clientId, at: now, in: tx)
                result = CaptureResult(
                    outcome: SlackCaptureRules.outcome(isNew: isNew), clientId: installation.clientId, feedbackId: id)
            } else {
                result = CaptureResult(outcome: .notInstalled, clientId: nil, feedbackId: nil)
            }
            if let responseURL {
                let answer = SlackCaptureRules.response(
                    url: responseURL, outcome: result.outcome, feedbackId: result.feedbackId, message: message)
                try await Self.enqueue(
                    NewSlackJob(
                        clientId: result.clientId, teamId: message.teamId, work: .respond(answer),
                        runAt: epochMillis(now)),
                    in: tx)
            }
            return result
        }
    }

    // MARK: Captured rows

    public func capturedFeedbackID(client: String, team: String, channel: String, ts: String) async throws -> String? {
        try await scalar(Self.capturedQuery(client: client, team: team, channel: channel, ts: ts), as: String.self)
    }

    static func capturedQuery(client: String, team: String, channel: String, ts: String) -> PostgresQuery {
        """
        SELECT id FROM feedback WHERE client_id = \(client) AND slack_team_id = \(team)
        AND slack_channel_id = \(channel) AND slack_message_ts = \(ts)
        """
    }

    static func capturedFeedbackID(client: String, team: String, channel: String, ts: String, in tx: PostgresTransaction)
        async throws -> String?
    {
        try await tx.scalar(capturedQuery(client: client, team: team, channel: channel, ts: ts), as: String.self)
    }

    public func completeCapture(jobID: Int64, clientID: String, message: CapturedMessage, at now: Date,
                                notice: NotifyJob) async throws -> Bool?
    {
        try await write { tx in
            let queuedAt = try await tx.row("DELETE FROM job WHERE id = \(jobID) RETURNING created_at")?
                .value("created_at", as: Int64.self)
            guard let queuedAt else { return nil }
            let installation = try await Self.installation(team: message.teamId, lock: .share, in: tx)
            let tombstoned = try await Self.isTombstoned(team: message.teamId, in: tx)
            guard SlackCaptureRules.mayComplete(installation: installation, isTombstoned: tombstoned, jobClient: clientID)
            else { return nil }
            // Forwarded before its author's erasure: what they wrote stays erased. Read after the installation's
            // lock, which `recordErasedMember` waits for.
            guard try await !Self.authorErased(message, clientId: clientID, since: queuedAt, in: tx) else { return nil }
            let (_, isNew) = try await Self.store(message, clientId: clientID, at: now, in: tx)
            var notice = notice
            notice.outcome = SlackCaptureRules.outcome(isNew: isNew).rawValue
            try await Self.enqueue(
                NewSlackJob(clientId: clientID, teamId: message.teamId, work: .notify(notice), runAt: epochMillis(now)),
                in: tx)
            return isNew
        }
    }

    /// Stores the message unless this client already holds it; returns the row id and whether it was new.
    ///
    /// The unique index on (client, team, channel, ts) is the real guard: a concurrent forward that inserted the
    /// same message first makes this insert do nothing (after waiting for its commit), and the row it wrote is
    /// read back.
    static func store(_ message: CapturedMessage, clientId: String, at now: Date, in tx: PostgresTransaction)
        async throws -> (id: String, isNew: Bool)
    {
        if let ts = message.messageTs,
            let id = try await capturedFeedbackID(
                client: clientId, team: message.teamId, channel: message.channelId, ts: ts, in: tx)
        {
            return (id, false)
        }
        let item = FeedbackItem(newAt: now, draft: message.draft(clientId: clientId))
        if try await insert(item, in: tx) { return (item.id, true) }
        if let ts = message.messageTs,
            let id = try await capturedFeedbackID(
                client: clientId, team: message.teamId, channel: message.channelId, ts: ts, in: tx)
        {
            return (id, false)
        }
        throw PostgresStoreConflict()
    }

    public func fillPermalink(feedbackID: String, permalink: String) async throws {
        try await write { tx in
            try await tx.execute(
                """
                UPDATE feedback SET slack_permalink = \(permalink) WHERE id = \(feedbackID) AND slack_permalink IS NULL
                """)
        }
    }

    /// Deletes up to `limit` of the workspace's Slack member ids (their own narrow rows, see the migration
    /// `v8-pg-slack-person`): the captured text stays in `feedback`. The cursor is only a count of batches here:
    /// a scrubbed row is gone, so each batch starts from the front. Done only when a batch finds nothing left (as on
    /// SQLite): a short batch is not the end, since rows it chose may have gone or moved meanwhile (an admin delete or
    /// a sweep of the same feedback), and the ones behind them would have been left with their ids.
    public func scrubAuthors(team: String, after cursor: Int64, limit: Int, job: Int64?) async throws
        -> (changed: Int, next: Int64?, jobTotal: Int?)
    {
        let limit = Int64(max(1, limit))
        let (changed, total) = try await write { tx in
            let changed = try await Self.scrubAuthors(team: team, limit: limit, in: tx)
            guard let job else { return (changed, Optional(changed)) }
            let total = try await tx.scalar(
                "UPDATE job SET progress = progress + \(Int64(changed)) WHERE id = \(job) RETURNING progress",
                as: Int64.self)
            return (changed, total.map { Int($0) })
        }
        return (changed, changed == 0 ? nil : cursor &+ 1, total)
    }

    private static func scrubAuthors(team: String, limit: Int64, in tx: PostgresTransaction) async throws -> Int {
        // One statement, so one snapshot decides both whether the workspace installed again meanwhile (its
        // installation row is then the new one; the uninstall deleted the old) and which rows to scrub: what it
        // captured since keeps its ids. As two statements, a reinstall and a capture committed between them lost
        // that capture's ids. The reinstall check is evaluated once (an uncorrelated subquery), so the common scrub
        // stays one narrow table's delete; only after a reinstall does each row look its item's time up by key (a
        // scalar subquery: an EXISTS there was planned as a hash of every client's feedback, built for each batch).
        try await tx.execute(
            """
            DELETE FROM feedback_slack_person
            WHERE ctid = ANY(ARRAY(
                SELECT p.ctid FROM feedback_slack_person p
                WHERE p.slack_team = \(team)
                AND (NOT EXISTS (SELECT 1 FROM slack_installation WHERE team_id = \(team))
                    OR (SELECT f.created_at FROM feedback f WHERE f.id = p.feedback_id)
                        < (SELECT installed_at FROM slack_installation WHERE team_id = \(team)))
                LIMIT \(limit)))
            """)
    }

    // MARK: Job queue

    public func enqueue(_ job: NewSlackJob) async throws {
        try await write { tx in try await Self.enqueue(job, in: tx) }
    }

    static func enqueue(_ job: NewSlackJob, in tx: PostgresTransaction) async throws {
        let payload = String(decoding: try job.work.encodedPayload(), as: UTF8.self)
        try await tx.execute(
            """
            INSERT INTO job (kind, client_id, team_id, payload, run_at, attempts, deadline_at, created_at)
            VALUES (\(job.work.kind.rawValue), \(job.clientId), \(job.teamId), \(payload), \(job.runAt), 0,
                \(job.deadlineAt), \(job.runAt))
            """)
    }

    /// Deletes a job, when it is still there under `claim` (nil: whoever holds it); whether it was.
    @discardableResult
    static func deleteJob(_ id: Int64, claim: Int64? = nil, in tx: PostgresTransaction) async throws -> Bool {
        try await tx.execute("DELETE FROM job WHERE id = \(id) AND claim = coalesce(\(claim), claim)") > 0
    }

    /// One statement (`usero_claim_jobs`, migration `v22-pg-claim-jobs`), in autocommit: the server runs the whole
    /// claim under the claim lock and commits it without waiting on this process, so one that stalls here holds no
    /// other instance's claims (it holds the jobs it claimed until their leases end, as a stall at any other point).
    /// Claims from every instance take turns: a workspace with a job under a live lease (taken by any instance) gets
    /// no second one, and two instances never take two jobs of one workspace at once.
    ///
    /// A job whose payload does not decode is parked (`undecodable_payload`, never claimed again), and since it took
    /// its workspace's turn, the lanes are claimed again for what they have left: the workspace's next job runs now.
    ///
    /// With `passingOver`, the call also marks and announces (`NOTIFY usero_jobs_left`, heard by
    /// `listenForJobsLeftHere` on every instance) the due jobs it passes over that no claim announced before.
    public func claimDueJobs(now: Int64, lanes: [SlackJobLane], passingOver: SlackJobKeyFilter?) async throws
        -> [SlackJob]
    {
        // Each kind with its lane's number (from 1), and each lane's lease: the same every round.
        let lanesOfKinds = lanes.enumerated().flatMap { index, lane in
            lane.kinds.map(\.rawValue).sorted().map { ($0, Int32(index + 1)) }
        }
        let (kinds, kindLanes) = (lanesOfKinds.map(\.0), lanesOfKinds.map(\.1))
        let leases = lanes.map { max(0, $0.lease) }
        let (keys, keyKinds, keySince) = Self.arguments(passingOver)
        var jobs: [SlackJob] = []
        var left = lanes.map { max(0, $0.limit) }
        // A round that parks nothing is the last; one that parks some is followed by another, a few at most.
        for _ in 0..<8 {
            let limits = left.map { Int64($0) }
            let rows = try await backend.withConnection { session in
                try await session.rows(
                    """
                    SELECT * FROM usero_claim_jobs(\(PostgresLocks.jobClaim), \(now), \(limits), \(leases), \(kinds),
                        \(kindLanes), \(keys)::text[], \(keyKinds)::text[], \(keySince))
                    """)
            }
            var parked: [SlackJobLease] = []
            for row in rows {
                guard let job = try? PGJobRecord.job(row) else {
                    parked.append(SlackJobLease(id: try row.value("id"), claim: try row.value("claim")))
                    continue
                }
                jobs.append(job)
                if let lane = lanes.firstIndex(where: { $0.kinds.contains(job.kind) }) { left[lane] -= 1 }
            }
            guard !parked.isEmpty else { break }
            try await park(parked)
        }
        return jobs
    }

    /// Parks claimed jobs whose payload does not decode: never due again, and their workspace not busy with them.
    private func park(_ jobs: [SlackJobLease]) async throws {
        let (ids, claims) = (jobs.map(\.id), jobs.map(\.claim))
        try await write { tx in
            try await tx.execute(
                """
                UPDATE job SET run_at = \(Int64.max), last_error = 'undecodable_payload', lease_until = NULL
                WHERE (id, claim) IN (SELECT * FROM unnest(\(ids)::bigint[], \(claims)::bigint[]))
                """)
        }
    }

    /// One statement in autocommit, not through the shared writer: a renewal must never wait behind other writes
    /// (one waiting on another instance's lock holds its whole batch), or the lease runs out while the job still runs
    /// here, and another instance runs it too.
    public func renewJobLeases(_ leases: [SlackJobLease], now: Int64, until: Int64) async throws {
        guard !leases.isEmpty else { return }
        let (ids, claims) = (leases.map(\.id), leases.map(\.claim))
        try await backend.withConnection { tx in
            try await tx.execute(
                """
                UPDATE job SET lease_until = \(until)
                WHERE lease_until > \(now) AND (id, claim) IN (SELECT * FROM unnest(\(ids)::bigint[], \(claims)::bigint[]))
                """)
        }
    }

    public func nextJobDueAt(now: Int64, kinds: Set<SlackJob.Kind>, passingOver: SlackJobKeyFilter?) async throws
        -> Int64?
    {
        let kindList = kinds.map(\.rawValue).sorted()
        let (keys, keyKinds, keySince) = Self.arguments(passingOver)
        return try await scalar(
            """
            SELECT MIN(CASE WHEN lease_until > \(now) THEN lease_until
                ELSE GREATEST(run_at, (
                    SELECT max(r.run_at) FROM job r
                    WHERE r.team_id = j.team_id AND r.kind = j.kind AND r.last_error = 'ratelimited'),
                    CASE WHEN kind = 'slack.post' THEN (
                        SELECT i.post_not_before FROM slack_installation i WHERE i.team_id = j.team_id) END) END)
            FROM job j
            WHERE kind = ANY(\(kindList)) AND run_at < \(Int64.max) AND (team_id IS NULL OR NOT EXISTS (
                SELECT 1 FROM job k WHERE k.team_id = j.team_id AND k.id <> j.id AND k.kind = ANY(\(kindList))
                AND k.lease_until > \(now)))
            AND (kind <> 'slack.post' OR \(unescaped: Self.oldestPost("j")))
            AND NOT (\(keys)::text[] IS NOT NULL AND kind = ANY(\(keyKinds)) AND created_at > \(keySince) AND EXISTS (
                SELECT 1 FROM slack_installation i WHERE i.team_id = j.team_id AND i.token_key_id IS NOT NULL
                AND i.token_key_id <> ALL(\(keys)::text[])))
            """, as: Int64?.self) ?? nil
    }

    /// `filter` as the statements take it: the key ids (NULL: pass over nothing), the kinds, the oldest `created_at`.
    private static func arguments(_ filter: SlackJobKeyFilter?) -> (keys: [String]?, kinds: [String], since: Int64) {
        (filter.map { $0.keyIDs.sorted() }, (filter?.kinds ?? []).map(\.rawValue).sorted(), filter?.queuedAfter ?? 0)
    }

    /// How often the listening session asks the server whether it is still there, and how long it waits for the
    /// answer.
    static let listenerCheck = (every: Duration.seconds(30), within: Duration.seconds(10))

    /// Asks the server on `connection` every `every`; throws `StoreUnavailable` once an answer has not come
    /// `within` (the backend's `ConnectionWatch` closes the connection then, as it does for the pool's). A listening
    /// session only receives: without this, one whose server went away without closing it (a failover, a network
    /// cut; the server's keepalive probes guard its side only) would wait for notifications for ever, and the
    /// instance hear nothing until it restarts.
    static func keepAsking(
        _ connection: PostgresConnection, every: Duration = listenerCheck.every, within: Duration = listenerCheck.within,
        logger: Logger
    ) async throws {
        let watch = ConnectionWatch(statementTimeout: within, logger: logger)
        while true {
            try await Task.sleep(for: every)
            do {
                try await watch.run("SELECT 1", on: connection, logger: logger)
            } catch {
                throw StoreUnavailable()
            }
        }
    }

    /// The channel `usero_claim_jobs` announces the jobs it passed over on.
    static let jobsLeftChannel = "usero_jobs_left"

    /// Listens on a connection of its own (a listening session stays open, so not one of the pool's), opened again
    /// after it fails or closes: at once the first time, then a second, two, up to ten seconds after each failure in
    /// a row. Each time it starts listening it also wakes the worker once, for whatever was announced while it was
    /// not.
    /// The first failure in a row is a notice, the retries that follow debug lines (an outage is said elsewhere).
    public func listenForJobsLeftHere(_ wake: @escaping @Sendable () -> Void) async {
        let logger = PostgresBackend.cappedForPostgresNIO(logger)
        var failures = 0
        while !Task.isCancelled {
            var failure: (any Error)?
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: backend.settings.connectionConfiguration(), id: 1, logger: logger)
                do {
                    try await connection.listen(on: Self.jobsLeftChannel) { notifications in
                        failures = 0
                        wake()
                        // Until the notifications end (the connection closed) or the server stops answering.
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask { for try await _ in notifications { wake() } }
                            group.addTask { try await Self.keepAsking(connection, logger: logger) }
                            try await group.next()
                            group.cancelAll()
                        }
                    }
                } catch {
                    failure = error
                }
                try? await connection.close()
            } catch {
                failure = error
            }
            if Task.isCancelled { return }
            if let failure {
                var metadata = errorMetadata(failure)
                metadata["attempt"] = "\(failures + 1)"
                logger.log(
                    level: failures == 0 ? .notice : .debug,
                    "Listening for Slack jobs left by other instances failed; trying again", metadata: metadata)
            }
            failures += 1
            try? await Task.sleep(for: .seconds(min(failures, 10)))
        }
    }

    /// SQL: the post job `alias` is its workspace's oldest one waiting (parked ones, at `run_at` Int64.max, aside).
    static func oldestPost(_ alias: String) -> String {
        """
        NOT EXISTS (SELECT 1 FROM job o WHERE o.team_id = \(alias).team_id AND o.kind = 'slack.post' \
        AND o.id < \(alias).id AND o.run_at < \(Int64.max))
        """
    }

    public func finishJob(_ id: Int64, claim: Int64?, then next: NewSlackJob?) async throws -> Bool {
        try await write { tx in
            guard try await Self.deleteJob(id, claim: claim, in: tx) else { return false }
            if let next { try await Self.enqueue(next, in: tx) }
            return true
        }
    }

    public func markPostSent(_ job: SlackJobLease, at: Int64) async throws -> Bool {
        try await write { tx in
            try await tx.execute(
                """
                UPDATE job SET progress = CASE WHEN progress = 0 THEN \(at) ELSE progress END
                WHERE id = \(job.id) AND claim = \(job.claim) AND lease_until > \(at)
                """) > 0
        }
    }

    public func unmarkPostSent(_ job: SlackJobLease) async throws {
        try await write { tx in
            try await tx.execute("UPDATE job SET progress = 0 WHERE id = \(job.id) AND claim = \(job.claim)")
        }
    }

    /// Whether the worker that took `lease` still holds its job (true without a lease); the row stays locked until
    /// the transaction ends, so no claim takes the job in between.
    static func holds(_ lease: SlackJobLease?, in tx: PostgresTransaction) async throws -> Bool {
        guard let lease else { return true }
        return try await tx.scalar(
            "SELECT true FROM job WHERE id = \(lease.id) AND claim = \(lease.claim) FOR UPDATE", as: Bool.self) ?? false
    }

    public func recordPost(_ post: PostedMessage, at now: Int64) async throws -> Bool {
        try await write { tx in
            try await tx.scalar(
                """
                WITH live AS (
                    -- Held until this commits: a deletion of the item waits, then sees the post (`queueUnposts`);
                    -- one that came first leaves nothing to hold, and nothing is recorded.
                    SELECT id, client_id FROM feedback WHERE id = \(post.feedbackId) AND client_id = \(post.clientId)
                    FOR SHARE
                ), kept AS (
                    INSERT INTO slack_post (feedback_id, client_id, team_id, channel_id, message_ts, posted_at)
                    SELECT id, client_id, \(post.teamId), \(post.channel), \(post.ts), \(now) FROM live
                    ON CONFLICT (feedback_id, message_ts) DO NOTHING
                )
                SELECT EXISTS (SELECT 1 FROM live) AS live
                """, as: Bool.self) ?? false
        }
    }

    public func rescheduleJob(_ id: Int64, claim: Int64?, runAt: Int64, countAttempt: Bool, error: String)
        async throws
    {
        let increment = countAttempt ? 1 : 0
        try await write { tx in
            try await tx.execute(
                """
                UPDATE job SET run_at = \(runAt), attempts = attempts + \(increment), last_error = \(error),
                    lease_until = NULL
                WHERE id = \(id) AND claim = coalesce(\(claim), claim)
                """)
        }
    }

    public func postponeJobs(team: String, kind: SlackJob.Kind, until: Int64, by lease: SlackJobLease?) async throws {
        try await write { tx in
            guard try await Self.holds(lease, in: tx) else { return }
            try await tx.execute(
                """
                UPDATE job SET run_at = \(until), last_error = 'ratelimited', lease_until = NULL
                WHERE team_id = \(team) AND kind = \(kind.rawValue) AND run_at <= \(until)
                """)
        }
    }

    public func enqueueUnlessPending(_ job: NewSlackJob, coveredBy covers: @escaping @Sendable (SlackJob) -> Bool)
        async throws -> Bool
    {
        // A transaction of its own, waiting 5 s at most (then a 503 to try again) for another check of the same kind
        // and workspace, whose key it takes (derived from `PostgresLocks.enqueueUnlessPending`): an instance that
        // stalls inside one holds up only that workspace's requests, and never this instance's other writes, as it
        // would from the shared writer's lanes.
        try await backend.transaction(lockTimeout: .seconds(5)) { tx in
            try await PostgresLocks.lock(
                PostgresLocks.enqueueUnlessPending, key: job.work.kind.rawValue + ":" + (job.teamId ?? ""), in: tx)
            var sql = SQLBuilder(PGJobRecord.select)
            sql.append(
                " WHERE kind = \(sql.bind(job.work.kind.rawValue)) AND team_id IS NOT DISTINCT FROM \(sql.bind(job.teamId))")
            let pending = try await tx.rows(sql.query).compactMap { try? PGJobRecord.job($0) }
            guard !pending.contains(where: covers) else { return false }
            try await Self.enqueue(job, in: tx)
            return true
        }
    }

    public func pendingJobs(kind: SlackJob.Kind, team: String?) async throws -> [SlackJob] {
        var sql = SQLBuilder(PGJobRecord.select)
        sql.append(" WHERE kind = \(sql.bind(kind.rawValue))")
        if let team { sql.append(" AND team_id = \(sql.bind(team))") }
        // A job whose payload no longer decodes (parked, `undecodable_payload`) is left out, not an error for all.
        return try await rows(sql.query).compactMap { try? PGJobRecord.job($0) }
    }

    public func replaceJobWork(jobID: Int64, expected: SlackJob.Work, with replacement: SlackJob.Work) async throws
        -> Bool
    {
        guard expected.kind == replacement.kind else { return false }
        let old = String(decoding: try expected.encodedPayload(), as: UTF8.self)
        let new = String(decoding: try replacement.encodedPayload(), as: UTF8.self)
        let kind = expected.kind.rawValue
        return try await write { tx in
            try await tx.execute(
                // As JSON, not as text: a closed account's post deletions are written by SQL (`handOverPosts`).
                """
                UPDATE job SET payload = \(new)
                WHERE id = \(jobID) AND kind = \(kind) AND payload::jsonb = \(old)::jsonb
                """) > 0
        }
    }

    public func recordDelivery(_ key: String, at now: Int64) async throws -> Bool {
        try await write { tx in
            try await tx.execute(
                """
                INSERT INTO slack_request_seen (signature, seen_at) VALUES (\(key), \(now)) ON CONFLICT DO NOTHING
                """) > 0
        }
    }

    public func pruneSeenEvents(before cutoff: Int64) async throws {
        try await write { tx in
            try await tx.execute("DELETE FROM slack_event_seen WHERE seen_at < \(cutoff)")
            try await tx.execute("DELETE FROM slack_request_seen WHERE seen_at < \(cutoff)")
        }
    }

    // MARK: Settings

    public func updateSettings(client: String, _ change: SlackSettingsChange, at now: Int64) async throws
        -> Installation?
    {
        try await write { tx in
            var sql = SQLBuilder(PGInstallationRecord.select)
            sql.append(
                """
                 WHERE client_id = \(sql.bind(client))
                AND team_id NOT IN (SELECT team_id FROM slack_tombstone) ORDER BY installed_at DESC LIMIT 1 FOR UPDATE
                """)
            guard let current = try await tx.row(sql.query).map({ try PGInstallationRecord.installation($0) }) else {
                return nil
            }
            let changed = current.applying(change, at: now)
            let channelChanged = changed.settings.notifyChannel != current.settings.notifyChannel
            try await tx.execute(
                """
                UPDATE slack_installation SET trigger_emoji = \(changed.settings.storedTriggerEmoji),
                    trigger_emoji_added_at = \(changed.storedTriggerEmojiAddedAt),
                    notify_channel = \(changed.settings.notifyChannel),
                    notify_error = CASE WHEN \(channelChanged) THEN NULL ELSE notify_error END,
                    notify_error_at = CASE WHEN \(channelChanged) THEN NULL ELSE notify_error_at END
                WHERE team_id = \(current.teamId)
                """)
            return try await Self.installation(team: current.teamId, in: tx)
        }
    }

    public func recordNotifyProblem(
        team: String, channel: String, code: String?, at now: Int64, by lease: SlackJobLease?
    ) async throws {
        let at: Int64? = code == nil ? nil : now
        try await write { tx in
            guard try await Self.holds(lease, in: tx) else { return }
            try await tx.execute(
                """
                UPDATE slack_installation SET notify_error = \(code), notify_error_at = \(at)
                WHERE team_id = \(team) AND notify_channel = \(channel)
                """)
        }
    }

    /// One statement in autocommit, which the server commits without waiting on this instance: in a shared
    /// transaction, an instance that stalled before its COMMIT would hold the workspace's installation row, and with
    /// it every other instance's captures, settings and posts of the workspace, for as long as it stalled.
    public func recordEventSeen(team: String, at now: Int64) async throws {
        try await backend.withConnection { tx in
            try await tx.execute(
                """
                UPDATE slack_installation SET last_event_at = \(now)
                WHERE team_id = \(team) AND (last_event_at IS NULL OR last_event_at < \(now))
                """)
        }
    }

    /// The post jobs new items need (`SlackNotificationRules`), enqueued in the insert's transaction from one read of
    /// their clients' notifying installations. Whether any was enqueued.
    @discardableResult
    static func enqueueNotifications(for items: [FeedbackItem], in tx: PostgresTransaction) async throws -> Bool {
        let items = items.filter { $0.draft.source != .slack }
        guard !items.isEmpty else { return false }
        let clients = Array(Set(items.map(\.clientId)))
        var sql = SQLBuilder(PGInstallationRecord.select)
        sql.append(
            """
             WHERE client_id = ANY(\(sql.bind(clients))) AND notify_channel IS NOT NULL
            AND token_envelope IS NOT NULL AND team_id NOT IN (SELECT team_id FROM slack_tombstone)
            """)
        let installations = try await tx.rows(sql.query).map { try PGInstallationRecord.installation($0) }
        guard !installations.isEmpty else { return false }
        var enqueued = false
        for item in items {
            for job in SlackNotificationRules.jobs(for: item, installations: installations) {
                try await enqueue(job, in: tx)
                enqueued = true
            }
        }
        return enqueued
    }

    // MARK: Notifications, recovery, App Home

    public func feedbackItem(id: String, client: String) async throws -> FeedbackItem? {
        try await feedback(id: id, clientID: client)
    }

    public func holdJobs(team: String, kind: SlackJob.Kind, notBefore: Int64, by lease: SlackJobLease?) async throws {
        try await write { tx in
            guard try await Self.holds(lease, in: tx) else { return }
            try await tx.execute(
                """
                UPDATE job SET run_at = GREATEST(run_at, \(notBefore))
                WHERE team_id = \(team) AND kind = \(kind.rawValue) AND run_at < \(notBefore)
                """)
            if kind == .postFeedback {
                try await tx.execute(
                    """
                    UPDATE slack_installation SET post_not_before = GREATEST(coalesce(post_not_before, 0), \(notBefore))
                    WHERE team_id = \(team)
                    """)
            }
        }
    }

    public func completeRecoveryStep(
        _ job: SlackJobLease, clientID: String, messages: [CapturedMessage], next: NewSlackJob?, at now: Date
    ) async throws -> RecoveryStepOutcome {
        try await write { tx in
            guard try await Self.deleteJob(job.id, claim: job.claim, in: tx) else { return .jobGone }
            let team = next?.teamId ?? messages.first?.teamId
            if let team {
                let installation = try await Self.installation(team: team, lock: .share, in: tx)
                let tombstoned = try await Self.isTombstoned(team: team, in: tx)
                guard
                    SlackCaptureRules.mayComplete(
                        installation: installation, isTombstoned: tombstoned, jobClient: clientID)
                else { return .notStored }
            }
            var stored = 0
            let erasedAt = try await Self.erasedMembers(clientId: clientID, in: tx)
            for message in messages where message.teamId == team {
                guard try await !Self.wasRemoved(message, clientId: clientID, in: tx),
                    let message = ErasedMembers.recoverable(message, clientID: clientID, erasedAt: erasedAt)
                else { continue }
                if try await Self.store(message, clientId: clientID, at: now, in: tx).isNew { stored += 1 }
            }
            if let next { try await Self.enqueue(next.countingRecovered(stored), in: tx) }
            return .stored(stored)
        }
    }

    /// Whether the client deleted this message's captured row on purpose lately (`RemovedCaptures`).
    static func wasRemoved(_ message: CapturedMessage, clientId: String, in tx: PostgresTransaction) async throws
        -> Bool
    {
        guard let ts = message.messageTs else { return false }
        return try await tx.row(
            """
            SELECT 1 AS found FROM removed_capture WHERE client_id = \(clientId) AND team_id = \(message.teamId)
            AND channel_id = \(message.channelId) AND message_ts = \(ts)
            """) != nil
    }

    public func forgetRemovedCaptures(before cutoff: Int64) async throws {
        try await write { tx in
            try await tx.execute("DELETE FROM removed_capture WHERE removed_at < \(cutoff)")
        }
    }

    /// Whether the message's author was erased (`ErasedMembers`) at or after `instant`.
    static func authorErased(_ message: CapturedMessage, clientId: String, since instant: Int64, in tx: PostgresTransaction)
        async throws -> Bool
    {
        guard let key = ErasedMembers.authorKey(of: message, clientID: clientId) else { return false }
        return try await tx.row(
            """
            SELECT 1 AS found FROM slack_erased_member
            WHERE client_id = \(clientId) AND member_key = \(key) AND erased_at >= \(instant)
            """) != nil
    }

    /// The client's remembered erasures (`ErasedMembers`): member key to when.
    static func erasedMembers(clientId: String, in tx: PostgresTransaction) async throws -> [String: Int64] {
        let rows = try await tx.rows(
            "SELECT member_key, erased_at FROM slack_erased_member WHERE client_id = \(clientId)")
        return Dictionary(
            try rows.map { try ($0["member_key"].decode(String.self), $0["erased_at"].decode(Int64.self)) },
            uniquingKeysWith: max)
    }

    public func recordErasedMember(clientID: String, memberKey: String, at now: Int64) async throws {
        try await write { tx in
            // A capture holds its workspace's installation FOR SHARE until it commits, and reads the record after
            // taking it: one committing now finishes first (the erasure's deletions that follow see its row), one
            // after this sees the record.
            try await tx.execute("SELECT 1 FROM slack_installation WHERE client_id = \(clientID) FOR UPDATE")
            try await tx.execute(
                """
                INSERT INTO slack_erased_member (client_id, member_key, erased_at)
                SELECT id, \(memberKey), \(now) FROM client WHERE id = \(clientID)
                ON CONFLICT (client_id, member_key)
                    DO UPDATE SET erased_at = GREATEST(slack_erased_member.erased_at, excluded.erased_at)
                """)
        }
    }

    public func forgetErasedMembers(before cutoff: Int64) async throws {
        try await write { tx in try await tx.execute("DELETE FROM slack_erased_member WHERE erased_at < \(cutoff)") }
    }

    /// A transaction of its own, not the shared writer's: the job worker beats before it claims and renews its
    /// leases, so a beat waiting behind other writes would hold those up too. (It waits for no lock: it tries it.)
    public func heartbeat(at now: Int64) async throws -> Int {
        try await backend.transaction { tx in
            // One instance at a time: after a downtime of every instance, the first to beat enqueues the sweep and
            // the others find the heartbeat fresh. An instance that finds another beating skips this beat rather
            // than wait: the other is recording that the service is alive, and should it have stalled in its
            // transaction (a paused process), waiting here would stall this instance's job worker with it, which
            // beats before it claims and renews its leases.
            guard
                try await tx.scalar("SELECT pg_try_advisory_xact_lock(\(PostgresLocks.heartbeat))", as: Bool.self)
                    == true
            else { return 0 }
            let previous = try await tx.scalar("SELECT alive_at FROM slack_heartbeat WHERE id = 1", as: Int64.self)
            try await tx.execute(
                """
                INSERT INTO slack_heartbeat (id, alive_at) VALUES (1, \(now))
                ON CONFLICT (id) DO UPDATE SET alive_at = GREATEST(slack_heartbeat.alive_at, excluded.alive_at)
                """)
            guard let sweep = SlackRecoveryRules.afterDowntime(lastAlive: previous, now: now) else { return 0 }
            let installations = try await tx.rows(
                PostgresQuery(
                    unsafeSQL: """
                        \(PGInstallationRecord.select) WHERE token_envelope IS NOT NULL
                        AND team_id NOT IN (SELECT team_id FROM slack_tombstone)
                        """)
            ).map { try PGInstallationRecord.installation($0) }
            for installation in installations {
                try await Self.enqueue(
                    NewSlackJob(
                        clientId: installation.clientId, teamId: installation.teamId, work: .recover(sweep),
                        runAt: now),
                    in: tx)
            }
            return installations.count
        }
    }

    /// A transaction of its own, as the heartbeat's (the job worker runs both before it claims). Installations
    /// another instance is queueing checks for right now are passed over, not waited for: they are its.
    public func queueTokenChecks(checkedBefore: Int64, at now: Int64, limit: Int) async throws -> Int {
        try await backend.transaction { tx in
            let due = try await tx.rows(
                """
                UPDATE slack_installation SET token_checked_at = \(now)
                WHERE team_id IN (
                    SELECT team_id FROM slack_installation AS i
                    WHERE token_envelope IS NOT NULL AND COALESCE(token_checked_at, installed_at) < \(checkedBefore)
                    AND team_id NOT IN (SELECT team_id FROM slack_tombstone)
                    AND NOT EXISTS (
                        SELECT 1 FROM job WHERE job.kind = \(SlackJob.Kind.checkToken.rawValue) AND job.team_id = i.team_id)
                    ORDER BY COALESCE(token_checked_at, installed_at) LIMIT \(Int64(max(0, limit)))
                    FOR UPDATE SKIP LOCKED)
                RETURNING team_id, client_id
                """)
            for row in due {
                let team = try row.value("team_id", as: String.self)
                let client = try row.value("client_id", as: String.self)
                try await Self.enqueue(
                    NewSlackJob(clientId: client, teamId: team, work: .checkToken(CheckTokenJob()), runAt: now), in: tx)
            }
            return due.count
        }
    }

    public func acceptHomeOpened(team: String, user: String, eventId: String, at now: Int64) async throws -> Bool {
        try await write { tx in
            guard let installation = try await Self.activeInstallation(team: team, in: tx),
                installation.tokenEnvelope != nil, !installation.isOwnBot(user: user, botId: nil),
                try await Self.recordEvent(eventId, at: now, in: tx)
            else { return false }
            try await Self.enqueue(
                NewSlackJob(
                    clientId: installation.clientId, teamId: team, work: .publishHome(PublishHomeJob(user: user)),
                    runAt: now),
                in: tx)
            return true
        }
    }

    public func captureCount(client: String, team: String, since: Int64) async throws -> Int {
        let count = try await scalar(
            """
            SELECT count(*) FROM feedback
            WHERE client_id = \(client) AND source = 'slack' AND created_at >= \(since) AND slack_team_id = \(team)
            """, as: Int64.self) ?? 0
        return Int(count)
    }

    // MARK: Account closure

    public func handOverTokens(clientID: String, at now: Int64) async throws -> Int {
        try await write { tx in
            var sql = SQLBuilder(PGInstallationRecord.select)
            sql.append(" WHERE client_id = \(sql.bind(clientID)) FOR UPDATE")
            let installations = try await tx.rows(sql.query).map { try PGInstallationRecord.installation($0) }
            var envelopes = [String: [UInt8]]()
            for installation in installations {
                if let envelope = installation.tokenEnvelope { envelopes[installation.teamId] = envelope }
            }
            if !envelopes.isEmpty {
                try await Self.handOverPosts(clientID: clientID, envelopes: envelopes, at: now, in: tx)
            }
            // Queued after the deletions, in their lane: a workspace's jobs of one lane run in order, one at a time.
            for (team, envelope) in envelopes.sorted(by: { $0.key < $1.key }) {
                try await Self.enqueue(
                    NewSlackJob(clientId: nil, teamId: team, work: .revoke(RevokeJob(envelope: envelope)), runAt: now),
                    in: tx)
            }
            return try await tx.execute("DELETE FROM slack_installation WHERE client_id = \(clientID)")
        }
    }

    /// The deletions a closed account's items still owe the workspace (their posts, and deletions already queued),
    /// handed over with the workspace's token (`UnpostJob.envelope`): the installation goes now, the revocation waits
    /// for them. The posts in one statement, however many: the payload is built here as `UnpostJob` encodes it. The
    /// deletions already queued (a few) are decoded here, as the other stores do, so that a row whose payload does not
    /// decode (parked) is left to the closure's deletion of the client's jobs rather than failing the closure.
    static func handOverPosts(clientID: String, envelopes: [String: [UInt8]], at now: Int64, in tx: PostgresTransaction)
        async throws
    {
        let kind = SlackJob.Kind.unpost.rawValue
        var sql = SQLBuilder(PGJobRecord.select)
        sql.append(" WHERE client_id = \(sql.bind(clientID)) AND kind = \(sql.bind(kind))")
        for job in try await tx.rows(sql.query).compactMap({ try? PGJobRecord.job($0) }) {
            guard case .unpost(let post) = job.work, let team = job.teamId, let envelope = envelopes[team] else { continue }
            try await Self.deleteJob(job.id, in: tx)
            try await Self.enqueue(
                NewSlackJob(
                    clientId: nil, teamId: team,
                    work: .unpost(UnpostJob(channel: post.channel, ts: post.ts, envelope: envelope)), runAt: now),
                in: tx)
        }
        let teams = Array(envelopes.keys)
        let sealed = teams.map { Data(envelopes[$0]!).base64EncodedString() }
        try await tx.execute(
            """
            WITH token AS (SELECT * FROM unnest(\(teams)::text[], \(sealed)::text[]) AS t(team_id, envelope))
            INSERT INTO job (kind, client_id, team_id, payload, run_at, attempts, deadline_at, created_at)
            SELECT \(kind), NULL, p.team_id,
                json_build_object('channel', p.channel_id, 'ts', p.message_ts, 'tokenEnvelope', token.envelope)::text,
                \(now), 0, NULL, \(now)
            FROM slack_post p JOIN token ON token.team_id = p.team_id
            WHERE p.client_id = \(clientID)
            """)
    }

    public func eraseClientRecords(clientID: String) async throws -> DeletionCounts {
        try await write { tx in
            var counts = DeletionCounts()
            counts["jobs"] = try await tx.execute("DELETE FROM job WHERE client_id = \(clientID)")
            counts["oauthStates"] = try await tx.execute("DELETE FROM oauth_state WHERE client_id = \(clientID)")
            counts["slackTombstones"] = try await tx.execute(
                "DELETE FROM slack_tombstone WHERE client_id = \(clientID)")
            counts["slackPosts"] = try await tx.execute("DELETE FROM slack_post WHERE client_id = \(clientID)")
            return counts
        }
    }
}

/// An insert collided with a row that holds the same Slack message (or id), and nothing was written.
struct PostgresStoreConflict: Error, CustomStringConvertible {
    var description: String { "the row collides with one already stored (same Slack message)" }
}

/// `slack_installation` rows.
enum PGInstallationRecord {
    static let select = """
        SELECT team_id, client_id, enterprise_id, team_name, bot_user_id, bot_id, app_id, scopes, installer_user_id,
            token_envelope, token_key_id, installed_at, trigger_emoji, trigger_emoji_added_at, notify_channel,
            notify_error, notify_error_at, last_event_at, post_not_before, first_installed_at
        FROM slack_installation
        """

    static func installation(_ row: PostgresRandomAccessRow) throws -> Installation {
        var installation = Installation(
            teamId: try row.value("team_id"), clientId: try row.value("client_id"),
            enterpriseId: try row.value("enterprise_id"), teamName: try row.value("team_name"),
            botUserId: try row.value("bot_user_id"), botId: try row.value("bot_id"), appId: try row.value("app_id"),
            scopes: try row.value("scopes"), installerUserId: try row.value("installer_user_id"),
            tokenEnvelope: (try row.value("token_envelope", as: Data?.self)).map { [UInt8]($0) },
            tokenKeyId: try row.value("token_key_id"), installedAt: try row.value("installed_at"),
            lastEventAt: try row.value("last_event_at"), postNotBefore: try row.value("post_not_before"))
        installation.firstInstalledAt = try row.value("first_installed_at")
        do {
            try installation.restoreSettings(
                triggerEmoji: try row.value("trigger_emoji"),
                triggerEmojiAddedAt: try row.value("trigger_emoji_added_at"), notifyChannel: try row.value("notify_channel"),
                notifyError: try row.value("notify_error"), notifyErrorAt: try row.value("notify_error_at"))
        } catch let error as Installation.UndecodableColumn {
            throw PostgresStoreDecodingError(table: "slack_installation", column: error.name)
        }
        return installation
    }
}

/// `job` rows; an unknown kind or a payload that does not fit it is an error.
enum PGJobRecord {
    static let select =
        "SELECT id, kind, client_id, team_id, payload, run_at, attempts, deadline_at, created_at, progress, claim "
        + "FROM job"

    static func job(_ row: PostgresRandomAccessRow) throws -> SlackJob {
        let payload: String = try row.value("payload")
        return SlackJob(
            id: try row.value("id"), clientId: try row.value("client_id"), teamId: try row.value("team_id"),
            work: try SlackJob.Work(kind: try row.value("kind"), payload: Data(payload.utf8)),
            runAt: try row.value("run_at"), attempts: try row.value("attempts"),
            deadlineAt: try row.value("deadline_at"), createdAt: try row.value("created_at"),
            progress: try row.value("progress"), claim: try row.value("claim"))
    }
}
