import Feedback
import Foundation
import SlackGateway
import Testing

/// `SlackStore`'s contracts, on every backend.
@Suite struct SlackStoreConformanceTests {
    typealias S = StoreUnderTest
    static let t0 = StoreUnderTest.t0Millis

    // MARK: Installations

    @Test(arguments: StoreFactories.available)
    func installationsAreSavedReplacedAndTombstonesLifted(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let first = try await s.client()
        let second = try await s.client()

        try await s.install(team: "T1", client: first)
        #expect(try await s.slack.activeInstallation(team: "T1")?.fields == s.installation(team: "T1", client: first).fields)
        #expect(try await s.slack.installation(client: first)?.teamId == "T1")
        #expect(try await s.slack.activeInstallation(team: "T2") == nil)

        // A reinstall for the same client replaces the workspace's installation.
        try await s.install(team: "T1", client: first, envelope: [9, 9], at: Self.t0 + 5)
        #expect(try await s.slack.activeInstallation(team: "T1")?.fields
            == s.installation(team: "T1", client: first, envelope: [9, 9], at: Self.t0 + 5).fields)

        // Another client cannot take the workspace while it is installed: nothing changes.
        #expect(try await s.slack.saveInstallation(s.installation(team: "T1", client: second, at: Self.t0 + 6))
            == .ownedByAnotherClient)
        #expect(try await s.slack.activeInstallation(team: "T1")?.clientId == first)
        #expect(try await s.slack.installation(client: second) == nil)

        // Uninstalled: tombstoned and gone; installing again (for any client) lifts the tombstone.
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "E1", at: Self.t0 + 10, deadline: Self.t0 + 70))
        #expect(try await s.slack.activeInstallation(team: "T1") == nil)
        #expect(try await s.slack.installation(client: first) == nil)
        try await s.install(team: "T1", client: second, at: Self.t0 + 20)
        #expect(try await s.slack.activeInstallation(team: "T1")?.installedAt == Self.t0 + 20)
        #expect(try await s.slack.activeInstallation(team: "T1")?.clientId == second)
    }

    /// A project is connected to one workspace at a time: the admin API shows one installation, its settings and its
    /// notifications. Another workspace's install is refused, naming the connected one, until that is uninstalled.
    @Test(arguments: StoreFactories.available)
    func aClientHasOneWorkspaceAtATime(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client, at: Self.t0)
        #expect(try await s.slack.saveInstallation(s.installation(team: "T2", client: client, at: Self.t0 + 1))
            == .clientHasAnotherWorkspace(teamName: "Team T1"))
        #expect(try await s.slack.activeInstallation(team: "T2") == nil)
        #expect(try await s.slack.installation(client: client)?.teamId == "T1")
        // Its own workspace installs again as before.
        try await s.install(team: "T1", client: client, at: Self.t0 + 2)

        // Once T1 is uninstalled, T2 is the client's workspace.
        _ = try await s.slack.acceptUninstall(team: "T1", eventId: "E1", at: Self.t0 + 3, deadline: Self.t0 + 63_000)
        try await s.install(team: "T2", client: client, at: Self.t0 + 4)
        #expect(try await s.slack.installation(client: client)?.teamId == "T2")
    }

    @Test(arguments: StoreFactories.available)
    func sealedInstallationsAreThoseStillHoldingAToken(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T2", client: client, envelope: nil)
        try await s.install(team: "T1", client: client)
        try await s.install(team: "T3", client: try await s.client())
        try await s.slack.acceptTokensRevoked(team: "T3", eventId: "E3", botUserIds: ["UT3BOT"], at: Self.t0)
        #expect(try await s.slack.sealedInstallations().map(\.teamId) == ["T1"])
    }

    @Test(arguments: StoreFactories.available)
    func replacingATokenEnvelopeSwapsOnlyWhileItHoldsTheExpectedOne(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client, envelope: [1, 2, 3])

        #expect(try await s.slack.replaceTokenEnvelope(team: "T1", expected: [7, 7], with: [4, 5], keyId: "k2") == false)
        #expect(try await s.slack.activeInstallation(team: "T1")?.tokenEnvelope == [1, 2, 3])

        #expect(try await s.slack.replaceTokenEnvelope(team: "T1", expected: [1, 2, 3], with: [4, 5], keyId: "k2"))
        let installation = try #require(try await s.slack.activeInstallation(team: "T1"))
        #expect(installation.tokenEnvelope == [4, 5])
        #expect(installation.tokenKeyId == "k2")
        #expect(try await s.slack.replaceTokenEnvelope(team: "T1", expected: [1, 2, 3], with: [6], keyId: "k3") == false)
        #expect(try await s.slack.replaceTokenEnvelope(team: "T9", expected: [1, 2, 3], with: [6], keyId: "k3") == false)
    }

    // MARK: OAuth states

    @Test(arguments: StoreFactories.available)
    func anOAuthStateIsConsumedOnceForItsClientWhileUnexpired(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.slack.saveOAuthState(nonce: "n1", clientID: client, expiresAt: Self.t0 + 600_000, pruneBefore: Self.t0)
        try await s.slack.saveOAuthState(nonce: "n2", clientID: client, expiresAt: Self.t0 + 600_000, pruneBefore: Self.t0)

        #expect(try await s.slack.consumeOAuthState(nonce: "n1", clientID: other, now: Self.t0) == false)
        #expect(try await s.slack.consumeOAuthState(nonce: "n1", clientID: client, now: Self.t0 + 600_000))
        #expect(try await s.slack.consumeOAuthState(nonce: "n1", clientID: client, now: Self.t0) == false)
        #expect(try await s.slack.consumeOAuthState(nonce: "n2", clientID: client, now: Self.t0 + 600_001) == false)
        #expect(try await s.slack.consumeOAuthState(nonce: "n9", clientID: client, now: Self.t0) == false)
    }

    @Test(arguments: StoreFactories.available)
    func savingAStatePrunesThoseExpiredBeforeTheGivenInstant(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.slack.saveOAuthState(nonce: "old", clientID: client, expiresAt: Self.t0 + 10, pruneBefore: 0)
        try await s.slack.saveOAuthState(nonce: "edge", clientID: client, expiresAt: Self.t0 + 20, pruneBefore: 0)
        try await s.slack.saveOAuthState(nonce: "new", clientID: client, expiresAt: Self.t0 + 600_000, pruneBefore: Self.t0 + 20)

        // Asked as of an earlier instant, a pruned state is still gone.
        #expect(try await s.slack.consumeOAuthState(nonce: "old", clientID: client, now: Self.t0) == false)
        #expect(try await s.slack.consumeOAuthState(nonce: "edge", clientID: client, now: Self.t0))
        #expect(try await s.slack.consumeOAuthState(nonce: "new", clientID: client, now: Self.t0))
    }

    // MARK: Reactions

    func reaction(_ team: String = "T1", ts: String = "1.1", user: String = "U0001", botId: String? = nil, event: String)
        -> ReactionForward
    {
        ReactionForward(team: team, channel: "C0001", ts: ts, user: user, botId: botId, eventId: event, via: .reactionWrench)
    }

    @Test(arguments: StoreFactories.available)
    func aReactionEnqueuesOneCaptureAndItsEventIdOnlyOnce(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)

        #expect(try await s.slack.acceptReaction(reaction(event: "E1"), at: Self.t0))
        #expect(try await s.slack.acceptReaction(reaction(event: "E1"), at: Self.t0 + 1) == false)

        let job = try #require(try await s.claimAll().only)
        #expect(job.work == .captureReaction(CaptureReactionJob(channel: "C0001", ts: "1.1", user: "U0001", via: "reaction:wrench")))
        #expect(job.clientId == client)
        #expect(job.teamId == "T1")
        #expect(job.runAt == Self.t0)
        #expect(job.attempts == 0)
    }

    @Test(arguments: StoreFactories.available)
    func theBotsOwnReactionIsRefusedWithoutUsingUpItsEventId(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)

        #expect(try await s.slack.acceptReaction(reaction(user: "UT1BOT", event: "E1"), at: Self.t0) == false)
        #expect(try await s.slack.acceptReaction(reaction(user: "U0005", botId: "BT1", event: "E2"), at: Self.t0) == false)
        #expect(try await s.claimAll().isEmpty)
        // Neither event id was recorded.
        #expect(try await s.slack.acceptReaction(reaction(event: "E1"), at: Self.t0))
        #expect(try await s.slack.acceptReaction(reaction(ts: "1.2", event: "E2"), at: Self.t0))
    }

    @Test(arguments: StoreFactories.available)
    func aReactionInAWorkspaceThatCannotCaptureIsRefused(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T2", client: client, envelope: nil)
        try await s.install(team: "T1", client: client)
        _ = try await s.slack.acceptUninstall(team: "T1", eventId: nil, at: Self.t0, deadline: Self.t0 + 60_000)
        let afterUninstall = try await s.claimAll(kinds: [.captureReaction, .notify])

        #expect(try await s.slack.acceptReaction(reaction("T1", event: "E1"), at: Self.t0) == false)
        #expect(try await s.slack.acceptReaction(reaction("T2", event: "E2"), at: Self.t0) == false)
        #expect(try await s.slack.acceptReaction(reaction("T3", event: "E3"), at: Self.t0) == false)
        #expect(afterUninstall.isEmpty)
        #expect(try await s.claimAll(kinds: [.captureReaction, .notify]).isEmpty)
    }

    @Test(arguments: StoreFactories.available)
    func aReactionToACapturedMessageEnqueuesOnlyTheNotice(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        _ = try await s.slack.captureForward(s.message(team: "T1", ts: "1.1"), at: S.t0, responseURL: nil)

        #expect(try await s.slack.acceptReaction(reaction(event: "E1"), at: Self.t0))

        #expect(try await s.claimAll().only?.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "already_captured")))
    }

    @Test(arguments: StoreFactories.available)
    func forgottenEventIdsAreAcceptedAgain(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        #expect(try await s.slack.acceptReaction(reaction(event: "E1"), at: Self.t0))

        try await s.slack.pruneSeenEvents(before: Self.t0)
        #expect(try await s.slack.acceptReaction(reaction(ts: "1.2", event: "E1"), at: Self.t0) == false)
        try await s.slack.pruneSeenEvents(before: Self.t0 + 1)
        #expect(try await s.slack.acceptReaction(reaction(ts: "1.2", event: "E1"), at: Self.t0 + 2))
    }

    /// Replay protection for signed requests: a delivery key stays seen until the prune's cutoff passes it, so a
    /// replay inside the window is still refused; only keys seen before the cutoff are forgotten.
    @Test(arguments: StoreFactories.available)
    func forgottenDeliveryKeysAreAcceptedAgainAndFreshOnesStaySeen(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        #expect(try await s.slack.recordDelivery("v0=old", at: Self.t0))
        #expect(try await s.slack.recordDelivery("v0=fresh", at: Self.t0 + 5))
        #expect(try await s.slack.recordDelivery("v0=old", at: Self.t0 + 1) == false)

        // Seen at the cutoff itself: not before it, still seen.
        try await s.slack.pruneSeenEvents(before: Self.t0)
        #expect(try await s.slack.recordDelivery("v0=old", at: Self.t0 + 6) == false)
        try await s.slack.pruneSeenEvents(before: Self.t0 + 1)
        #expect(try await s.slack.recordDelivery("v0=fresh", at: Self.t0 + 6) == false)
        #expect(try await s.slack.recordDelivery("v0=old", at: Self.t0 + 6))
    }

    // MARK: Uninstall and revoked tokens

    @Test(arguments: StoreFactories.available)
    func anUninstallDropsTheWorkspacesSlackCallsAndEnqueuesTheScrubOnce(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.install(team: "T2", client: other)
        let capture = SlackJob.Work.captureReaction(CaptureReactionJob(channel: "C0001", ts: "1.1", user: "U1", via: "shortcut"))
        try await s.slack.enqueue(s.job(capture, team: "T1", client: client))
        try await s.slack.enqueue(s.job(S.notice("U1"), team: "T1", client: client))
        try await s.slack.enqueue(s.job(.respond(RespondJob(responseURL: "https://hooks.slack.com/1", outcome: "captured", feedbackId: nil, channel: nil, ts: nil)), team: "T1", client: client))
        try await s.slack.enqueue(s.job(.revoke(RevokeJob(envelope: [5])), team: "T1"))
        try await s.slack.enqueue(s.job(capture, team: "T2", client: other))

        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "E9", at: Self.t0 + 1, deadline: Self.t0 + 61_000))
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "E9", at: Self.t0 + 2, deadline: Self.t0 + 62_000) == false)

        // As the worker claims: Slack calls and scrubs separately (the scrub never shares a lane with Slack calls).
        let remaining = try await s.claimAll(at: Self.t0 + 5, kinds: [.captureReaction, .notify, .respond, .revoke])
            + (try await s.claimAll(at: Self.t0 + 5, kinds: [.uninstall]))
        let kinds = remaining.map { "\($0.teamId ?? "-"):\($0.kind.rawValue)" }.sorted()
        #expect(kinds == ["T1:slack.revoke", "T1:slack.uninstall", "T2:slack.capture"])
        let scrub = try #require(remaining.first { $0.kind == .uninstall })
        #expect(scrub.work == .uninstall(UninstallJob(clientId: client)))
        #expect(scrub.clientId == nil)
        #expect(scrub.deadlineAt == Self.t0 + 61_000)
        #expect(scrub.runAt == Self.t0 + 1)
    }

    /// A token's `invalid_auth` refusals count from the first of a run without a break longer than the gap; they are
    /// forgotten when the token is accepted again, and belong to that installation only: installed again (the same
    /// token's envelope, even), it starts with none, and a workspace not installed has none to keep.
    @Test(arguments: StoreFactories.available)
    func aTokenRefusalCountsFromTheFirstOfARunWithoutABreak(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client, envelope: [1, 2, 3])
        func refused(_ at: Int64?, envelope: [UInt8] = [1, 2, 3], team: String = "T1") async throws -> Int64? {
            try await s.slack.noteTokenRefusal(team: team, envelope: envelope, at: at.map { Self.t0 + $0 }, continuingWithin: 100)
        }

        #expect(try await refused(10) == Self.t0 + 10)
        #expect(try await refused(90) == Self.t0 + 10)
        #expect(try await refused(190) == Self.t0 + 10)  // 100 after the one before: the same run
        #expect(try await refused(291) == Self.t0 + 291)  // 101 after: a new one
        #expect(try await refused(300, envelope: [9, 9]) == nil)
        #expect(try await refused(300, team: "T3") == nil)
        // Accepted again: forgotten, and the next refusal is the first.
        #expect(try await refused(nil) == nil)
        #expect(try await refused(320) == Self.t0 + 320)
        // Installed again: the refusals were of the installation before.
        try await s.install(team: "T1", client: client, envelope: [1, 2, 3], at: Self.t0 + 330)
        #expect(try await refused(340) == Self.t0 + 340)
        #expect(try await s.slack.activeInstallation(team: "T1") != nil)
    }

    /// A token Slack refuses for good (its `app_uninstalled` missed) uninstalls the workspace as the event would,
    /// but only while the installation still holds that very token: after a new install, nothing changes.
    @Test(arguments: StoreFactories.available)
    func aLostTokenUninstallsOnlyTheInstallationThatHoldsIt(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.install(team: "T1", client: client, envelope: [1, 2, 3])
        try await s.install(team: "T2", client: other)
        let capture = SlackJob.Work.captureReaction(CaptureReactionJob(channel: "C0001", ts: "1.1", user: "U1", via: "shortcut"))
        try await s.slack.enqueue(s.job(capture, team: "T1", client: client))
        try await s.slack.enqueue(s.job(capture, team: "T2", client: other))

        // Another token (installed again since): nothing happens.
        #expect(try await !s.slack.acceptLostToken(team: "T1", envelope: [9, 9], at: Self.t0 + 1, deadline: Self.t0 + 61_000))
        #expect(try await !s.slack.acceptLostToken(team: "T3", envelope: [1, 2, 3], at: Self.t0 + 1, deadline: Self.t0 + 61_000))
        #expect(try await s.slack.activeInstallation(team: "T1") != nil)

        #expect(try await s.slack.acceptLostToken(team: "T1", envelope: [1, 2, 3], at: Self.t0 + 1, deadline: Self.t0 + 61_000))
        #expect(try await s.slack.activeInstallation(team: "T1") == nil)
        #expect(try await s.slack.installation(client: client) == nil)
        #expect(try await s.slack.activeInstallation(team: "T2") != nil)
        // Once: the installation is gone, so the same token again does nothing.
        #expect(try await !s.slack.acceptLostToken(team: "T1", envelope: [1, 2, 3], at: Self.t0 + 2, deadline: Self.t0 + 62_000))
        let remaining = try await s.claimAll(at: Self.t0 + 5, kinds: [.captureReaction])
            + (try await s.claimAll(at: Self.t0 + 5, kinds: [.uninstall]))
        #expect(remaining.map { "\($0.teamId ?? "-"):\($0.kind.rawValue)" }.sorted() == ["T1:slack.uninstall", "T2:slack.capture"])
        let scrub = try #require(remaining.first { $0.kind == .uninstall })
        #expect(scrub.work == .uninstall(UninstallJob(clientId: client)))
        #expect(scrub.deadlineAt == Self.t0 + 61_000)
        // Tombstoned, as an uninstall is: a reaction from the workspace is not taken.
        #expect(try await !s.slack.acceptReaction(reaction(event: "E-after"), at: Self.t0 + 6))
    }

    @Test(arguments: StoreFactories.available)
    func aSecondUninstallStillNamesTheClient(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "E1", at: Self.t0, deadline: Self.t0 + 60_000))
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: nil, at: Self.t0, deadline: Self.t0 + 60_000))

        let first = try #require(try await s.claimAll(kinds: [.uninstall]).only)
        try await s.slack.finishJob(first, then: nil)
        let second = try #require(try await s.claimAll(kinds: [.uninstall]).only)
        #expect(first.id != second.id)
        #expect(first.work == .uninstall(UninstallJob(clientId: client)))
        #expect(second.work == .uninstall(UninstallJob(clientId: client)))
    }

    @Test(arguments: StoreFactories.available)
    func tokensRevokedForTheBotForgetsTheTokenOnce(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)

        try await s.slack.acceptTokensRevoked(team: "T1", eventId: "E1", botUserIds: ["U0001"], at: Self.t0)
        #expect(try await s.slack.activeInstallation(team: "T1")?.tokenEnvelope == [1, 2, 3])

        try await s.slack.acceptTokensRevoked(team: "T1", eventId: "E2", botUserIds: ["U0001", "UT1BOT"], at: Self.t0)
        let installation = try #require(try await s.slack.activeInstallation(team: "T1"))
        #expect(installation.tokenEnvelope == nil)
        #expect(installation.tokenKeyId == nil)

        // A reinstall, then a retry of the old event: the new token stays.
        try await s.install(team: "T1", client: client, envelope: [4])
        try await s.slack.acceptTokensRevoked(team: "T1", eventId: "E2", botUserIds: ["UT1BOT"], at: Self.t0)
        #expect(try await s.slack.activeInstallation(team: "T1")?.tokenEnvelope == [4])
    }

    // MARK: Forwards

    @Test(arguments: StoreFactories.available)
    func aForwardStoresOneRowPerMessageAndAnswersThroughTheResponseURL(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        let message = s.message(team: "T1", ts: "1.1")

        let first = try await s.slack.captureForward(message, at: S.t0, responseURL: "https://hooks.slack.com/a")
        let second = try await s.slack.captureForward(message, at: S.t0.addingTimeInterval(1), responseURL: nil)

        #expect(first.outcome == .captured)
        #expect(first.clientId == client)
        #expect(second == CaptureResult(outcome: .alreadyCaptured, clientId: client, feedbackId: first.feedbackId))
        let item = try #require(try await s.items(client).only)
        #expect(item.id == first.feedbackId)
        #expect(item.createdAt == S.t0)
        #expect(item.draft == message.draft(clientId: client))
        #expect(try await s.slack.capturedFeedbackID(client: client, team: "T1", channel: "C0001", ts: "1.1") == item.id)
        #expect(try await s.slack.capturedFeedbackID(client: client, team: "T1", channel: "C0001", ts: "1.2") == nil)
        #expect(
            try await s.claimAll().only?.work
                == .respond(
                    RespondJob(
                        responseURL: "https://hooks.slack.com/a", outcome: "captured", feedbackId: item.id,
                        channel: "C0001", ts: "1.1", user: "U0001")))
    }

    @Test(arguments: StoreFactories.available)
    func commandsWithoutAMessageAreEachTheirOwnRow(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        _ = try await s.slack.captureForward(s.message(team: "T1", ts: nil), at: S.t0, responseURL: nil)
        _ = try await s.slack.captureForward(s.message(team: "T1", ts: nil), at: S.t0, responseURL: nil)
        #expect(try await s.items(client).count == 2)
    }

    @Test(arguments: StoreFactories.available)
    func aForwardToAWorkspaceThatCannotCaptureStoresNothingButStillAnswers(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T2", client: client, envelope: nil)
        try await s.install(team: "T1", client: client)
        _ = try await s.slack.acceptUninstall(team: "T1", eventId: nil, at: Self.t0, deadline: Self.t0 + 60_000)
        _ = try await s.claimAll(kinds: [.uninstall])

        let tombstoned = try await s.slack.captureForward(s.message(team: "T1", ts: "1.1"), at: S.t0, responseURL: "https://hooks.slack.com/1")
        let revoked = try await s.slack.captureForward(s.message(team: "T2", ts: "1.1"), at: S.t0, responseURL: nil)
        let unknown = try await s.slack.captureForward(s.message(team: "T3", ts: "1.1"), at: S.t0, responseURL: nil)

        #expect(tombstoned == CaptureResult(outcome: .notInstalled, clientId: nil, feedbackId: nil))
        #expect(revoked == CaptureResult(outcome: .tokenRevoked, clientId: client, feedbackId: nil))
        #expect(unknown == CaptureResult(outcome: .notInstalled, clientId: nil, feedbackId: nil))
        #expect(try await s.items(client).isEmpty)
        let answer = try #require(try await s.claimAll(kinds: [.respond]).only)
        #expect(answer.work == .respond(RespondJob(responseURL: "https://hooks.slack.com/1", outcome: "not_installed", feedbackId: nil, channel: "C0001", ts: "1.1", user: "U0001")))
        #expect(answer.clientId == nil)
    }

    // MARK: Completing captures

    @Test(arguments: StoreFactories.available)
    func completingACaptureStoresTheMessageAndEnqueuesTheNotice(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        #expect(try await s.slack.acceptReaction(reaction(event: "E1"), at: Self.t0))
        let job = try #require(try await s.claimAll().only)
        let notice = NotifyJob(channel: "C0001", user: "U0001", outcome: "anything", threadTs: "1.0")

        let isNew = try await s.slack.completeCapture(
            jobID: job.id, clientID: client, message: s.message(team: "T1", ts: "1.1"), at: S.t0, notice: notice)

        #expect(isNew == true)
        #expect(try await s.items(client).count == 1)
        var expected = notice
        expected.outcome = "captured"
        let queued = try #require(try await s.claimAll(at: Self.t0 + 1).only)
        #expect(queued.work == .notify(expected))
        #expect(queued.clientId == client)

        // The same message completed again (another member's forward): no second row, the notice says so.
        try await s.slack.finishJob(queued, then: s.job(.captureReaction(CaptureReactionJob(channel: "C0001", ts: "1.1", user: "U0003", via: "reaction:wrench")), team: "T1", client: client))
        let again = try #require(try await s.claimAll(at: Self.t0 + 2).only)
        #expect(try await s.slack.completeCapture(jobID: again.id, clientID: client, message: s.message(team: "T1", ts: "1.1"), at: S.t0, notice: notice) == false)
        expected.outcome = "already_captured"
        #expect(try await s.claimAll(at: Self.t0 + 3).only?.work == .notify(expected))
        #expect(try await s.items(client).count == 1)
    }

    /// A capture job deleted while its message was fetched (an erasure of its member cancelled it) stores nothing
    /// and sends no notice.
    @Test(arguments: StoreFactories.available)
    func completingACaptureWhoseJobWasCancelledStoresNothing(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        #expect(try await s.slack.acceptReaction(reaction(event: "E1"), at: Self.t0))
        let job = try #require(try await s.claimAll().only)
        try await s.slack.finishJob(job, then: nil)

        let stored = try await s.slack.completeCapture(
            jobID: job.id, clientID: client, message: s.message(team: "T1", ts: "1.1"), at: S.t0,
            notice: NotifyJob(channel: "C0001", user: "U0001", outcome: "captured"))

        #expect(stored == nil)
        #expect(try await s.items(client).isEmpty)
        #expect(try await s.claimAll(at: Self.t0 + 10_000).isEmpty)
    }

    /// A reaction by someone else to a member's message, queued before that member's erasure and fetched after it,
    /// stores nothing (the erasure could not know the message was theirs); one queued after the erasure, or of
    /// someone else's message, is stored. The record names the member only as a digest.
    @Test(arguments: StoreFactories.available)
    func aCaptureQueuedBeforeItsAuthorsErasureStoresNothing(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.install(team: "T1", client: client)
        let notice = NotifyJob(channel: "C0001", user: "U0003", outcome: "captured")
        func queue(_ ts: String, at millis: Int64) async throws -> SlackJob {
            let work = SlackJob.Work.captureReaction(
                CaptureReactionJob(channel: "C0001", ts: ts, user: "U0003", via: "reaction:wrench"))
            try await s.slack.enqueue(s.job(work, team: "T1", client: client, at: millis))
            return try #require(try await s.claimAll(at: millis, kinds: [.captureReaction]).only)
        }
        func complete(_ job: SlackJob, _ ts: String, author: String) async throws -> Bool? {
            let stored = try await s.slack.completeCapture(
                jobID: job.id, clientID: client, message: s.message(team: "T1", ts: ts, author: author, forwarder: "U0003"),
                at: S.t0, notice: notice)
            // Whatever the outcome, the capture job is done.
            #expect(try await s.slack.pendingJobs(kind: .captureReaction, team: nil).isEmpty)
            return stored
        }
        let before = try await queue("1.1", at: S.t0Millis)
        let erasedAt = S.t0Millis + 1_000
        try await s.slack.recordErasedMember(
            clientID: client, memberKey: ErasedMembers.key(clientID: client, member: "U0ERASED"), at: erasedAt)
        // Another client's erasure of a member of the same id changes nothing here.
        try await s.slack.recordErasedMember(
            clientID: other, memberKey: ErasedMembers.key(clientID: other, member: "U0002"), at: erasedAt)

        #expect(try await complete(before, "1.1", author: "U0ERASED") == nil)
        #expect(try await s.items(client).isEmpty)
        #expect(try await s.claimAll(at: erasedAt + 10_000).isEmpty, "no notice")

        let ofAnother = try await queue("1.2", at: S.t0Millis + 500)
        #expect(try await complete(ofAnother, "1.2", author: "U0002") == true)
        let after = try await queue("1.3", at: erasedAt + 1)
        #expect(try await complete(after, "1.3", author: "U0ERASED") == true)
        #expect(Set(try await s.items(client).compactMap(\.draft.slack?.messageTs)) == ["1.2", "1.3"])

        // Forgotten after the window: a capture queued long before is stored again (it cannot still be queued).
        try await s.slack.forgetErasedMembers(before: erasedAt + 1)
        let old = try await queue("1.4", at: S.t0Millis)
        #expect(try await complete(old, "1.4", author: "U0ERASED") == true)
    }

    @Test(arguments: StoreFactories.available)
    func completingACaptureAfterAnUninstallOrAMoveStoresNothing(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let second = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.install(team: "T2", client: second)
        #expect(try await s.slack.acceptReaction(reaction("T1", event: "E1"), at: Self.t0))
        #expect(try await s.slack.acceptReaction(reaction("T2", event: "E2"), at: Self.t0))
        let jobs = try await s.claimAll()
        let notice = NotifyJob(channel: "C0001", user: "U0001", outcome: "captured")
        // While the messages were fetched, T1 uninstalled, and T2 uninstalled and was installed for another client.
        _ = try await s.slack.acceptUninstall(team: "T1", eventId: "E9", at: Self.t0, deadline: Self.t0 + 60_000)
        _ = try await s.slack.acceptUninstall(team: "T2", eventId: "E10", at: Self.t0, deadline: Self.t0 + 60_000)
        try await s.install(team: "T2", client: other)

        for job in jobs {
            let stored = try await s.slack.completeCapture(
                jobID: job.id, clientID: try #require(job.clientId), message: s.message(team: job.teamId!, ts: "1.1"),
                at: S.t0, notice: notice)
            #expect(stored == nil)
        }

        #expect(try await s.items(client).isEmpty)
        #expect(try await s.items(second).isEmpty)
        #expect(try await s.items(other).isEmpty)
        // The capture jobs are gone; only the scrubs are queued.
        #expect(try await s.claimAll(at: Self.t0 + 10_000).map(\.kind) == [.uninstall, .uninstall])
    }

    @Test(arguments: StoreFactories.available)
    func aPermalinkIsFilledOnlyWhenMissing(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        let result = try await s.slack.captureForward(s.message(team: "T1", ts: "1.1"), at: S.t0, responseURL: nil)
        let id = try #require(result.feedbackId)

        try await s.slack.fillPermalink(feedbackID: id, permalink: "https://x.slack.com/p1")
        try await s.slack.fillPermalink(feedbackID: id, permalink: "https://x.slack.com/p2")

        #expect(try await s.feedback.feedback(id: id, clientID: client)?.draft.slack?.permalink == "https://x.slack.com/p1")
    }

    // MARK: Scrub

    @Test(arguments: StoreFactories.available)
    func scrubbingAuthorsGoesInBatchesAndTouchesOnlyThatWorkspace(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.install(team: "T2", client: other)
        for i in 1...5 {
            _ = try await s.slack.captureForward(s.message(team: "T1", ts: "1.\(i)"), at: S.t0, responseURL: nil)
        }
        _ = try await s.slack.captureForward(s.message(team: "T1", ts: "1.9", author: nil, forwarder: nil), at: S.t0, responseURL: nil)
        _ = try await s.slack.captureForward(s.message(team: "T2", ts: "2.1"), at: S.t0, responseURL: nil)
        try await s.item(client)
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "E1", at: Self.t0 + 1, deadline: Self.t0 + 60_001))

        var cursor: Int64 = 0
        var batches: [Int] = []
        while batches.count < 10 {
            let (changed, next) = try await s.slack.scrubAuthors(team: "T1", after: cursor, limit: 2)
            batches.append(changed)
            #expect(changed <= 2)
            guard let next else { break }
            cursor = next
        }

        #expect(batches.reduce(0, +) == 5)
        #expect(batches.count >= 3 && batches.count < 10)
        let items = try await s.items(client) + (try await s.items(other))
        #expect(items.filter { $0.draft.slack?.teamId == "T2" }.count == 1)
        for item in items {
            switch item.draft.slack?.teamId {
            case "T1":
                #expect(item.draft.slack?.authorId == nil)
                #expect(item.draft.slack?.forwardedBy == nil)
                #expect(item.draft.comment?.hasPrefix("Message") == true)
            case "T2":
                #expect(item.draft.slack?.authorId == "U0002")
                #expect(item.draft.slack?.forwardedBy == "U0001")
            default:
                #expect(item.draft.slack == nil)
            }
        }
        // Again: nothing left to change.
        #expect(try await s.slack.scrubAuthors(team: "T1", after: 0, limit: 100).changed == 0)
    }

    /// A scrub counts on its job's row: a worker that takes the job over after the first one died mid-scrub starts
    /// again from the front, and the total it ends with (what the audit entry records) still counts the rows the
    /// first run changed. Before, the audit entry of such a scrub counted only the second run's rows.
    @Test(arguments: StoreFactories.available)
    func aScrubTakenOverCountsTheRowsItsFirstRunChanged(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        for i in 1...5 {
            _ = try await s.slack.captureForward(s.message(team: "T1", ts: "1.\(i)"), at: S.t0, responseURL: nil)
        }
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "E1", at: Self.t0 + 1, deadline: Self.t0 + 60_001))
        let job = try #require(try await s.claimAll(at: Self.t0 + 5, kinds: [.uninstall]).first).id

        // The first worker scrubs one batch, then dies.
        let first = try await s.slack.scrubAuthors(team: "T1", after: 0, limit: 2, job: job)
        #expect(first.changed == 2 && first.jobTotal == 2)
        // The next takes the job over and scrubs from the front to the end.
        var cursor: Int64 = 0
        var total = 0
        for _ in 0..<10 {
            let batch = try await s.slack.scrubAuthors(team: "T1", after: cursor, limit: 2, job: job)
            total = try #require(batch.jobTotal)
            guard let next = batch.next else { break }
            cursor = next
        }
        #expect(total == 5)
        // Without a job a batch counts itself; once another worker finished the job (its row is gone), there is no
        // total: the job is not the caller's to record any more.
        #expect(try await s.slack.scrubAuthors(team: "T1", after: 0, limit: 2, job: nil).jobTotal == 0)
        try await s.slack.finishJob(job, claim: nil, then: nil)
        #expect(try await s.slack.scrubAuthors(team: "T1", after: 0, limit: 2, job: job).jobTotal == nil)
    }

    /// A workspace uninstalled and installed again before its scrub ran (or while it runs): the scrub clears the ids
    /// of what was captured before the uninstall, not of what the new installation captured since.
    @Test(arguments: StoreFactories.available)
    func theScrubSparesWhatAReinstallCapturedSince(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        for i in 1...3 {
            _ = try await s.slack.captureForward(s.message(team: "T1", ts: "1.\(i)"), at: S.t0, responseURL: nil)
        }
        #expect(try await s.slack.acceptUninstall(team: "T1", eventId: "E1", at: Self.t0 + 1_000, deadline: Self.t0 + 61_000))
        try await s.install(team: "T1", client: client, at: Self.t0 + 2_000)
        let after = try await s.slack.captureForward(
            s.message(team: "T1", ts: "2.1", author: "U0777", forwarder: "U0777"), at: S.t0.addingTimeInterval(3),
            responseURL: nil)
        let newID = try #require(after.feedbackId)

        var cursor: Int64 = 0
        for _ in 0..<10 {
            guard let next = try await s.slack.scrubAuthors(team: "T1", after: cursor, limit: 2).next else { break }
            cursor = next
        }

        for item in try await s.items(client) {
            if item.id == newID {
                #expect(item.draft.slack?.authorId == "U0777")
                #expect(item.draft.slack?.forwardedBy == "U0777")
            } else {
                #expect(item.draft.slack?.authorId == nil)
                #expect(item.draft.slack?.forwardedBy == nil)
            }
        }
        #expect(try await s.items(client).count == 4)
    }

    /// Slack retries a delivery it could not make for minutes: an `app_uninstalled` or `tokens_revoked` whose first
    /// delivery failed can come after the workspace installed usero again. Such a retry, from before the current
    /// installation, leaves it alone (it does not tombstone the workspace or forget the new token) and scrubs only
    /// what the earlier installation captured; a retry of an event after the install, or a first delivery of any
    /// age, uninstalls as always.
    @Test(arguments: StoreFactories.available)
    func aRetriedUninstallOfAnEarlierInstallationLeavesTheNewOneAlone(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        _ = try await s.slack.captureForward(s.message(team: "T1", ts: "1.1"), at: S.t0, responseURL: nil)
        // Uninstalled at t0 + 60 s (the delivery failed), installed again at t0 + 120 s, a capture since.
        let reinstalled = Self.t0 + 120_000
        try await s.install(team: "T1", client: client, envelope: [4], at: reinstalled)
        let since = try await s.slack.captureForward(
            s.message(team: "T1", ts: "2.1", author: "U0777", forwarder: "U0777"), at: S.t0.addingTimeInterval(130),
            responseURL: nil)
        let sinceID = try #require(since.feedbackId)

        try await s.slack.acceptTokensRevoked(
            team: "T1", eventId: "E1", botUserIds: ["UT1BOT"], at: reinstalled + 30_000, retriedEventAt: Self.t0 + 60_000)
        #expect(try await s.slack.activeInstallation(team: "T1")?.tokenEnvelope == [4])
        #expect(try await s.slack.acceptUninstall(
            team: "T1", eventId: "E2", at: reinstalled + 30_000, deadline: Self.t0 + 120_000,
            retriedEventAt: Self.t0 + 60_000))
        let kept = try #require(try await s.slack.activeInstallation(team: "T1"))
        #expect(kept.tokenEnvelope == [4] && kept.clientId == client)
        #expect(try await s.slack.installation(client: client)?.teamId == "T1")
        let scrub = try await s.slack.claimDueJobs(now: reinstalled + 30_000, limit: 10, lease: 1_000, kinds: [.uninstall])
        #expect(scrub.count == 1 && scrub.first?.deadlineAt == Self.t0 + 120_000)
        var cursor: Int64 = 0
        while let next = try await s.slack.scrubAuthors(team: "T1", after: cursor, limit: 10).next { cursor = next }
        for item in try await s.items(client) {
            let kept = item.id == sinceID
            #expect(item.draft.slack?.authorId == (kept ? "U0777" : nil))
            #expect(item.draft.slack?.forwardedBy == (kept ? "U0777" : nil))
        }

        // Within the leeway of the install, or after it, a retry is taken for this installation's.
        try await s.slack.acceptTokensRevoked(
            team: "T1", eventId: "E3", botUserIds: ["UT1BOT"], at: reinstalled + 40_000,
            retriedEventAt: reinstalled - Installation.retriedEventLeeway)
        #expect(try await s.slack.activeInstallation(team: "T1")?.tokenEnvelope == nil)
        #expect(try await s.slack.acceptUninstall(
            team: "T1", eventId: "E4", at: reinstalled + 40_000, deadline: reinstalled + 60_000,
            retriedEventAt: reinstalled + 1_000))
        #expect(try await s.slack.activeInstallation(team: "T1") == nil)
        #expect(try await s.slack.installation(client: client) == nil)
    }

    // MARK: Job queue

    @Test(arguments: StoreFactories.available)
    func aClaimedJobIsNotClaimedAgainUntilFinishedRescheduledOrItsLeaseEnds(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A"))
        try await s.slack.enqueue(s.job(S.notice("A2"), team: "A"))
        try await s.slack.enqueue(s.job(S.notice("B1"), team: "B", at: Self.t0 - 1))
        func users(_ jobs: [SlackJob]) -> [String] {
            jobs.map { job in if case .notify(let notice) = job.work { notice.user } else { "?" } }
        }

        // Oldest first, one per workspace.
        let first = try await s.claimAll()
        #expect(users(first) == ["B1", "A1"])
        #expect(try await s.claimAll(at: Self.t0 + 999).isEmpty)

        // Finished: the workspace's next job is free.
        try await s.slack.finishJob(first[1], then: nil)
        #expect(users(try await s.claimAll(at: Self.t0 + 1)) == ["A2"])

        // Rescheduled: released, due again at its new time, the attempt counted.
        try await s.slack.rescheduleJob(first[0], runAt: Self.t0 + 500, countAttempt: true, error: "http_503")
        #expect(try await s.claimAll(at: Self.t0 + 499).isEmpty)
        let retried = try #require(try await s.claimAll(at: Self.t0 + 500).only)
        #expect(users([retried]) == ["B1"])
        #expect(retried.attempts == 1)

        // A lease that ended (a worker that died): claimable again. A2 was leased at t0+1 for a second.
        #expect(users(try await s.claimAll(at: Self.t0 + 1_000)) == [])
        #expect(users(try await s.claimAll(at: Self.t0 + 1_001)) == ["A2"])
    }

    /// A job handed back through no fault of its own (the worker shutting down, a token key not loaded yet) keeps
    /// its attempts: only a reschedule that counts one uses one up, so restarts never wear a job out.
    @Test(arguments: StoreFactories.available)
    func aRescheduleUsesUpAnAttemptOnlyWhenItCountsOne(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A"))
        let job = try #require(try await s.claimAll().only)

        try await s.slack.rescheduleJob(job, runAt: Self.t0 + 10, countAttempt: false, error: "shutdown")
        let handedBack = try #require(try await s.claimAll(at: Self.t0 + 10).only)
        #expect(handedBack.attempts == 0)

        try await s.slack.rescheduleJob(handedBack, runAt: Self.t0 + 20, countAttempt: true, error: "http_503")
        #expect(try await s.claimAll(at: Self.t0 + 20).only?.attempts == 1)
    }

    /// A worker renews the leases of the jobs it is still running (`SlackJobWorker.renewLeases`): a renewed job is not
    /// taken over, nor its workspace's next job run, until the renewed lease ends; a job no longer leased (finished,
    /// rescheduled, or its lease over) is not leased again by a late renewal.
    @Test(arguments: StoreFactories.available)
    func aRenewedLeaseHoldsItsJobAndALateRenewalTakesNothingBack(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A"))
        try await s.slack.enqueue(s.job(S.notice("A2"), team: "A"))
        try await s.slack.enqueue(s.job(S.notice("B1"), team: "B"))
        try await s.slack.enqueue(s.job(S.notice("C1"), team: "C"))
        let claimed = try await s.claimAll()  // leased until t0 + 1000
        #expect(claimed.count == 3)
        let (a1, b1) = try (#require(claimed.first { $0.teamId == "A" }), #require(claimed.first { $0.teamId == "B" }))
        // B1 rescheduled (released); C1's lease left to end.
        try await s.slack.rescheduleJob(b1, runAt: Self.t0 + 600, countAttempt: false, error: "http_503")

        // Renewed at t0+900 for a second: A1 is held to t0+1900, and A2 behind it; B1, released, is not leased again.
        try await s.slack.renewJobLeases([a1.lease, b1.lease], now: Self.t0 + 900, until: Self.t0 + 1_900)
        #expect(Set(try await s.claimAll(at: Self.t0 + 1_001).compactMap(\.teamId)) == ["B", "C"])
        #expect(try await s.claimAll(at: Self.t0 + 1_899).isEmpty)
        // A1 finished: a renewal still on its way changes nothing, and A2 runs.
        try await s.slack.finishJob(a1, then: nil)
        try await s.slack.renewJobLeases([a1.lease], now: Self.t0 + 1_500, until: Self.t0 + 2_500)
        let next = try #require(try await s.claimAll(at: Self.t0 + 1_500).only)
        #expect(next.teamId == "A" && next.id != a1.id)
    }

    /// A worker that stalled past its lease (a paused process) and resumes after another claimed the job again
    /// changes nothing of the other's: its renewal does not extend the lease, its post mark is refused (it must not
    /// post) and its unmark leaves the other's mark, its reschedule, postponement (a 429) and hold (the pace) neither
    /// release the job nor move it, and its finish neither deletes it nor queues what would follow. A post mark is refused as soon as the lease ran out, before anyone claimed the job again. Each
    /// claim is a new one; the worker holding the job finishes it, and cancelling queued work needs no claim.
    @Test(arguments: StoreFactories.available)
    func aWorkerWhoseJobWasTakenOverChangesNothingOfIt(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T1", client: client)
        try await s.slack.enqueue(s.job(.postFeedback(PostFeedbackJob(feedbackId: "fb_1")), team: "T1", client: client))
        let stalled = try #require(try await s.claimAll(kinds: [.postFeedback]).only)  // leased until t0 + 1000
        #expect(try await s.slack.markPostSent(stalled.lease, at: Self.t0 + 1_000) == false)
        let current = try #require(try await s.claimAll(at: Self.t0 + 1_001, kinds: [.postFeedback]).only)
        #expect(current.id == stalled.id && current.claim != stalled.claim)

        #expect(try await s.slack.markPostSent(current.lease, at: Self.t0 + 1_050))
        #expect(try await s.slack.markPostSent(stalled.lease, at: Self.t0 + 1_100) == false)
        try await s.slack.renewJobLeases([stalled.lease], now: Self.t0 + 1_100, until: Self.t0 + 9_000)
        try await s.slack.rescheduleJob(stalled, runAt: Self.t0 + 1_200, countAttempt: true, error: "http_503")
        // Slack's answers to the stalled worker's own call (a 429, a refusal) say nothing of the current one's
        try await s.slack.unmarkPostSent(stalled.lease)
        try await s.slack.postponeJobs(team: "T1", kind: .postFeedback, until: Self.t0 + 1_300, by: stalled.lease)
        try await s.slack.holdJobs(team: "T1", kind: .postFeedback, notBefore: Self.t0 + 50_000, by: stalled.lease)
        #expect(try await s.slack.finishJob(stalled, then: s.job(S.notice("B1"), team: "B")) == false)

        // Nothing claimable while the current lease (to t0 + 2001) runs: the job was not released, nothing queued
        #expect(try await s.claimAll(at: Self.t0 + 1_500).isEmpty)
        // and nothing renewed, postponed or held it: claimable again when that lease ends, as it was, still marked
        let again = try #require(try await s.claimAll(at: Self.t0 + 2_001).only)
        #expect(again.id == stalled.id && again.attempts == 0 && again.progress == Self.t0 + 1_050)
        #expect(Set([stalled.claim, current.claim, again.claim]).count == 3)
        #expect(try await s.slack.markPostSent(again.lease, at: Self.t0 + 2_002))
        #expect(try await s.slack.finishJob(again, then: nil))
        #expect(try await s.claimAll(at: Self.t0 + 9_001).isEmpty)

        try await s.slack.enqueue(s.job(S.notice("B2"), team: "B"))
        let queued = try #require(try await s.slack.pendingJobs(kind: .notify, team: "B").only)
        _ = try await s.claimAll(at: Self.t0 + 9_002)
        #expect(try await s.slack.finishJob(queued.id, claim: nil, then: nil))
        #expect(try await s.slack.pendingJobs(kind: .notify, team: "B").isEmpty)
    }

    @Test(arguments: StoreFactories.available)
    func claimsRespectKindsAndLimitAndOnlyTheClaimedKindsMakeAWorkspaceBusy(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        for team in ["A", "B", "C"] { try await s.slack.enqueue(s.job(S.notice("\(team)1"), team: team)) }
        try await s.slack.enqueue(s.job(.uninstall(UninstallJob(clientId: nil)), team: "A"))

        let scrub = try await s.claimAll(kinds: [.uninstall])
        #expect(scrub.map(\.kind) == [.uninstall])
        // The scrub's lease does not hold up A's Slack calls, and the limit holds.
        let two = try await s.slack.claimDueJobs(now: Self.t0, limit: 2, lease: 1_000, kinds: [.notify])
        #expect(two.count == 2)
        let rest = try await s.slack.claimDueJobs(now: Self.t0, limit: 2, lease: 1_000, kinds: [.notify])
        #expect(Set((two + rest).compactMap(\.teamId)) == ["A", "B", "C"])
        #expect(try await s.claimAll(kinds: [.notify, .uninstall]).isEmpty)
    }

    /// The worker's claim: several lanes in one call, each by its own kinds, limit and lease, in the given order.
    @Test(arguments: StoreFactories.available)
    func oneClaimTakesEachLaneByItsOwnRules(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        for team in ["A", "B", "C"] { try await s.slack.enqueue(s.job(S.notice("\(team)1"), team: team)) }
        try await s.slack.enqueue(s.job(.uninstall(UninstallJob(clientId: nil)), team: "A"))

        let claimed = try await s.slack.claimDueJobs(
            now: Self.t0,
            lanes: [
                SlackJobLane(kinds: [.uninstall], limit: 10, lease: 500),
                SlackJobLane(kinds: [.notify], limit: 2, lease: 2_000),
            ])
        // The scrub first, then two notices: A's scrub does not make A busy for the notice lane.
        #expect(claimed.map(\.kind) == [.uninstall, .notify, .notify])
        #expect(claimed.dropFirst().compactMap(\.teamId).count == 2)
        // Each lane's lease: the scrub's ended at +500, the notices' have not.
        let later = try await s.slack.claimDueJobs(
            now: Self.t0 + 500,
            lanes: [
                SlackJobLane(kinds: [.uninstall], limit: 10, lease: 500),
                SlackJobLane(kinds: [.notify], limit: 10, lease: 2_000),
            ])
        #expect(later.map(\.kind) == [.uninstall, .notify])
        #expect(Set((claimed + later).compactMap { $0.kind == .notify ? $0.teamId : nil }) == ["A", "B", "C"])
    }

    /// An instance without the key a workspace's token is sealed under (`k1` here) leaves that workspace's jobs
    /// that open the token to instances with it, for a day; a revocation (its envelope travels in the job) and a
    /// workspace without an installation it takes.
    @Test(arguments: StoreFactories.available)
    func aClaimPassesOverJobsOfAWorkspaceWhoseTokenItCannotOpen(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "A", client: client)
        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A"))
        try await s.slack.enqueue(s.job(.revoke(RevokeJob(envelope: [1, 2, 3])), team: "A"))
        try await s.slack.enqueue(s.job(S.notice("Z1"), team: "Z"))
        let all = Set(SlackJob.Kind.allCases)
        let lanes = [SlackJobLane(kinds: all.subtracting([.revoke]), limit: 10, lease: 1_000),
                     SlackJobLane(kinds: [.revoke], limit: 10, lease: 1_000)]
        let day = SlackJobRunner.rateLimitedGiveUpAge
        let withoutK1 = SlackJobKeyFilter(keyIDs: ["k2"], queuedAfter: Self.t0 - day)

        // Not due for this instance: the next instant leaves A's notice out; Z's (no installation) is its to run,
        // as is A's revocation.
        #expect(try await s.slack.nextJobDueAt(now: Self.t0, kinds: [.notify], passingOver: withoutK1) == Self.t0)
        let taken = try await s.slack.claimDueJobs(now: Self.t0, lanes: lanes, passingOver: withoutK1)
        #expect(Set(taken.map { "\($0.kind.rawValue) \($0.teamId ?? "")" })
            == ["slack.notify Z", "slack.revoke A"])
        #expect(try await s.slack.nextJobDueAt(now: Self.t0, kinds: [.notify], passingOver: withoutK1) == Self.t0 + 1_000)
        #expect(try await s.slack.claimDueJobs(now: Self.t0, lanes: lanes, passingOver: withoutK1).isEmpty)

        // An instance with the key (among others) takes it.
        let withK1 = SlackJobKeyFilter(keyIDs: ["k2", "k1"], queuedAfter: Self.t0 - day)
        #expect(try await s.slack.nextJobDueAt(now: Self.t0, kinds: [.notify], passingOver: withK1) == Self.t0)
        let rest = try await s.slack.claimDueJobs(now: Self.t0, lanes: lanes, passingOver: withK1)
        #expect(rest.map { "\($0.kind.rawValue) \($0.teamId ?? "")" } == ["slack.notify A"])
    }

    /// A job no instance with the key took for a day is claimed by one without it (and fails there).
    @Test(arguments: StoreFactories.available)
    func aJobPassedOverForADayIsClaimedAfterAll(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "A", client: client)
        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A"))
        let lanes = [SlackJobLane(kinds: [.notify], limit: 10, lease: 1_000)]
        let day = SlackJobRunner.rateLimitedGiveUpAge
        let now = Self.t0 + day
        #expect(try await s.slack.claimDueJobs(
            now: now, lanes: lanes, passingOver: SlackJobKeyFilter(keyIDs: ["k2"], queuedAfter: Self.t0 - 1)).isEmpty)
        let filter = SlackJobKeyFilter(keyIDs: ["k2"], queuedAfter: Self.t0)
        #expect(try await s.slack.nextJobDueAt(now: now, kinds: [.notify], passingOver: filter) == Self.t0)
        #expect(try await s.slack.claimDueJobs(now: now, lanes: lanes, passingOver: filter).map(\.teamId) == ["A"])
    }

    @Test(arguments: StoreFactories.available)
    func theNextDueInstantSkipsBusyWorkspacesAndNamesTheLeaseEnd(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let all = Set(SlackJob.Kind.allCases)
        #expect(try await s.slack.nextJobDueAt(now: Self.t0, kinds: all) == nil)

        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A"))
        try await s.slack.enqueue(s.job(S.notice("A2"), team: "A"))
        try await s.slack.enqueue(s.job(S.notice("B1"), team: "B", at: Self.t0 + 5_000))
        #expect(try await s.slack.nextJobDueAt(now: Self.t0, kinds: all) == Self.t0)
        #expect(try await s.slack.nextJobDueAt(now: Self.t0, kinds: [.revoke]) == nil)

        // A1 leased until t0+1000: A2 cannot run before then, B1 not before t0+5000.
        #expect(try await s.claimAll(at: Self.t0).count == 1)
        #expect(try await s.slack.nextJobDueAt(now: Self.t0, kinds: all) == Self.t0 + 1_000)
    }

    @Test(arguments: StoreFactories.available)
    func aRateLimitPostponesOneWorkspacesJobsOfOneKind(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let capture = SlackJob.Work.captureReaction(CaptureReactionJob(channel: "C0001", ts: "1.1", user: "U1", via: "shortcut"))
        try await s.slack.enqueue(s.job(capture, team: "A"))
        try await s.slack.enqueue(s.job(capture, team: "A", at: Self.t0 + 90_000))
        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A"))
        try await s.slack.enqueue(s.job(capture, team: "B"))
        let running = try #require(try await s.claimAll(kinds: [.captureReaction]).first { $0.teamId == "A" })

        try await s.slack.postponeJobs(team: "A", kind: .captureReaction, until: Self.t0 + 30_000, by: running.lease)

        // A's notice and B's capture (its lease over) are not held up; A's captures wait.
        #expect(try await s.claimAll(kinds: [.notify]).map(\.teamId) == ["A"])
        #expect(try await s.claimAll(at: Self.t0 + 29_999, kinds: [.captureReaction]).map(\.teamId) == ["B"])
        // The running capture's lease is released and it is due at the end of the wait; the later one keeps its time.
        let resumed = try #require(try await s.claimAll(at: Self.t0 + 30_000, kinds: [.captureReaction]).only)
        #expect(resumed.id == running.id)
        #expect(resumed.runAt == Self.t0 + 30_000)
        #expect(resumed.attempts == 0)
        // …and still says when it was queued: a job Slack rate-limits for a day is given up by that instant.
        #expect(resumed.createdAt == Self.t0)
        try await s.slack.finishJob(resumed, then: nil)
        #expect(try await s.claimAll(at: Self.t0 + 89_999, kinds: [.captureReaction]).filter { $0.teamId == "A" }.isEmpty)
        #expect(try await s.claimAll(at: Self.t0 + 90_000, kinds: [.captureReaction]).map(\.teamId) == ["A"])
    }

    /// A reaction that arrives while a capture of its workspace waits out Slack's 429 waits too: under Slack's limit
    /// of one `conversations.replies` a minute, running it at once would spend a call and earn another 429.
    @Test(arguments: StoreFactories.available)
    func aJobEnqueuedWhileItsKindIsRateLimitedWaitsOutTheLimit(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        func capture(_ ts: String) -> SlackJob.Work {
            .captureReaction(CaptureReactionJob(channel: "C0001", ts: ts, user: "U1", via: "reaction"))
        }
        try await s.slack.enqueue(s.job(capture("1.1"), team: "A"))
        let limited = try #require(try await s.claimAll(kinds: [.captureReaction]).only)
        try await s.slack.postponeJobs(team: "A", kind: .captureReaction, until: Self.t0 + 30_000, by: limited.lease)

        // Half a second later: another reaction in A, a notice in A, a reaction in B.
        try await s.slack.enqueue(s.job(capture("1.2"), team: "A", at: Self.t0 + 500))
        #expect(try await s.slack.nextJobDueAt(now: Self.t0 + 500, kinds: [.captureReaction]) == Self.t0 + 30_000)
        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A", at: Self.t0 + 500))
        try await s.slack.enqueue(s.job(capture("1.3"), team: "B", at: Self.t0 + 500))
        #expect(try await s.claimAll(at: Self.t0 + 500, kinds: [.notify]).map(\.teamId) == ["A"])
        #expect(try await s.claimAll(at: Self.t0 + 29_999, kinds: [.captureReaction]).map(\.teamId) == ["B"])
        // Once the wait is over, A's captures run again, one at a time.
        let first = try #require(try await s.claimAll(at: Self.t0 + 30_000, kinds: [.captureReaction]).only)
        #expect(first.teamId == "A")
        try await s.slack.finishJob(first, then: nil)
        let second = try #require(try await s.claimAll(at: Self.t0 + 30_001, kinds: [.captureReaction]).only)
        #expect(Set([first.id, second.id]).contains(limited.id))
        #expect(first.id != second.id)
    }

    @Test(arguments: StoreFactories.available)
    func finishingAJobCanEnqueueTheNextInTheSameWrite(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A", client: client))
        let job = try #require(try await s.claimAll().only)
        try await s.slack.finishJob(job, then: s.job(S.notice("A2"), team: "A", client: client))
        let next = try #require(try await s.claimAll().only)
        #expect(next.work == S.notice("A2"))
        #expect(next.clientId == client)
        #expect(next.id != job.id)
    }

    /// Only backends that store payloads as data (SQLite) can hold one that does not decode; the in-memory queue
    /// holds typed jobs, so this contract does not apply to it and it is not among the arguments.
    @Test(arguments: StoreFactories.available.filter(\.storesRawJobPayloads))
    func undecodableJobsAreParkedAndDoNotHoldUpTheirWorkspace(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let raw = try #require(s.undecodableJobs, "\(factory.name) says it stores raw payloads but gives no access")
        let bad = try await raw.insert("A", Self.t0 - 1, .captureReaction)
        try await s.slack.enqueue(s.job(S.notice("A1"), team: "A"))
        // Listing the workspace's jobs of that kind leaves it out rather than failing for all.
        #expect(try await s.slack.pendingJobs(kind: .captureReaction, team: "A").isEmpty)

        let claimed = try await s.claimAll()

        #expect(claimed.map(\.work) == [S.notice("A1")])
        #expect(try await raw.lastError(bad) == "undecodable_payload")
        let again = try await s.claimAll(at: Self.t0 + 10_000_000)
        #expect(again.map(\.work) == [S.notice("A1")])
        for job in again { try await s.slack.finishJob(job, then: nil) }
        #expect(try await s.slack.nextJobDueAt(now: Self.t0, kinds: Set(SlackJob.Kind.allCases)) == nil)
        #expect(try await raw.runAt(bad) == Int64.max)
    }

    @Test(arguments: StoreFactories.available)
    func revokeEnvelopesAreSwappedOnlyWhileTheyHoldTheExpectedOne(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.install(team: "T2", client: client, envelope: nil)
        try await s.install(team: "T1", client: client, envelope: [1, 2, 3])

        #expect(try await s.slack.handOverTokens(clientID: client, at: Self.t0) == 2)

        #expect(try await s.slack.installation(client: client) == nil)
        let revoke = try #require(try await s.slack.pendingJobs(kind: .revoke, team: nil).only)
        #expect(revoke.work == .revoke(RevokeJob(envelope: [1, 2, 3])))
        #expect(revoke.clientId == nil)
        #expect(revoke.teamId == "T1")
        #expect(try await s.slack.replaceJobWork(jobID: revoke.id, expected: .revoke(RevokeJob(envelope: [1, 2, 3])), with: .revoke(RevokeJob(envelope: [4]))))
        #expect(try await s.slack.replaceJobWork(jobID: revoke.id, expected: .revoke(RevokeJob(envelope: [1, 2, 3])), with: .revoke(RevokeJob(envelope: [5]))) == false)
        #expect(try await s.slack.pendingJobs(kind: .revoke, team: nil).map(\.work) == [.revoke(RevokeJob(envelope: [4]))])
        // One workspace's jobs of one kind.
        #expect(try await s.slack.pendingJobs(kind: .revoke, team: "T1").count == 1)
        #expect(try await s.slack.pendingJobs(kind: .revoke, team: "T2").isEmpty)
        #expect(try await s.slack.pendingJobs(kind: .recover, team: "T1").isEmpty)
    }

    /// Closing one account hands over and deletes its own workspaces' installations only: another client's
    /// workspace stays installed, token and all, and no revoke is queued for it.
    @Test(arguments: StoreFactories.available)
    func handingOverTokensLeavesOtherClientsInstallations(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.install(team: "T1", client: client, envelope: [1, 2, 3])
        try await s.install(team: "T2", client: other, envelope: [7, 8, 9])

        #expect(try await s.slack.handOverTokens(clientID: client, at: Self.t0) == 1)

        #expect(try await s.slack.installation(client: client) == nil)
        let theirs = try #require(try await s.slack.activeInstallation(team: "T2"))
        #expect(theirs.fields == s.installation(team: "T2", client: other, envelope: [7, 8, 9]).fields)
        #expect(try await s.slack.pendingJobs(kind: .revoke, team: nil).compactMap(\.teamId) == ["T1"])
    }

    @Test(arguments: StoreFactories.available)
    func erasingAClientsRecordsCountsJobsStatesAndTombstones(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.install(team: "T1", client: client)
        _ = try await s.slack.acceptUninstall(team: "T1", eventId: nil, at: Self.t0, deadline: Self.t0 + 60_000)
        try await s.slack.enqueue(s.job(S.notice("U1"), team: "T2", client: client))
        try await s.slack.enqueue(s.job(S.notice("U2"), team: "T2", client: other))
        try await s.slack.saveOAuthState(nonce: "n1", clientID: client, expiresAt: Self.t0 + 1, pruneBefore: 0)
        try await s.slack.saveOAuthState(nonce: "n2", clientID: other, expiresAt: Self.t0 + 1, pruneBefore: 0)

        let counts = try await s.slack.eraseClientRecords(clientID: client)

        #expect(counts == DeletionCounts(["jobs": 1, "oauthStates": 1, "slackTombstones": 1]))
        // The scrub (nobody's job) survives; the other client's records stay.
        #expect(try await s.claimAll(kinds: [.uninstall]).count == 1)
        #expect(try await s.claimAll(kinds: [.notify]).map(\.work) == [S.notice("U2")])
        #expect(try await s.slack.consumeOAuthState(nonce: "n2", clientID: other, now: Self.t0))
        #expect(try await s.slack.consumeOAuthState(nonce: "n1", clientID: client, now: Self.t0) == false)
    }
}
