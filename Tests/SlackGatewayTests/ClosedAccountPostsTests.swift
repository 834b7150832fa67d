import Feedback
import Foundation
@testable import SlackGateway
import Testing
import UseroCrypto
import UseroTestSupport

/// A closed account's posts to its workspace's notify channel: deleted as its items are (a post lives no longer than
/// its item), with the token the closure handed over, and only then is the token revoked.
@Suite struct ClosedAccountPostsTests {
    /// The world with two of the client's items posted to its channel, and the account's token handed over.
    static func closedWithTwoPosts(_ api: FakeSlackWebAPI, key: TokenKey? = nil) async throws -> SlackWorld {
        let world = try await SlackWorld(api: api, key: key)
        for ts in ["1800000000.000001", "1800000000.000002"] {
            let item = try await world.storeCaptured(ts: ts)
            #expect(try await world.store.recordPost(
                PostedMessage(feedbackId: item.id, clientId: world.clientID, teamId: SlackWorld.team, channel: "C0777", ts: ts),
                at: world.nowMillis))
        }
        #expect(try await world.store.handOverTokens(clientID: world.clientID, at: world.nowMillis) == 1)
        return world
    }

    @Test func theAccountsPostsAreDeletedWithItsTokenAndThenItIsRevoked() async throws {
        let api = FakeSlackWebAPI()
        let world = try await Self.closedWithTwoPosts(api)
        #expect(try await world.store.activeInstallation(team: SlackWorld.team) == nil)

        #expect(await world.worker().runDueJobs() == 3)

        #expect(api.calls.map(\.method) == ["chat.delete", "chat.delete", "auth.revoke"])
        #expect(Set(api.calls.filter { $0.method == "chat.delete" }.map(\.text)) == ["1800000000.000001", "1800000000.000002"])
        #expect(api.calls.filter { $0.method == "chat.delete" }.allSatisfy { $0.channel == "C0777" })
        #expect(world.jobs.isEmpty)
    }

    /// Slack holds a deletion back (429): the revocation, due before it now, waits for it instead of leaving the
    /// post without a token to delete it with.
    @Test func theRevocationWaitsForADeletionSlackHeldBack() async throws {
        let api = FakeSlackWebAPI()
        let world = try await Self.closedWithTwoPosts(api)
        api.fail("chat.delete", with: .rateLimited(retryAfter: 60))

        _ = await world.worker().runDueJobs()
        #expect(!api.calls.contains { $0.method == "auth.revoke" })
        let revoke = try #require(world.jobs.first { $0.kind == .revoke })
        #expect(revoke.attempts == 0)
        #expect(revoke.runAt == world.nowMillis + SlackJobRunner.revokeAwaitDelay)

        // Slack's minute over: the deletions go (the revocation, due first, looked again and waits its 30 s more).
        world.clock.advance(by: 61)
        _ = await world.worker().runDueJobs()
        #expect(api.calls.map(\.method).suffix(2) == ["chat.delete", "chat.delete"])
        await Self.expectRevokedAfterItsWait(world, api)
    }

    /// The deletions done, the revocation, which found them waiting, comes at its next look and leaves nothing.
    static func expectRevokedAfterItsWait(_ world: SlackWorld, _ api: FakeSlackWebAPI) async {
        #expect(world.jobs.map(\.kind) == [.revoke])
        world.clock.advance(by: TimeInterval(SlackJobRunner.revokeAwaitDelay / 1000))
        _ = await world.worker().runDueJobs()
        #expect(api.calls.last?.method == "auth.revoke")
        #expect(world.jobs.isEmpty)
    }

    /// The wait has an end: a deletion keeps trying for a day, and the revocation does not outwait that.
    @Test func theRevocationWaitsNoLongerThanADeletionKeepsTrying() async throws {
        let api = FakeSlackWebAPI()
        let world = try await SlackWorld(api: api)
        let envelope = try #require(try await world.store.activeInstallation(team: SlackWorld.team)?.tokenEnvelope)
        // Closed longer ago than the wait's limit (its revocation queued then), a deletion still due later.
        let longAgo = world.nowMillis - SlackJobRunner.revokeAwaitLimit - 1
        #expect(try await world.store.handOverTokens(clientID: world.clientID, at: longAgo) == 1)
        try await world.store.enqueue(
            world.newJob(.unpost(UnpostJob(channel: "C0777", ts: "1800000000.000001", envelope: envelope)))
                .runningAt(world.nowMillis + 3_600_000))

        _ = await world.worker().runDueJobs()
        #expect(api.calls.map(\.method) == ["auth.revoke"])
        #expect(world.jobs.only?.kind == .unpost)
    }

    /// The workspace installed again before the revocation ran (by the project the admin moved to): Slack gives the
    /// app one bot token per workspace, so revoking the closed account's token would uninstall the new installation.
    /// It is not revoked.
    @Test func aWorkspaceInstalledAgainMeanwhileKeepsItsToken() async throws {
        let api = FakeSlackWebAPI()
        let world = try await Self.closedWithTwoPosts(api)
        let newProject = try await world.store.createClient(name: "New", plan: .free, allowedOrigins: [], at: SlackWorld.now).0.id
        try await world.install(team: SlackWorld.team, clientID: newProject)

        _ = await world.worker().runDueJobs()
        #expect(api.calls.map(\.method) == ["chat.delete", "chat.delete"])
        #expect(world.jobs.isEmpty)
        #expect(try await world.store.activeInstallation(team: SlackWorld.team)?.clientId == newProject)
    }

    /// `invalid_auth` may mean the server is outside the app's allowed IP ranges (see `invalidAuthGrace`): a
    /// deletion refused so tries again hourly, without using an attempt, instead of leaving its post for good.
    @Test func aDeletionRefusedWithInvalidAuthTriesAgainHourly() async throws {
        let api = FakeSlackWebAPI()
        let world = try await Self.closedWithTwoPosts(api)
        api.fail("chat.delete", with: .slack(code: "invalid_auth"))

        _ = await world.worker().runDueJobs()
        let waiting = try #require(world.jobs.first { $0.kind == .unpost })
        #expect(waiting.attempts == 0)
        #expect(waiting.runAt == world.nowMillis + SlackJobRunner.refusedRetryDelay)
        #expect(!api.calls.contains { $0.method == "auth.revoke" })  // it waits for the deletion

        world.clock.advance(by: TimeInterval(SlackJobRunner.refusedRetryDelay / 1000))
        _ = await world.worker().runDueJobs()
        #expect(api.calls.filter { $0.method == "chat.delete" }.count == 3)
        await Self.expectRevokedAfterItsWait(world, api)
    }

    /// A token Slack refuses already (the workspace uninstalled meanwhile) can delete nothing: the deletion ends
    /// without the checks a refused installation's token gets (there is no installation any more).
    @Test func aDeletionWhoseTokenSlackRefusesEndsQuietly() async throws {
        let api = FakeSlackWebAPI()
        let world = try await Self.closedWithTwoPosts(api)
        api.fail("chat.delete", with: .slack(code: "token_revoked"), .slack(code: "token_revoked"))

        #expect(await world.worker().runDueJobs() == 3)
        #expect(api.calls.map(\.method) == ["chat.delete", "chat.delete", "auth.revoke"])
        #expect(world.jobs.isEmpty)
    }

    /// `usero tokens reseal` reseals the tokens the deletions carry, as it does the revocation's: once the old key
    /// is retired, they still open.
    @Test func resealingCoversTheTokensTheDeletionsCarry() async throws {
        let old = try TokenKey(try SecretBytes.random(count: 32))
        let world = try await Self.closedWithTwoPosts(FakeSlackWebAPI(), key: old)
        let newRing = KeyRing(current: try TokenKey(try SecretBytes.random(count: 32)), previous: [old])
        let summary = try await TokenResealer(store: world.store, keyRing: newRing).resealAll()
        #expect(summary == .init(resealed: 3, alreadyCurrent: 0, failed: 0))
        for job in world.jobs {
            let envelope: [UInt8]? =
                switch job.work {
                case .unpost(let post): post.envelope
                case .revoke(let revoke): revoke.envelope
                default: nil
                }
            #expect(try KeyRing.keyID(ofEnvelope: try #require(envelope)) == newRing.currentKeyID)
        }
    }
}

extension NewSlackJob {
    /// The job, due (and queued) at `millis`.
    func runningAt(_ millis: Int64) -> NewSlackJob {
        var job = self
        job.runAt = millis
        return job
    }
}
