import Feedback
import Foundation
import Retention
import SlackGateway
import Testing

/// Issue 12's store contracts (settings, the insert's Slack post jobs, pacing, recovery steps, the heartbeat, the
/// Home tab), on every backend.
@Suite struct SlackBothWaysConformanceTests {
    typealias S = StoreUnderTest
    static let t0 = StoreUnderTest.t0Millis

    static func reaction(_ emoji: String, event: String, team: String = "T1") -> ReactionForward {
        ReactionForward(
            team: team, channel: "C0001", ts: "1.1", user: "U0001", botId: nil, eventId: event, via: .reaction(emoji))
    }

    // MARK: Settings

    @Test(arguments: StoreFactories.available)
    func settingsChangeFieldByFieldStayThroughAReinstallAndGoWithAnUninstall(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        #expect(try await s.slack.updateSettings(client: client, SlackSettingsChange(triggerEmoji: ["bug"]), at: Self.t0) == nil)
        try await s.install(team: "T1", client: client)
        #expect(try await s.slack.activeInstallation(team: "T1")?.settings == SlackSettings())

        let emoji = try await s.slack.updateSettings(client: client, SlackSettingsChange(triggerEmoji: ["bug", "+1"]), at: Self.t0)
        #expect(emoji?.settings == SlackSettings(triggerEmoji: ["bug", "+1"], notifyChannel: nil))
        let channel = try await s.slack.updateSettings(client: client, SlackSettingsChange(notifyChannel: .some("C0777")), at: Self.t0)
        #expect(channel?.settings == SlackSettings(triggerEmoji: ["bug", "+1"], notifyChannel: "C0777"))
        #expect(try await s.slack.activeInstallation(team: "T1")?.settings.notifyChannel == "C0777")

        // A reinstall by the same client keeps them; an uninstall deletes them with the installation
        try await s.install(team: "T1", client: client, envelope: [4, 5], at: Self.t0 + 5)
        #expect(try await s.slack.activeInstallation(team: "T1")?.settings.triggerEmoji == ["bug", "+1"])
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "EU", at: Self.t0 + 10, deadline: Self.t0 + 70))
        try await s.install(team: "T1", client: client, at: Self.t0 + 20)
        #expect(try await s.slack.activeInstallation(team: "T1")?.settings == SlackSettings())
    }

    /// A reinstall by the same client (the README's remedy for a revoked token or missing scopes) moves
    /// `installedAt`, but a recovery sweep still reaches back to the first install: reactions made in between, the
    /// app still in the workspace, were forwards. An uninstall, or another client, starts over.
    @Test(arguments: StoreFactories.available)
    func aReinstallBySameClientKeepsWhenItFirstInstalledForRecovery(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client, at: Self.t0)
        try await s.install(team: "T1", client: client, envelope: [4, 5], at: Self.t0 + 5_000)
        let reinstalled = try #require(try await s.slack.activeInstallation(team: "T1"))
        #expect(reinstalled.installedAt == Self.t0 + 5_000)
        #expect(reinstalled.firstInstalledAt == Self.t0)
        #expect(reinstalled.forwards(reaction: "wrench", onMessagePostedAt: Self.t0 + 1_000))
        #expect(!reinstalled.forwards(reaction: "wrench", onMessagePostedAt: Self.t0 - 1))

        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "EU", at: Self.t0 + 6_000, deadline: Self.t0 + 66_000))
        try await s.install(team: "T1", client: client, at: Self.t0 + 7_000)
        let again = try #require(try await s.slack.activeInstallation(team: "T1"))
        #expect(again.firstInstalledAt == Self.t0 + 7_000)
        #expect(!again.forwards(reaction: "wrench", onMessagePostedAt: Self.t0 + 1_000))
    }

    @Test(arguments: StoreFactories.available)
    func whenEachTriggerEmojiWasChosenIsKeptWithTheSettings(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        #expect(try await s.slack.activeInstallation(team: "T1")?.triggerEmojiAddedAt == [:])
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(triggerEmoji: ["wrench", "bug"]), at: Self.t0 + 1)
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(triggerEmoji: ["bug", "+1"]), at: Self.t0 + 2)
        #expect(try await s.slack.activeInstallation(team: "T1")?.triggerEmojiAddedAt == ["bug": Self.t0 + 1, "+1": Self.t0 + 2])
        #expect(try await s.slack.installation(client: client)?.forwards(reaction: "bug", onMessagePostedAt: Self.t0) == false)

        // Kept through a reinstall by the same client; gone with an uninstall, and when another client takes over
        try await s.install(team: "T1", client: client, envelope: [4, 5], at: Self.t0 + 5)
        #expect(try await s.slack.activeInstallation(team: "T1")?.triggerEmojiAddedAt == ["bug": Self.t0 + 1, "+1": Self.t0 + 2])
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "EU", at: Self.t0 + 10, deadline: Self.t0 + 70))
        try await s.install(team: "T1", client: client, at: Self.t0 + 20)
        #expect(try await s.slack.activeInstallation(team: "T1")?.triggerEmojiAddedAt == [:])
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(triggerEmoji: ["bug"]), at: Self.t0 + 30)
        let other = try await s.client()
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "EU2", at: Self.t0 + 40, deadline: Self.t0 + 70))
        try await s.install(team: "T1", client: other, at: Self.t0 + 50)
        #expect(try await s.slack.activeInstallation(team: "T1")?.triggerEmojiAddedAt == [:])
        #expect(try await s.slack.activeInstallation(team: "T1")?.settings == SlackSettings())
    }

    @Test(arguments: StoreFactories.available)
    func theWorkspacesTriggerEmojiDecideWhichReactionsAreAccepted(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        #expect(try await s.slack.acceptReaction(Self.reaction("wrench", event: "E1"), at: Self.t0))
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(triggerEmoji: ["bug"]), at: Self.t0)
        #expect(try await s.slack.acceptReaction(Self.reaction("wrench", event: "E2"), at: Self.t0) == false)
        #expect(try await s.slack.acceptReaction(Self.reaction("pushpin", event: "E3"), at: Self.t0) == false)
        #expect(try await s.slack.acceptReaction(Self.reaction("bug", event: "E4"), at: Self.t0))
        let captures = try await s.claimAll(kinds: [.captureReaction])
        #expect(captures.count == 1)  // one per workspace per claim; the bug one waits behind the wrench one
        #expect(try await s.slack.nextJobDueAt(now: Self.t0, kinds: [.captureReaction]) != nil)
    }

    /// A store whose client has workspace T1 installed, posting new feedback to channel C0777.
    static func posting(_ factory: StoreFactory) async throws -> (S, String) {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(notifyChannel: .some("C0777")), at: t0)
        return (s, client)
    }

    @Test(arguments: StoreFactories.available)
    func aPostingProblemIsKeptForTheCurrentChannelOnlyAndClearedByANewChannel(_ factory: StoreFactory) async throws {
        let (s, client) = try await Self.posting(factory)
        try await s.slack.recordNotifyProblem(team: "T1", channel: "C0999", code: "not_in_channel", at: Self.t0, by: nil)
        #expect(try await s.slack.activeInstallation(team: "T1")?.notifyProblem == nil)
        try await s.slack.recordNotifyProblem(team: "T1", channel: "C0777", code: "not_in_channel", at: Self.t0 + 1, by: nil)
        #expect(
            try await s.slack.activeInstallation(team: "T1")?.notifyProblem
                == NotifyProblem(channel: "C0777", code: "not_in_channel", at: Self.t0 + 1))
        try await s.slack.recordNotifyProblem(team: "T1", channel: "C0777", code: nil, at: Self.t0 + 2, by: nil)
        #expect(try await s.slack.activeInstallation(team: "T1")?.notifyProblem == nil)
        try await s.slack.recordNotifyProblem(team: "T1", channel: "C0777", code: "is_archived", at: Self.t0 + 3, by: nil)
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(triggerEmoji: ["bug"]), at: Self.t0)
        #expect(try await s.slack.activeInstallation(team: "T1")?.notifyProblem?.code == "is_archived")
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(notifyChannel: .some("C0888")), at: Self.t0)
        #expect(try await s.slack.activeInstallation(team: "T1")?.notifyProblem == nil)
    }

    /// A worker that stalled past its post job's lease, and resumes once another worker took the job over, does not
    /// overwrite what that worker found: neither a problem it no longer knows to be current, nor a clear.
    @Test(arguments: StoreFactories.available)
    func aPostingProblemFromAWorkerThatLostItsJobChangesNothing(_ factory: StoreFactory) async throws {
        let (s, client) = try await Self.posting(factory)
        _ = try await s.item(client)
        let stalled = try #require(try await s.claimAll(at: Self.t0 + 10_000, kinds: [.postFeedback]).only)
        let taker = try #require(try await s.claimAll(at: Self.t0 + 20_000, kinds: [.postFeedback]).only)
        #expect(taker.id == stalled.id)
        try await s.slack.recordNotifyProblem(
            team: "T1", channel: "C0777", code: "channel_not_found", at: Self.t0 + 21_000, by: stalled.lease)
        #expect(try await s.slack.activeInstallation(team: "T1")?.notifyProblem == nil)
        try await s.slack.recordNotifyProblem(
            team: "T1", channel: "C0777", code: "not_in_channel", at: Self.t0 + 22_000, by: taker.lease)
        let problem = NotifyProblem(channel: "C0777", code: "not_in_channel", at: Self.t0 + 22_000)
        #expect(try await s.slack.activeInstallation(team: "T1")?.notifyProblem == problem)
        try await s.slack.recordNotifyProblem(team: "T1", channel: "C0777", code: nil, at: Self.t0 + 23_000, by: stalled.lease)
        #expect(try await s.slack.activeInstallation(team: "T1")?.notifyProblem == problem)
        // Once the job is done, no lease of it holds it.
        try await s.slack.finishJob(taker, then: nil)
        try await s.slack.recordNotifyProblem(team: "T1", channel: "C0777", code: nil, at: Self.t0 + 24_000, by: taker.lease)
        #expect(try await s.slack.activeInstallation(team: "T1")?.notifyProblem == problem)
    }

    /// Without a token no post is even tried: a `tokens_revoked` while a channel is set records why, as a post Slack
    /// refused for the token would (a review found feedback of the revoked period left out of the channel with no
    /// problem shown). Installing again mends it; a channel problem (the bot not in it) is not mended by that.
    @Test(arguments: StoreFactories.available)
    func aRevokedTokenIsTheChannelsProblemUntilTheWorkspaceInstallsAgain(_ factory: StoreFactory) async throws {
        let (s, client) = try await Self.posting(factory)
        try await s.slack.acceptTokensRevoked(team: "T1", eventId: "E1", botUserIds: ["UT1BOT"], at: Self.t0 + 5)
        let revoked = try #require(try await s.slack.installation(client: client))
        #expect(revoked.tokenEnvelope == nil)
        #expect(revoked.notifyProblem == NotifyProblem(channel: "C0777", code: "token_revoked", at: Self.t0 + 5))
        try await s.install(team: "T1", client: client, at: Self.t0 + 10)
        let again = try #require(try await s.slack.installation(client: client))
        #expect(again.notifyProblem == nil && again.settings.notifyChannel == "C0777")
        try await s.slack.recordNotifyProblem(team: "T1", channel: "C0777", code: "not_in_channel", at: Self.t0 + 20, by: nil)
        try await s.install(team: "T1", client: client, at: Self.t0 + 30)
        #expect(try await s.slack.installation(client: client)?.notifyProblem?.code == "not_in_channel")
        // Without a channel there is no post to miss, and nothing to record.
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(notifyChannel: .some(nil)), at: Self.t0)
        try await s.slack.acceptTokensRevoked(team: "T1", eventId: "E2", botUserIds: ["UT1BOT"], at: Self.t0 + 40)
        #expect(try await s.slack.installation(client: client)?.notifyProblem == nil)
    }

    @Test(arguments: StoreFactories.available)
    func theLastEventSeenNeverMovesBack(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.slack.recordEventSeen(team: "T1", at: Self.t0 + 100)
        try await s.slack.recordEventSeen(team: "T1", at: Self.t0 + 50)
        #expect(try await s.slack.activeInstallation(team: "T1")?.lastEventAt == Self.t0 + 100)
        try await s.slack.recordEventSeen(team: "T9", at: Self.t0)  // unknown workspace: nothing
    }

    // MARK: Posting new feedback

    @Test(arguments: StoreFactories.available)
    func anAcceptedApiOrWidgetItemCommitsWithItsPostJobAndSlackItemsGetNone(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.item(client, source: .widget)  // no channel yet: no job
        #expect(try await s.claimAll().isEmpty)
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(notifyChannel: .some("C0777")), at: Self.t0)
        let widget = try await s.item(client, at: 1, source: .widget)
        let api = try await s.item(client, at: 2, source: .api)
        try await s.item(client, at: 3, source: .slack, slack: SlackCapture(
            teamId: "T1", channelId: "C1", messageTs: "1.1", threadTs: nil, authorId: nil, forwardedBy: nil,
            capturedVia: .shortcut, permalink: nil))
        try await s.item(other, at: 4, source: .api)
        var posted: [String] = []
        for now in [Self.t0 + 10_000, Self.t0 + 20_000] {
            for job in try await s.claimAll(at: now, kinds: [.postFeedback]) {
                #expect(job.teamId == "T1")
                #expect(job.clientId == client)
                guard case .postFeedback(let post) = job.work else { continue }
                posted.append(post.feedbackId)
                try await s.slack.finishJob(job, then: nil)
            }
        }
        #expect(posted == [widget.id, api.id])
        #expect(try await s.slack.feedbackItem(id: widget.id, client: client)?.draft.source == .widget)
        #expect(try await s.slack.feedbackItem(id: widget.id, client: other) == nil)
    }

    /// Submissions arriving together (on PostgreSQL they share one insert and one transaction) each commit with
    /// their own post job, and only where their client has a channel set.
    @Test(arguments: StoreFactories.available)
    func concurrentSubmissionsEachCommitWithTheirOwnPostJob(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let quiet = try await s.client()
        try await s.install(team: "T1", client: client)
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(notifyChannel: .some("C0777")), at: Self.t0)
        let stored = try await withThrowingTaskGroup(of: FeedbackItem.self) { group in
            for i in 0..<60 {
                group.addTask { try await s.item(i % 3 == 0 ? quiet : client, at: Double(i) / 1000) }
            }
            return try await group.reduce(into: [FeedbackItem]()) { $0.append($1) }
        }
        var posted: [String] = []
        while true {
            let jobs = try await s.claimAll(at: Self.t0 + 60_000, kinds: [.postFeedback])
            if jobs.isEmpty { break }
            for job in jobs {
                #expect(job.teamId == "T1" && job.clientId == client)
                if case .postFeedback(let post) = job.work { posted.append(post.feedbackId) }
                try await s.slack.finishJob(job, then: nil)
            }
        }
        #expect(posted.count == 40)
        #expect(Set(posted) == Set(stored.filter { $0.clientId == client }.map(\.id)))
    }

    @Test(arguments: StoreFactories.available)
    func holdingThePostLaneKeepsOrderAndAppliesToPostsEnqueuedLater(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.install(team: "T2", client: try await s.client())
        _ = try await s.slack.updateSettings(client: client, SlackSettingsChange(notifyChannel: .some("C0777")), at: Self.t0)
        let first = try await s.item(client, at: 0)
        let second = try await s.item(client, at: 0.1)
        try await s.slack.enqueue(s.job(S.notice("U1"), team: "T1", client: client))
        try await s.slack.enqueue(s.job(.postFeedback(PostFeedbackJob(feedbackId: "fb_other")), team: "T2"))
        try await s.slack.holdJobs(team: "T1", kind: .postFeedback, notBefore: Self.t0 + 5_000, by: nil)
        #expect(try await s.slack.activeInstallation(team: "T1")?.postNotBefore == Self.t0 + 5_000)
        // An item accepted now queues behind the held ones
        let third = try await s.item(client, at: 1)
        let early = try await s.claimAll(at: Self.t0 + 4_000)
        #expect(Set(early.map(\.kind)) == [.notify, .postFeedback])
        #expect(early.first { $0.kind == .postFeedback }?.teamId == "T2")
        var order: [String] = []
        for now in stride(from: Self.t0 + 5_000, through: Self.t0 + 10_000, by: 1_000) {
            for job in try await s.claimAll(at: now, kinds: [.postFeedback]) where job.teamId == "T1" {
                if case .postFeedback(let post) = job.work { order.append(post.feedbackId) }
                try await s.slack.finishJob(job, then: nil)
            }
        }
        #expect(order == [first.id, second.id, third.id])
        // A hold never moves back
        try await s.slack.holdJobs(team: "T1", kind: .postFeedback, notBefore: Self.t0, by: nil)
        #expect(try await s.slack.activeInstallation(team: "T1")?.postNotBefore == Self.t0 + 5_000)
    }

    /// A workspace's posts leave in the order their items arrived, whatever `run_at` each has: a post that failed
    /// goes before the ones behind it even when they were held to an instant a little before its retry (two clock
    /// reads), and a post queued with an early `run_at` (its insert read the pace before the last post set it) still
    /// waits for that pace.
    @Test(arguments: StoreFactories.available)
    func postsLeaveInArrivalOrderAndAtThePaceWhateverTheirRunAt(_ factory: StoreFactory) async throws {
        let (s, client) = try await Self.posting(factory)
        var items: [String] = []
        for i in 0..<3 { items.append(try await s.item(client, at: Double(i) / 10).id) }
        func posted(_ jobs: [SlackJob]) -> [String] {
            jobs.compactMap { if case .postFeedback(let post) = $0.work { post.feedbackId } else { nil } }
        }
        let first = try #require(try await s.claimAll(at: Self.t0 + 10_000, kinds: [.postFeedback]).only)
        #expect(posted([first]) == [items[0]])
        // It fails: the ones behind are held first, then it is rescheduled a millisecond later.
        try await s.slack.holdJobs(team: "T1", kind: .postFeedback, notBefore: Self.t0 + 12_000, by: first.lease)
        try await s.slack.rescheduleJob(first, runAt: Self.t0 + 12_001, countAttempt: true, error: "http_500")
        #expect(try await s.claimAll(at: Self.t0 + 12_000, kinds: [.postFeedback]).isEmpty)
        #expect(try await s.slack.nextJobDueAt(now: Self.t0 + 12_000, kinds: [.postFeedback]) == Self.t0 + 12_001)
        var order: [String] = []
        for now in stride(from: Self.t0 + 12_001, through: Self.t0 + 20_001, by: 1_000) {
            for job in try await s.claimAll(at: now, kinds: [.postFeedback]) {
                order += posted([job])
                try await s.slack.finishJob(job, then: nil)
            }
        }
        #expect(order == items)

        // The last post set the pace; a post queued as if it had not seen it waits for it all the same.
        try await s.slack.holdJobs(team: "T1", kind: .postFeedback, notBefore: Self.t0 + 30_000, by: nil)
        try await s.slack.enqueue(s.job(.postFeedback(PostFeedbackJob(feedbackId: items[0])), team: "T1", client: client))
        #expect(try await s.claimAll(at: Self.t0 + 29_999, kinds: [.postFeedback]).isEmpty)
        #expect(try await s.slack.nextJobDueAt(now: Self.t0 + 29_999, kinds: [.postFeedback]) == Self.t0 + 30_000)
        #expect(try await s.claimAll(at: Self.t0 + 30_000, kinds: [.postFeedback]).count == 1)
    }

    /// A post recorded as sent says so when it is claimed again (its lease ran out: a crash, a lost answer), from the
    /// first time it was recorded, so that the next try looks for it in the channel since then.
    @Test(arguments: StoreFactories.available)
    func aPostRecordedAsSentSaysSinceWhenWhenClaimedAgain(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.slack.enqueue(s.job(.postFeedback(PostFeedbackJob(feedbackId: "fb_1")), team: "T1", client: client))
        let first = try #require(try await s.claimAll(kinds: [.postFeedback]).only)
        #expect(first.progress == 0)
        #expect(try await s.slack.markPostSent(first.lease, at: Self.t0 + 5))
        #expect(try await s.slack.markPostSent(first.lease, at: Self.t0 + 9))
        let again = try #require(try await s.claimAll(at: Self.t0 + 2_000, kinds: [.postFeedback]).only)
        #expect(again.id == first.id)
        #expect(again.progress == Self.t0 + 5)
    }

    /// A post whose payload does not decode is parked and does not stop the posts behind it.
    @Test(arguments: StoreFactories.available.filter(\.storesRawJobPayloads))
    func aParkedPostDoesNotHoldUpThePostsBehindIt(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let raw = try #require(s.undecodableJobs)
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        let bad = try await raw.insert("T1", Self.t0 - 1, .postFeedback)
        try await s.slack.enqueue(s.job(.postFeedback(PostFeedbackJob(feedbackId: "fb_1")), team: "T1", client: client))
        // The bad one is parked; the next goes in the same claim (PostgreSQL claims again after parking) or the one
        // after it (SQLite's claim sees the bad one still first in line).
        let first = try await s.claimAll(kinds: [.postFeedback])
        #expect(try await raw.runAt(bad) == Int64.max)
        let next = first.isEmpty ? try await s.claimAll(kinds: [.postFeedback]) : first
        #expect(next.map(\.work) == [.postFeedback(PostFeedbackJob(feedbackId: "fb_1"))])
    }

    // MARK: Deleting posts with their items

    /// A post is remembered only for an item that is there; deleting the item (one by the admin, a batch of a sweep
    /// or an erasure) turns its post into one `slack.unpost` job, with the channel and `ts`, and forgets it; the
    /// account's end forgets the rest.
    @Test(arguments: StoreFactories.available)
    func deletingAnItemQueuesTheDeletionOfItsPost(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        let one = try await s.item(client, at: 1)
        let two = try await s.item(client, at: 2)
        let kept = try await s.item(client, at: 3)
        func post(_ item: FeedbackItem, _ ts: String) -> PostedMessage {
            PostedMessage(feedbackId: item.id, clientId: client, teamId: "T1", channel: "C0777", ts: ts)
        }
        for (item, ts) in [(one, "1800000000.000001"), (two, "1800000000.000002"), (kept, "1800000000.000003")] {
            #expect(try await s.slack.recordPost(post(item, ts), at: Self.t0))
        }
        // A post repeated where the retry could not tell the first went out: both are kept; a record made twice is one
        #expect(try await s.slack.recordPost(post(one, "1800000000.000004"), at: Self.t0))
        #expect(try await s.slack.recordPost(post(one, "1800000000.000004"), at: Self.t0))
        // Another client's item is not this client's to post about
        let other = try await s.client()
        #expect(try await s.slack.recordPost(post(try await s.item(other), "1800000000.000009"), at: Self.t0) == false)

        func unposts() async throws -> [UnpostJob] {
            try await s.slack.pendingJobs(kind: .unpost, team: "T1").compactMap {
                guard case .unpost(let payload) = $0.work, $0.clientId == client else { return nil }
                return payload
            }
        }
        #expect(try await unposts().isEmpty)
        #expect(try await s.feedback.deleteFeedback(id: one.id, clientID: client))
        #expect(Set(try await unposts().map(\.ts)) == ["1800000000.000001", "1800000000.000004"])
        #expect(try await unposts().count == 2)
        _ = try await s.retention.deleteFeedbackBatch(
            .subject(try await s.retention.resolve(.email("nobody@example.com"), clientID: client)), limit: 10,
            at: Self.t0, record: .none)
        #expect(try await unposts().count == 2)
        _ = try await s.retention.deleteFeedbackBatch(.client(client), limit: 1, at: Self.t0, record: .none)
        let queued = try await unposts()
        #expect(queued.count == 3)
        #expect(Set(queued.map(\.ts)).isSubset(
            of: ["1800000000.000001", "1800000000.000002", "1800000000.000003", "1800000000.000004"]))
        // Once: deleting the same items again queues nothing more
        #expect(try await s.feedback.deleteFeedback(id: one.id, clientID: client) == false)
        #expect(try await unposts().count == 3)
        // A post of an item gone before it was remembered is not kept (the runner deletes it at once)
        #expect(try await s.slack.recordPost(post(one, "1800000000.000001"), at: Self.t0) == false)

        let counts = try await s.slack.eraseClientRecords(clientID: client)
        #expect(counts["slackPosts"] == 1)
    }

    /// Closing one account forgets its own posts only: another client's item posted to its notify channel still
    /// has that post deleted from Slack when the item is deleted afterwards.
    @Test(arguments: StoreFactories.available)
    func erasingAClientsRecordsKeepsAnotherClientsPostsToUnpost(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let mine = try await s.item(client)
        let theirs = try await s.item(other)
        #expect(try await s.slack.recordPost(
            PostedMessage(feedbackId: mine.id, clientId: client, teamId: "T1", channel: "C1", ts: "1800000000.000001"),
            at: Self.t0))
        #expect(try await s.slack.recordPost(
            PostedMessage(feedbackId: theirs.id, clientId: other, teamId: "T2", channel: "C2", ts: "1800000000.000002"),
            at: Self.t0))

        #expect(try await s.slack.eraseClientRecords(clientID: client)["slackPosts"] == 1)

        #expect(try await s.feedback.deleteFeedback(id: theirs.id, clientID: other))
        let unposts = try await s.slack.pendingJobs(kind: .unpost, team: "T2")
        #expect(unposts.map(\.work) == [.unpost(UnpostJob(channel: "C2", ts: "1800000000.000002"))])
        #expect(unposts.first?.clientId == other)
    }

    /// A closed account's posts are deleted from the channel too: handing its token over turns every post of its
    /// items, and every deletion of a post it had queued, into a deletion of no client carrying the token (the
    /// installation goes at once), queued before the token's revocation; another client's posts stay as they were,
    /// and a workspace whose token was revoked already gets none (nothing could delete them).
    @Test(arguments: StoreFactories.available)
    func handingAClosedAccountsTokenOverHandsItsPostDeletionsOverWithIt(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.install(team: "T3", client: client, envelope: nil)  // revoked, then another workspace installed
        try await s.install(team: "T1", client: client, envelope: [1, 2, 3])
        try await s.install(team: "T2", client: other, envelope: [9])
        let kept = try await s.item(client)
        let deleted = try await s.item(client)
        let theirs = try await s.item(other)
        for (item, client, team, ts) in [
            (kept, client, "T1", "1800000000.000001"), (deleted, client, "T1", "1800000000.000002"),
            (kept, client, "T3", "1800000000.000003"), (theirs, other, "T2", "1800000000.000004"),
        ] {
            #expect(try await s.slack.recordPost(
                PostedMessage(feedbackId: item.id, clientId: client, teamId: team, channel: "C\(team)", ts: ts),
                at: Self.t0))
        }
        #expect(try await s.feedback.deleteFeedback(id: deleted.id, clientID: client))  // its deletion is queued

        #expect(try await s.slack.handOverTokens(clientID: client, at: Self.t0 + 5) == 2)
        #expect(try await s.slack.eraseClientRecords(clientID: client)["jobs"] == 0)

        let unposts = try await s.slack.pendingJobs(kind: .unpost, team: "T1")
        let handedOver = unposts.compactMap { job -> UnpostJob? in
            if case .unpost(let post) = job.work { post } else { nil }
        }.sorted { $0.ts < $1.ts }
        #expect(handedOver == [
            UnpostJob(channel: "CT1", ts: "1800000000.000001", envelope: [1, 2, 3]),
            UnpostJob(channel: "CT1", ts: "1800000000.000002", envelope: [1, 2, 3]),
        ])
        #expect(unposts.allSatisfy { $0.clientId == nil && $0.runAt == Self.t0 + 5 })
        // `tokens reseal` swaps the envelope they carry (PostgreSQL writes their payload in SQL: compared as JSON).
        let first = try #require(unposts.first)
        guard case .unpost(let post) = first.work else { Issue.record("not an unpost"); return }
        let resealed = SlackJob.Work.unpost(UnpostJob(channel: post.channel, ts: post.ts, envelope: [4, 5]))
        #expect(try await s.slack.replaceJobWork(jobID: first.id, expected: first.work, with: resealed))
        #expect(try await s.slack.replaceJobWork(jobID: first.id, expected: first.work, with: resealed) == false)
        #expect(try await s.slack.pendingJobs(kind: .unpost, team: "T1").contains { $0.work == resealed })
        #expect(try await s.slack.pendingJobs(kind: .unpost, team: "T3").isEmpty)
        #expect(try await s.slack.pendingJobs(kind: .unpost, team: "T2").isEmpty)
        // Its revocation comes after them in their lane: claimed one job of a workspace at a time, oldest first.
        var order: [SlackJob.Kind] = []
        while let job = try await s.claimAll(at: Self.t0 + 5, kinds: [.unpost, .revoke]).first(where: { $0.teamId == "T1" }) {
            order.append(job.kind)
            #expect(try await s.slack.finishJob(job, then: nil))
        }
        #expect(order == [.unpost, .unpost, .revoke])
        // The other client's post is still there to delete with its item.
        #expect(try await s.feedback.deleteFeedback(id: theirs.id, clientID: other))
        #expect(try await s.slack.pendingJobs(kind: .unpost, team: "T2").map(\.work) == [
            .unpost(UnpostJob(channel: "CT2", ts: "1800000000.000004"))
        ])
    }

    // MARK: Recovery

    static func recovered(team: String, ts: String, emoji: String = "wrench") -> CapturedMessage {
        CapturedMessage(
            teamId: team, channelId: "C0001", messageTs: ts, threadTs: nil, authorId: "U0002", forwardedBy: "U0003",
            via: .reaction(emoji), permalink: nil, text: "Recovered \(ts)", recovered: true)
    }

    /// A sweep asked for while one that covers it is queued is not queued again, also when the requests come at
    /// once (a double click, two instances): the check and the queueing are one transaction.
    @Test(arguments: StoreFactories.available)
    func aJobIsQueuedUnlessOneThatCoversItIsPendingEvenForRequestsAtOnce(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let sweep = RecoverJob(trigger: "manual", since: Self.t0 - 60_000, until: Self.t0)
        let covers: @Sendable (SlackJob) -> Bool = { job in
            if case .recover(let other) = job.work { return other.since <= sweep.since }
            return false
        }
        for round in 0..<10 {
            let at = Self.t0 + Int64(round) * 10_000
            let queued = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await s.slack.enqueueUnlessPending(
                            s.job(.recover(sweep), team: "T1", client: client, at: at), coveredBy: covers)
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(queued == 1, "round \(round)")
            let pending = try await s.slack.pendingJobs(kind: .recover, team: "T1")
            #expect(pending.count == 1, "round \(round)")
            for job in pending { try await s.slack.finishJob(job, then: nil) }
        }

        // A pending job that does not cover it, or one of another workspace, queues it.
        try await s.slack.enqueue(
            s.job(.recover(RecoverJob(trigger: "manual", since: Self.t0, until: Self.t0)), team: "T1", client: client))
        try await s.slack.enqueue(s.job(.recover(sweep), team: "T2", client: client))
        #expect(try await s.slack.enqueueUnlessPending(s.job(.recover(sweep), team: "T1", client: client), coveredBy: covers))
        #expect(try await s.slack.pendingJobs(kind: .recover, team: "T1").count == 2)
        #expect(try await s.slack.enqueueUnlessPending(s.job(.recover(sweep), team: "T1", client: client), coveredBy: covers) == false)
    }

    @Test(arguments: StoreFactories.available)
    func aRecoveryStepStoresNewMessagesAndItsProgressTogether(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        _ = try await s.slack.captureForward(s.message(team: "T1", ts: "1.1"), at: S.t0, responseURL: nil)
        let sweep = RecoverJob(trigger: "manual", since: Self.t0 - 60_000, until: Self.t0)
        try await s.slack.enqueue(s.job(.recover(sweep), team: "T1", client: client))
        let step = try #require(try await s.claimAll(kinds: [.recover]).only)
        var progress = sweep
        progress.captured = 3  // stored by the sweep's earlier steps
        progress.listed = true
        let stored = try await s.slack.completeRecoveryStep(
            step.lease, clientID: client,
            messages: [Self.recovered(team: "T1", ts: "1.1"), Self.recovered(team: "T1", ts: "1.2", emoji: "bug")],
            next: s.job(.recover(progress), team: "T1", client: client, at: Self.t0 + 1_200), at: S.t0)
        #expect(stored == .stored(1))  // 1.1 was held already (the shortcut): one row per Slack message
        let items = try await s.items(client)
        #expect(items.count == 2)
        let new = try #require(items.first { $0.draft.slack?.messageTs == "1.2" })
        #expect(new.draft.slack?.recovered == true)
        #expect(new.draft.slack?.capturedVia == .reaction("bug"))
        #expect(try #require(items.first { $0.draft.slack?.messageTs == "1.1" }).draft.slack?.recovered == false)
        // The next step's progress counts the row stored, not the two messages found
        let next = try #require(try await s.claimAll(at: Self.t0 + 1_200, kinds: [.recover]).only)
        var counted = progress
        counted.captured = 4
        #expect(next.work == .recover(counted))
    }

    /// A store with a sweep of workspace T1 claimed (its step), and `member` of its client erased at t0 + 10 s.
    static func sweepStep(erasing member: String, _ factory: StoreFactory) async throws -> (S, String, SlackJob) {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        let sweep = RecoverJob(trigger: "manual", since: t0 - 60_000, until: t0 + 60_000)
        try await s.slack.enqueue(s.job(.recover(sweep), team: "T1", client: client))
        let step = try #require(try await s.claimAll(kinds: [.recover]).only)
        try await s.slack.recordErasedMember(
            clientID: client, memberKey: ErasedMembers.key(clientID: client, member: member), at: t0 + 10_000)
        return (s, client, step)
    }

    /// A recovery sweep does not bring back what an erased member wrote before their erasure (when the missed
    /// reaction to it happened is not known); what they wrote after it, and others' messages, it recovers.
    @Test(arguments: StoreFactories.available)
    func aRecoveryStepLeavesOutWhatAnErasedMemberWroteBeforeTheErasure(_ factory: StoreFactory) async throws {
        let (s, client, step) = try await Self.sweepStep(erasing: "U0002", factory)
        func at(_ millis: Int64, author: String) -> CapturedMessage {
            var message = Self.recovered(team: "T1", ts: SlackRecoveryRules.slackTs(millis))
            message.authorId = author
            return message
        }

        let stored = try await s.slack.completeRecoveryStep(
            step.lease, clientID: client,
            messages: [
                at(Self.t0 + 5_000, author: "U0002"), at(Self.t0 + 10_000, author: "U0002"),
                at(Self.t0 + 10_001, author: "U0002"), at(Self.t0 + 5_000, author: "U0004"),
            ],
            next: nil, at: S.t0)

        #expect(stored == .stored(2))
        let kept = try await s.items(client).map { ($0.draft.slack?.authorId, $0.draft.slack?.messageTs) }
        #expect(kept.count == 2)
        #expect(kept.contains { $0 == ("U0002", SlackRecoveryRules.slackTs(Self.t0 + 10_001)) })
        #expect(kept.contains { $0 == ("U0004", SlackRecoveryRules.slackTs(Self.t0 + 5_000)) })
    }

    /// A member erased after a message was posted no longer forwards it when a sweep recovers it (their reaction
    /// went with them): the next member who reacted forwards it, and without one it is left out. A reaction to a
    /// message posted after the erasure is a new forward.
    @Test(arguments: StoreFactories.available)
    func aRecoveryStepPassesOverAForwarderErasedSinceThePost(_ factory: StoreFactory) async throws {
        let (s, client, step) = try await Self.sweepStep(erasing: "U0032", factory)
        func at(_ millis: Int64, others: [String]) -> CapturedMessage {
            var message = Self.recovered(team: "T1", ts: SlackRecoveryRules.slackTs(millis))
            message.forwardedBy = "U0032"
            message.otherForwarders = others.map { .init(member: $0, emoji: "pushpin") }
            return message
        }

        let stored = try await s.slack.completeRecoveryStep(
            step.lease, clientID: client,
            messages: [
                at(Self.t0 + 5_000, others: []), at(Self.t0 + 5_001, others: ["U0032", "U0004", "U0005"]),
                at(Self.t0 + 10_001, others: ["U0004"]),
            ],
            next: nil, at: S.t0)

        #expect(stored == .stored(2))
        let kept = try await s.items(client).map {
            ($0.draft.slack?.messageTs, $0.draft.slack?.forwardedBy, $0.draft.slack?.capturedVia)
        }
        #expect(kept.count == 2)
        // With the emoji of the member it names: U0004's :pushpin:, not the erased member's :wrench:
        #expect(kept.contains { $0 == (SlackRecoveryRules.slackTs(Self.t0 + 5_001), "U0004", .reaction("pushpin")) })
        #expect(kept.contains { $0 == (SlackRecoveryRules.slackTs(Self.t0 + 10_001), "U0032", .reaction("wrench")) })
    }

    /// A client with workspace T1 installed, and the first step of a startup recovery sweep of T1, claimed.
    static func claimedRecoveryStep(in s: StoreUnderTest) async throws -> (client: String, sweep: RecoverJob, step: SlackJob) {
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        let sweep = RecoverJob(trigger: "startup", since: Self.t0 - 60_000, until: Self.t0)
        try await s.slack.enqueue(s.job(.recover(sweep), team: "T1", client: client))
        return (client, sweep, try #require(try await s.claimAll(kinds: [.recover]).only))
    }

    /// A worker that stalled past its step's lease, and resumes once another worker took the step over, changes
    /// nothing: the sweep goes on once, from the worker that holds it (two would both queue the next step, and the
    /// sweep would run twice from there, every Slack call and audit entry doubled).
    @Test(arguments: StoreFactories.available)
    func aRecoveryStepAnotherWorkerTookOverIsNotCompletedTwice(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let (client, sweep, stalled) = try await Self.claimedRecoveryStep(in: s)
        let taker = try #require(try await s.claimAll(at: Self.t0 + 1_000, kinds: [.recover]).only)
        #expect(taker.id == stalled.id)
        let next = s.job(.recover(sweep), team: "T1", client: client, at: Self.t0 + 2_000)

        let late = try await s.slack.completeRecoveryStep(
            stalled.lease, clientID: client, messages: [Self.recovered(team: "T1", ts: "1.2")], next: next, at: S.t0)
        #expect(late == .jobGone)
        #expect(try await s.items(client).isEmpty)
        let current = try await s.slack.completeRecoveryStep(
            taker.lease, clientID: client, messages: [Self.recovered(team: "T1", ts: "1.2")], next: next, at: S.t0)
        #expect(current == .stored(1))
        #expect(try await s.claimAll(at: Self.t0 + 100_000, kinds: [.recover]).count == 1)
    }

    @Test(arguments: StoreFactories.available)
    func aRecoveryStepOfAWorkspaceThatUninstalledStoresNothing(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let (client, sweep, step) = try await Self.claimedRecoveryStep(in: s)
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "EU", at: Self.t0, deadline: Self.t0 + 60_000))
        let stored = try await s.slack.completeRecoveryStep(
            step.lease, clientID: client, messages: [Self.recovered(team: "T1", ts: "1.2")],
            next: s.job(.recover(sweep), team: "T1", client: client), at: S.t0)
        #expect(stored == .jobGone)  // the uninstall took the workspace's jobs with it
        #expect(try await s.items(client).isEmpty)
        #expect(try await s.claimAll(at: Self.t0 + 100_000, kinds: [.recover]).isEmpty)
    }

    @Test(arguments: StoreFactories.available)
    func aRecoveryStepDoesNotBringBackARowDeletedOnPurpose(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        let now = Date()
        let nowMillis = epochMillis(now)
        func recover(_ stamps: [String]) async throws -> RecoveryStepOutcome {
            let sweep = RecoverJob(trigger: "manual", since: nowMillis - 86_400_000, until: nowMillis)
            try await s.slack.enqueue(s.job(.recover(sweep), team: "T1", client: client))
            let step = try #require(try await s.claimAll(kinds: [.recover]).only)
            return try await s.slack.completeRecoveryStep(
                step.lease, clientID: client, messages: stamps.map { Self.recovered(team: "T1", ts: $0) },
                next: nil, at: now)
        }
        func stamps() async throws -> Set<String> { Set(try await s.items(client).compactMap(\.draft.slack?.messageTs)) }
        for ts in ["1.1", "1.2", "1.3"] {
            let author = ts == "1.2" ? "U0009" : "U0002"
            _ = try await s.slack.captureForward(s.message(team: "T1", ts: ts, author: author), at: now, responseURL: nil)
        }
        // Captured a week and two days ago: further back than any sweep reads.
        _ = try await s.slack.captureForward(
            s.message(team: "T1", ts: "0.9"), at: now.addingTimeInterval(-9 * 86_400), responseURL: nil)
        let byTs = Dictionary(uniqueKeysWithValues: try await s.items(client).map { ($0.draft.slack?.messageTs, $0.id) })

        // Deleted by the admin API, erased with its author, deleted long after capture
        #expect(try await s.feedback.deleteFeedback(id: try #require(byTs["1.1"]), clientID: client))
        let scope = try await s.retention.resolve(.slackUser("U0009"), clientID: client)
        let erased = try await s.retention.deleteFeedbackBatch(.subject(scope), limit: 10, at: nowMillis, record: .none)
        #expect(erased?.batch.rows == 1)
        #expect(try await s.feedback.deleteFeedback(id: try #require(byTs["0.9"]), clientID: client))
        #expect(try await stamps() == ["1.3"])

        // A sweep finds all of them still carrying a trigger reaction: only the new one and the one no sweep could
        // have reached come in.
        #expect(try await recover(["0.9", "1.1", "1.2", "1.3", "1.4"]) == .stored(2))
        #expect(try await stamps() == ["0.9", "1.3", "1.4"])

        // A retention sweep's deletions count too.
        let swept = try await s.retention.deleteFeedbackBatch(
            .createdBefore(clientID: client, cutoff: nowMillis + 1, plan: .free), limit: 10, at: nowMillis, record: .none)
        #expect(swept?.batch.rows == 3)
        #expect(try await recover(["0.9", "1.3", "1.4", "1.5"]) == .stored(1))
        #expect(try await stamps() == ["1.5"])

        // Forgotten once no sweep can reach them: records from before the cutoff go, later ones stay.
        try await s.slack.forgetRemovedCaptures(before: nowMillis - 1)
        #expect(try await recover(["1.1"]) == .stored(0))
        try await s.slack.forgetRemovedCaptures(before: epochMillis(Date()) + 1)
        #expect(try await recover(["1.1", "1.2", "1.3"]) == .stored(3))
    }

    @Test(arguments: StoreFactories.available)
    func theFirstHeartbeatAfterADowntimeQueuesOneSweepPerInstalledWorkspace(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.install(team: "T2", client: try await s.client())
        try await s.install(team: "T3", client: try await s.client(), envelope: nil)  // token revoked: no sweep
        #expect(try await s.slack.heartbeat(at: Self.t0) == 0)
        #expect(try await s.slack.heartbeat(at: Self.t0 + 30_000) == 0)
        #expect(try await s.slack.heartbeat(at: Self.t0 + 630_000) == 2)
        #expect(try await s.slack.heartbeat(at: Self.t0 + 631_000) == 0)
        let sweeps = try await s.claimAll(at: Self.t0 + 631_000, kinds: [.recover])
        #expect(Set(sweeps.compactMap(\.teamId)) == ["T1", "T2"])
        for sweep in sweeps {
            #expect(sweep.work == .recover(RecoverJob(trigger: "startup", since: Self.t0 - 30_000, until: Self.t0 + 630_000)))
        }
        // An earlier instant (another instance's clock) never moves the heartbeat back
        #expect(try await s.slack.heartbeat(at: Self.t0) == 0)
        #expect(try await s.slack.heartbeat(at: Self.t0 + 640_000) == 0)
    }

    /// The daily token checks: queued for workspaces installed with a token and not checked for the interval
    /// (their install counts as the first check), oldest first, at most `limit` a call, never twice while one is
    /// queued, and not for a workspace uninstalled or whose token was revoked.
    @Test(arguments: StoreFactories.available)
    func tokenChecksAreQueuedOncePerIntervalForInstalledWorkspacesOnly(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let day: Int64 = 86_400_000
        let client1 = try await s.client()
        try await s.install(team: "T1", client: client1, at: Self.t0)
        try await s.install(team: "T2", client: try await s.client(), at: Self.t0 + 1_000)
        try await s.install(team: "T3", client: try await s.client(), at: Self.t0 + 2_000)
        try await s.install(team: "T4", client: try await s.client(), envelope: nil)  // token revoked: nothing to check
        try await s.install(team: "T5", client: try await s.client())
        #expect(try await s.slack.acceptUninstall(team: "T5", eventId: "EU", at: Self.t0, deadline: Self.t0 + 60_000))
        _ = try await s.claimAll(kinds: [.uninstall])
        func queue(at now: Int64, limit: Int = 100) async throws -> Int {
            try await s.slack.queueTokenChecks(checkedBefore: now - day, at: now, limit: limit)
        }
        func checks(at now: Int64) async throws -> [String] {
            try await s.claimAll(at: now, kinds: [.checkToken]).compactMap(\.teamId).sorted()
        }

        #expect(try await queue(at: Self.t0 + day) == 0)  // none installed a day ago yet
        #expect(try await queue(at: Self.t0 + day + 1_500, limit: 1) == 1)  // oldest first
        #expect(try await queue(at: Self.t0 + day + 1_500) == 1)  // T2; T1's is queued
        let first = Self.t0 + day + 1_500
        let jobs = try await s.claimAll(at: first, kinds: [.checkToken])
        #expect(jobs.compactMap(\.teamId).sorted() == ["T1", "T2"])
        #expect(jobs.allSatisfy { $0.work == .checkToken(CheckTokenJob()) && $0.runAt == first && $0.clientId != nil })
        for job in jobs { #expect(try await s.slack.finishJob(job, then: nil)) }
        #expect(try await queue(at: first + 60_000) == 1)  // T3, installed last
        let last = try #require(try await s.claimAll(at: first + 60_000, kinds: [.checkToken]).only)
        #expect(last.teamId == "T3")
        #expect(try await s.slack.finishJob(last, then: nil))

        // Checked: not again until a day after the check.
        #expect(try await queue(at: first + day - 1) == 0)
        #expect(try await queue(at: first + day + 1) == 2)
        let second = try await s.claimAll(at: first + day + 1, kinds: [.checkToken])
        #expect(second.compactMap(\.teamId).sorted() == ["T1", "T2"])
        for job in second { #expect(try await s.slack.finishJob(job, then: nil)) }

        // A reinstall (a new token, checked by the install itself) counts from its own instant.
        try await s.install(team: "T1", client: client1, at: first + day + 10)
        #expect(try await queue(at: first + 2 * day + 5) == 2)
        #expect(try await checks(at: first + 2 * day + 5) == ["T2", "T3"])
    }

    @Test(arguments: StoreFactories.available)
    func anUninstallCancelsPostsSweepsAndHomeTabs(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.slack.enqueue(s.job(.postFeedback(PostFeedbackJob(feedbackId: "fb_1")), team: "T1", client: client))
        try await s.slack.enqueue(
            s.job(.recover(RecoverJob(trigger: "manual", since: 0, until: 1)), team: "T1", client: client))
        #expect(try await s.slack.acceptHomeOpened(team: "T1", user: "U0001", eventId: "EH", at: Self.t0))
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "EU", at: Self.t0, deadline: Self.t0 + 60_000))
        #expect(try await s.claimAll().map(\.kind) == [.uninstall])
    }

    // MARK: App Home

    @Test(arguments: StoreFactories.available)
    func homeTabsAreQueuedOncePerEventAndOnlyForALiveInstallation(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        #expect(try await s.slack.acceptHomeOpened(team: "T1", user: "U0001", eventId: "E0", at: Self.t0) == false)
        try await s.install(team: "T1", client: client)
        #expect(try await s.slack.acceptHomeOpened(team: "T1", user: "U0001", eventId: "E1", at: Self.t0))
        #expect(try await s.slack.acceptHomeOpened(team: "T1", user: "U0001", eventId: "E1", at: Self.t0) == false)
        #expect(try await s.slack.acceptHomeOpened(team: "T1", user: "UT1BOT", eventId: "E2", at: Self.t0) == false)
        let job = try #require(try await s.claimAll(kinds: [.publishHome]).only)
        #expect(job.work == .publishHome(PublishHomeJob(user: "U0001")))
        #expect(job.clientId == client)
        try await s.install(team: "T2", client: try await s.client(), envelope: nil)
        #expect(try await s.slack.acceptHomeOpened(team: "T2", user: "U0001", eventId: "E3", at: Self.t0) == false)
    }

    @Test(arguments: StoreFactories.available)
    func theCaptureCountIsTheWorkspacesSlackRowsSinceAnInstant(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        for (n, seconds) in [-10.0, 5, 6].enumerated() {
            _ = try await s.slack.captureForward(
                s.message(team: "T1", ts: "1.\(n)"), at: S.t0.addingTimeInterval(seconds), responseURL: nil)
        }
        try await s.item(client, at: 7, source: .widget)
        #expect(try await s.slack.captureCount(client: client, team: "T1", since: Self.t0) == 2)
        #expect(try await s.slack.captureCount(client: client, team: "T9", since: Self.t0) == 0)
    }
}
