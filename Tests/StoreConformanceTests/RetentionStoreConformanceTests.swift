import Feedback
import Foundation
import Retention
import SlackGateway
import Testing

/// `RetentionStore`'s contracts (and the audit trail other modules write through `DeletionAuditor`), on every
/// backend.
@Suite struct RetentionStoreConformanceTests {
    typealias S = StoreUnderTest
    static let t0 = StoreUnderTest.t0Millis

    /// Records a batch into `progress`'s entry: rows and screenshots, due a second after the oldest row.
    static func audit(_ progress: AuditProgress) -> BatchRecord {
        .audit(
            progress, counts: { DeletionCounts(["feedback": $0.rows, "screenshots": $0.screenshots]) },
            dueAt: { $0.oldestCreatedAt.map { $0 + 1_000 } })
    }

    @Test(arguments: StoreFactories.available)
    func clientPlansAreTheLiveClientsWithTheirPlans(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let free = try await s.client(.free)
        let paid = try await s.client(.paid)
        let closing = try await s.client(.free)
        #expect(try await s.retention.beginAccountClosure(clientID: closing, at: Self.t0))
        let plans = try await s.retention.clientPlans()
        #expect(Set(plans.map(\.clientID)) == [free, paid])
        #expect(plans.first { $0.clientID == paid }?.plan == .paid)
        #expect(plans.first { $0.clientID == free }?.plan == .free)
    }

    // MARK: Batches

    /// A sweep reads the plans once, then deletes batch by batch for a long while (a million rows take about a
    /// minute): each batch checks the plan in its own transaction, so a client moved to paid meanwhile loses nothing
    /// more. (An outside review moved a client to paid while 52,750 expired rows were left; the running sweep
    /// deleted them all.)
    @Test(arguments: StoreFactories.available)
    func aBatchOfExpiredRowsDeletesNothingOnceTheClientIsOnAnotherPlan(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client(.free)
        for second in [1.0, 2, 3, 4] { try await s.item(client, at: second) }
        let expired = FeedbackSelection.createdBefore(clientID: client, cutoff: Self.t0 + 50_000, plan: .free)
        let first = try await s.retention.deleteFeedbackBatch(expired, limit: 2, at: Self.t0, record: .none)
        #expect(first?.batch.rows == 2)

        _ = try await s.feedback.updatePlan(clientID: client, plan: .paid)
        let second = try await s.retention.deleteFeedbackBatch(expired, limit: 2, at: Self.t0, record: .none)
        #expect(second?.batch.rows ?? 0 == 0)
        #expect(try await s.items(client).count == 2)
    }

    @Test(arguments: StoreFactories.available)
    func feedbackBatchesDeleteUpToTheLimitOfOneClientsOlderRowsWithTheirScreenshots(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let shot = try await s.upload(client)
        try await s.item(client, at: 1, screenshots: [shot])
        for second in [2.0, 3, 4] { try await s.item(client, at: second) }
        let recent = try await s.item(client, at: 100)
        let bystander = try await s.item(other, at: 1)
        let cutoff = Self.t0 + 50_000

        let first = try #require(
            try await s.retention.deleteFeedbackBatch(
                .createdBefore(clientID: client, cutoff: cutoff, plan: .free), limit: 3, at: Self.t0, record: .none))
        let second = try #require(
            try await s.retention.deleteFeedbackBatch(
                .createdBefore(clientID: client, cutoff: cutoff, plan: .free), limit: 3, at: Self.t0, record: .none))
        let third = try #require(
            try await s.retention.deleteFeedbackBatch(
                .createdBefore(clientID: client, cutoff: cutoff, plan: .free), limit: 3, at: Self.t0, record: .none))
        try await s.feedback.purgeDeletedScreenshots()

        #expect(first.batch.rows == 3)
        #expect(second.batch.rows == 1)
        #expect(third.batch == DeletionBatch())
        #expect(first.batch.screenshots + second.batch.screenshots == 1)
        #expect([first.batch.oldestCreatedAt, second.batch.oldestCreatedAt].compactMap { $0 }.min() == Self.t0 + 1_000)
        #expect(first.audit == nil)
        #expect(try await s.items(client).map(\.id) == [recent.id])
        #expect(try await s.items(other).map(\.id) == [bystander.id])
        #expect(try await s.feedback.screenshot(fileName: shot.fileName) == nil)
        #expect(try await s.feedback.screenshotBytes(fileName: shot.fileName) == nil)
    }

    @Test(arguments: StoreFactories.available)
    func batchesRecordedAsAuditAddUpInOneEntry(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        for second in [5.0, 1, 3] { try await s.item(client, at: second) }
        let selection = FeedbackSelection.client(client)

        // Nothing deleted yet: no entry either.
        let start = AuditProgress(kind: .retentionSweep, clientID: client)
        let empty = try await s.retention.deleteUnattachedUploadBatch(
            clientID: client, uploadedBefore: nil, limit: 2, at: Self.t0, record: Self.audit(start))
        #expect(empty?.audit == start)
        #expect(try await s.retention.auditEntries(clientID: client, limit: 10).isEmpty)

        let first = try #require(
            try await s.retention.deleteFeedbackBatch(selection, limit: 2, at: Self.t0 + 10, record: Self.audit(start)))
        let progress = try #require(first.audit)
        #expect(progress.entryID != nil)
        #expect(progress.counts == DeletionCounts(["feedback": 2]))
        let second = try #require(
            try await s.retention.deleteFeedbackBatch(selection, limit: 2, at: Self.t0 + 20, record: Self.audit(progress)))

        #expect(second.audit?.entryID == progress.entryID)
        #expect(second.audit?.counts == DeletionCounts(["feedback": 3]))
        let entry = try #require(try await s.retention.auditEntries(clientID: client, limit: 10).only)
        #expect(entry.kind == "retention_sweep")
        #expect(entry.clientId == client)
        #expect(entry.counts == DeletionCounts(["feedback": 3]))
        // Due when the oldest deleted row became due (its created_at + 1 s here); finished with the last batch.
        #expect(entry.dueAt == dateFromEpochMillis(Self.t0 + 1_000 + 1_000))
        #expect(entry.finishedAt == dateFromEpochMillis(Self.t0 + 20))
    }

    @Test(arguments: StoreFactories.available)
    func unattachedUploadBatchesTakeOnlyStraysOlderThanTheCutoff(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let old = try await s.upload(client, at: 1)
        let fresh = try await s.upload(client, at: 100)
        let attached = try await s.upload(client, at: 0)
        try await s.item(client, screenshots: [attached])
        let theirs = try await s.upload(other, at: 1)

        let batch = try #require(
            try await s.retention.deleteUnattachedUploadBatch(
                clientID: client, uploadedBefore: Self.t0 + 50_000, limit: 10, at: Self.t0, record: .none))
        try await s.feedback.purgeDeletedScreenshots()

        #expect(batch.batch == DeletionBatch(rows: 1, screenshots: 0, oldestCreatedAt: Self.t0 + 1_000))
        #expect(try await s.feedback.screenshot(fileName: old.fileName) == nil)
        #expect(try await s.feedback.screenshotBytes(fileName: old.fileName) == nil)
        for kept in [fresh, attached, theirs] {
            #expect(try await s.feedback.screenshot(fileName: kept.fileName) != nil)
        }
        // Without a cutoff (account closure) every stray goes.
        let all = try await s.retention.deleteUnattachedUploadBatch(
            clientID: client, uploadedBefore: nil, limit: 10, at: Self.t0, record: .none)
        #expect(all?.batch.rows == 1)
        #expect(try await s.feedback.screenshot(fileName: attached.fileName) != nil)
    }

    /// A cutoff is "created before" it, strictly: a row or a stray upload made at the very instant of the cutoff
    /// (an item exactly as old as its plan keeps) stays, as does anything later; what came earlier goes.
    @Test(arguments: StoreFactories.available)
    func aRowOrStrayUploadMadeAtTheCutoffItselfIsKept(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let cutoff = Self.t0 + 50_000
        let before = try await s.item(client, at: 49)
        let atCutoff = try await s.item(client, at: 50)
        let after = try await s.item(client, at: 51)
        let strayBefore = try await s.upload(client, at: 49)
        let strayAtCutoff = try await s.upload(client, at: 50)

        let rows = try #require(
            try await s.retention.deleteFeedbackBatch(
                .createdBefore(clientID: client, cutoff: cutoff, plan: .free), limit: 10, at: Self.t0 + 60_000, record: .none))
        let strays = try #require(
            try await s.retention.deleteUnattachedUploadBatch(
                clientID: client, uploadedBefore: cutoff, limit: 10, at: Self.t0 + 60_000, record: .none))

        #expect(rows.batch.rows == 1)
        #expect(strays.batch.rows == 1)
        let left = Set(try await s.items(client).map(\.id))
        #expect(!left.contains(before.id))
        #expect(left == [atCutoff.id, after.id])
        #expect(try await s.feedback.screenshot(fileName: strayBefore.fileName) == nil)
        #expect(try await s.feedback.screenshot(fileName: strayAtCutoff.fileName) != nil)
    }

    // MARK: Account closure

    @Test(arguments: StoreFactories.available)
    func anAccountClosureBeginsOnceCountsItsBatchesAndCompletesWithItsAuditEntry(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let later = try await s.client()
        let shot = try await s.upload(client)
        _ = try await s.upload(client)
        try await s.item(client, screenshots: [shot])
        try await s.item(client)
        try await s.identify(client, #"{"clientId":"x","userId":"u1"}"#)
        try await s.identify(client, #"{"clientId":"x","userId":"u2"}"#)
        // Another client's end user, with the same id: the closure of `client` leaves it
        try await s.identify(later, #"{"clientId":"x","userId":"u1"}"#)
        let record = BatchRecord.closure(clientID: client) {
            DeletionCounts(["feedback": $0.rows, "screenshots": $0.screenshots])
        }

        // Not pending yet: nothing is deleted or counted.
        #expect(try await s.retention.deleteFeedbackBatch(.client(client), limit: 10, at: Self.t0, record: record) == nil)
        #expect(try await s.retention.deleteEndUserBatch(clientID: client, limit: 10) == nil)
        #expect(try await s.retention.addClosureProgress(clientID: client, counts: DeletionCounts(["x": 1])) == false)
        #expect(try await s.retention.completeAccountClosure(clientID: client, at: Self.t0) == nil)
        #expect(try await s.items(client).count == 2)

        #expect(try await s.retention.beginAccountClosure(clientID: "client_unknown", at: Self.t0) == false)
        #expect(try await s.retention.beginAccountClosure(clientID: client, at: Self.t0 + 1))
        #expect(try await s.retention.beginAccountClosure(clientID: client, at: Self.t0 + 2) == false)
        #expect(try await s.retention.beginAccountClosure(clientID: later, at: Self.t0 + 3))
        #expect(try await s.retention.pendingAccountClosures() == [client, later])

        let deleted = try await s.retention.deleteFeedbackBatch(.client(client), limit: 10, at: Self.t0, record: record)
        #expect(deleted?.batch.rows == 2)
        let strays = try await s.retention.deleteUnattachedUploadBatch(
            clientID: client, uploadedBefore: nil, limit: 10, at: Self.t0,
            record: .closure(clientID: client) { DeletionCounts(["screenshots": $0.rows]) })
        #expect(strays?.batch.rows == 1)
        #expect(try await s.retention.deleteEndUserBatch(clientID: client, limit: 1) == 1)
        #expect(try await s.retention.deleteEndUserBatch(clientID: client, limit: 1) == 1)
        #expect(try await s.retention.deleteEndUserBatch(clientID: client, limit: 1) == 0)
        #expect(try await s.retention.endUser(clientID: later, userID: "u1") != nil)
        #expect(try await s.retention.addClosureProgress(clientID: client, counts: DeletionCounts(["slackInstallations": 1])))

        let counts = try await s.retention.completeAccountClosure(clientID: client, at: Self.t0 + 9)

        let expected = DeletionCounts(["feedback": 2, "screenshots": 2, "endUsers": 2, "slackInstallations": 1])
        #expect(counts == expected)
        #expect(try await s.retention.pendingAccountClosures() == [later])
        #expect(try await s.retention.completeAccountClosure(clientID: client, at: Self.t0 + 10) == nil)
        #expect(try await s.retention.beginAccountClosure(clientID: client, at: Self.t0 + 10) == false)
        let entry = try #require(try await s.retention.auditEntries(clientID: client, limit: 10).only)
        #expect(entry.kind == "account_closure")
        #expect(entry.counts == expected)
        #expect(entry.dueAt == dateFromEpochMillis(Self.t0 + 1))
        #expect(entry.finishedAt == dateFromEpochMillis(Self.t0 + 9))
    }

    @Test(arguments: StoreFactories.available)
    func completingAClosureTakesWhateverARaceLeftBehind(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let shot = try await s.upload(client)
        try await s.item(client, screenshots: [shot])
        #expect(try await s.retention.beginAccountClosure(clientID: client, at: Self.t0))

        _ = try await s.retention.completeAccountClosure(clientID: client, at: Self.t0)
        try await s.feedback.purgeDeletedScreenshots()

        #expect(try await s.items(client).isEmpty)
        #expect(try await s.feedback.screenshotBytes(fileName: shot.fileName) == nil)
    }

    /// Completing one client's closure queues only that client's files: another client's screenshots, attached or
    /// not yet, keep their bytes once the deletion queue is purged.
    @Test(arguments: StoreFactories.available)
    func completingAClosureLeavesAnotherClientsScreenshotFiles(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let shot = try await s.upload(client)
        try await s.item(client, screenshots: [shot])
        let attached = try await s.upload(other)
        try await s.item(other, screenshots: [attached])
        let stray = try await s.upload(other)
        #expect(try await s.retention.beginAccountClosure(clientID: client, at: Self.t0))

        _ = try await s.retention.completeAccountClosure(clientID: client, at: Self.t0)
        try await s.feedback.purgeDeletedScreenshots()

        #expect(try await s.feedback.screenshotBytes(fileName: shot.fileName) == nil)
        #expect(try await s.feedback.screenshotBytes(fileName: attached.fileName) != nil)
        #expect(try await s.feedback.screenshotBytes(fileName: stray.fileName) != nil)
        #expect(try await s.items(other).count == 1)
    }

    // MARK: End users

    /// An identify whose client is gone by the time it writes (a closure that finished after the request looked its
    /// client up) is an unknown client, as one never made is, and writes nothing (it once met the foreign key: a 500).
    @Test(arguments: StoreFactories.available)
    func anEndUserOfAClientThatIsGoneIsRefused(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        await #expect(throws: FeedbackError.unknownClient) {
            try await s.identify("client_gone", #"{"clientId":"x","userId":"u1","email":"ada@example.com"}"#)
        }
        #expect(try await s.retention.endUser(clientID: "client_gone", userID: "u1") == nil)
    }

    @Test(arguments: StoreFactories.available)
    func anEndUserIsCreatedThenUpdatedFieldByField(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()

        try await s.identify(client, #"{"clientId":"x","userId":"u1","email":"ada@example.com","name":"Ada","traits":{"plan":"pro","seats":3}}"#, at: Self.t0)
        let created = try #require(try await s.retention.endUser(clientID: client, userID: "u1"))
        #expect(created.email == "ada@example.com")
        #expect(created.name == "Ada")
        #expect(created.traits == ["plan": .string("pro"), "seats": .int(3)])
        #expect(created.createdAt == dateFromEpochMillis(Self.t0))
        #expect(created.updatedAt == dateFromEpochMillis(Self.t0))

        // Absent keeps, null clears, a value sets.
        try await s.identify(client, #"{"clientId":"x","userId":"u1","name":null,"traits":{"plan":"team"}}"#, at: Self.t0 + 5)
        let updated = try #require(try await s.retention.endUser(clientID: client, userID: "u1"))
        #expect(updated.email == "ada@example.com")
        #expect(updated.name == nil)
        #expect(updated.traits == ["plan": .string("team")])
        #expect(updated.createdAt == dateFromEpochMillis(Self.t0))
        #expect(updated.updatedAt == dateFromEpochMillis(Self.t0 + 5))

        try await s.identify(client, #"{"clientId":"x","userId":"u1","email":null,"traits":null}"#, at: Self.t0 + 6)
        let cleared = try #require(try await s.retention.endUser(clientID: client, userID: "u1"))
        #expect(cleared.email == nil)
        #expect(cleared.traits == nil)
        #expect(try await s.retention.endUser(clientID: other, userID: "u1") == nil)
    }

    // MARK: Data subjects

    /// A person's export is read a page at a time: newest first, items of one instant by id, each once across the
    /// pages, with the screenshots of that page's items (one named by two of them listed for each).
    @Test(arguments: StoreFactories.available)
    func anExportPageTakesItsItemsAfterThePositionNewestFirst(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let shot = try await s.upload(client)
        var items: [FeedbackItem] = []
        for seconds in [1.0, 2, 2, 2, 3] {
            items.append(try await s.item(client, at: seconds, email: "ada@example.com", screenshots: items.count < 2 ? [shot] : []))
        }
        try await s.item(client, at: 4, email: "bob@example.com")
        let scope = try await s.retention.resolve(.email("ada@example.com"), clientID: client)
        let expected = items.sorted { (epochMillis($0.createdAt), $0.id) > (epochMillis($1.createdAt), $1.id) }.map(\.id)
        var listed: [String] = []
        var position: SubjectItemPosition?
        var pages = 0
        while pages < 10 {
            let page = try await s.retention.exportPage(scope, after: position, limit: 2)
            pages += 1
            listed += page.feedback.map(\.id)
            let ids = Set(page.feedback.map(\.id))
            #expect(page.screenshots.allSatisfy { ids.contains($0.feedbackId) && $0.fileName == shot.fileName })
            #expect(page.screenshots.count == page.feedback.filter { [items[0].id, items[1].id].contains($0.id) }.count)
            guard let last = page.feedback.last else { break }
            position = SubjectItemPosition(after: last)
        }
        #expect(listed == expected)
        #expect(pages == 4)  // 2, 2, 1, then an empty page
        #expect(try await s.retention.exportPage(scope, after: nil, limit: 0).feedback.isEmpty)
        #expect(try await s.retention.exportEndUsers(scope).isEmpty)
    }

    @Test(arguments: StoreFactories.available)
    func anEmailReachesItsEndUsersAndTheirItemsAndAnErasureIsOnRecord(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.identify(client, #"{"clientId":"x","userId":"u1","email":"Ada@Example.com"}"#)
        try await s.identify(client, #"{"clientId":"x","userId":"u2","email":"bob@example.com"}"#)
        // Another client's user with the same id (ids are the customer's own, so they repeat across clients)
        try await s.identify(other, #"{"clientId":"x","userId":"u1","email":"someone@example.com"}"#)
        let shot = try await s.upload(client)
        let byEmail = try await s.item(client, at: 1, email: "ada@EXAMPLE.com", screenshots: [shot])
        let byUser = try await s.item(client, at: 2, userId: "u1")
        let someoneElse = try await s.item(client, at: 3, email: "bob@example.com")
        let otherClient = try await s.item(other, at: 4, email: "ada@example.com")

        let scope = try await s.retention.resolve(.email("ada@example.com"), clientID: client)
        #expect(scope.userIDs == ["u1"])
        let export = try await s.retention.export(scope)
        #expect(export.endUsers.map(\.userId) == ["u1"])
        #expect(export.feedback.map(\.id) == [byUser.id, byEmail.id])
        #expect(export.screenshots.map(\.fileName) == [shot.fileName])
        #expect(export.screenshots.first?.feedbackId == byEmail.id)
        #expect(try await s.retention.resolve(.userID("u1"), clientID: client).emails == ["Ada@Example.com"])

        // Erase: the rows in batches, then the end users and the entry in one write.
        var audit = AuditProgress(kind: .privacyErasure, clientID: client)
        let batch = try #require(
            try await s.retention.deleteFeedbackBatch(
                .subject(scope), limit: 10, at: Self.t0 + 5,
                record: .audit(audit, counts: { DeletionCounts(["feedback": $0.rows, "screenshots": $0.screenshots]) }, dueAt: { _ in Self.t0 })))
        audit = try #require(batch.audit)
        let counts = try await s.retention.finishErasure(scope, audit: audit, dueAt: Self.t0, at: Self.t0 + 6)

        #expect(counts == DeletionCounts(["feedback": 2, "screenshots": 1, "endUsers": 1]))
        #expect(try await s.items(client).map(\.id) == [someoneElse.id])
        #expect(try await s.items(other).map(\.id) == [otherClient.id])
        #expect(try await s.retention.endUser(clientID: client, userID: "u1") == nil)
        #expect(try await s.retention.endUser(clientID: client, userID: "u2") != nil)
        #expect(try await s.retention.endUser(clientID: other, userID: "u1") != nil)
        let entry = try #require(try await s.retention.auditEntries(clientID: client, limit: 10).only)
        #expect(entry.kind == "privacy_erasure")
        #expect(entry.counts == counts)
        #expect(entry.dueAt == dateFromEpochMillis(Self.t0))
        #expect(entry.finishedAt == dateFromEpochMillis(Self.t0 + 6))
    }

    /// An email resolves to the asking client's end users only: another client's end user with that email lends it
    /// no user id, so the asking client's own user with the same id (someone else there) keeps their record and items.
    @Test(arguments: StoreFactories.available)
    func anEmailResolvesOnlyThroughItsOwnClientsEndUsers(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.identify(client, #"{"clientId":"x","userId":"u2","email":"bob@example.com"}"#)
        try await s.identify(other, #"{"clientId":"x","userId":"u2","email":"ada@example.com"}"#)
        let bobs = try await s.item(client, at: 1, userId: "u2")

        let scope = try await s.retention.resolve(.email("ada@example.com"), clientID: client)
        #expect(scope.userIDs.isEmpty)
        let export = try await s.retention.export(scope)
        #expect(export.endUsers.isEmpty)
        #expect(export.feedback.isEmpty)
        _ = try await s.retention.deleteFeedbackBatch(.subject(scope), limit: 10, at: Self.t0, record: .none)
        _ = try await s.retention.finishErasure(
            scope, audit: AuditProgress(kind: .privacyErasure, clientID: client), dueAt: Self.t0, at: Self.t0)

        #expect(try await s.items(client).map(\.id) == [bobs.id])
        #expect(try await s.retention.endUser(clientID: client, userID: "u2")?.email == "bob@example.com")
        #expect(try await s.retention.endUser(clientID: other, userID: "u2") != nil)
    }

    /// An identify racing an erasure by email comes either before it or after it, never half of each: an end user
    /// linked to the email after the request resolved its person keeps its record and its items (it came after);
    /// one resolved at the start whose email changes meanwhile goes, as its items went (it came before). The end
    /// users were deleted by a fresh email match at the end, so the first lost its record and kept its items, and the
    /// second kept its record.
    @Test(arguments: StoreFactories.available)
    func anIdentifyRacingAnErasureComesWhollyBeforeOrAfterIt(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.identify(client, #"{"clientId":"x","userId":"u1","email":"ada@example.com"}"#)
        _ = try await s.item(client, at: 1, email: "ada@example.com")
        _ = try await s.item(client, at: 2, userId: "u1")
        let laterItem = try await s.item(client, at: 3, userId: "u42")

        let scope = try await s.retention.resolve(.email("ada@example.com"), clientID: client)
        #expect(scope.userIDs == ["u1"])
        // Meanwhile: u42 is identified with Ada's email, u1 changes its email.
        try await s.identify(client, #"{"clientId":"x","userId":"u42","email":"ada@example.com"}"#)
        try await s.identify(client, #"{"clientId":"x","userId":"u1","email":"ada.new@example.com","name":"Ada"}"#)
        _ = try await s.retention.deleteFeedbackBatch(.subject(scope), limit: 10, at: Self.t0, record: .none)
        let counts = try await s.retention.finishErasure(
            scope, audit: AuditProgress(kind: .privacyErasure, clientID: client), dueAt: Self.t0, at: Self.t0)

        #expect(counts["endUsers"] == 1)
        #expect(try await s.retention.endUser(clientID: client, userID: "u1") == nil)
        #expect(try await s.retention.endUser(clientID: client, userID: "u42")?.email == "ada@example.com")
        #expect(try await s.items(client).map(\.id) == [laterItem.id])
    }

    /// An address with letters beyond ASCII reaches its end user and items as given, its ASCII letters in any case.
    /// (PostgreSQL once lowered the asked-for address with the database's locale and the stored one with the
    /// column's "C" collation, so `Åsa…` asked for as written matched nothing there, and its erasure deleted nothing.)
    @Test(arguments: StoreFactories.available)
    func anAddressWithLettersBeyondASCIIReachesItsEndUserAndItems(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        try await s.identify(client, #"{"clientId":"x","userId":"u1","email":"Åsa.Öberg@Example.se"}"#)
        let written = try await s.item(client, at: 1, email: "Åsa.Öberg@EXAMPLE.se")
        let other = try await s.item(client, at: 2, email: "asa.oberg@example.se")

        for asked in ["Åsa.Öberg@Example.se", "Åsa.Öberg@example.SE"] {
            let scope = try await s.retention.resolve(.email(asked), clientID: client)
            #expect(scope.userIDs == ["u1"], "\(asked)")
            let export = try await s.retention.export(scope)
            #expect(export.endUsers.map(\.userId) == ["u1"], "\(asked)")
            #expect(export.feedback.map(\.id) == [written.id], "\(asked)")
        }
        let scope = try await s.retention.resolve(.email("Åsa.Öberg@example.se"), clientID: client)
        _ = try await s.retention.deleteFeedbackBatch(.subject(scope), limit: 10, at: Self.t0, record: .none)
        let counts = try await s.retention.finishErasure(
            scope, audit: AuditProgress(kind: .privacyErasure, clientID: client), dueAt: Self.t0, at: Self.t0)
        #expect(counts == DeletionCounts(["endUsers": 1]))
        #expect(try await s.items(client).map(\.id) == [other.id])
        #expect(try await s.retention.endUser(clientID: client, userID: "u1") == nil)
    }

    @Test(arguments: StoreFactories.available)
    func aSlackMemberLosesWhatTheyWroteAndOnlyTheirIdWhereTheyForwarded(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        func capture(_ ts: String, author: String?, forwarder: String?) -> SlackCapture {
            SlackCapture(
                teamId: "T1", channelId: "C1", messageTs: ts, threadTs: nil, authorId: author, forwardedBy: forwarder,
                capturedVia: .reactionWrench, permalink: nil)
        }
        let wrote = try await s.item(client, at: 1, slack: capture("1.1", author: "U1", forwarder: "U2"))
        let forwarded = try await s.item(client, at: 2, slack: capture("1.2", author: "U3", forwarder: "U1"))
        let anonymous = try await s.item(client, at: 3, slack: capture("1.3", author: nil, forwarder: "U1"))
        let unrelated = try await s.item(client, at: 4, slack: capture("1.4", author: "U3", forwarder: "U3"))

        let scope = try await s.retention.resolve(.slackUser("U1"), clientID: client)
        #expect(try await s.retention.export(scope).feedback.map(\.id) == [anonymous.id, forwarded.id, wrote.id])
        _ = try await s.retention.deleteFeedbackBatch(.subject(scope), limit: 10, at: Self.t0, record: .none)
        let counts = try await s.retention.finishErasure(
            scope, audit: AuditProgress(kind: .privacyErasure, clientID: client), dueAt: Self.t0, at: Self.t0)

        #expect(counts == DeletionCounts(["slackForwardsScrubbed": 2]))
        let left = try await s.items(client)
        #expect(left.map(\.id) == [unrelated.id, anonymous.id, forwarded.id])
        #expect(left.allSatisfy { $0.draft.slack?.forwardedBy != "U1" })
        #expect(left.first { $0.id == forwarded.id }?.draft.slack?.authorId == "U3")
        #expect(try await s.retention.export(scope).feedback.isEmpty)
    }

    /// A Slack member's export and erasure reach only the asking client's items: another client whose workspace has
    /// a member with the same id keeps what they wrote and forwarded there.
    @Test(arguments: StoreFactories.available)
    func aSlackMembersErasureStaysInsideItsClient(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        func capture(_ ts: String, author: String?, forwarder: String?) -> SlackCapture {
            SlackCapture(
                teamId: "T1", channelId: "C1", messageTs: ts, threadTs: nil, authorId: author, forwardedBy: forwarder,
                capturedVia: .reactionWrench, permalink: nil)
        }
        let wrote = try await s.item(client, at: 1, slack: capture("1.1", author: "U1", forwarder: nil))
        let theirsWritten = try await s.item(other, at: 2, slack: capture("2.1", author: "U1", forwarder: nil))
        let theirsForwarded = try await s.item(other, at: 3, slack: capture("2.2", author: "U3", forwarder: "U1"))

        let scope = try await s.retention.resolve(.slackUser("U1"), clientID: client)
        #expect(try await s.retention.export(scope).feedback.map(\.id) == [wrote.id])
        let batch = try await s.retention.deleteFeedbackBatch(.subject(scope), limit: 10, at: Self.t0, record: .none)
        #expect(batch?.batch.rows == 1)
        let counts = try await s.retention.finishErasure(
            scope, audit: AuditProgress(kind: .privacyErasure, clientID: client), dueAt: Self.t0, at: Self.t0)

        #expect(counts == DeletionCounts(["slackForwardsScrubbed": 0]))
        #expect(try await s.items(client).isEmpty)
        let theirs = try await s.items(other)
        #expect(theirs.map(\.id) == [theirsForwarded.id, theirsWritten.id])
        #expect(theirs.first { $0.id == theirsForwarded.id }?.draft.slack?.forwardedBy == "U1")
    }

    /// A data subject's export lists the screenshots of their own items only: someone else's screenshot, in the same
    /// client or in another one, is never handed out with it.
    @Test(arguments: StoreFactories.available)
    func anExportListsOnlyTheSubjectsOwnScreenshots(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let adas = try await s.upload(client)
        let bobs = try await s.upload(client)
        let theirs = try await s.upload(other)
        let ada = try await s.item(client, at: 1, email: "ada@example.com", screenshots: [adas])
        try await s.item(client, at: 2, email: "bob@example.com", screenshots: [bobs])
        try await s.item(other, at: 3, email: "ada@example.com", screenshots: [theirs])

        let export = try await s.retention.export(try await s.retention.resolve(.email("ada@example.com"), clientID: client))

        #expect(export.feedback.map(\.id) == [ada.id])
        #expect(export.screenshots.map(\.fileName) == [adas.fileName])
        #expect(export.screenshots.map(\.feedbackId) == [ada.id])
    }

    @Test(arguments: StoreFactories.available)
    func erasingSomeoneNobodyKnowsIsStillOnRecord(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let scope = try await s.retention.resolve(.email("nobody@example.com"), clientID: client)
        let export = try await s.retention.export(scope)
        #expect(export.endUsers.isEmpty && export.feedback.isEmpty && export.screenshots.isEmpty)

        let counts = try await s.retention.finishErasure(
            scope, audit: AuditProgress(kind: .privacyErasure, clientID: client), dueAt: Self.t0, at: Self.t0 + 1)

        #expect(counts.isEmpty)
        let entry = try #require(try await s.retention.auditEntries(clientID: client, limit: 10).only)
        #expect(entry.kind == "privacy_erasure")
        #expect(entry.counts.isEmpty)
    }

    // MARK: Audit trail

    @Test(arguments: StoreFactories.available)
    func auditEntriesAreTheClientsNewestFirstAndBounded(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        try await s.retention.recordAudit(kind: "retention_sweep", clientID: client, dueAt: nil, finishedAt: Self.t0 + 2, counts: DeletionCounts(["feedback": 1]))
        try await s.retention.recordAudit(kind: "first_at_t0_plus_5", clientID: client, dueAt: Self.t0, finishedAt: Self.t0 + 5, counts: DeletionCounts())
        try await s.auditor.recordDeletion(
            kind: "slack_uninstall_scrub", clientID: client, dueAt: dateFromEpochMillis(Self.t0 + 60_000),
            finishedAt: dateFromEpochMillis(Self.t0 + 5), counts: DeletionCounts(["rows": 4]))
        try await s.retention.recordAudit(kind: "oldest", clientID: client, dueAt: nil, finishedAt: Self.t0 + 1, counts: DeletionCounts())
        try await s.retention.recordAudit(kind: "theirs", clientID: other, dueAt: nil, finishedAt: Self.t0 + 9, counts: DeletionCounts())
        try await s.retention.recordAudit(kind: "nobodys", clientID: nil, dueAt: nil, finishedAt: Self.t0 + 9, counts: DeletionCounts())

        let entries = try await s.retention.auditEntries(clientID: client, limit: 10)

        // Newest first; two finished at the same instant: the later recorded first.
        #expect(entries.map(\.kind) == ["slack_uninstall_scrub", "first_at_t0_plus_5", "retention_sweep", "oldest"])
        #expect(
            entries[0]
                == AuditEntry(
                    kind: "slack_uninstall_scrub", clientId: client, dueAt: dateFromEpochMillis(Self.t0 + 60_000),
                    finishedAt: dateFromEpochMillis(Self.t0 + 5), counts: DeletionCounts(["rows": 4])))
        #expect(entries[2].dueAt == nil)
        #expect(try await s.retention.auditEntries(clientID: client, limit: 2).map(\.kind) == ["slack_uninstall_scrub", "first_at_t0_plus_5"])
    }

    /// Paging through the trail visits every entry of the client once, in the order of one listing, entries of the
    /// same millisecond included, whatever the page size; the last page says so.
    @Test(arguments: StoreFactories.available)
    func auditPagesWalkTheWholeTrailOnce(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        // Seven entries, three of them at one instant, written out of order.
        for (kind, at) in [("a", 3), ("b", 7), ("c", 3), ("d", 1), ("e", 3), ("f", 9), ("g", 5)] {
            try await s.retention.recordAudit(
                kind: kind, clientID: client, dueAt: nil, finishedAt: Self.t0 + Int64(at), counts: DeletionCounts())
        }
        try await s.retention.recordAudit(kind: "theirs", clientID: other, dueAt: nil, finishedAt: Self.t0 + 4, counts: DeletionCounts())
        let whole = try await s.retention.auditPage(clientID: client, limit: 100, after: nil)
        #expect(whole.entries.map(\.kind) == ["f", "b", "g", "e", "c", "a", "d"])
        #expect(whole.next == nil)

        for size in 1...7 {
            var seen: [String] = []
            var cursor: AuditCursor?
            var pages = 0
            repeat {
                let page = try await s.retention.auditPage(clientID: client, limit: size, after: cursor)
                #expect(page.entries.count == min(size, 7 - seen.count))
                seen += page.entries.map(\.kind)
                // The cursor goes through its text form, as a client sends it back.
                cursor = try page.next.map { try #require(AuditCursor(token: $0.token)) }
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen == ["f", "b", "g", "e", "c", "a", "d"], "pages of \(size)")
            #expect(pages == (7 + size - 1) / size, "pages of \(size)")
        }
    }
}

/// Scheduled work runs once per period across every process sharing the store.
@Suite struct ScheduledRunConformanceTests {
    @Test(arguments: StoreFactories.available)
    func aTaskIsClaimedOncePerPeriod(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let t0 = StoreUnderTest.t0Millis
        #expect(try await s.retention.claimScheduledRun(task: "sweep", now: t0, period: 60_000))
        #expect(try await !s.retention.claimScheduledRun(task: "sweep", now: t0, period: 60_000))
        #expect(try await !s.retention.claimScheduledRun(task: "sweep", now: t0 + 59_999, period: 60_000))
        // Another task has its own period.
        #expect(try await s.retention.claimScheduledRun(task: "prune", now: t0 + 1, period: 60_000))
        #expect(try await s.retention.claimScheduledRun(task: "sweep", now: t0 + 60_000, period: 60_000))
        #expect(try await !s.retention.claimScheduledRun(task: "sweep", now: t0 + 60_001, period: 60_000))
    }

    @Test(arguments: StoreFactories.available)
    func ofManyProcessesAskingAtOnceOneRunsIt(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let claims = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await s.retention.claimScheduledRun(
                        task: "sweep", now: StoreUnderTest.t0Millis, period: 3_600_000)
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(claims.filter { $0 }.count == 1)
    }
}
