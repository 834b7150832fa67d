import Feedback
import Foundation
import Logging
import UseroCrypto

// The jobs that forget: the uninstall scrub, the revocation of a closed account's token, and the daily check that
// finds an uninstall Slack's event never told.
extension SlackJobRunner {
    /// Asks Slack whether the workspace's token still works. Accepted: any refusal recorded before is over.
    /// Refused: the error goes where every job's goes (`failed`), which asks `auth.test` once more and takes a token
    /// Slack refuses for good for the uninstall it means (`uninstallIfTokenIsDead`: token deleted, author ids
    /// scrubbed within the scrub's deadline; `invalid_auth` only once it has lasted `invalidAuthGrace`, the check
    /// coming back hourly meanwhile). Without `app_uninstalled` (Slack retries it for a few minutes only, and a
    /// workspace's traffic stops with the uninstall), this is what keeps the uninstall promise within a day.
    func checkToken(_ job: SlackJob) async throws {
        guard let team = job.teamId, case let (installation, token)? = try await token(team: team),
            let envelope = installation.tokenEnvelope
        else {
            try await finish(job, then: nil)
            return
        }
        _ = try await api.authTest(token: token)
        _ = try? await store.noteTokenRefusal(team: team, envelope: envelope, at: nil, continuingWithin: Self.refusalGap)
        try await finish(job, then: nil)
    }

    /// Nulls every author and forwarder id of the team's rows, in batches of `scrubBatch`, then records when it
    /// finished (and its deadline) in the audit log, with how many rows lost their ids: counted on the job's row,
    /// so a scrub taken over after a crash counts its first run's rows too.
    func scrub(_ job: SlackJob, _ payload: UninstallJob) async throws {
        guard let team = job.teamId else {
            try await finish(job, then: nil)
            return
        }
        var total = 0
        var cursor: Int64 = 0
        while true {
            let batch = try await store.scrubAuthors(team: team, after: cursor, limit: Self.scrubBatch, job: job.id)
            guard let jobTotal = batch.jobTotal else {
                // Finished by another worker, which took the job over while this one stalled past its lease (a
                // paused process, a host that froze): it recorded the scrub, with every row. A second entry here
                // would say 0 rows, and be the newest.
                logger.info(
                    "Slack uninstall scrub finished by another worker",
                    metadata: ["slack.team_id": "\(team)", "slack.job_id": "\(job.id)"])
                return
            }
            total = jobTotal
            guard let next = batch.next else { break }
            cursor = next
        }
        let finished = now
        // The entry first, then the job: a crash in between scrubs again (nothing left) and records it twice,
        // never zero times. A workspace no client ever installed (an `app_uninstalled` for a stranger) scrubbed
        // nothing, and an entry without a client is one nobody can read: none is written.
        if payload.clientId != nil || total > 0 {
            try await auditor.recordDeletion(
                kind: "slack_uninstall_scrub", clientID: payload.clientId,
                dueAt: job.deadlineAt.map(dateFromEpochMillis), finishedAt: dateFromEpochMillis(finished),
                counts: DeletionCounts(["rows": total]))
        }
        try await finish(job, then: nil)
        var metadata: Logger.Metadata = ["slack.team_id": "\(team)", "slack.rows": "\(total)"]
        if let deadline = job.deadlineAt { metadata["slack.deadline_margin_ms"] = "\(deadline - finished)" }
        logger.info("Slack uninstall scrub finished", metadata: metadata)
    }

    /// How often a closed account's revocation looks again whether the deletions of its posts are done (epoch ms).
    static let revokeAwaitDelay: Int64 = 30_000
    /// How long it waits for them at most: a deletion keeps trying for `unpostGiveUpAge`, then gives up (epoch ms).
    static let revokeAwaitLimit: Int64 = unpostGiveUpAge + 3_600_000

    /// Revokes a closed account's token; ends whether Slack answers ok, an error, or (after the last attempt) nothing.
    /// Not while the deletions of the account's posts to the workspace, handed over with the token, still wait: they
    /// need it (for `revokeAwaitLimit` at most).
    func revoke(_ job: SlackJob, _ payload: RevokeJob) async throws {
        let token: Redacted<String>
        do {
            guard let team = job.teamId, let envelope = payload.envelope else { throw CryptoError.malformedEnvelope }
            token = try open(envelope, team: team)
        } catch CryptoError.unknownKey {
            // Sealed under a key another instance has: `run` leaves it for that one.
            throw CryptoError.unknownKey
        } catch {
            logger.warning("Slack revoke job unreadable", metadata: ["slack.job_id": "\(job.id)"])
            try await finish(job, then: nil)
            return
        }
        if let team = job.teamId, try await store.activeInstallation(team: team)?.tokenEnvelope != nil {
            // Installed again since (by the project the admin moved to, say). Slack gives an app one bot token per
            // workspace, so this is most likely the new installation's token too: revoking it would uninstall that.
            logger.info("Slack revoke of a closed account's token skipped: the workspace is installed again",
                metadata: ["slack.team_id": "\(team)", "slack.job_id": "\(job.id)"])
            try await finish(job, then: nil)
            return
        }
        if let team = job.teamId, now - (job.createdAt ?? now) < Self.revokeAwaitLimit,
            try await store.pendingJobs(kind: .unpost, team: team).contains(where: {
                if case .unpost(let post) = $0.work { post.tokenEnvelope != nil } else { false }
            })
        {
            _ = try await store.rescheduleJob(
                job, runAt: now + Self.revokeAwaitDelay, countAttempt: false, error: "posts_being_deleted")
            return
        }
        do {
            try await api.revoke(token: token)
        } catch let error as SlackAPIError where !error.isRetryable {
            // Already dead or refused: nothing more we can do; the job ends either way.
        }
        try await finish(job, then: nil)
    }
}
