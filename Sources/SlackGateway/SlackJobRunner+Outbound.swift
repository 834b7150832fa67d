import Feedback
import Foundation
import Logging

// Issue 12: the jobs that talk to Slack on the service's own initiative: posting new feedback to the notify channel,
// the App Home tab, and the recovery sweep.
extension SlackJobRunner {
    // MARK: Posting new feedback

    /// Posts the item to the workspace's notify channel, once: not when the item was deleted meanwhile, the channel
    /// cleared, or the workspace gone. A post Slack refuses for good (a channel it will not post in, a token it no
    /// longer takes, a missing scope, blocks it does not accept) is recorded for the inbox and dropped: a lost post
    /// always leaves the admin a word, cleared by the next good post. Then the workspace's next post waits
    /// `postInterval`. Once: the post carries the item's id in its metadata and is recorded as sent before the call;
    /// a later try of a post whose answer never came (a crash, a timeout: Slack may have taken it) first looks for it
    /// in the channel and does not post it again when it is there.
    func postFeedback(_ job: SlackJob, _ payload: PostFeedbackJob) async throws {
        guard let clientId = job.clientId, let team = job.teamId,
            case let (installation, token)? = try await token(team: team), installation.clientId == clientId,
            let channel = installation.settings.notifyChannel,
            let item = try await store.feedbackItem(id: payload.feedbackId, client: clientId),
            item.draft.source != .slack
        else {
            try await finish(job, then: nil)
            return
        }
        let message = SlackNotificationMessage(item: item, publicURL: options.publicURL)
        func posted(_ ts: String) -> PostedMessage {
            PostedMessage(feedbackId: item.id, clientId: clientId, teamId: team, channel: channel, ts: ts)
        }
        // A notice of an earlier failure goes once a post of this channel is known to have gone out; while this job
        // still holds its lease (a stalled worker's clear would overwrite what the one that took over found). Never a
        // reason to try the post again: a failed clear leaves the notice for the next good post.
        func clearProblem() async {
            guard installation.notifyProblem != nil else { return }
            _ = try? await store.recordNotifyProblem(team: team, channel: channel, code: nil, at: now, by: job.lease)
        }
        if job.progress > 0, let ts = try await channelHolds(item.id, channel: channel, since: job.progress, token: token) {
            if !ts.isEmpty { try await keep(posted(ts)) }
            await clearProblem()
            try await finish(job, then: nil)
            return
        }
        guard try await store.markPostSent(job.lease, at: now) else {
            // This worker's lease ran out (a stall) and the job is, or is about to be, another's: posting now could
            // post it twice. Left to whoever claims it (the row untouched).
            logger.info(
                "Slack post left to another worker: this one's lease ran out",
                metadata: ["slack.job_id": "\(job.id)", "slack.team_id": "\(team)"])
            return
        }
        let ts: String?
        do {
            ts = try await api.postMessage(
                channel: channel, text: message.text, blocks: message.blocks, metadata: message.metadata, token: token)
        } catch let error as SlackAPIError where error.refusedBySlack {
            // Slack answered, and did not take it: the next try need not look for it.
            try await store.unmarkPostSent(job.lease)
            guard !error.isRetryable else { throw error }
            try await store.recordNotifyProblem(
                team: team, channel: channel, code: Self.code(error), at: now, by: job.lease)
            try await pace(team: team, by: job)
            throw error
        } catch let error as SlackAPIError where !error.isRetryable {
            try await store.recordNotifyProblem(
                team: team, channel: channel, code: Self.code(error), at: now, by: job.lease)
            try await pace(team: team, by: job)
            throw error
        }
        if let ts { try await keep(posted(ts)) }
        // The pace first, while this job still holds the workspace's lane: finished first, another instance waking
        // in between took the next post at once (two posts 20 ms apart). The notice cleared while it holds the job
        // too.
        try await pace(team: team, by: job)
        await clearProblem()
        try await finish(job, then: nil)
    }

    /// Remembers where an item's post is, so that deleting the item deletes the post too; when the item was deleted
    /// while it was being posted, the post goes at once.
    private func keep(_ post: PostedMessage) async throws {
        guard try await !store.recordPost(post, at: now) else { return }
        try await store.enqueue(
            NewSlackJob(
                clientId: post.clientId, teamId: post.teamId,
                work: .unpost(UnpostJob(channel: post.channel, ts: post.ts)), runAt: now))
    }

    /// Deletes the post of an item deleted since. Slack's refusals (the message gone already, the channel archived or
    /// left) end the job as any job's do (`failed`); a workspace that uninstalled took its token, and with it usero's
    /// say over its posts. One that only revoked the token may install again: the job, the only record of where the
    /// post is, waits for a token for as long as it retries anything (`unpostGiveUpAge`).
    func unpost(_ job: SlackJob, _ payload: UnpostJob) async throws {
        if let envelope = payload.envelope, let team = job.teamId {
            // A closed account's post, with the token its revocation waits to revoke (an unknown key: `run` leaves
            // the job for an instance that has it). A token Slack refuses now can delete nothing: the job ends.
            let token = try open(envelope, team: team)
            do {
                try await api.deleteMessage(channel: payload.channel, ts: payload.ts, token: token)
            } catch let error as SlackAPIError where error == .slack(code: "invalid_auth") && !Self.outlived(job, now: now) {
                // Also what Slack answers a server outside the app's allowed IP ranges (see `invalidAuthGrace`):
                // tried again hourly, no attempt used, for as long as a deletion keeps trying.
                try await store.rescheduleJob(
                    job, runAt: now + Self.refusedRetryDelay, countAttempt: false, error: "invalid_auth")
                return
            } catch let error as SlackAPIError where error.meansInstallationGone {
                logger.debug("Slack refused a closed account's token; its post stays", metadata: ["slack.team_id": "\(team)"])
            }
            try await finish(job, then: nil)
            return
        }
        guard case let (_, token)? = try await token(team: job.teamId) else {
            if let team = job.teamId, try await store.activeInstallation(team: team) != nil,
                !Self.outlived(job, now: now)
            {
                try await store.rescheduleJob(
                    job, runAt: now + Self.tokenAwaitedDelay, countAttempt: false, error: "token_revoked")
                return
            }
            try await finish(job, then: nil)
            return
        }
        try await api.deleteMessage(channel: payload.channel, ts: payload.ts, token: token)
        try await finish(job, then: nil)
    }

    /// The `ts` of the post of `feedbackId` in `channel` (found by its metadata), posted since a minute before `since`
    /// (clocks differ; "" when the post is there without a readable `ts`): at most 5 pages of history. Where the
    /// history cannot tell (Slack will not let usero look, or not now: a scope, the channel, a 429, an outage), nil:
    /// the post goes out as before. A look that waited would hold every post of the workspace behind it, and history
    /// reads may be limited to one a minute.
    private func channelHolds(_ feedbackId: String, channel: String, since: Int64, token: Redacted<String>)
        async throws -> String?
    {
        let oldest = SlackRecoveryRules.slackTs(max(0, since - 60_000))
        let latest = SlackRecoveryRules.slackTs(now + 60_000)
        var cursor: String?
        for _ in 0..<5 {
            let page: MessagePage
            do {
                page = try await api.history(channel: channel, oldest: oldest, latest: latest, cursor: cursor, token: token)
            } catch is SlackAPIError {
                return nil
            }
            if let post = page.messages.first(where: {
                $0.metadata?.eventType == SlackNotificationMessage.eventType
                    && $0.metadata?.payload[SlackNotificationMessage.feedbackIdKey] == feedbackId
            }) {
                // Found; its `ts` is kept only when it reads as one ("" when not).
                return SlackRecoveryRules.timestamp(post.ts) ?? ""
            }
            guard let next = page.nextCursor else { return nil }
            cursor = next
        }
        return nil
    }

    /// The workspace's next post waits: about one message a second per channel is what Slack allows, so a burst
    /// goes out at that pace, in order, without meeting a 429.
    private func pace(team: String, by job: SlackJob) async throws {
        try await store.holdJobs(team: team, kind: .postFeedback, notBefore: now + options.postInterval, by: job.lease)
    }

    // MARK: App Home

    /// Publishes the member's Home tab: the three ways to forward with this workspace's emoji, the captures of the
    /// last 7 days, the inbox link.
    func publishHome(_ job: SlackJob, _ payload: PublishHomeJob) async throws {
        guard case let (installation, token)? = try await token(team: job.teamId) else {
            try await finish(job, then: nil)
            return
        }
        let count = try await store.captureCount(
            client: installation.clientId, team: installation.teamId, since: now - 7 * 86_400_000)
        let view = SlackHomeView(settings: installation.settings, capturedThisWeek: count, publicURL: options.publicURL)
        try await api.publishHome(user: payload.user, view: view.json, token: token)
        try await finish(job, then: nil)
    }

    // MARK: Recovery

    /// One step of a recovery sweep: one Slack call (a page of the bot's channels, of a channel's history, or of a
    /// thread's replies), then the messages it found and the sweep's progress commit together and the next step is
    /// queued. A 429 postpones the sweep (never the live captures, which have their own lane) and it resumes from
    /// the step it was on; a channel Slack refuses is skipped and counted. The last step records what the sweep
    /// covered in the audit trail.
    func recover(_ job: SlackJob, _ payload: RecoverJob) async throws {
        guard let clientId = job.clientId, let team = job.teamId,
            case let (installation, token)? = try await token(team: team), installation.clientId == clientId
        else {
            try await finish(job, then: nil)
            return
        }
        var sweep = payload
        var found: [CapturedMessage] = []
        if !sweep.listed {
            do {
                let page = try await api.memberChannels(cursor: sweep.listCursor, token: token)
                let seen = sweep.channelsRead + sweep.channelsSkipped + sweep.channels.count
                let ids = page.channels.filter(SlackSettings.isChannelID)
                let room = max(0, SlackRecoveryRules.maxChannels - seen)
                sweep.channels += ids.prefix(room)
                sweep.channelsOmitted += max(0, ids.count - room)
                sweep.listCursor = Self.cursor(page.nextCursor)
                sweep.listPagesRead = (sweep.listPagesRead ?? 0) + 1
                sweep.listed = sweep.listCursor == nil || room == 0
                if !sweep.listed && sweep.listPagesRead ?? 0 >= SlackRecoveryRules.maxListPages {
                    // The channels listed so far are read; the sweep says it stopped short.
                    sweep.listed = true
                    sweep.listCursor = nil
                    sweep.stoppedBy = "page_budget"
                }
            } catch let error as SlackAPIError where !error.isRetryable && !error.meansInstallationGone {
                // `missing_scope`: installed before usero asked for channels:read; reinstalling grants it.
                sweep.stoppedBy = Self.code(error)
                sweep.listed = true
                sweep.channels = []
            }
        } else if sweep.pagesRead >= SlackRecoveryRules.maxPages, !(sweep.historyDone && sweep.threads.isEmpty) {
            // Out of pages with one still to read (a channel read to its end is counted read below, not omitted).
            sweep.stoppedBy = "page_budget"
            sweep.channelsOmitted += sweep.channels.count
            sweep.channels = []
        } else if let channel = sweep.channels.first {
            // A window whose end is before its start (a job written by another version, a hand-edited row) reads
            // as the one instant it starts at, never a range that traps and takes the process down.
            let window = sweep.since...max(sweep.since, sweep.until)
            if let thread = sweep.threads.first {
                do {
                    let page = try await api.replies(
                        channel: channel, ts: thread, oldest: SlackRecoveryRules.slackTs(sweep.since),
                        cursor: sweep.threadCursor, token: token)
                    sweep.pagesRead += 1
                    found = SlackRecoveryRules.captures(
                        in: page.messages.filter { $0.ts != thread }, channel: channel, installation: installation,
                        window: window)
                    sweep.threadCursor = Self.cursor(page.nextCursor)
                } catch let error as SlackAPIError where !error.isRetryable && !error.meansInstallationGone {
                    // The thread went (thread_not_found): nothing of it to recover.
                    sweep.threadCursor = nil
                }
                if sweep.threadCursor == nil { sweep.threads.removeFirst() }
            } else if !sweep.historyDone {
                do {
                    let page = try await api.history(
                        channel: channel, oldest: SlackRecoveryRules.slackTs(sweep.since),
                        latest: SlackRecoveryRules.slackTs(sweep.until), cursor: sweep.historyCursor, token: token)
                    sweep.pagesRead += 1
                    found = SlackRecoveryRules.captures(
                        in: page.messages, channel: channel, installation: installation, window: window)
                    for message in page.messages.prefix(1_000) {
                        guard let ts = message.ts, (message.replyCount ?? 0) > 0,
                            SlackRecoveryRules.millis(ofTs: ts) != nil,
                            sweep.threads.count < SlackRecoveryRules.maxThreadsPerChannel
                        else { continue }
                        sweep.threads.append(ts)
                    }
                    sweep.historyCursor = Self.cursor(page.nextCursor)
                    sweep.historyDone = sweep.historyCursor == nil
                } catch let error as SlackAPIError where !error.isRetryable && !error.meansInstallationGone {
                    // not_in_channel, channel_not_found, missing_scope (a private channel without groups:history):
                    // skipped, counted, and the sweep goes on.
                    sweep.channelsSkipped += 1
                    sweep.nextChannel()
                }
            } else {
                sweep.channelsRead += 1
                sweep.nextChannel()
            }
        }
        // Only messages this client does not hold yet are new; the unique index still settles any race.
        var fresh: [CapturedMessage] = []
        var seen = Set<String>()
        var askForLinks = true
        for message in found {
            guard let ts = message.messageTs, seen.insert(ts).inserted,
                try await store.capturedFeedbackID(client: clientId, team: team, channel: message.channelId, ts: ts)
                    == nil
            else { continue }
            var message = message
            if askForLinks {
                do {
                    message.permalink = try await api.permalink(channel: message.channelId, ts: ts, token: token)
                } catch let error as SlackAPIError where error.isRetryable || error.meansInstallationGone {
                    // Slack is limiting or down, or the token went (uninstalled while this step read): the rest of
                    // the page is stored without links, not asked for once each. A link is a convenience.
                    askForLinks = false
                } catch {
                    // This message's own trouble (deleted meanwhile): it goes without a link.
                }
            }
            fresh.append(message)
        }
        let finished = sweep.listed && sweep.channels.isEmpty
        let next =
            finished
            ? nil
            : NewSlackJob(
                clientId: clientId, teamId: team, work: .recover(sweep), runAt: now + options.recoveryStepInterval)
        // The store counts what it stored into the next step's progress; the last step's count is added here. The
        // audit comes after the step's rows are stored: a step that fails is run again, and audited once.
        let outcome = try await store.completeRecoveryStep(
            job.lease, clientID: clientId, messages: fresh, next: next, at: clock.now())
        if outcome == .jobGone {
            // Another worker took the step over while this one stalled past its lease (it stores the step and goes
            // on with the sweep, once, and audits it), or an uninstall cancelled the sweep.
            takenOver(job)
            return
        }
        if finished {
            if case .stored(let stored) = outcome { sweep.captured += stored }
            await recordRecovery(job, sweep)
        }
        if next != nil { wakeup.signal() }
    }

    /// The audit entry of a sweep: `dueAt` is the start of the window it covered, `finishedAt` when it ended, and
    /// the counts say how many channels and pages it read, skipped or left out, and how many messages it captured.
    func recordRecovery(_ job: SlackJob, _ sweep: RecoverJob) async {
        do {
            try await auditor.recordDeletion(
                kind: "slack_recovery", clientID: job.clientId, dueAt: dateFromEpochMillis(sweep.since),
                finishedAt: clock.now(), counts: SlackRecoveryRules.auditCounts(sweep))
        } catch {
            logger.warning("Slack recovery audit failed", metadata: errorMetadata(error))
        }
        var metadata: Logger.Metadata = [
            "slack.channels_read": "\(sweep.channelsRead)", "slack.captured": "\(sweep.captured)",
            "slack.trigger": "\(sweep.trigger)",
        ]
        if let team = job.teamId { metadata["slack.team_id"] = "\(team)" }
        if let stopped = sweep.stoppedBy { metadata["slack.stopped_by"] = "\(stopped)" }
        logger.info("Slack recovery sweep finished", metadata: metadata)
    }

    /// A cursor to follow, or nil at the end (an empty or oversized cursor ends the listing).
    static func cursor(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= SlackRecoveryRules.maxCursorLength else { return nil }
        return value
    }
}

extension RecoverJob {
    /// Moves on to the next channel.
    mutating func nextChannel() {
        if !channels.isEmpty { channels.removeFirst() }
        historyCursor = nil
        historyDone = false
        threads = []
        threadCursor = nil
    }
}
