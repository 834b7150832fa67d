public import Feedback
public import Foundation
import GRDB
public import SlackGateway

extension SQLiteStore: SlackStore {
    // MARK: Installations

    public func activeInstallation(team: String) async throws -> Installation? {
        try await database.read { db in try Self.activeInstallation(team: team, in: db) }
    }

    public func installation(client: String) async throws -> Installation? {
        try await database.read { db in
            try InstallationRecord.fetchOne(
                db, sql: "\(InstallationRecord.select) WHERE client_id = ? ORDER BY installed_at DESC LIMIT 1",
                arguments: [client]
            )?.installation
        }
    }

    public func sealedInstallations() async throws -> [Installation] {
        try await database.scan { db in
            try InstallationRecord.fetchAll(db, sql: "\(InstallationRecord.select) WHERE token_envelope IS NOT NULL")
                .map(\.installation)
        }
    }

    public func saveInstallation(_ i: Installation) async throws -> InstallationSaveResult {
        try await database.write { db in
            guard try Self.liveClient(id: i.clientId, in: db) != nil else { return .clientGone }
            if let existing = try Self.installation(team: i.teamId, in: db), existing.clientId != i.clientId,
                try !Self.isTombstoned(team: i.teamId, in: db), try Self.liveClient(id: existing.clientId, in: db) != nil
            {
                return .ownedByAnotherClient
            }
            if let other = try Row.fetchOne(
                db,
                sql: """
                    SELECT team_id, team_name FROM slack_installation i
                    WHERE client_id = ? AND team_id <> ? AND token_envelope IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM slack_tombstone t WHERE t.team_id = i.team_id)
                    LIMIT 1
                    """, arguments: [i.clientId, i.teamId])
            {
                let name: String? = other["team_name"]
                return .clientHasAnotherWorkspace(teamName: name ?? other["team_id"])
            }
            try db.execute(
                sql: """
                    INSERT INTO slack_installation (\(InstallationRecord.columns), first_installed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (team_id) DO UPDATE SET
                        -- A reinstall by the same client keeps when it first installed (the old row's values here).
                        first_installed_at = CASE WHEN client_id = excluded.client_id
                            THEN coalesce(first_installed_at, installed_at) ELSE excluded.installed_at END,
                        -- Settings stay through a reinstall by the same client, never pass to another one.
                        trigger_emoji = CASE WHEN client_id = excluded.client_id THEN trigger_emoji END,
                        trigger_emoji_added_at = CASE WHEN client_id = excluded.client_id
                            THEN trigger_emoji_added_at END,
                        notify_channel = CASE WHEN client_id = excluded.client_id THEN notify_channel END,
                        notify_error = CASE WHEN client_id = excluded.client_id AND \(Self.keepsProblem) THEN notify_error END,
                        notify_error_at = CASE WHEN client_id = excluded.client_id AND \(Self.keepsProblem) THEN notify_error_at END,
                        client_id = excluded.client_id,
                        enterprise_id = excluded.enterprise_id, team_name = excluded.team_name,
                        bot_user_id = excluded.bot_user_id, bot_id = excluded.bot_id, app_id = excluded.app_id,
                        scopes = excluded.scopes, installer_user_id = excluded.installer_user_id,
                        token_envelope = excluded.token_envelope, token_key_id = excluded.token_key_id,
                        installed_at = excluded.installed_at, token_refused_at = NULL, token_refused_last = NULL,
                        token_checked_at = NULL
                    """,
                arguments: [
                    i.teamId, i.clientId, i.enterpriseId, i.teamName, i.botUserId, i.botId, i.appId, i.scopes,
                    i.installerUserId, i.tokenEnvelope.map { Data($0) }, i.tokenKeyId, i.installedAt, i.installedAt,
                ])
            try db.execute(sql: "DELETE FROM slack_tombstone WHERE team_id = ?", arguments: [i.teamId])
            return .saved
        }
    }

    public func replaceTokenEnvelope(team: String, expected: [UInt8], with envelope: [UInt8], keyId: String)
        async throws -> Bool
    {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE slack_installation SET token_envelope = ?, token_key_id = ?
                    WHERE team_id = ? AND token_envelope = ?
                    """,
                arguments: [Data(envelope), keyId, team, Data(expected)])
            return db.changesCount > 0
        }
    }

    static func activeInstallation(team: String, in db: Database) throws -> Installation? {
        guard try !isTombstoned(team: team, in: db) else { return nil }
        return try installation(team: team, in: db)
    }

    static func installation(team: String, in db: Database) throws -> Installation? {
        try InstallationRecord.fetchOne(
            db.cachedStatement(sql: "\(InstallationRecord.select) WHERE team_id = ?"), arguments: [team]
        )?.installation
    }

    static func isTombstoned(team: String, in db: Database) throws -> Bool {
        try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM slack_tombstone WHERE team_id = ?)"),
            arguments: [team]) ?? false
    }

    /// Records an event id; false when it was seen before (a retry).
    static func recordEvent(_ eventId: String, at now: Int64, in db: Database) throws -> Bool {
        try db.cachedStatement(sql: "INSERT INTO slack_event_seen (event_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .execute(arguments: [eventId, now])
        return db.changesCount > 0
    }

    // MARK: OAuth states

    public func saveOAuthState(nonce: String, clientID: String, expiresAt: Int64, pruneBefore: Int64) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM oauth_state WHERE expires_at < ?", arguments: [pruneBefore])
            try db.execute(
                sql: "INSERT INTO oauth_state (nonce, client_id, expires_at) VALUES (?, ?, ?)",
                arguments: [nonce, clientID, expiresAt])
        }
    }

    public func consumeOAuthState(nonce: String, clientID: String, now: Int64) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "DELETE FROM oauth_state WHERE nonce = ? AND client_id = ? AND expires_at >= ?",
                arguments: [nonce, clientID, now])
            return db.changesCount == 1
        }
    }

    // MARK: Ingest

    public func acceptReaction(_ reaction: ReactionForward, at now: Int64) async throws -> Bool {
        try await database.write { db in
            guard let installation = try Self.activeInstallation(team: reaction.team, in: db),
                installation.captures(reaction),
                try Self.recordEvent(reaction.eventId, at: now, in: db)
            else { return false }
            let captured = try Self.capturedFeedbackID(
                client: installation.clientId, team: reaction.team, channel: reaction.channel, ts: reaction.ts, in: db)
            try Self.enqueue(reaction.job(for: installation, alreadyCaptured: captured != nil, at: now), in: db)
            return true
        }
    }

    public func acceptUninstall(team: String, eventId: String?, at now: Int64, deadline: Int64, retriedEventAt: Int64?)
        async throws -> Bool
    {
        try await database.write { db in
            if let eventId { guard try Self.recordEvent(eventId, at: now, in: db) else { return false } }
            let installation = try Self.installation(team: team, in: db)
            if let installation, installation.isLater(thanRetriedEventAt: retriedEventAt) {
                try Self.enqueue(NewSlackJob.uninstallScrub(team: team, client: installation.clientId, at: now, deadline: deadline), in: db)
                return true
            }
            try Self.uninstall(team: team, installation: installation, at: now, deadline: deadline, in: db)
            return true
        }
    }

    public func acceptLostToken(team: String, envelope: [UInt8], at now: Int64, deadline: Int64) async throws -> Bool {
        try await database.write { db in
            guard let installation = try Self.installation(team: team, in: db), installation.tokenEnvelope == envelope
            else { return false }
            try Self.uninstall(team: team, installation: installation, at: now, deadline: deadline, in: db)
            return true
        }
    }

    public func noteTokenRefusal(team: String, envelope: [UInt8], at now: Int64?, continuingWithin gap: Int64)
        async throws -> Int64?
    {
        try await database.write { db in
            // Every right-hand side reads the row as it was.
            try Int64?.fetchOne(
                db,
                sql: """
                    UPDATE slack_installation SET
                        token_refused_at = CASE
                            WHEN :now IS NULL THEN NULL
                            WHEN token_refused_last IS NULL OR :now - token_refused_last > :gap THEN :now
                            ELSE token_refused_at END,
                        token_refused_last = :now
                    WHERE team_id = :team AND token_envelope = :envelope RETURNING token_refused_at
                    """,
                arguments: ["now": now, "gap": gap, "team": team, "envelope": Data(envelope)]) ?? nil
        }
    }

    /// Tombstones the workspace (remembering its client), deletes its installation and token and its pending Slack
    /// calls, and enqueues the scrub with its deadline.
    private static func uninstall(
        team: String, installation: Installation?, at now: Int64, deadline: Int64, in db: Database
    ) throws {
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
        let cancelled = SlackJob.Kind.cancelledByUninstall.map(\.rawValue)
        try db.execute(
            sql: """
                DELETE FROM job WHERE team_id = ?
                AND kind IN (\(marks(cancelled.count, "?")))
                """,
            arguments: StatementArguments([team]) + StatementArguments(cancelled))
        try enqueue(NewSlackJob.uninstallScrub(team: team, client: clientId, at: now, deadline: deadline), in: db)
    }

    /// A reinstall by the same client keeps the channel's problem unless connecting again mends it (SQL, over the
    /// row before the reinstall; our own codes, so written out).
    static let keepsProblem =
        "notify_error NOT IN (\(NotifyProblem.mendedByReconnecting.sorted().map { "'\($0)'" }.joined(separator: ", ")))"

    public func acceptTokensRevoked(
        team: String, eventId: String?, botUserIds: [String], at now: Int64, retriedEventAt: Int64?
    ) async throws {
        try await database.write { db in
            if let eventId { guard try Self.recordEvent(eventId, at: now, in: db) else { return } }
            guard let installation = try Self.installation(team: team, in: db),
                !installation.isLater(thanRetriedEventAt: retriedEventAt)
            else { return }
            if let bot = installation.botUserId, !botUserIds.contains(bot) { return }
            // No post is tried without a token: the channel's problem says why (until a reinstall mends it).
            try db.execute(
                sql: """
                    UPDATE slack_installation SET token_envelope = NULL, token_key_id = NULL,
                        notify_error = CASE WHEN notify_channel IS NOT NULL THEN 'token_revoked' END,
                        notify_error_at = CASE WHEN notify_channel IS NOT NULL THEN ? END
                    WHERE team_id = ?
                    """,
                arguments: [now, team])
        }
    }

    public func captureForward(_ message: CapturedMessage, at now: Date, responseURL: String?) async throws
        -> CaptureResult
    {
        try await database.write { db in
            let installation = try Self.installation(team: message.teamId, in: db)
            let tombstoned = try Self.isTombstoned(team: message.teamId, in: db)
            let result: CaptureResult
            if let refusal = SlackCaptureRules.refusal(
                installation: installation, isTombstoned: tombstoned, message: message)
            {
                result = CaptureResult(
                    outcome: refusal, clientId: tombstoned ? nil : installation?.clientId, feedbackId: nil)
            } else if let installation {
                let (id, isNew) = try Self.store(message, clientId: installation.clientId, at: now, in: db)
                result = CaptureResult(
                    outcome: SlackCaptureRules.outcome(isNew: isNew), clientId: installation.clientId, feedbackId: id)
            } else {
                result = CaptureResult(outcome: .notInstalled, clientId: nil, feedbackId: nil)
            }
            if let responseURL {
                let answer = SlackCaptureRules.response(
                    url: responseURL, outcome: result.outcome, feedbackId: result.feedbackId, message: message)
                try Self.enqueue(
                    NewSlackJob(
                        clientId: result.clientId, teamId: message.teamId, work: .respond(answer),
                        runAt: epochMillis(now)),
                    in: db)
            }
            return result
        }
    }

    // MARK: Captured rows

    public func capturedFeedbackID(client: String, team: String, channel: String, ts: String) async throws -> String? {
        try await database.read { db in
            try Self.capturedFeedbackID(client: client, team: team, channel: channel, ts: ts, in: db)
        }
    }

    static func capturedFeedbackID(client: String, team: String, channel: String, ts: String, in db: Database) throws
        -> String?
    {
        try String.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT id FROM feedback WHERE client_id = ? AND slack_team_id = ? AND slack_channel_id = ?
                    AND slack_message_ts = ?
                    """),
            arguments: [client, team, channel, ts])
    }

    public func completeCapture(jobID: Int64, clientID: String, message: CapturedMessage, at now: Date,
                                notice: NotifyJob) async throws -> Bool?
    {
        try await database.write { db in
            guard
                let queuedAt = try Int64.fetchOne(
                    db, sql: "DELETE FROM job WHERE id = ? RETURNING created_at", arguments: [jobID])
            else { return nil }
            let installation = try Self.installation(team: message.teamId, in: db)
            let tombstoned = try Self.isTombstoned(team: message.teamId, in: db)
            guard SlackCaptureRules.mayComplete(installation: installation, isTombstoned: tombstoned, jobClient: clientID)
            else { return nil }
            // Forwarded before its author's erasure: what they wrote stays erased.
            guard try !Self.authorErased(message, clientId: clientID, since: queuedAt, in: db) else { return nil }
            let (_, isNew) = try Self.store(message, clientId: clientID, at: now, in: db)
            var notice = notice
            notice.outcome = SlackCaptureRules.outcome(isNew: isNew).rawValue
            try Self.enqueue(
                NewSlackJob(clientId: clientID, teamId: message.teamId, work: .notify(notice), runAt: epochMillis(now)),
                in: db)
            return isNew
        }
    }

    /// Stores the message unless this client already holds it; returns the row id and whether it was new.
    ///
    /// The unique index on (client, team, channel, ts) is the real guard: losing a race to a concurrent forward
    /// surfaces as a UNIQUE violation, which means "already captured".
    static func store(_ message: CapturedMessage, clientId: String, at now: Date, in db: Database) throws
        -> (id: String, isNew: Bool)
    {
        if let ts = message.messageTs,
            let id = try capturedFeedbackID(
                client: clientId, team: message.teamId, channel: message.channelId, ts: ts, in: db)
        {
            return (id, false)
        }
        let item = FeedbackItem(newAt: now, draft: message.draft(clientId: clientId))
        do {
            try db.inSavepoint {
                try insert(item, into: db)
                return .commit
            }
            return (item.id, true)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            if let ts = message.messageTs,
                let id = try capturedFeedbackID(
                    client: clientId, team: message.teamId, channel: message.channelId, ts: ts, in: db)
            {
                return (id, false)
            }
            throw error
        }
    }

    public func fillPermalink(feedbackID: String, permalink: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE feedback SET slack_permalink = ? WHERE id = ? AND slack_permalink IS NULL",
                arguments: [permalink, feedbackID])
        }
    }

    public func scrubAuthors(team: String, after cursor: Int64, limit: Int, job: Int64?) async throws
        -> (changed: Int, next: Int64?, jobTotal: Int?)
    {
        let result = try await database.write { db -> (changed: Int, next: Int64?, jobTotal: Int?) in
            let (changed, next) = try Self.scrubAuthors(team: team, after: cursor, limit: limit, in: db)
            return (changed, next, try Self.countProgress(changed, of: job, in: db))
        }
        // The scrub's end: the workspace's ids are gone from the WAL too.
        if result.next == nil { await database.dropErasedPages() }
        return result
    }

    /// Adds `done` to the job's `progress` and returns the sum: `done` without a job, nil when its row is gone.
    private static func countProgress(_ done: Int, of job: Int64?, in db: Database) throws -> Int? {
        guard let job else { return done }
        return try Int.fetchOne(
            db, sql: "UPDATE job SET progress = progress + ? WHERE id = ? RETURNING progress", arguments: [done, job])
    }

    private static func scrubAuthors(team: String, after cursor: Int64, limit: Int, in db: Database) throws
        -> (changed: Int, next: Int64?)
    {
        guard
            let upper = try Int64.fetchOne(
                db,
                sql: """
                    SELECT max(rowid) FROM (SELECT rowid FROM feedback INDEXED BY feedback_by_slack_team
                    WHERE slack_team_id = ? AND rowid > ? ORDER BY rowid LIMIT ?)
                    """,
                arguments: [team, cursor, limit])
        else { return (0, nil) }
        // The workspace installed again meanwhile: what it captured since keeps its ids.
        let reinstalledAt = try Int64.fetchOne(
            db, sql: "SELECT installed_at FROM slack_installation WHERE team_id = ?", arguments: [team])
        try db.execute(
            sql: """
                UPDATE feedback SET slack_author_id = NULL, slack_forwarded_by = NULL
                WHERE rowid IN (SELECT rowid FROM feedback INDEXED BY feedback_by_slack_team
                    WHERE slack_team_id = ? AND rowid > ? AND rowid <= ?)
                AND (slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL)
                AND created_at < ?
                """,
            arguments: [team, cursor, upper, reinstalledAt ?? Int64.max])
        return (db.changesCount, upper)
    }

    // MARK: Job queue

    public func enqueue(_ job: NewSlackJob) async throws {
        try await database.write { db in try Self.enqueue(job, in: db) }
    }

    static func enqueue(_ job: NewSlackJob, in db: Database) throws {
        let payload = String(decoding: try job.work.encodedPayload(), as: UTF8.self)
        try db.cachedStatement(
            sql: """
                INSERT INTO job (kind, client_id, team_id, payload, run_at, attempts, deadline_at, created_at)
                VALUES (?, ?, ?, ?, ?, 0, ?, ?)
                """
        ).execute(arguments: [
            job.work.kind.rawValue, job.clientId, job.teamId, payload, job.runAt, job.deadlineAt, job.runAt,
        ])
    }

    /// Deletes a job, when it is still there under `claim` (nil: whoever holds it); whether it was.
    @discardableResult
    static func deleteJob(_ id: Int64, claim: Int64? = nil, in db: Database) throws -> Bool {
        try db.cachedStatement(sql: "DELETE FROM job WHERE id = ? AND claim = coalesce(?, claim)")
            .execute(arguments: [id, claim])
        return db.changesCount > 0
    }

    /// One process owns the file: there is no other instance to announce passed-over jobs to.
    public func claimDueJobs(now: Int64, lanes: [SlackJobLane], passingOver: SlackJobKeyFilter?) async throws
        -> [SlackJob]
    {
        try await database.write { db in
            try lanes.flatMap {
                try Self.claimDueJobs(
                    now: now, limit: $0.limit, lease: $0.lease, kinds: $0.kinds, passingOver: passingOver, in: db)
            }
        }
    }

    public func listenForJobsLeftHere(_ wake: @escaping @Sendable () -> Void) async {}

    /// SQL and its arguments: the job `alias` is not one `filter` passes over (nothing without a filter).
    static func notPassedOver(_ filter: SlackJobKeyFilter?, _ alias: String) -> (sql: String, arguments: StatementArguments) {
        guard let filter, !filter.kinds.isEmpty else { return ("", []) }
        let kinds = filter.kinds.map(\.rawValue).sorted()
        let keys = filter.keyIDs.sorted()
        // An empty ring holds no key: every sealed token is passed over.
        let keyCheck = keys.isEmpty ? "" : "AND i.token_key_id NOT IN (\(marks(keys.count, "?")))"
        return (
            """
            AND NOT (\(alias).kind IN (\(marks(kinds.count, "?"))) AND \(alias).created_at > ? AND EXISTS (
                SELECT 1 FROM slack_installation i WHERE i.team_id = \(alias).team_id AND i.token_key_id IS NOT NULL
                \(keyCheck)))
            """,
            StatementArguments(kinds) + StatementArguments([filter.queuedAfter]) + StatementArguments(keys)
        )
    }

    private static func claimDueJobs(
        now: Int64, limit: Int, lease: Int64, kinds: Set<SlackJob.Kind>, passingOver: SlackJobKeyFilter?,
        in db: Database
    ) throws -> [SlackJob] {
        let kindList = kinds.map(\.rawValue).sorted()
        let marks = Self.marks(kindList.count, "?")
        let passOver = Self.notPassedOver(passingOver, "j")
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT id, kind, client_id, team_id, payload, run_at, attempts, deadline_at, created_at, progress, claim
                FROM job j
                WHERE run_at <= ? AND kind IN (\(marks)) AND (lease_until IS NULL OR lease_until <= ?)
                AND (team_id IS NULL OR NOT EXISTS (
                    SELECT 1 FROM job k WHERE k.team_id = j.team_id AND k.kind IN (\(marks))
                    AND k.lease_until > ?))
                -- Nor while a job of its workspace and kind waits out Slack's Retry-After (postponeJobs): one
                -- enqueued since would spend a call only to earn another 429.
                AND (team_id IS NULL OR NOT EXISTS (
                    SELECT 1 FROM job r WHERE r.team_id = j.team_id AND r.kind = j.kind
                    AND r.last_error = 'ratelimited' AND r.run_at > ?))
                -- A workspace's posts leave in the order their items arrived: only its oldest post (a parked one
                -- aside) goes, and not before the pace the last one set (holdJobs), whatever run_at each was queued
                -- with.
                AND (kind <> 'slack.post' OR (\(Self.oldestPost("j"))
                    AND coalesce((SELECT i.post_not_before FROM slack_installation i WHERE i.team_id = j.team_id), 0)
                        <= ?))
                -- Nor what this instance leaves to one with the key of the workspace's token.
                \(passOver.sql)
                ORDER BY run_at, id LIMIT ?
                """,
            arguments: Self.arguments([now], kindList, [now], kindList, [now, now, now]) + passOver.arguments
                + [Int64(limit)])
        var teams = Set<String>()
        var jobs: [SlackJob] = []
        for row in rows {
            let id: Int64 = try row.value("id")
            let team: String? = try row.value("team_id")
            // One job per workspace per claim: its next one waits for this one's lease to end.
            if let team, teams.contains(team) { continue }
            var job: SlackJob
            do {
                job = try JobRecord(row: row).job
            } catch {
                // Parked, and it does not take its workspace's turn: the next job of the workspace runs now.
                try db.execute(
                    sql: "UPDATE job SET run_at = ?, last_error = 'undecodable_payload' WHERE id = ?",
                    arguments: [Int64.max, id])
                continue
            }
            if let team { teams.insert(team) }
            job.claim += 1
            jobs.append(job)
            try db.execute(
                sql: "UPDATE job SET lease_until = ?, claim = ? WHERE id = ?", arguments: [now + lease, job.claim, id])
        }
        return jobs
    }

    public func renewJobLeases(_ leases: [SlackJobLease], now: Int64, until: Int64) async throws {
        guard !leases.isEmpty else { return }
        let marks = Array(repeating: "(?, ?)", count: leases.count).joined(separator: ", ")
        try await database.write { db in
            try db.execute(
                sql: "UPDATE job SET lease_until = ? WHERE lease_until > ? AND (id, claim) IN (VALUES \(marks))",
                arguments: StatementArguments([until, now] + leases.flatMap { [$0.id, $0.claim] }))
        }
    }

    public func nextJobDueAt(now: Int64, kinds: Set<SlackJob.Kind>, passingOver: SlackJobKeyFilter?) async throws
        -> Int64?
    {
        let kindList = kinds.map(\.rawValue).sorted()
        let marks = Self.marks(kindList.count, "?")
        let passOver = Self.notPassedOver(passingOver, "j")
        return try await database.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT MIN(CASE WHEN lease_until > ? THEN lease_until
                        ELSE max(run_at, coalesce((
                            SELECT max(r.run_at) FROM job r WHERE r.team_id = j.team_id AND r.kind = j.kind
                            AND r.last_error = 'ratelimited'), run_at),
                            CASE WHEN kind = 'slack.post' THEN coalesce((
                                SELECT i.post_not_before FROM slack_installation i WHERE i.team_id = j.team_id),
                                run_at) ELSE run_at END) END)
                    FROM job j
                    WHERE kind IN (\(marks)) AND run_at < ? AND (team_id IS NULL OR NOT EXISTS (
                        SELECT 1 FROM job k WHERE k.team_id = j.team_id AND k.id <> j.id AND k.kind IN (\(marks))
                        AND k.lease_until > ?))
                    AND (kind <> 'slack.post' OR \(Self.oldestPost("j")))
                    \(passOver.sql)
                    """,
                arguments: Self.arguments([now], kindList, [Int64.max], kindList, [now]) + passOver.arguments)
        }
    }

    /// SQL: the post job `alias` is its workspace's oldest one waiting (parked ones, at `run_at` Int64.max, aside).
    static func oldestPost(_ alias: String) -> String {
        """
        NOT EXISTS (SELECT 1 FROM job o WHERE o.team_id = \(alias).team_id AND o.kind = 'slack.post' \
        AND o.id < \(alias).id AND o.run_at < \(Int64.max))
        """
    }

    /// Integers and kind names, in the order the statement binds them.
    static func arguments(_ a: [Int64], _ kindsA: [String], _ b: [Int64], _ kindsB: [String], _ c: [Int64])
        -> StatementArguments
    {
        StatementArguments(a) + StatementArguments(kindsA) + StatementArguments(b) + StatementArguments(kindsB)
            + StatementArguments(c)
    }

    public func finishJob(_ id: Int64, claim: Int64?, then next: NewSlackJob?) async throws -> Bool {
        try await database.write { db in
            guard try Self.deleteJob(id, claim: claim, in: db) else { return false }
            if let next { try Self.enqueue(next, in: db) }
            return true
        }
    }

    public func rescheduleJob(_ id: Int64, claim: Int64?, runAt: Int64, countAttempt: Bool, error: String)
        async throws
    {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE job SET run_at = ?, attempts = attempts + ?, last_error = ?, lease_until = NULL
                    WHERE id = ? AND claim = coalesce(?, claim)
                    """,
                arguments: [runAt, countAttempt ? 1 : 0, error, id, claim])
        }
    }

    public func markPostSent(_ job: SlackJobLease, at: Int64) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE job SET progress = CASE WHEN progress = 0 THEN ? ELSE progress END
                    WHERE id = ? AND claim = ? AND lease_until > ?
                    """,
                arguments: [at, job.id, job.claim, at])
            return db.changesCount > 0
        }
    }

    public func unmarkPostSent(_ job: SlackJobLease) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE job SET progress = 0 WHERE id = ? AND claim = ?", arguments: [job.id, job.claim])
        }
    }

    /// Whether the worker that took `lease` still holds its job (true without a lease).
    static func holds(_ lease: SlackJobLease?, in db: Database) throws -> Bool {
        guard let lease else { return true }
        return try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM job WHERE id = ? AND claim = ?)", arguments: [lease.id, lease.claim])
            ?? false
    }

    public func recordPost(_ post: PostedMessage, at now: Int64) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO slack_post (feedback_id, client_id, team_id, channel_id, message_ts, posted_at)
                    SELECT id, client_id, ?, ?, ?, ? FROM feedback WHERE id = ? AND client_id = ?
                    ON CONFLICT (feedback_id, message_ts) DO NOTHING
                    """,
                arguments: [post.teamId, post.channel, post.ts, now, post.feedbackId, post.clientId])
            return try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM feedback WHERE id = ? AND client_id = ?)",
                arguments: [post.feedbackId, post.clientId]) ?? false
        }
    }

    /// Before a row is deleted on purpose (by the admin, an erasure, a retention sweep): when it was posted to a
    /// notify channel, queues the deletion of that post and forgets where it went.
    static func queueUnposts(ofFeedback id: String, at now: Int64, in db: Database) throws {
        let posts = try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT client_id, team_id, channel_id, message_ts FROM slack_post WHERE feedback_id = ?"),
            arguments: [id])
        guard !posts.isEmpty else { return }
        for post in posts {
            try enqueue(
                NewSlackJob(
                    clientId: post["client_id"], teamId: post["team_id"],
                    work: .unpost(UnpostJob(channel: post["channel_id"], ts: post["message_ts"])), runAt: now),
                in: db)
        }
        try db.cachedStatement(sql: "DELETE FROM slack_post WHERE feedback_id = ?").execute(arguments: [id])
    }

    public func postponeJobs(team: String, kind: SlackJob.Kind, until: Int64, by lease: SlackJobLease?) async throws {
        try await database.write { db in
            guard try Self.holds(lease, in: db) else { return }
            try db.execute(
                sql: """
                    UPDATE job SET run_at = ?, last_error = 'ratelimited', lease_until = NULL
                    WHERE team_id = ? AND kind = ? AND run_at <= ?
                    """,
                arguments: [until, team, kind.rawValue, until])
        }
    }

    public func enqueueUnlessPending(_ job: NewSlackJob, coveredBy covers: @escaping @Sendable (SlackJob) -> Bool)
        async throws -> Bool
    {
        try await database.write { db in
            let pending = try Row.fetchAll(
                db, sql: "\(JobRecord.select) WHERE kind = ? AND team_id IS ?",
                arguments: [job.work.kind.rawValue, job.teamId]
            ).compactMap { try? JobRecord(row: $0).job }
            guard !pending.contains(where: covers) else { return false }
            try Self.enqueue(job, in: db)
            return true
        }
    }

    public func pendingJobs(kind: SlackJob.Kind, team: String?) async throws -> [SlackJob] {
        try await database.scan { db in
            let rows =
                if let team {
                    try Row.fetchAll(
                        db, sql: "\(JobRecord.select) WHERE kind = ? AND team_id = ?", arguments: [kind.rawValue, team])
                } else {
                    try Row.fetchAll(db, sql: "\(JobRecord.select) WHERE kind = ?", arguments: [kind.rawValue])
                }
            // A job whose payload no longer decodes (parked, `undecodable_payload`) is left out, not an error for all.
            return rows.compactMap { try? JobRecord(row: $0).job }
        }
    }

    public func replaceJobWork(jobID: Int64, expected: SlackJob.Work, with replacement: SlackJob.Work) async throws
        -> Bool
    {
        guard expected.kind == replacement.kind else { return false }
        let old = String(decoding: try expected.encodedPayload(), as: UTF8.self)
        let new = String(decoding: try replacement.encodedPayload(), as: UTF8.self)
        return try await database.write { db in
            try db.execute(
                sql: "UPDATE job SET payload = ? WHERE id = ? AND kind = ? AND payload = ?",
                arguments: [new, jobID, expected.kind.rawValue, old])
            return db.changesCount > 0
        }
    }

    public func recordDelivery(_ key: String, at now: Int64) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO slack_request_seen (signature, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                arguments: [key, now])
            return db.changesCount > 0
        }
    }

    public func pruneSeenEvents(before cutoff: Int64) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM slack_event_seen WHERE seen_at < ?", arguments: [cutoff])
            try db.execute(sql: "DELETE FROM slack_request_seen WHERE seen_at < ?", arguments: [cutoff])
        }
    }

    // MARK: Settings (issue 12)

    public func updateSettings(client: String, _ change: SlackSettingsChange, at now: Int64) async throws
        -> Installation?
    {
        try await database.write { db in
            guard
                let current = try InstallationRecord.fetchOne(
                    db,
                    sql: """
                        \(InstallationRecord.select) WHERE client_id = ?
                        AND team_id NOT IN (SELECT team_id FROM slack_tombstone) ORDER BY installed_at DESC LIMIT 1
                        """,
                    arguments: [client])?.installation
            else { return nil }
            let changed = current.applying(change, at: now)
            let channelChanged = changed.settings.notifyChannel != current.settings.notifyChannel
            try db.execute(
                sql: """
                    UPDATE slack_installation SET trigger_emoji = ?, trigger_emoji_added_at = ?, notify_channel = ?,
                        notify_error = CASE WHEN ? THEN NULL ELSE notify_error END,
                        notify_error_at = CASE WHEN ? THEN NULL ELSE notify_error_at END
                    WHERE team_id = ?
                    """,
                arguments: [
                    changed.settings.storedTriggerEmoji, changed.storedTriggerEmojiAddedAt,
                    changed.settings.notifyChannel, channelChanged, channelChanged, current.teamId,
                ])
            return try Self.installation(team: current.teamId, in: db)
        }
    }

    public func recordNotifyProblem(
        team: String, channel: String, code: String?, at now: Int64, by lease: SlackJobLease?
    ) async throws {
        try await database.write { db in
            guard try Self.holds(lease, in: db) else { return }
            try db.execute(
                sql: """
                    UPDATE slack_installation SET notify_error = ?, notify_error_at = ?
                    WHERE team_id = ? AND notify_channel = ?
                    """,
                arguments: [code, code == nil ? nil : now, team, channel])
        }
    }

    public func recordEventSeen(team: String, at now: Int64) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE slack_installation SET last_event_at = ?
                    WHERE team_id = ? AND (last_event_at IS NULL OR last_event_at < ?)
                    """,
                arguments: [now, team, now])
        }
    }

    /// The post jobs a new item needs (`SlackNotificationRules`), read in the caller's transaction, which enqueues
    /// them with the insert: the post is as durable as the item. One indexed read when the client has no
    /// installation, none for a Slack capture; nothing written.
    static func notificationJobs(for item: FeedbackItem, in db: Database) throws -> [NewSlackJob] {
        guard item.draft.source != .slack else { return [] }
        let installations = try InstallationRecord.fetchAll(
            db.cachedStatement(
                sql: """
                    \(InstallationRecord.select) WHERE client_id = ? AND notify_channel IS NOT NULL
                    AND token_envelope IS NOT NULL AND team_id NOT IN (SELECT team_id FROM slack_tombstone)
                    """),
            arguments: [item.clientId]
        ).map(\.installation)
        return SlackNotificationRules.jobs(for: item, installations: installations)
    }

    // MARK: Notifications, recovery, App Home (issue 12)

    public func feedbackItem(id: String, client: String) async throws -> FeedbackItem? {
        try await feedback(id: id, clientID: client)
    }

    public func holdJobs(team: String, kind: SlackJob.Kind, notBefore: Int64, by lease: SlackJobLease?) async throws {
        try await database.write { db in
            guard try Self.holds(lease, in: db) else { return }
            try db.execute(
                sql: "UPDATE job SET run_at = max(run_at, ?) WHERE team_id = ? AND kind = ? AND run_at < ?",
                arguments: [notBefore, team, kind.rawValue, notBefore])
            if kind == .postFeedback {
                try db.execute(
                    sql: """
                        UPDATE slack_installation SET post_not_before = max(coalesce(post_not_before, 0), ?)
                        WHERE team_id = ?
                        """,
                    arguments: [notBefore, team])
            }
        }
    }

    public func completeRecoveryStep(
        _ job: SlackJobLease, clientID: String, messages: [CapturedMessage], next: NewSlackJob?, at now: Date
    ) async throws -> RecoveryStepOutcome {
        try await database.write { db in
            guard try Self.deleteJob(job.id, claim: job.claim, in: db) else { return .jobGone }
            let team = next?.teamId ?? messages.first?.teamId
            if let team {
                let installation = try Self.installation(team: team, in: db)
                let tombstoned = try Self.isTombstoned(team: team, in: db)
                guard
                    SlackCaptureRules.mayComplete(
                        installation: installation, isTombstoned: tombstoned, jobClient: clientID)
                else { return .notStored }
            }
            var stored = 0
            let erasedAt = try Self.erasedMembers(clientId: clientID, in: db)
            for message in messages where message.teamId == team {
                guard try !Self.wasRemoved(message, clientId: clientID, in: db),
                    let message = ErasedMembers.recoverable(message, clientID: clientID, erasedAt: erasedAt)
                else { continue }
                if try Self.store(message, clientId: clientID, at: now, in: db).isNew { stored += 1 }
            }
            if let next { try Self.enqueue(next.countingRecovered(stored), in: db) }
            return .stored(stored)
        }
    }

    /// Whether the client deleted this message's captured row on purpose lately (`RemovedCaptures`).
    static func wasRemoved(_ message: CapturedMessage, clientId: String, in db: Database) throws -> Bool {
        guard let ts = message.messageTs else { return false }
        return try Bool.fetchOne(
            db,
            sql: """
                SELECT EXISTS (SELECT 1 FROM removed_capture
                WHERE client_id = ? AND team_id = ? AND channel_id = ? AND message_ts = ?)
                """,
            arguments: [clientId, message.teamId, message.channelId, ts]) ?? false
    }

    public func forgetRemovedCaptures(before cutoff: Int64) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM removed_capture WHERE removed_at < ?", arguments: [cutoff])
        }
    }

    /// Whether the message's author was erased (`ErasedMembers`) at or after `instant`.
    static func authorErased(_ message: CapturedMessage, clientId: String, since instant: Int64, in db: Database) throws
        -> Bool
    {
        guard let key = ErasedMembers.authorKey(of: message, clientID: clientId) else { return false }
        return try Bool.fetchOne(
            db,
            sql: """
                SELECT EXISTS (SELECT 1 FROM slack_erased_member
                    WHERE client_id = ? AND member_key = ? AND erased_at >= ?)
                """,
            arguments: [clientId, key, instant]) ?? false
    }

    /// The client's remembered erasures (`ErasedMembers`): member key to when.
    static func erasedMembers(clientId: String, in db: Database) throws -> [String: Int64] {
        let rows = try Row.fetchAll(
            db, sql: "SELECT member_key, erased_at FROM slack_erased_member WHERE client_id = ?", arguments: [clientId])
        return Dictionary(rows.map { ($0["member_key"], $0["erased_at"]) }, uniquingKeysWith: max)
    }

    public func recordErasedMember(clientID: String, memberKey: String, at now: Int64) async throws {
        // One writer: a capture is committed before this or sees it.
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO slack_erased_member (client_id, member_key, erased_at)
                    SELECT id, ?, ? FROM client WHERE id = ?
                    ON CONFLICT (client_id, member_key) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at)
                    """,
                arguments: [memberKey, now, clientID])
        }
    }

    public func forgetErasedMembers(before cutoff: Int64) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM slack_erased_member WHERE erased_at < ?", arguments: [cutoff])
        }
    }

    public func heartbeat(at now: Int64) async throws -> Int {
        try await database.write { db in
            let previous = try Int64.fetchOne(db, sql: "SELECT alive_at FROM slack_heartbeat WHERE id = 1")
            try db.execute(
                sql: """
                    INSERT INTO slack_heartbeat (id, alive_at) VALUES (1, ?)
                    ON CONFLICT (id) DO UPDATE SET alive_at = max(alive_at, excluded.alive_at)
                    """,
                arguments: [now])
            guard let sweep = SlackRecoveryRules.afterDowntime(lastAlive: previous, now: now) else { return 0 }
            let installations = try InstallationRecord.fetchAll(
                db,
                sql: """
                    \(InstallationRecord.select) WHERE token_envelope IS NOT NULL
                    AND team_id NOT IN (SELECT team_id FROM slack_tombstone)
                    """
            ).map(\.installation)
            for installation in installations {
                try Self.enqueue(
                    NewSlackJob(
                        clientId: installation.clientId, teamId: installation.teamId, work: .recover(sweep),
                        runAt: now),
                    in: db)
            }
            return installations.count
        }
    }

    public func queueTokenChecks(checkedBefore: Int64, at now: Int64, limit: Int) async throws -> Int {
        try await database.write { db in
            let due = try Row.fetchAll(
                db,
                sql: """
                    SELECT team_id, client_id FROM slack_installation
                    WHERE token_envelope IS NOT NULL AND coalesce(token_checked_at, installed_at) < ?
                    AND team_id NOT IN (SELECT team_id FROM slack_tombstone)
                    AND team_id NOT IN (SELECT team_id FROM job WHERE kind = ? AND team_id IS NOT NULL)
                    ORDER BY coalesce(token_checked_at, installed_at) LIMIT ?
                    """,
                arguments: [checkedBefore, SlackJob.Kind.checkToken.rawValue, max(0, limit)])
            for row in due {
                let team: String = row["team_id"]
                try db.execute(
                    sql: "UPDATE slack_installation SET token_checked_at = ? WHERE team_id = ?", arguments: [now, team])
                try Self.enqueue(
                    NewSlackJob(clientId: row["client_id"], teamId: team, work: .checkToken(CheckTokenJob()), runAt: now),
                    in: db)
            }
            return due.count
        }
    }

    public func acceptHomeOpened(team: String, user: String, eventId: String, at now: Int64) async throws -> Bool {
        try await database.write { db in
            guard let installation = try Self.activeInstallation(team: team, in: db),
                installation.tokenEnvelope != nil, !installation.isOwnBot(user: user, botId: nil),
                try Self.recordEvent(eventId, at: now, in: db)
            else { return false }
            try Self.enqueue(
                NewSlackJob(
                    clientId: installation.clientId, teamId: team, work: .publishHome(PublishHomeJob(user: user)),
                    runAt: now),
                in: db)
            return true
        }
    }

    public func captureCount(client: String, team: String, since: Int64) async throws -> Int {
        // The (client, source, created_at) index: one range, however many rows other sources hold.
        try await database.read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM feedback INDEXED BY feedback_by_client_source
                    WHERE client_id = ? AND source = 'slack' AND created_at >= ? AND slack_team_id = ?
                    """,
                arguments: [client, since, team]) ?? 0
        }
    }

    // MARK: Account closure

    public func handOverTokens(clientID: String, at now: Int64) async throws -> Int {
        try await database.write { db in
            let installations = try InstallationRecord.fetchAll(
                db, sql: "\(InstallationRecord.select) WHERE client_id = ?", arguments: [clientID])
            var envelopes = [String: [UInt8]]()
            for installation in installations.map(\.installation) {
                if let envelope = installation.tokenEnvelope { envelopes[installation.teamId] = envelope }
            }
            if !envelopes.isEmpty {
                var posts = try Row.fetchAll(
                    db, sql: "SELECT team_id, channel_id, message_ts FROM slack_post WHERE client_id = ?",
                    arguments: [clientID]
                ).map { (team: $0["team_id"] as String, post: UnpostJob(channel: $0["channel_id"], ts: $0["message_ts"])) }
                let queued = try Row.fetchAll(
                    db, sql: "\(JobRecord.select) WHERE client_id = ? AND kind = ?",
                    arguments: [clientID, SlackJob.Kind.unpost.rawValue]
                ).compactMap { try? JobRecord(row: $0).job }
                for job in queued {
                    if case .unpost(let post) = job.work, let team = job.teamId { posts.append((team, post)) }
                }
                try db.execute(
                    sql: "DELETE FROM job WHERE client_id = ? AND kind = ?",
                    arguments: [clientID, SlackJob.Kind.unpost.rawValue])
                for (team, post) in posts {
                    guard let envelope = envelopes[team] else { continue }
                    try Self.enqueue(
                        NewSlackJob(
                            clientId: nil, teamId: team,
                            work: .unpost(UnpostJob(channel: post.channel, ts: post.ts, envelope: envelope)), runAt: now),
                        in: db)
                }
            }
            // Queued after the deletions, in their lane: a workspace's jobs of one lane run in order, one at a time.
            for (team, envelope) in envelopes.sorted(by: { $0.key < $1.key }) {
                try Self.enqueue(
                    NewSlackJob(clientId: nil, teamId: team, work: .revoke(RevokeJob(envelope: envelope)), runAt: now),
                    in: db)
            }
            try db.execute(sql: "DELETE FROM slack_installation WHERE client_id = ?", arguments: [clientID])
            return db.changesCount
        }
    }

    public func eraseClientRecords(clientID: String) async throws -> DeletionCounts {
        try await database.write { db in
            var counts = DeletionCounts()
            try db.execute(sql: "DELETE FROM job WHERE client_id = ?", arguments: [clientID])
            counts["jobs"] = db.changesCount
            try db.execute(sql: "DELETE FROM oauth_state WHERE client_id = ?", arguments: [clientID])
            counts["oauthStates"] = db.changesCount
            try db.execute(sql: "DELETE FROM slack_tombstone WHERE client_id = ?", arguments: [clientID])
            counts["slackTombstones"] = db.changesCount
            try db.execute(sql: "DELETE FROM slack_post WHERE client_id = ?", arguments: [clientID])
            counts["slackPosts"] = db.changesCount
            return counts
        }
    }
}

/// A `slack_installation` row, decoded by column name.
struct InstallationRecord: FetchableRecord {
    /// The columns an install writes.
    static let columns = """
        team_id, client_id, enterprise_id, team_name, bot_user_id, bot_id, app_id, scopes, installer_user_id,
        token_envelope, token_key_id, installed_at
        """
    static let select = """
        SELECT \(columns), trigger_emoji, trigger_emoji_added_at, notify_channel, notify_error, notify_error_at,
            last_event_at, post_not_before, first_installed_at
        FROM slack_installation
        """

    var installation: Installation

    init(row: Row) throws {
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
            throw StoreDecodingError(table: "slack_installation", column: error.name)
        }
        self.installation = installation
    }
}

/// A `job` row, decoded by column name; an unknown kind or a payload that does not fit it is an error.
struct JobRecord: FetchableRecord {
    static let select =
        "SELECT id, kind, client_id, team_id, payload, run_at, attempts, deadline_at, created_at, progress, claim "
        + "FROM job"

    var job: SlackJob

    init(row: Row) throws {
        let payload: String = try row.value("payload")
        job = SlackJob(
            id: try row.value("id"), clientId: try row.value("client_id"), teamId: try row.value("team_id"),
            work: try SlackJob.Work(kind: try row.value("kind"), payload: Data(payload.utf8)),
            runAt: try row.value("run_at"), attempts: try row.value("attempts"),
            deadlineAt: try row.value("deadline_at"), createdAt: try row.value("created_at"),
            progress: try row.value("progress"), claim: try row.value("claim"))
    }
}
