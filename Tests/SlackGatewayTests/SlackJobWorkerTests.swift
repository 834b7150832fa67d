import Feedback
import Foundation
import Logging
import ServiceLifecycle
@testable import SlackGateway
import Testing
import UseroTestSupport

/// The worker as the service runs it, against a Slack whose calls hang until the test lets them go: every step is
/// awaited as an event (a call arriving, an audit entry landing), never slept for.
@Suite(.timeLimit(.minutes(1))) struct SlackJobWorkerTests {
    /// Runs `worker` as a service while `body` runs, then shuts it down gracefully and waits until it returned
    /// (which it does only once the jobs in hand have finished).
    static func withRunning(_ worker: SlackJobWorker, _ body: () async throws -> Void) async throws {
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do { try await body() } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func notice(_ user: String) -> SlackJob.Work {
        .notify(NotifyJob(channel: "C0001", user: user, outcome: "captured"))
    }

    /// T0001 for the world's client and T0002 for another.
    static func twoWorkspaces(_ api: GatedSlackWebAPI) async throws -> (SlackWorld, other: String) {
        let world = try await SlackWorld(api: api)
        let other = try await world.store.createClient(name: "Other", plan: .free, allowedOrigins: [], at: SlackWorld.now).0.id
        try await world.install(team: "T0002", clientID: other, botUser: "U0109", botId: "B0101")
        return (world, other)
    }

    /// An instance killed while it ran a workspace's Slack call leaves that job leased, and the lane runs nothing
    /// else of that workspace meanwhile: another instance takes both over once the lease, no longer renewed, ends
    /// (15 s; it was a minute, a minute's stall of that workspace's captures).
    @Test func aJobOfAnInstanceThatDiedIsTakenOverWhenItsLeaseEnds() async throws {
        let world = try await SlackWorld(api: FakeSlackWebAPI())
        try await world.store.enqueue(world.newJob(Self.notice("U1")))
        try await world.store.enqueue(world.newJob(Self.notice("U2")))
        // The dead instance's claim, as its worker makes it: the first notice, leased.
        let held = try await world.store.claimDueJobs(now: world.nowMillis, lanes: SlackJobWorker.claimLanes)
        #expect(held.count == 1)
        #expect(SlackJobWorker.lease == 15_000)

        world.clock.advance(by: 14.999)
        #expect(try await world.store.claimDueJobs(now: world.nowMillis, lanes: SlackJobWorker.claimLanes).isEmpty)
        world.clock.advance(by: 0.001)
        let taken = try await world.store.claimDueJobs(now: world.nowMillis, lanes: SlackJobWorker.claimLanes)
        #expect(taken.map(\.id) == held.map(\.id))
    }

    /// A job still running when its lease would end keeps it: its worker renews the leases of the jobs in hand (a
    /// third of a lease apart), so another instance does not take over a Slack call that is merely slow. Once the
    /// job ends, nothing is renewed.
    @Test func aJobStillRunningKeepsItsLeaseWhileItsWorkerRenewsIt() async throws {
        let api = GatedSlackWebAPI()
        let world = try await SlackWorld(api: api)
        try await world.store.enqueue(world.newJob(Self.notice("A1")))
        var events = api.events.makeAsyncIterator()
        let worker = world.worker()

        try await Self.withRunning(worker) {
            #expect(await events.next() == .entered("A1"))
            world.clock.advance(by: 10)
            await worker.renewLeases()
            world.clock.advance(by: 10)  // 20 s after the claim: past its first lease, within the renewed one
            #expect(try await world.claim().isEmpty)
            world.clock.advance(by: 5.001)  // past the renewed lease too: a worker that stopped renewing loses it
            let taken = try await world.store.claimDueJobs(now: world.nowMillis, lanes: SlackJobWorker.claimLanes)
            #expect(taken.count == 1)
            api.release("A1")
            #expect(await events.next() == .released("A1"))
        }
        #expect(worker.inHand.withLock { $0.isEmpty })
    }

    /// A job another instance leaves to this one (its claim passed the job over: it lacks the key of the workspace's
    /// token) wakes the worker at once, not at its next poll (an hour here).
    @Test func aJobAnotherInstanceLeavesWakesTheWorkerAtOnce() async throws {
        let api = GatedSlackWebAPI()
        let world = try await SlackWorld(api: api)
        var events = api.events.makeAsyncIterator()

        try await Self.withRunning(world.worker()) {
            // Listening (woken once as it started) and asleep again: a worker that never listens fails here, not
            // by spinning until the run's own limit.
            let deadline = ContinuousClock.now + .seconds(20)
            while world.store.jobsLeftListenerCount == 0 || !world.wakeup.hasWaiter {
                try #require(ContinuousClock.now < deadline, "the worker never listened, or never went back to sleep")
                await Task.yield()
            }
            // Queued by another instance, which passed it over: nothing wakes this worker but the announcement.
            try await world.store.enqueue(world.newJob(Self.notice("A1")))
            #expect(!world.wakeup.hasPendingSignal)
            world.store.announceJobsLeft()
            #expect(await events.next() == .entered("A1"))
            api.release("A1")
        }
        #expect(world.jobs.isEmpty)
    }

    @Test func eachWorkspaceRunsOneJobAtATimeAndWorkspacesRunInParallel() async throws {
        let api = GatedSlackWebAPI()
        let (world, other) = try await Self.twoWorkspaces(api)
        try await world.store.enqueue(world.newJob(Self.notice("A1")))
        try await world.store.enqueue(world.newJob(Self.notice("A2")))
        try await world.store.enqueue(world.newJob(Self.notice("B1"), team: "T0002", clientID: other))
        var events = api.events.makeAsyncIterator()

        try await Self.withRunning(world.worker()) {
            // Both workspaces' first calls are in Slack at the same time…
            let first = [await events.next(), await events.next()]
            #expect(Set(first) == [.entered("A1"), .entered("B1")])
            // …while T0001's second job waits for its lane: nothing of either workspace can be claimed now.
            let claimable = try await world.claim()
            #expect(claimable.isEmpty)

            // When A1 returns, A2 follows at once (no poll interval: the worker's poll is an hour).
            api.release("A1")
            #expect(await events.next() == .released("A1"))
            #expect(await events.next() == .entered("A2"))
            api.release("B1")
            api.release("A2")
        }

        #expect(world.jobs.isEmpty)
        let log = api.log
        #expect(log.count == 6)
        // A2 never started before A1 was let go.
        let releasedA1 = try #require(log.firstIndex(of: .released("A1")))
        let enteredA2 = try #require(log.firstIndex(of: .entered("A2")))
        #expect(releasedA1 < enteredA2)
    }

    /// What the service sends on its own (a Home tab, a post) has its own lane: while a workspace's `views.publish`
    /// hangs, that workspace's notice to a forwarder still goes out, and the other way round.
    @Test func aHangingHomeTabPublishNeverHoldsAForwardersNoticeOfTheSameWorkspace() async throws {
        let api = GatedSlackWebAPI()
        let world = try await SlackWorld(api: api)
        try await world.store.enqueue(world.newJob(.publishHome(PublishHomeJob(user: "H1"))))
        try await world.store.enqueue(world.newJob(Self.notice("A1")))
        var events = api.events.makeAsyncIterator()

        try await Self.withRunning(world.worker()) {
            // Both calls are in Slack at the same time: neither waited for the other's lane.
            let entered = [await events.next(), await events.next()]
            #expect(Set(entered) == [.entered("H1"), .entered("A1")])
            api.release("H1")
            api.release("A1")
        }
        #expect(world.jobs.isEmpty)
    }

    @Test func aShutdownWaitsForHangingSlackCallsOnlyUpToTheDrainBoundAndHandsTheirJobsBack() async throws {
        // Given a Slack that accepts a call of each workspace and never answers
        let api = GatedSlackWebAPI(honoursCancellation: true)
        let (world, other) = try await Self.twoWorkspaces(api)
        try await world.store.enqueue(world.newJob(Self.notice("A1")))
        try await world.store.enqueue(world.newJob(Self.notice("B1"), team: "T0002", clientID: other))
        var events = api.events.makeAsyncIterator()
        let worker = SlackJobWorker(
            runner: world.runner(auditor: nil), store: world.store, clock: world.clock, pollInterval: .seconds(3600),
            wakeup: world.wakeup, logger: world.logger, drainTimeout: .milliseconds(200))

        // When the service is told to stop while both calls hang, the worker returns (before the bound it
        // waited for ever: the suite's time limit would fail this test)
        try await Self.withRunning(worker) {
            let entered = [await events.next(), await events.next()]
            #expect(Set(entered) == [.entered("A1"), .entered("B1")])
        }

        // Then both jobs are handed back: due again at once, not held by their five-minute lease
        let claimable = try await world.claim()
        #expect(Set(claimable.compactMap(\.teamId)) == ["T0001", "T0002"])
        #expect(api.log.allSatisfy { if case .entered = $0 { true } else { false } })
    }

    @Test(arguments: ["T0002", "T0001"])
    func anUninstallScrubIsNeverHeldBehindASlackCallThatHangs(uninstalled team: String) async throws {
        // Given a Slack call for T0001 that hangs, and captured rows of the workspace about to uninstall
        let api = GatedSlackWebAPI()
        let (world, other) = try await Self.twoWorkspaces(api)
        let owner = team == "T0001" ? world.clientID : other
        for ts in ["1.1", "1.2"] { try await world.storeCaptured(team: team, clientID: owner, ts: ts) }
        try await world.store.enqueue(world.newJob(Self.notice("A1")))
        let auditor = SignallingAuditor(store: world.store)
        var events = api.events.makeAsyncIterator()

        try await Self.withRunning(world.worker(auditor: auditor)) {
            #expect(await events.next() == .entered("A1"))

            // When the workspace uninstalls while that call hangs
            _ = try await world.ingest.receiveEvent(
                try Fixtures.event(
                    "event_app_uninstalled.json",
                    top: ["team_id": team, "authorizations": [["team_id": team]], "event_id": "Ev-\(team)"]))

            // Then the scrub finishes and is on record while the call is still in Slack
            let entry = try #require(await auditor.entries.next())
            #expect(entry.kind == "slack_uninstall_scrub")
            #expect(entry.clientID == owner)
            #expect(entry.counts == DeletionCounts(["rows": 2]))
            #expect(world.items.filter { $0.draft.slack?.teamId == team }.allSatisfy { $0.draft.slack?.authorId == nil })
            #expect(api.log == [.entered("A1")])
            api.release("A1")
        }

        #expect(world.jobs.isEmpty)
    }

    /// An instance that died in the middle of a workspace's scrub: the instance that takes the job over records in
    /// the audit log every row that lost its ids, the first run's too (before: only its own).
    @Test func aScrubTakenOverRecordsEveryRowThatLostItsIds() async throws {
        let world = try await SlackWorld(api: FakeSlackWebAPI())
        for ts in ["1.1", "1.2", "1.3"] { try await world.storeCaptured(team: "T0001", clientID: world.clientID, ts: ts) }
        _ = try await world.ingest.receiveEvent(
            try Fixtures.event(
                "event_app_uninstalled.json",
                top: ["team_id": "T0001", "authorizations": [["team_id": "T0001"]], "event_id": "Ev-1"]))
        // The dead instance claimed the scrub and finished one batch of one row.
        let held = try #require(
            try await world.store.claimDueJobs(now: world.nowMillis, lanes: SlackJobWorker.claimLanes).first)
        #expect(try await world.store.scrubAuthors(team: "T0001", after: 0, limit: 1, job: held.id).changed == 1)

        world.clock.advance(by: Double(SlackJobWorker.lease) / 1000)  // its lease ran out
        let auditor = SignallingAuditor(store: world.store)
        #expect(await world.worker(auditor: auditor).runDueJobs() == 1)

        let entry = try #require(await auditor.entries.next())
        #expect(entry.kind == "slack_uninstall_scrub")
        #expect(entry.counts == DeletionCounts(["rows": 3]))
        #expect(world.jobs.isEmpty)
    }

    /// An `app_uninstalled` for a workspace no client installed (signed, so from Slack, for an app installed
    /// elsewhere or long gone): nothing to scrub, and no audit entry without a client, which nobody could read.
    @Test func anUninstallOfAWorkspaceNeverInstalledLeavesNoAuditEntry() async throws {
        let world = try await SlackWorld(api: FakeSlackWebAPI())
        _ = try await world.ingest.receiveEvent(
            try Fixtures.event(
                "event_app_uninstalled.json",
                top: ["team_id": "T0STRANGER", "authorizations": [["team_id": "T0STRANGER"]], "event_id": "Ev-s"]))
        #expect(await world.worker().runDueJobs() == 1)
        #expect(world.jobs.isEmpty)
        #expect(world.store.withState { $0.audit.isEmpty })
    }

    @Test func runDueJobsRunsEverythingDueLaneByLane() async throws {
        let (world, api) = try await SlackJobRunnerJobTests.world()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))

        // The capture, then the notice it enqueued.
        #expect(await world.worker().runDueJobs() == 2)

        #expect(world.items.count == 1)
        // The message and its permalink are asked for at once, so either may arrive first.
        #expect(api.calls.prefix(2).map(\.method).sorted() == ["chat.getPermalink", "conversations.replies"])
        #expect(api.calls.map(\.method).last == "chat.postEphemeral")
        #expect(world.jobs.isEmpty)
    }
}
