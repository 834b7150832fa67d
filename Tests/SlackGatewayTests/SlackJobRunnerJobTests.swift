import Feedback
import Foundation
import Retention
@testable import SlackGateway
import Testing
import UseroCrypto
import UseroTestSupport

/// Each job kind run once against the fake Slack and the in-memory store: what is stored, what is queued next,
/// and what a failure leaves behind.
@Suite struct SlackJobRunnerJobTests {
    static let messageTs = "1700000000.000100"
    static let capture = SlackJob.Work.captureReaction(
        CaptureReactionJob(channel: "C0001", ts: messageTs, user: "U0001", via: "reaction:wrench"))

    /// A world whose fake Slack holds the reacted-to message.
    static func world() async throws -> (SlackWorld, FakeSlackWebAPI) {
        let api = FakeSlackWebAPI(
            pages: [nil: try Fixtures.page("conversations_history_ok.json")],
            permalink: "https://acme-product.slack.com/archives/C0001/p1700000000000100")
        return (try await SlackWorld(api: api), api)
    }

    /// Claims the one due job and runs it.
    static func runOne(_ world: SlackWorld) async throws -> SlackJobRunner.Result {
        let job = try #require(try await world.claim(limit: 1).first)
        return await world.runner().run(job)
    }

    // MARK: Capture

    @Test func aCaptureJobFetchesStoresAndEnqueuesTheNotice() async throws {
        let (world, api) = try await Self.world()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))
        world.clock.advance(by: 2)

        #expect(try await Self.runOne(world) == .finished)

        let item = try #require(world.items.only)
        #expect(item.clientId == world.clientID)
        #expect(item.createdAt == SlackWorld.now.addingTimeInterval(2))
        #expect(item.draft.comment == "Export to CSV times out")
        #expect(
            item.draft.slack
                == SlackCapture(
                    teamId: "T0001", channelId: "C0001", messageTs: Self.messageTs, threadTs: nil, authorId: "U0002",
                    forwardedBy: "U0001", capturedVia: .reactionWrench,
                    permalink: "https://acme-product.slack.com/archives/C0001/p1700000000000100"))
        #expect(api.calls.map(\.method).sorted() == ["chat.getPermalink", "conversations.replies"])
        try await Self.expectCapturedNotice(world, api)
    }

    /// The author and thread Slack's Web API names for the fetched message are stored only when they are Slack ids:
    /// a NUL or a line end in one made PostgreSQL refuse the row, and the job fail until it gave up (found by a
    /// review). The text stays; the forwarder hears that it was captured.
    @Test func aFetchedMessageWhoseAuthorOrThreadIsNoSlackIdIsStoredWithoutThem() async throws {
        let message = Message(
            ts: Self.messageTs, threadTs: "1700000000.000050\u{0}", user: "U0002\u{0}", text: "Export to CSV times out")
        let api = FakeSlackWebAPI(pages: [nil: MessagePage(messages: [message], nextCursor: nil)])
        let world = try await SlackWorld(api: api)
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))
        #expect(try await Self.runOne(world) == .finished)
        let item = try #require(world.items.only)
        #expect(item.draft.comment == "Export to CSV times out")
        #expect(item.draft.slack?.authorId == nil)
        #expect(item.draft.slack?.threadTs == nil)
        #expect(item.draft.slack?.forwardedBy == "U0001")
        #expect(world.jobs.only?.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "captured")))
    }

    /// The one job queued is the notice that U0001's forward was captured, and running it tells them so, in words,
    /// where only they see it.
    static func expectCapturedNotice(_ world: SlackWorld, _ api: FakeSlackWebAPI) async throws {
        let notice = try #require(world.jobs.only)
        #expect(notice.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "captured")))
        #expect(try await runOne(world) == .finished)
        let posted = try #require(api.calls.last)
        #expect(posted.method == "chat.postEphemeral")
        #expect(posted.channel == "C0001")
        #expect(posted.user == "U0001")
        #expect(posted.text == ForwardOutcome.captured.text)
        #expect(world.jobs.isEmpty)
    }

    @Test(.timeLimit(.minutes(1))) func theMessageAndItsPermalinkAreAskedForAtOnce() async throws {
        // Given a Slack that answers `conversations.replies` only once `chat.getPermalink` has been asked…
        let (world, api) = try await Self.world()
        api.hold("conversations.replies", until: "chat.getPermalink")
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))

        // …the capture finishes with its permalink: the second call went out while the first was unanswered (one
        // round trip to Slack before the row, not two; asked one after the other, the job would wait for ever).
        #expect(try await Self.runOne(world) == .finished)
        #expect(world.items.only?.draft.slack?.permalink == "https://acme-product.slack.com/archives/C0001/p1700000000000100")
    }

    @Test func aMessageCapturedWhileTheJobWaitedIsNotFetchedAgain() async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        try await world.storeCaptured(ts: Self.messageTs)

        #expect(try await Self.runOne(world) == .finished)

        #expect(api.calls.isEmpty)
        #expect(world.items.count == 1)
        #expect(world.jobs.only?.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "already_captured")))
    }

    /// A permalink Slack could not give just now (an outage, a 429) is not given up: the capture is tried again and
    /// its row gets the link. Only a permalink Slack refuses for good leaves the row without one.
    @Test(arguments: [SlackAPIError.server(status: 503), .unreachable])
    func aCaptureWhosePermalinkSlackCouldNotGiveYetIsRetriedAndKeepsItsLink(failure: SlackAPIError) async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        api.fail("chat.getPermalink", with: failure)

        #expect(try await Self.runOne(world) == .retryLater)
        #expect(world.items.isEmpty)
        #expect(world.jobs.only?.attempts == 1)

        world.clock.advance(by: 1)
        #expect(try await Self.runOne(world) == .finished)
        #expect(world.items.only?.draft.slack?.permalink == "https://acme-product.slack.com/archives/C0001/p1700000000000100")
    }

    // MARK: Rate limits

    @Test func aRateLimitPostponesThatWorkspacesJobsOfThatKindOnly() async throws {
        // Given two captures and a notice for T0001, and a capture for T0002
        let (world, api) = try await Self.world()
        let other = try await world.store.createClient(name: "Other", plan: .free, allowedOrigins: [], at: SlackWorld.now).0.id
        try await world.install(team: "T0002", clientID: other, botUser: "U0109", botId: "B0101")
        try await world.store.enqueue(world.newJob(Self.capture))
        try await world.store.enqueue(world.newJob(.captureReaction(CaptureReactionJob(channel: "C0001", ts: "1.2", user: "U0003", via: "reaction:pushpin"))))
        try await world.store.enqueue(world.newJob(.notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "captured"))))
        try await world.store.enqueue(world.newJob(Self.capture, team: "T0002", clientID: other))
        api.fail("conversations.replies", with: .rateLimited(retryAfter: 30))

        // When Slack answers the first capture with 429 Retry-After: 30
        #expect(try await Self.runOne(world) == .rateLimited)

        // Then both T0001 captures wait 30 s, without counting an attempt; the notice and T0002 are not held up
        let jobs = world.jobs
        let captures = jobs.filter { $0.teamId == "T0001" && $0.kind == .captureReaction }
        #expect(captures.count == 2)
        #expect(captures.allSatisfy { $0.runAt == world.nowMillis + 30_000 && $0.attempts == 0 })
        #expect(jobs.filter { $0.kind == .notify }.map(\.runAt) == [world.nowMillis])
        #expect(jobs.filter { $0.teamId == "T0002" }.map(\.runAt) == [world.nowMillis])
        #expect(world.items.isEmpty)
        // Nothing of T0001's captures is due until then; the other work is.
        let due = try await world.claim()
        #expect(Set(due.map(\.kind)) == [.notify, .captureReaction])
        #expect(due.first { $0.kind == .captureReaction }?.teamId == "T0002")
    }

    @Test(arguments: [(Int.max, 3_600_000), (86_400, 3_600_000), (0, 1_000), (-5, 1_000), (Int.min, 1_000)] as [(Int, Int64)])
    func slacksRetryAfterIsClampedToBetweenASecondAndAnHour(retryAfter: Int, wait: Int64) async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        api.fail("conversations.replies", with: .rateLimited(retryAfter: retryAfter))

        #expect(try await Self.runOne(world) == .rateLimited)

        #expect(world.jobs.only?.runAt == world.nowMillis + wait)
    }

    @Test func aJobSlackRateLimitsForADayIsGivenUpAndTheForwarderTold() async throws {
        // Given a capture queued just under a day ago, whose every call Slack has answered with 429
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        world.clock.advance(by: 86_399)
        api.fail("conversations.replies", with: .rateLimited(retryAfter: 60), .rateLimited(retryAfter: 60))

        // A 429 within the day postpones it, as before, without counting an attempt
        #expect(try await Self.runOne(world) == .rateLimited)
        #expect(world.jobs.only?.kind == .captureReaction)
        #expect(world.jobs.only?.attempts == 0)

        // The first 429 past the day ends it: the forwarder hears Slack could not be reached, nothing is stored
        world.clock.advance(by: 60)
        #expect(try await Self.runOne(world) == .finished)
        #expect(world.items.isEmpty)
        #expect(world.jobs.only?.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "slack_unavailable")))
    }

    // MARK: Slack's trouble

    @Test func aServerErrorBacksOffAndCountsTheAttempt() async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        api.fail("conversations.replies", with: .server(status: 503), .server(status: 502))

        #expect(try await Self.runOne(world) == .retryLater)
        var job = try #require(world.jobs.only)
        #expect(job.attempts == 1)
        #expect(job.runAt == world.nowMillis + 1_000)
        #expect(world.store.withState { $0.jobs[job.id]?.lastError } == "http_503")
        #expect(try await world.claim().isEmpty)

        world.clock.advance(by: 1)
        #expect(try await Self.runOne(world) == .retryLater)
        job = try #require(world.jobs.only)
        #expect(job.attempts == 2)
        #expect(job.runAt == world.nowMillis + 2_000)

        // The third try gets through.
        world.clock.advance(by: 2)
        #expect(try await Self.runOne(world) == .finished)
        #expect(world.items.count == 1)
    }

    @Test func aCaptureThatNeverGetsThroughEndsAndTellsTheForwarder() async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        for attempt in 1...8 {
            api.fail("conversations.replies", with: .unreachable)
            let result = try await Self.runOne(world)
            #expect(result == (attempt < 8 ? .retryLater : .finished), "attempt \(attempt)")
            world.clock.advance(by: 300)
        }
        #expect(world.items.isEmpty)
        #expect(world.jobs.only?.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "slack_unavailable")))
    }

    @Test(arguments: [
        ("not_in_channel", ForwardOutcome.notInChannel), ("channel_not_found", .channelNotFound),
        ("message_not_found", .messageNotFound), ("missing_scope", .missingPermission),
        ("some_new_error", .slackRefused),
    ])
    func aPermanentErrorEndsTheJobAndTellsTheForwarderWhy(code: String, outcome: ForwardOutcome) async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        api.fail("conversations.replies", with: .slack(code: code))

        #expect(try await Self.runOne(world) == .finished)

        #expect(world.items.isEmpty)
        let notice = try #require(world.jobs.only)
        #expect(notice.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: outcome.rawValue)))
        #expect(try await Self.runOne(world) == .finished)
        #expect(api.calls.last?.text == outcome.text)
    }

    @Test(arguments: ["token_revoked", "invalid_auth", "account_inactive"])
    func aDeadTokenEndsTheJobWithoutANotice(code: String) async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        api.fail("conversations.replies", with: .slack(code: code))

        #expect(try await Self.runOne(world) == .finished)

        #expect(world.jobs.isEmpty)
        #expect(world.items.isEmpty)
    }

    /// A token Slack refuses to a job and again to `auth.test` is an uninstall the service did not hear (its
    /// `app_uninstalled` came while it was down, and Slack retries an event for minutes only): the installation is
    /// treated as the event would have treated it. Its token and pending calls go (the job among them), the
    /// workspace is tombstoned, and the scrub of its author ids is queued with its deadline counted from now.
    @Test(arguments: ["token_revoked", "account_inactive"])
    func aTokenRefusedAgainToAuthTestIsAnUninstallMissed(code: String) async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        try await world.store.enqueue(world.newJob(.publishHome(PublishHomeJob(user: "U0001")), team: "T0001"))
        let captured = try await world.storeCaptured(ts: "1690000000.000100")
        api.fail("conversations.replies", with: .slack(code: code))
        api.fail("auth.test", with: .slack(code: code))

        #expect(try await Self.runOne(world) == .finished)

        #expect(try await world.store.activeInstallation(team: "T0001") == nil)
        #expect(world.store.withState { $0.tombstones["T0001"] } == .some(.some(world.clientID)))
        let scrub = try #require(world.jobs.only)
        #expect(scrub.work == .uninstall(UninstallJob(clientId: world.clientID)))
        #expect(scrub.deadlineAt == world.nowMillis + 60_000)
        #expect(world.wakeup.hasPendingSignal)
        // The scrub, run, takes the ids off the captured row and keeps its text.
        #expect(try await Self.runOne(world) == .finished)
        let row = try #require(world.items.first { $0.id == captured.id })
        #expect(row.draft.slack?.authorId == nil && row.draft.slack?.forwardedBy == nil)
        #expect(row.draft.comment == captured.draft.comment)
        #expect(api.calls.map(\.method).filter { $0 == "auth.test" }.count == 1)
    }

    /// `invalid_auth` also means that the Slack app's allowed IP ranges leave this server out (a server moved): an
    /// uninstall for it would delete the token and scrub the members' ids for a setting mended in a minute. A refused
    /// job tries again every hour, without using an attempt, and its work goes on once the token works; the
    /// installation is taken for uninstalled only once Slack has refused the token for `invalidAuthGrace` without a
    /// break, and then by the job's own retries, without waiting for new work.
    @Test func anInvalidAuthTokenIsTakenForAnUninstallOnlyOnceTheRefusalsHaveLasted() async throws {
        let (world, api) = try await Self.world()
        let hour = TimeInterval(SlackJobRunner.refusedRetryDelay / 1000)
        let grace = SlackJobRunner.invalidAuthGrace
        func runRefused() async throws -> SlackJobRunner.Result {
            api.fail("conversations.replies", with: .slack(code: "invalid_auth"))
            api.fail("auth.test", with: .slack(code: "invalid_auth"))
            return try await Self.runOne(world)
        }
        func installed() async throws -> Bool { try await world.store.activeInstallation(team: "T0001") != nil }

        // Refused for two days, retried hourly: the installation stays, and the capture waits, its attempts unused.
        try await world.store.enqueue(world.newJob(Self.capture))
        for _ in 0..<48 {
            #expect(try await runRefused() == .retryLater)
            let job = try #require(world.jobs.only)
            #expect(job.runAt == world.nowMillis + SlackJobRunner.refusedRetryDelay)
            #expect(job.attempts == 0)
            world.clock.advance(by: hour)
        }
        #expect(try await installed())
        // The ranges mended: the capture goes through, and is stored.
        #expect(try await Self.runOne(world) == .finished)
        #expect(world.items.count == 1)
        #expect(try await Self.runOne(world) == .finished)  // the member's notice
        #expect(world.jobs.isEmpty)

        // Refused again a day later, three days after the first refusal: a new outage, counted from now.
        world.clock.advance(by: 24 * hour)
        try await world.store.enqueue(
            world.newJob(.captureReaction(CaptureReactionJob(channel: "C0001", ts: "1700000099.000100", user: "U0001", via: "reaction:wrench"))))
        let secondRefusal = world.nowMillis
        while world.nowMillis < secondRefusal + grace {
            #expect(try await runRefused() == .retryLater, "at \(world.nowMillis - secondRefusal) ms")
            #expect(try await installed())
            // Due again within the hour, and at the grace's end exactly.
            let due = try #require(world.jobs.only).runAt
            #expect(due == min(world.nowMillis + SlackJobRunner.refusedRetryDelay, secondRefusal + grace))
            world.clock.advance(by: TimeInterval(due - world.nowMillis) / 1000)
        }

        // Refused without a break for the whole grace: uninstalled as a missed `app_uninstalled` is, by the retry.
        #expect(try await runRefused() == .finished)
        #expect(try await !installed())
        #expect(world.store.withState { $0.tombstones["T0001"] } == .some(.some(world.clientID)))
        let scrub = try #require(world.jobs.only)
        #expect(scrub.work == .uninstall(UninstallJob(clientId: world.clientID)))
        #expect(scrub.deadlineAt == world.nowMillis + 60_000)
    }

    /// A refusal `auth.test` does not repeat (the token works: the refusal was of something else), or one Slack
    /// cannot be asked about now, or a token replaced by a new install meanwhile, uninstalls nothing.
    @Test func aRefusedTokenThatAuthTestAcceptsOrCannotJudgeUninstallsNothing() async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.capture))
        api.fail("conversations.replies", with: .slack(code: "invalid_auth"))
        #expect(try await Self.runOne(world) == .finished)
        #expect(try await world.store.activeInstallation(team: "T0001") != nil)
        #expect(world.jobs.isEmpty)

        // Slack unreachable for `auth.test`: the job tries again later, the installation stays.
        try await world.store.enqueue(world.newJob(Self.capture))
        api.fail("conversations.replies", with: .slack(code: "token_revoked"))
        api.fail("auth.test", with: .unreachable)
        #expect(try await Self.runOne(world) == .retryLater)
        #expect(try await world.store.activeInstallation(team: "T0001") != nil)
        #expect(world.jobs.only?.kind == .captureReaction)

        // Installed again between the refusal and the check: the new token is not the refused one.
        let envelope = try #require(try await world.store.activeInstallation(team: "T0001")?.tokenEnvelope)
        try await world.install(team: "T0001", clientID: world.clientID)
        #expect(try await !world.store.acceptLostToken(
            team: "T0001", envelope: envelope, at: world.nowMillis, deadline: world.nowMillis + 60_000))
        #expect(try await world.store.activeInstallation(team: "T0001") != nil)
    }

    @Test func aMissingMessageIsReportedAsSuch() async throws {
        let api = FakeSlackWebAPI(pages: [nil: MessagePage(messages: [], nextCursor: nil)])
        let world = try await SlackWorld(api: api)
        try await world.store.enqueue(world.newJob(Self.capture))

        #expect(try await Self.runOne(world) == .finished)

        #expect(world.jobs.only?.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "message_not_found")))
    }

    // MARK: Shortcut answers

    static func answer(user: String?) -> SlackJob.Work {
        .respond(
            RespondJob(
                responseURL: "https://hooks.slack.com/app/T0001/1/abc", outcome: "captured", feedbackId: nil,
                channel: "C0001", ts: messageTs, user: user))
    }

    /// A shortcut's answer whose `response_url` Slack refuses (expired: 30 minutes or five uses) or never takes
    /// reaches the member all the same: the app tells them in the channel, where only they see it.
    @Test(arguments: [[SlackAPIError.http(status: 404)], Array(repeating: SlackAPIError.unreachable, count: 5)])
    func aShortcutAnswerItsResponseURLNeverTakesIsToldByTheApp(failures: [SlackAPIError]) async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.answer(user: "U0001")))
        for (attempt, failure) in failures.enumerated() {
            api.fail("response_url", with: failure)
            let result = try await Self.runOne(world)
            #expect(result == (attempt < failures.count - 1 ? .retryLater : .finished), "attempt \(attempt + 1)")
            world.clock.advance(by: 300)
        }
        try await Self.expectCapturedNotice(world, api)
    }

    /// An answer queued before the member was kept with it ends as before: there is no one to tell.
    @Test func aShortcutAnswerWithoutItsMemberEndsWithoutANotice() async throws {
        let (world, api) = try await Self.world()
        try await world.store.enqueue(world.newJob(Self.answer(user: nil)))
        api.fail("response_url", with: .http(status: 404))
        #expect(try await Self.runOne(world) == .finished)
        #expect(world.jobs.isEmpty)
    }

    // MARK: Uninstall scrub

    @Test func theUninstallScrubNullsAuthorAndForwarderIdsOfThatTeamOnlyAndRecordsAnAuditEntry() async throws {
        // Given captured rows of T0001 and of T0002 (another client)
        let (world, _) = try await Self.world()
        let other = try await world.store.createClient(name: "Other", plan: .free, allowedOrigins: [], at: SlackWorld.now).0.id
        try await world.install(team: "T0002", clientID: other, botUser: "U0109", botId: "B0101")
        for ts in ["1.1", "1.2", "1.3"] { try await world.storeCaptured(ts: ts) }
        try await world.storeCaptured(ts: "1.4", author: nil, forwarder: "U0001")
        let kept = try await world.storeCaptured(team: "T0002", clientID: other, ts: "2.1", author: "U0102", forwarder: "U0101")
        let auditor = SignallingAuditor(store: world.store)

        // When T0001 uninstalls and its scrub runs
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_app_uninstalled.json"))
        world.clock.advance(by: 1)
        let scrub = try #require(try await world.claim().first)
        #expect(await world.runner(auditor: auditor).run(scrub) == .finished)

        // Then no T0001 row names a member any more, the text stays, and T0002's rows are untouched
        let items = world.items
        for item in items where item.draft.slack?.teamId == "T0001" {
            #expect(item.draft.slack?.authorId == nil)
            #expect(item.draft.slack?.forwardedBy == nil)
            #expect(item.draft.comment?.hasPrefix("Captured") == true)
        }
        #expect(items.count == 5)
        #expect(items.first { $0.id == kept.id } == kept)
        // And the audit entry went through the DeletionAuditor: the rows changed, the deadline, the finish
        let entry = try #require(await auditor.entries.next())
        #expect(entry.kind == "slack_uninstall_scrub")
        #expect(entry.clientID == world.clientID)
        #expect(entry.counts == DeletionCounts(["rows": 4]))
        #expect(entry.dueAt == dateFromEpochMillis(1_700_001_000_000 + 60_000))
        #expect(entry.finishedAt == SlackWorld.now.addingTimeInterval(1))
        #expect(world.jobs.isEmpty)
    }

    @Test func aScrubWithNothingToScrubIsStillOnRecord() async throws {
        let (world, _) = try await Self.world()
        let auditor = SignallingAuditor(store: world.store)
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_app_uninstalled.json"))
        #expect(await world.worker(auditor: auditor).runDueJobs() == 1)
        let entry = try #require(await auditor.entries.next())
        #expect(entry.kind == "slack_uninstall_scrub")
        #expect(entry.clientID == world.clientID)
        #expect(entry.counts.isEmpty)
    }

    /// A worker that stalled past its lease (a paused process) resumes after another took its scrub over and
    /// finished it: it records nothing, so the other's entry, with every row, stays the only one. (A review found a
    /// second, newer entry saying no row was scrubbed.)
    @Test func aScrubAnotherWorkerTookOverAndFinishedIsNotRecordedAgain() async throws {
        let (world, _) = try await Self.world()
        for ts in ["1.1", "1.2", "1.3"] { try await world.storeCaptured(ts: ts) }
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_app_uninstalled.json"))
        world.clock.advance(by: 1)
        let stalled = try #require(try await world.claim().first)
        world.clock.advance(by: Double(SlackJobWorker.lease) / 1000 + 1)
        let takenOver = try #require(try await world.claim().first)
        #expect(takenOver.id == stalled.id)
        #expect(await world.runner().run(takenOver) == .finished)

        #expect(await world.runner().run(stalled) == .finished)

        let entries = try await world.store.auditEntries(clientID: world.clientID, limit: 10)
        #expect(entries.map(\.kind) == ["slack_uninstall_scrub"])
        #expect(entries.first?.counts == DeletionCounts(["rows": 3]))
    }

    // MARK: Revoke

    @Test func aRevokeJobRevokesTheSealedTokenAndEnds() async throws {
        let (world, api) = try await Self.world()
        let installation = try #require(try await world.store.activeInstallation(team: "T0001"))
        #expect(try await world.store.handOverTokens(clientID: world.clientID, at: world.nowMillis) == 1)
        #expect(world.jobs.only?.work == .revoke(RevokeJob(envelope: try #require(installation.tokenEnvelope))))

        #expect(await world.worker().runDueJobs() == 1)

        #expect(api.calls.map(\.method) == ["auth.revoke"])
        #expect(world.jobs.isEmpty)
    }
}

/// A job whose bot token was sealed under a key this instance does not have (a replica started with another
/// `USERO_TOKEN_KEY`): left, without an attempt used, for an instance that has the key.
@Suite struct UnknownTokenKeyTests {
    @Test func aCaptureThisInstanceCannotOpenTheTokenOfIsLeftForOneThatCan() async throws {
        let (world, api) = try await SlackJobRunnerJobTests.world()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))
        let otherKey = KeyRing(current: try TokenKey(try SecretBytes.random(count: 32)))
        let replica = SlackJobRunner(
            store: world.store, auditor: world.store, api: api, keyRing: otherKey, clock: world.clock,
            logger: world.logger, wakeup: world.wakeup)

        // Taken by the replica again and again: never given up, no attempt used, nothing asked of Slack
        for _ in 0..<20 {
            let job = try #require(try await world.claim().first)
            #expect(await replica.run(job) == .retryLater)
            let left = try #require(world.jobs.only)
            #expect(left.attempts == 0)
            #expect(left.runAt == world.nowMillis + SlackJobRunner.unknownKeyDelay)
            world.clock.advance(by: Double(SlackJobRunner.unknownKeyDelay) / 1000)
        }
        #expect(api.calls.isEmpty)
        #expect(world.items.isEmpty)

        // An instance with the key captures it
        #expect(try await SlackJobRunnerJobTests.runOne(world) == .finished)
        #expect(world.items.only?.draft.comment == "Export to CSV times out")
    }

    /// Left for another instance for a day at most: past that, the job uses up its attempts as any failing job does,
    /// and the forwarder hears that Slack could not be reached, instead of the job waiting in the queue for ever.
    @Test func aCaptureNoInstanceCouldOpenTheTokenOfForADayEndsAndTellsTheForwarder() async throws {
        let (world, api) = try await SlackJobRunnerJobTests.world()
        try await world.store.enqueue(world.newJob(SlackJobRunnerJobTests.capture))
        let replica = SlackJobRunner(
            store: world.store, auditor: world.store, api: api,
            keyRing: KeyRing(current: try TokenKey(try SecretBytes.random(count: 32))), clock: world.clock,
            logger: world.logger, wakeup: world.wakeup)
        world.clock.advance(by: Double(SlackJobRunner.rateLimitedGiveUpAge) / 1000)

        for attempt in 1...SlackJobRunner.maxAttempts(.captureReaction) {
            let job = try #require(try await world.claim().first)
            #expect(await replica.run(job) == (attempt < 8 ? .retryLater : .finished), "attempt \(attempt)")
            world.clock.advance(by: 300)
        }
        #expect(api.calls.isEmpty)
        #expect(world.items.isEmpty)
        #expect(world.jobs.only?.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "slack_unavailable")))
    }

    /// The worker of a replica started with another `USERO_TOKEN_KEY`, sharing the world's store.
    static func workerWithAnotherKey(_ world: SlackWorld, _ api: FakeSlackWebAPI) throws -> SlackJobWorker {
        SlackJobWorker(
            runner: SlackJobRunner(
                store: world.store, auditor: world.store, api: api,
                keyRing: KeyRing(current: try TokenKey(try SecretBytes.random(count: 32))), clock: world.clock,
                logger: world.logger, wakeup: world.wakeup),
            store: world.store, clock: world.clock, pollInterval: .seconds(3600), wakeup: world.wakeup,
            logger: world.logger)
    }

    /// The worker of an instance without the key does not even take the job: its claim passes it over, for a day,
    /// and so does the instant it next wakes for (no spin on a job it cannot run).
    @Test func aWorkerWithoutTheKeyPassesTheWorkspacesJobsOverForADay() async throws {
        let (world, api) = try await SlackJobRunnerJobTests.world()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))
        let replica = try Self.workerWithAnotherKey(world, api)

        #expect(await replica.runDueJobs() == 0)
        let filter = replica.keyFilter(now: world.nowMillis)
        #expect(try await world.store.nextJobDueAt(now: world.nowMillis, kinds: filter.kinds, passingOver: filter) == nil)
        #expect(world.jobs.only?.attempts == 0)
        #expect(api.calls.isEmpty)

        // An instance with the key captures it.
        #expect(await world.worker().runDueJobs() == 2, "the capture and its notice")
        #expect(world.items.only?.draft.comment == "Export to CSV times out")
    }

    @Test func aJobNoInstanceWithTheKeyTookForADayIsTakenAndFailsAsAnyOther() async throws {
        let (world, api) = try await SlackJobRunnerJobTests.world()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))
        let replica = try Self.workerWithAnotherKey(world, api)
        world.clock.advance(by: Double(SlackJobRunner.rateLimitedGiveUpAge) / 1000 - 1)
        #expect(await replica.runDueJobs() == 0)
        world.clock.advance(by: 1)
        #expect(await replica.runDueJobs() == 1)
        #expect(world.jobs.only?.attempts == 1, "an attempt used, as for any job that fails")
        #expect(api.calls.isEmpty)
    }

    @Test func aClosedAccountsRevokeIsLeftForAnInstanceWithItsKey() async throws {
        let (world, api) = try await SlackJobRunnerJobTests.world()
        let envelope = try world.keyRing.seal(Array("xoxb-closed".utf8), associatedData: Array(SlackWorld.team.utf8))
        // Closed: the installation gone (a revocation of a workspace installed again is skipped).
        #expect(try await world.store.handOverTokens(clientID: world.clientID, at: world.nowMillis) == 1)
        for job in world.jobs { #expect(try await world.store.finishJob(job, then: nil)) }
        try await world.store.enqueue(world.newJob(.revoke(RevokeJob(envelope: envelope))))
        let replica = SlackJobRunner(
            store: world.store, auditor: world.store,
            api: api, keyRing: KeyRing(current: try TokenKey(try SecretBytes.random(count: 32))), clock: world.clock,
            logger: world.logger, wakeup: world.wakeup)

        let job = try #require(try await world.claim().first)
        #expect(await replica.run(job) == .retryLater)
        #expect(world.jobs.only?.attempts == 0)
        world.clock.advance(by: Double(SlackJobRunner.unknownKeyDelay) / 1000)
        #expect(try await SlackJobRunnerJobTests.runOne(world) == .finished)
        #expect(api.calls.map(\.method) == ["auth.revoke"])
        #expect(world.jobs.isEmpty)
    }
}
