import Feedback
import Foundation
import SlackGateway
import Synchronization
import Testing
import UseroTestSupport

@testable import Retention

/// The sweep and the account closure on the in-memory store: the rules alone, no files. (The suites next to this
/// one run the same rules on a real SQLite file, where screenshot files and restarts come in.)
@Suite struct InMemoryRetentionTests {
    static let day: TimeInterval = 86_400
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    let store = InMemoryStore()
    let clock = TestClock(InMemoryRetentionTests.now)

    func makeClient(_ plan: Plan = .free) async throws -> String {
        try await store.createClient(name: "Acme", plan: plan, allowedOrigins: [], at: Self.now).0.id
    }

    @discardableResult
    func item(_ clientID: String, age: TimeInterval, screenshots: [ScreenshotRef] = [], email: String? = nil)
        async throws -> String
    {
        let draft = FeedbackDraft(
            clientId: clientID, source: .api, comment: "Feedback", userEmail: email, screenshots: screenshots)
        return try await store.insert(draft, at: Self.now.addingTimeInterval(-age), origin: nil).id
    }

    func upload(_ clientID: String, age: TimeInterval) async throws -> ScreenshotRef {
        let created = Self.now.addingTimeInterval(-age)
        let fileName = "\(clientID)/\(epochMillis(created))-\(Identifiers.random(8)).png"
        try await store.saveScreenshot(
            StoredScreenshot(
                fileName: fileName, clientId: clientID, mimeType: "image/png", fileSize: 4, width: 1, height: 1,
                createdAt: created),
            bytes: [1, 2, 3, 4])
        return ScreenshotRef(
            fileName: fileName, url: "https://usero.test/api/screenshots/\(fileName)", fileSize: 4,
            mimeType: "image/png", width: 1, height: 1)
    }

    func exists(_ id: String) -> Bool { store.withState { $0.feedback[id] != nil } }
    func exists(_ shot: ScreenshotRef) -> Bool { store.withState { $0.screenshots[shot.fileName] != nil } }

    var sweeper: RetentionSweeper {
        var policy = RetentionPolicy.standard
        policy.pauseBetweenBatches = .zero
        return RetentionSweeper(store: store, feedback: store, clock: clock, policy: policy)
    }

    // MARK: Sweep

    @Test func aFreeClientsFeedbackExpiresAfterThirtyDays() async throws {
        let client = try await makeClient(.free)
        let expired = try await item(client, age: 30 * Self.day + 60)
        let kept = try await item(client, age: 30 * Self.day - 60)

        let summary = try await sweeper.sweep(asOf: Self.now)

        #expect(!exists(expired))
        #expect(exists(kept))
        #expect(summary.feedback == 1)
        #expect(summary.clients == 1)
        #expect(try await sweeper.sweep(asOf: Self.now).total == 0)
    }

    @Test func aPaidClientKeepsItsFeedback() async throws {
        let client = try await makeClient(.paid)
        let old = try await item(client, age: 400 * Self.day)

        let summary = try await sweeper.sweep(asOf: Self.now)

        #expect(exists(old))
        #expect(summary.total == 0)
        #expect(try await store.auditEntries(clientID: client, limit: 10).isEmpty)
    }

    @Test func expiredFeedbackTakesItsScreenshotsAlong() async throws {
        let client = try await makeClient(.free)
        let shot = try await upload(client, age: 40 * Self.day)
        try await item(client, age: 40 * Self.day, screenshots: [shot])

        let summary = try await sweeper.sweep(asOf: Self.now)

        #expect(summary.feedback == 1)
        #expect(summary.screenshots == 1)
        #expect(!exists(shot))
    }

    @Test func uploadsNeverAttachedGoAfterADayOnEveryPlan() async throws {
        let client = try await makeClient(.paid)
        let stray = try await upload(client, age: Self.day + 60)
        let fresh = try await upload(client, age: Self.day - 60)
        let attached = try await upload(client, age: 90 * Self.day)
        try await item(client, age: 90 * Self.day, screenshots: [attached])

        let summary = try await sweeper.sweep(asOf: Self.now)

        #expect(summary.orphanScreenshots == 1)
        #expect(!exists(stray))
        #expect(exists(fresh))
        #expect(exists(attached))
    }

    @Test func eachClientGetsOneAuditEntryWithItsCountsAndWhenTheDeletionBecameDue() async throws {
        // Given a free client with 7 expired rows (over three batches of 3), one with a screenshot, and a stray upload
        let client = try await makeClient(.free)
        let bystander = try await makeClient(.free)
        let shot = try await upload(client, age: 35 * Self.day)
        try await item(client, age: 35 * Self.day, screenshots: [shot])
        for i in 0..<6 { try await item(client, age: 31 * Self.day + Double(i)) }
        _ = try await upload(client, age: 2 * Self.day)
        try await item(bystander, age: Self.day)
        var policy = RetentionPolicy.standard
        policy.batchSize = 3
        policy.pauseBetweenBatches = .zero
        clock.advance(by: 5)

        // When swept
        let summary = try await RetentionSweeper(store: store, feedback: store, clock: clock, policy: policy)
            .sweep(asOf: Self.now)

        // Then one entry holds everything it deleted, due when the oldest row turned 30 days old
        #expect(summary.feedback == 7)
        let entry = try #require(try await store.auditEntries(clientID: client, limit: 10).only)
        #expect(entry.kind == "retention_sweep")
        #expect(entry.counts == DeletionCounts(["feedback": 7, "screenshots": 1, "orphanScreenshots": 1]))
        #expect(entry.dueAt == Self.now.addingTimeInterval(-5 * Self.day))
        #expect(entry.finishedAt == Self.now.addingTimeInterval(5))
        // A client that lost nothing has no entry.
        #expect(try await store.auditEntries(clientID: bystander, limit: 10).isEmpty)
    }

    @Test func aClientMovedToFreeLosesItsOldRowsAtTheNextSweep() async throws {
        let client = try await makeClient(.paid)
        let old = try await item(client, age: 60 * Self.day)
        #expect(try await sweeper.sweep(asOf: Self.now).total == 0)
        _ = try await store.updatePlan(clientID: client, plan: .free)
        #expect(try await sweeper.sweep(asOf: Self.now).feedback == 1)
        #expect(!exists(old))
    }

    // MARK: Account closure

    /// An `AccountDataOwner` that erases `count` things once (what is gone stays gone) and remembers every call.
    final class RecordingOwner: AccountDataOwner {
        let kind: String
        private let state: Mutex<(calls: [String], left: Int)>

        init(kind: String, count: Int) {
            self.kind = kind
            state = Mutex(([], count))
        }

        var calls: [String] { state.withLock { $0.calls } }

        func eraseAccountData(clientID: String, at: Date) async throws -> DeletionCounts {
            state.withLock { state in
                state.calls.append(clientID)
                defer { state.left = 0 }
                return DeletionCounts([kind: state.left])
            }
        }
    }

    func seedAccount() async throws -> (client: String, bystander: String) {
        let client = try await makeClient(.paid)
        let bystander = try await makeClient(.free)
        let shot = try await upload(client, age: 0)
        _ = try await upload(client, age: 0)
        try await item(client, age: 0, screenshots: [shot])
        for i in 1...4 { try await item(client, age: Double(i)) }
        try await item(bystander, age: 0)
        try await store.upsertEndUser(
            clientID: client, try IdentifyParser().parse(Array(#"{"clientId":"x","userId":"u1","email":"a@b.co"}"#.utf8)),
            at: epochMillis(Self.now))
        try await store.upsertEndUser(
            clientID: bystander, try IdentifyParser().parse(Array(#"{"clientId":"x","userId":"u1"}"#.utf8)),
            at: epochMillis(Self.now))
        return (client, bystander)
    }

    @Test func closingAnAccountAsksEveryOwnerAndCompletes() async throws {
        // Given an account with feedback, uploads, an end user and two other modules holding its data
        let (client, bystander) = try await seedAccount()
        let slack = RecordingOwner(kind: "slackInstallations", count: 1)
        let inbox = RecordingOwner(kind: "inboxSessions", count: 2)
        clock.advance(by: 7)
        let closer = AccountCloser(store: store, feedback: store, owners: [slack, inbox], clock: clock)

        // When it is closed
        let counts = try await closer.close(clientID: client)

        // Then every owner was asked (at the first step and again before the last), and everything is gone
        #expect(slack.calls == [client, client])
        #expect(inbox.calls == [client, client])
        #expect(
            counts
                == DeletionCounts([
                    "feedback": 5, "screenshots": 2, "endUsers": 1, "slackInstallations": 1, "inboxSessions": 2,
                ]))
        #expect(try await store.client(id: client) == nil)
        #expect(store.withState { $0.clients[client] == nil && $0.closing[client] == nil })
        #expect(store.withState { state in state.feedback.values.allSatisfy { $0.clientId == bystander } })
        #expect(store.withState { $0.screenshots.isEmpty })
        #expect(try await store.endUser(clientID: client, userID: "u1") == nil)
        #expect(try await store.endUser(clientID: bystander, userID: "u1") != nil)
        let entry = try #require(try await store.auditEntries(clientID: client, limit: 10).only)
        #expect(entry.kind == "account_closure")
        #expect(entry.counts == counts)
        #expect(entry.dueAt == Self.now.addingTimeInterval(7))
        #expect(try await store.pendingAccountClosures().isEmpty)
        // A closed account cannot be closed again.
        await #expect(throws: FeedbackError.unauthorized) { try await closer.close(clientID: client) }
    }

    @Test func theSlackOwnerHandsTheTokenToARevokeJobThatOutlivesTheClient() async throws {
        let (client, _) = try await seedAccount()
        let installation = Installation(
            teamId: "T0001", clientId: client, enterpriseId: nil, teamName: nil, botUserId: "U0009", botId: "B0001",
            appId: nil, scopes: "chat:write", installerUserId: nil, tokenEnvelope: [1, 2, 3, 4], tokenKeyId: "k1",
            installedAt: epochMillis(Self.now))
        #expect(try await store.saveInstallation(installation) == .saved)
        try await store.saveOAuthState(nonce: "n1", clientID: client, expiresAt: epochMillis(Self.now) + 600_000, pruneBefore: 0)

        let counts = try await AccountCloser(
            store: store, feedback: store, owners: [SlackAccountData(store: store, wakeup: nil)], clock: clock
        ).close(clientID: client)

        #expect(counts["slackInstallations"] == 1)
        #expect(counts["oauthStates"] == 1)
        #expect(try await store.installation(client: client) == nil)
        let revoke = try #require(store.jobs.only)
        #expect(revoke.work == .revoke(RevokeJob(envelope: [1, 2, 3, 4])))
        #expect(revoke.clientId == nil)
    }

    /// Two clients' workspaces can share a member (Slack Connect, or one person in both): exporting or erasing that
    /// member for one client lists and cancels that client's queued work only. The other client's notice to the
    /// member is neither shown in this client's export nor lost.
    @Test func theSlackOwnerListsAndCancelsOnlyThisClientsQueuedWorkForASharedMember() async throws {
        let client = try await makeClient()
        let other = try await makeClient()
        let now = epochMillis(Self.now)
        for (clientID, team) in [(client, "T0001"), (other, "T0002")] {
            try await store.enqueue(
                NewSlackJob(
                    clientId: clientID, teamId: team,
                    work: .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "captured")), runAt: now))
        }
        let slack = SlackAccountData(store: store, wakeup: nil)

        // The export for the client lists its own notice, not the other client's
        let listed = try await slack.queuedWork(clientID: client, slackMember: "U0001")
        #expect(listed.map(\.kind) == ["Slack: a notice to them about a forward"])

        // and the erasure cancels that one alone.
        #expect(try await slack.cancelQueuedWork(clientID: client, slackMember: "U0001", at: now) == 1)
        let kept = try #require(store.jobs.only)
        #expect(kept.clientId == other)
        #expect(try await slack.queuedWork(clientID: other, slackMember: "U0001").count == 1)
    }

    /// The Home tab waiting to be published for a member is work in their name: their export lists it, and erasing
    /// them cancels it with their notices.
    @Test func aMembersQueuedHomeTabIsListedAndCancelledWithTheirOtherWork() async throws {
        let client = try await makeClient()
        let now = epochMillis(Self.now)
        for work: SlackJob.Work in [
            .publishHome(PublishHomeJob(user: "U0001")), .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "captured")),
            .publishHome(PublishHomeJob(user: "U0002")),
        ] {
            try await store.enqueue(NewSlackJob(clientId: client, teamId: "T0001", work: work, runAt: now))
        }
        let slack = SlackAccountData(store: store, wakeup: nil)

        let listed = try await slack.queuedWork(clientID: client, slackMember: "U0001")
        #expect(Set(listed.map(\.kind)) == ["Slack: their Home tab, to update", "Slack: a notice to them about a forward"])
        #expect(try await slack.cancelQueuedWork(clientID: client, slackMember: "U0001", at: now) == 2)
        #expect(store.jobs.only?.work == .publishHome(PublishHomeJob(user: "U0002")))
    }

    @Test func finishPendingCompletesAClosureInterruptedHalfWay() async throws {
        // Given a closure that stopped after its first step and one batch of 2
        let (client, _) = try await seedAccount()
        let owner = RecordingOwner(kind: "slackInstallations", count: 1)
        var policy = RetentionPolicy.standard
        policy.batchSize = 2
        let closer = AccountCloser(store: store, feedback: store, owners: [owner], clock: clock, policy: policy)
        #expect(try await closer.begin(clientID: client))
        #expect(try await closer.finish(clientID: client, maxBatches: 1) == nil)
        #expect(store.withState { $0.feedback.values.filter { $0.clientId == client }.count } == 3)
        #expect(try await store.client(id: client) == nil)
        #expect(try await store.pendingAccountClosures() == [client])

        // When pending closures are finished (as at startup)
        let finished = try await closer.finishPending()

        // Then it completes, and the entry counts what both runs deleted
        #expect(finished == 1)
        #expect(store.withState { $0.clients[client] == nil })
        #expect(store.withState { $0.feedback.values.allSatisfy { $0.clientId != client } })
        let entry = try #require(try await store.auditEntries(clientID: client, limit: 10).only)
        #expect(entry.counts["feedback"] == 5)
        #expect(entry.counts["screenshots"] == 2)
        #expect(entry.counts["endUsers"] == 1)
        #expect(entry.counts["slackInstallations"] == 1)
        #expect(owner.calls == [client, client])
        #expect(try await closer.finishPending() == 0)
    }
}

extension Collection {
    /// The single element, or nil when there are none or several.
    var only: Element? { count == 1 ? first : nil }
}
