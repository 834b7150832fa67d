import Feedback
import Foundation
import Retention
@testable import SlackGateway
import Testing
import UseroCrypto
import UseroTestSupport

/// The daily check of every workspace's token: how an uninstall whose `app_uninstalled` never reached usero (Slack
/// retries an event for a few minutes, and a workspace's traffic stops with its uninstall) is still found, and its
/// promise kept, within a day.
@Suite struct SlackTokenCheckTests {
    static let day: TimeInterval = 86_400

    /// The worker's beat queues a check once the token has gone a day unchecked (its install counts as a check),
    /// not again while one is queued, and the next one a day after the last.
    @Test func theWorkersBeatQueuesACheckOfEachTokenOnceADay() async throws {
        let api = FakeSlackWebAPI()
        let world = try await SlackWorld(api: api)
        let worker = world.worker()
        func checks() -> [SlackJob] { world.jobs.filter { $0.kind == .checkToken } }

        await worker.heartbeat()
        world.clock.advance(by: Self.day - 60)
        await worker.heartbeat()
        #expect(checks().isEmpty)  // installed less than a day ago

        world.clock.advance(by: 61)
        await worker.heartbeat()
        let check = try #require(checks().only)
        #expect(check.teamId == SlackWorld.team && check.clientId == world.clientID)
        #expect(check.runAt == world.nowMillis)
        #expect(world.wakeup.hasPendingSignal)
        world.clock.advance(by: 30)
        await worker.heartbeat()
        #expect(checks().count == 1)  // queued already

        // (The beats a day apart read as a downtime, and queue a recovery sweep too.)
        #expect(await worker.runDueJobs() >= 1)
        #expect(api.calls.filter { $0.method == "auth.test" }.count == 1)
        #expect(checks().isEmpty)
        world.clock.advance(by: Self.day - 60)
        await worker.heartbeat()
        #expect(checks().isEmpty)
        world.clock.advance(by: 60)
        await worker.heartbeat()
        #expect(checks().count == 1)
    }

    /// Slack accepts the token: nothing changes, and a refusal recorded before (`invalid_auth` from a server outside
    /// the app's IP ranges, mended since) is over.
    @Test func aCheckSlackAcceptsChangesNothingAndEndsARecordedRefusal() async throws {
        let api = FakeSlackWebAPI()
        let world = try await SlackWorld(api: api)
        let envelope = try #require(try await world.store.activeInstallation(team: SlackWorld.team)?.tokenEnvelope)
        _ = try await world.store.noteTokenRefusal(
            team: SlackWorld.team, envelope: envelope, at: world.nowMillis, continuingWithin: SlackJobRunner.refusalGap)
        #expect(world.store.withState { $0.tokenRefusals[SlackWorld.team] } != nil)
        try await world.store.enqueue(world.newJob(.checkToken(CheckTokenJob())))

        #expect(await world.worker().runDueJobs() == 1)

        #expect(api.calls.map(\.method) == ["auth.test"])
        #expect(try await world.store.activeInstallation(team: SlackWorld.team)?.tokenEnvelope == envelope)
        #expect(world.store.withState { $0.tokenRefusals[SlackWorld.team] } == nil)
        #expect(world.jobs.isEmpty)
    }

    /// Slack refuses the token for good: the workspace uninstalled while usero could not hear it. It is treated as
    /// the event would have treated it: token deleted, the author ids scrubbed within 60 s
    /// of the check, the text kept.
    @Test(arguments: ["token_revoked", "account_inactive"])
    func aCheckSlackRefusesIsTheUninstallItsEventWouldHaveBeen(code: String) async throws {
        let api = FakeSlackWebAPI()
        let world = try await SlackWorld(api: api)
        let captured = try await world.storeCaptured(ts: "1690000000.000100")
        try await world.store.enqueue(world.newJob(.checkToken(CheckTokenJob())))
        api.fail("auth.test", with: .slack(code: code), .slack(code: code))
        let checked = world.nowMillis

        #expect(await world.worker().runDueJobs() >= 2, "the check and the scrub")

        #expect(try await world.store.activeInstallation(team: SlackWorld.team) == nil)
        #expect(world.store.withState { $0.tombstones[SlackWorld.team] } == .some(.some(world.clientID)))
        #expect(world.jobs.isEmpty)
        let row = try #require(world.items.first { $0.id == captured.id })
        #expect(row.draft.slack?.authorId == nil && row.draft.slack?.forwardedBy == nil)
        #expect(row.draft.comment == captured.draft.comment)
        let scrub = try #require(world.store.withState { $0.audit.map(\.entry) }.only)
        #expect(scrub.kind == "slack_uninstall_scrub")
        #expect(scrub.dueAt.map(epochMillis) == checked + 60_000)
        #expect(api.calls.map(\.method) == ["auth.test", "auth.test"])  // the check, and the runner's confirmation
    }

    /// `invalid_auth` may be the app's IP ranges leaving this server out: the check comes back hourly, using no
    /// attempt, and the workspace stays installed until the refusals have lasted `invalidAuthGrace`.
    @Test func aCheckRefusedWithInvalidAuthComesBackHourlyAndUninstallsNothingYet() async throws {
        let api = FakeSlackWebAPI()
        let world = try await SlackWorld(api: api)
        try await world.store.enqueue(world.newJob(.checkToken(CheckTokenJob())))
        api.fail("auth.test", with: .slack(code: "invalid_auth"), .slack(code: "invalid_auth"))

        #expect(await world.worker().runDueJobs() == 1)

        #expect(try await world.store.activeInstallation(team: SlackWorld.team) != nil)
        let retry = try #require(world.jobs.only)
        #expect(retry.kind == .checkToken)
        #expect(retry.runAt == world.nowMillis + SlackJobRunner.refusedRetryDelay)
        #expect(retry.attempts == 0)
    }

    /// A check of a workspace uninstalled or revoked since it was queued calls nothing and ends.
    @Test func aCheckOfAWorkspaceGoneSinceEndsWithoutACall() async throws {
        let api = FakeSlackWebAPI()
        let world = try await SlackWorld(api: api)
        try await world.store.enqueue(world.newJob(.checkToken(CheckTokenJob())))
        try await world.store.acceptTokensRevoked(
            team: SlackWorld.team, eventId: "Ev1", botUserIds: [SlackWorld.botUser], at: world.nowMillis,
            retriedEventAt: nil)
        #expect(try await world.store.activeInstallation(team: SlackWorld.team)?.tokenEnvelope == nil)

        #expect(await world.worker().runDueJobs() == 1)
        #expect(api.calls.isEmpty)
        #expect(world.jobs.isEmpty)
    }
}

extension SlackTokenCheckTests {
    /// A check Slack refuses once and then accepts (its second `auth.test`) is a moment's refusal: the workspace
    /// stays, nothing is said to be dropped, and the check ends (the next one comes in a day).
    @Test func aCheckRefusedOnceThenAcceptedEndsWithoutTheDroppedWorkWarning() async throws {
        let api = FakeSlackWebAPI()
        let logs = CapturedLogs()
        let world = try await SlackWorld(api: api, logger: logs.logger())
        try await world.store.enqueue(world.newJob(.checkToken(CheckTokenJob())))
        api.fail("auth.test", with: .slack(code: "token_revoked"))

        #expect(await world.worker().runDueJobs() == 1)

        #expect(try await world.store.activeInstallation(team: SlackWorld.team)?.tokenEnvelope != nil)
        #expect(world.jobs.isEmpty)
        #expect(logs.text.contains("refused this workspace's token once, then accepted it"))
        #expect(!logs.text.contains("dropped until usero is installed again"))
    }
}
