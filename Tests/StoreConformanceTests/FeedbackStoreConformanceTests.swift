import NIOCore
import Feedback
import Foundation
import Retention
import SlackGateway
import Testing

/// `FeedbackStore`'s contracts, on every backend.
@Suite struct FeedbackStoreConformanceTests {
    typealias S = StoreUnderTest

    @Test(arguments: StoreFactories.available)
    func aCreatedClientIsFoundByIdAndByAdminKeyOnly(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let (client, key) = try await s.feedback.createClient(
            name: "Acme", plan: .paid, allowedOrigins: ["https://app.example.com", "*.example.org"], at: S.t0)

        #expect(try await s.feedback.client(id: client.id) == client)
        #expect(try await s.feedback.client(adminKey: key) == client)
        #expect(try await s.feedback.client(adminKey: key + "0") == nil)
        #expect(try await s.feedback.client(id: "client_unknown") == nil)
        #expect(client.allowedOrigins == ["https://app.example.com", "*.example.org"])
        #expect(client.createdAt == S.t0)

        let moved = try await s.feedback.updatePlan(clientID: client.id, plan: .free)
        #expect(moved?.plan == .free)
        #expect(try await s.feedback.client(id: client.id)?.plan == .free)
        #expect(try await s.feedback.updatePlan(clientID: "client_unknown", plan: .free) == nil)

        // The allowlist: replaced, its plan left as it is; then cleared with the plan changed, in one write.
        let narrowed = try await s.feedback.updateClient(
            clientID: client.id, plan: nil, allowedOrigins: ["https://new.example.com"])
        #expect(narrowed?.allowedOrigins == ["https://new.example.com"] && narrowed?.plan == .free)
        #expect(try await s.feedback.client(id: client.id)?.allowedOrigins == ["https://new.example.com"])
        let opened = try await s.feedback.updateClient(clientID: client.id, plan: .paid, allowedOrigins: [])
        #expect(opened?.allowedOrigins == [] && opened?.plan == .paid)
        #expect(try await s.feedback.client(id: client.id) == opened)
        #expect(try await s.feedback.updateClient(clientID: "client_unknown", plan: nil, allowedOrigins: []) == nil)
    }

    /// `clients list`: every live client, oldest first; not one whose closure began.
    @Test(arguments: StoreFactories.available)
    func liveClientsListsEveryClientButThoseBeingClosedOldestFirst(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let (first, _) = try await s.feedback.createClient(name: "First", plan: .free, allowedOrigins: [], at: S.t0)
        let (closing, _) = try await s.feedback.createClient(
            name: "Closing", plan: .paid, allowedOrigins: [], at: S.t0.addingTimeInterval(1))
        let (last, _) = try await s.feedback.createClient(
            name: "Last", plan: .paid, allowedOrigins: ["https://a.example.com"], at: S.t0.addingTimeInterval(2))
        #expect(try await s.feedback.liveClients() == [first, closing, last])
        #expect(try await s.retention.beginAccountClosure(clientID: closing.id, at: S.t0Millis))
        #expect(try await s.feedback.liveClients() == [first, last])
    }

    @Test(arguments: StoreFactories.available)
    func clientLookupsHideAClientWhoseClosureBegan(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let (client, key) = try await s.feedback.createClient(name: "Acme", plan: .free, allowedOrigins: [], at: S.t0)
        let shot = try await s.upload(client.id)
        let bystander = try await s.client()

        #expect(try await s.retention.beginAccountClosure(clientID: client.id, at: S.t0Millis))

        #expect(try await s.feedback.client(id: client.id) == nil)
        #expect(try await s.feedback.client(adminKey: key) == nil)
        #expect(try await s.feedback.updatePlan(clientID: client.id, plan: .paid) == nil)
        #expect(try await s.feedback.updateClient(clientID: client.id, plan: nil, allowedOrigins: ["a.example"]) == nil)
        #expect(try await s.feedback.screenshot(fileName: shot.fileName) == nil)
        await #expect(throws: FeedbackError.unknownClient) { try await s.item(client.id) }
        #expect(try await s.retention.clientPlans() == [ClientPlan(clientID: bystander, plan: .free)])
        #expect(
            try await s.slack.saveInstallation(s.installation(team: "T1", client: client.id)) == .clientGone)
        #expect(try await s.slack.activeInstallation(team: "T1") == nil)
        await #expect(throws: FeedbackError.unknownClient) {
            try await s.identify(client.id, #"{"clientId":"x","userId":"u1"}"#)
        }
    }

    @Test(arguments: StoreFactories.available)
    func insertChecksTheClientAndItsAllowlistInTheSameWrite(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client(origins: ["https://app.example.com"])
        let draft = FeedbackDraft(clientId: client, source: .widget, rating: 3)

        await #expect(throws: FeedbackError.originNotAllowed) {
            _ = try await s.feedback.insert(draft, at: S.t0, origin: "https://evil.example")
        }
        var unknown = draft
        unknown.clientId = "client_unknown"
        await #expect(throws: FeedbackError.unknownClient) {
            _ = try await s.feedback.insert(unknown, at: S.t0, origin: nil)
        }
        #expect(try await s.items(client).isEmpty)

        let allowed = try await s.feedback.insert(draft, at: S.t0, origin: "https://APP.example.com/")
        let serverSide = try await s.feedback.insert(draft, at: S.t0, origin: nil)
        #expect(Set(try await s.items(client).map(\.id)) == [allowed.id, serverSide.id])
    }

    @Test(arguments: StoreFactories.available)
    func anItemReadsBackAsItWasStored(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let shot = try await s.upload(client)
        let draft = FeedbackDraft(
            clientId: client, source: .widget, rating: 4, comment: "Export – times out 🙃", userEmail: "Ada@Example.com",
            pageUrl: "https://app.example.com/reports?x=1", pageTitle: "Reports", referrer: "https://example.com/",
            environment: "staging",
            metadata: .object(["plan": .string("pro"), "seats": .int(12), "ratio": .double(0.5), "beta": .bool(true),
                               "tags": .array([.string("a"), .null])]),
            screenshots: [shot], sessionReplayId: "replay-1", replayOffsetMs: 1_234, userId: "u-42",
            slack: SlackCapture(
                teamId: "T1", channelId: "C1", messageTs: "1.1", threadTs: "1.0", authorId: "U2", forwardedBy: "U1",
                capturedVia: .reactionPushpin, permalink: "https://x.slack.com/archives/C1/p1"))

        let item = try await s.feedback.insert(draft, at: S.t0.addingTimeInterval(0.25), origin: nil)

        #expect(item.draft == draft)
        #expect(try await s.feedback.feedback(id: item.id, clientID: client) == item)
        #expect(try await s.feedback.feedback(id: item.id, clientID: other) == nil)
        #expect(try await s.feedback.feedback(id: "fb_unknown", clientID: client) == nil)
    }

    /// Metadata holding an integer past a double's range, stored before requests with one were refused, reads back
    /// as stored, and lists (a stricter reading of stored documents made such a row unreadable, its list a 500).
    @Test(arguments: StoreFactories.available)
    func anIntegerPastADoublesRangeStoredBeforeItWasRefusedReadsBack(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let digits = "1" + String(repeating: "0", count: 400)
        let draft = FeedbackDraft(clientId: client, source: .api, rating: 2, metadata: .object(["n": .bigInteger(digits)]))
        let item = try await s.feedback.insert(draft, at: S.t0, origin: nil)
        #expect(try await s.feedback.feedback(id: item.id, clientID: client)?.draft.metadata == draft.metadata)
        let listed = try await s.feedback.listFeedback(clientID: client, filter: FeedbackFilter(), limit: 10, after: nil)
        #expect(listed.items.map(\.id) == [item.id])
        var text = ""
        listed.items[0].appendJSON(to: &text)
        #expect(text.contains(#""metadata":{"n":\#(digits)}"#))
    }

    @Test(arguments: StoreFactories.available)
    func oneSlackMessageIsOneRowPerClient(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let capture = SlackCapture(
            teamId: "T1", channelId: "C1", messageTs: "1.1", threadTs: nil, authorId: "U2", forwardedBy: "U1",
            capturedVia: .reactionWrench, permalink: nil)
        try await s.item(client, slack: capture)

        await #expect(throws: (any Error).self) { try await s.item(client, slack: capture) }
        try await s.item(other, slack: capture)
        #expect(try await s.items(client).count == 1)
    }

    @Test(arguments: StoreFactories.available)
    func theListPagesNewestFirstWithACursorAndNeverRepeats(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        var stored: [FeedbackItem] = []
        for second in [5.0, 1, 3, 3, 3, 2, 4] { stored.append(try await s.item(client, at: second)) }
        try await s.item(other, at: 9)
        let expected = stored.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }.map(\.id)

        var seen: [String] = []
        var cursor: FeedbackCursor?
        var pages = 0
        repeat {
            let page = try await s.feedback.listFeedback(clientID: client, filter: .init(), limit: 3, after: cursor)
            #expect(page.items.count <= 3)
            seen += page.items.map(\.id)
            cursor = page.next
            pages += 1
            // The cursor survives its text form.
            if let next = cursor { #expect(FeedbackCursor(token: next.token) == next) }
        } while cursor != nil && pages < 10

        #expect(seen == expected)
        #expect(pages == 3)
        let exact = try await s.feedback.listFeedback(clientID: client, filter: .init(), limit: 7, after: nil)
        #expect(exact.items.count == 7)
        #expect(exact.next == nil)
    }

    /// Paging back: the page before a page starts where the pages forward had it start, with the filters (the inbox's
    /// "Newer" link; it had only "Newest", found by a review).
    @Test(arguments: StoreFactories.available)
    func thePageBeforeAPageStartsWhereTheListHadIt(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        for second in [5.0, 1, 3, 3, 3, 2, 4, 6] { try await s.item(client, at: second) }
        try await s.item(client, at: 7, source: .widget)
        try await s.item(other, at: 9)
        var cursors: [FeedbackCursor?] = [nil]
        while let next = try await s.feedback.listFeedback(
            clientID: client, filter: .init(source: .api), limit: 3, after: cursors.last!
        ).next {
            cursors.append(next)
        }
        #expect(cursors.count == 3)
        for index in 1..<cursors.count {
            let before = try await s.feedback.newerPageCursor(
                clientID: client, filter: .init(source: .api), limit: 3, before: try #require(cursors[index]))
            #expect(before == cursors[index - 1], "page \(index + 1)")
        }
        // A page past the list's start (its first item deleted since): the first page.
        let newest = try await s.feedback.listFeedback(clientID: client, filter: .init(source: .api), limit: 1, after: nil)
        #expect(try await s.feedback.newerPageCursor(
            clientID: client, filter: .init(source: .api), limit: 3, before: try #require(newest.next)) == nil)
    }

    @Test(arguments: StoreFactories.available)
    func theListFiltersBySourceAndEnvironment(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let apiDefault = try await s.item(client, at: 1, source: .api)
        let widgetStaging = try await s.item(client, at: 2, source: .widget, environment: "staging")
        let apiStaging = try await s.item(client, at: 3, source: .api, environment: "staging")
        let widgetProd = try await s.item(client, at: 4, source: .widget, environment: "production")

        func list(_ filter: FeedbackFilter, after: FeedbackCursor? = nil, limit: Int = 10) async throws -> [String] {
            try await s.feedback.listFeedback(clientID: client, filter: filter, limit: limit, after: after).items.map(\.id)
        }
        #expect(try await list(.init(source: .widget)) == [widgetProd.id, widgetStaging.id])
        #expect(try await list(.init(environment: .some(nil))) == [apiDefault.id])
        #expect(try await list(.init(environment: "staging")) == [apiStaging.id, widgetStaging.id])
        #expect(try await list(.init(source: .api, environment: "staging")) == [apiStaging.id])
        #expect(try await list(.init(source: .slack)) == [])
        let first = try await s.feedback.listFeedback(
            clientID: client, filter: .init(environment: "staging"), limit: 1, after: nil)
        #expect(first.items.map(\.id) == [apiStaging.id])
        #expect(try await list(.init(environment: "staging"), after: first.next) == [widgetStaging.id])
    }

    /// The inbox's search: the comment or the email contains the text, ignoring the case of ASCII letters; `%`, `_`
    /// and a backslash are themselves, not wildcards, also with a combining mark on them; `&` finds a Slack message's
    /// `&amp;`; with the other filters and pages.
    @Test(arguments: StoreFactories.available)
    func theListFindsTextInCommentsAndEmails(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let export = try await s.item(client, at: 1, comment: "Export to CSV times out")
        let csv = try await s.item(client, at: 2, source: .widget, comment: "The csv import drops accents")
        let byEmail = try await s.item(client, at: 3, email: "Ana.CSV@Example.com", comment: "Lovely")
        let percent = try await s.item(client, at: 4, comment: "Took 50%_off twice")
        let lookalike = try await s.item(client, at: 5, comment: "Took 50 off, then 5010 off")
        let backslash = try await s.item(client, at: 6, comment: #"Path C:\temp fails"#)
        try await s.item(other, at: 7, comment: "CSV elsewhere")
        let slack = try await s.item(client, at: 8, source: .slack, comment: "Q&amp;A page &lt;3")
        let accent = try await s.item(client, at: 9, comment: "Cafe\u{301} menu")

        func list(_ filter: FeedbackFilter, after: FeedbackCursor? = nil, limit: Int = 10) async throws -> [String] {
            try await s.feedback.listFeedback(clientID: client, filter: filter, limit: limit, after: after).items.map(\.id)
        }
        #expect(try await list(.init(text: "csv")) == [byEmail.id, csv.id, export.id])
        #expect(try await list(.init(text: "EXAMPLE.com")) == [byEmail.id])
        #expect(try await list(.init(text: "50%_")) == [percent.id])
        #expect(try await list(.init(text: "50%")) == [percent.id], "% is not a wildcard")
        #expect(try await list(.init(text: "50_")) == [], "_ is not a wildcard")
        #expect(try await list(.init(text: "50")) == [lookalike.id, percent.id])
        #expect(try await list(.init(text: "_\u{301}")) == [], "nor with a combining mark on it")
        #expect(try await list(.init(text: "e\u{301} MENU")) == [accent.id])
        #expect(try await list(.init(text: "q&a")) == [slack.id])
        #expect(try await list(.init(text: "<3")) == [slack.id])
        #expect(try await list(.init(text: #"c:\t"#)) == [backslash.id])
        #expect(try await list(.init(text: "nothing like it")) == [])
        #expect(try await list(.init(text: "")).count == 8, "empty text: no filter")
        #expect(try await list(.init(source: .widget, text: "CSV")) == [csv.id])
        let first = try await s.feedback.listFeedback(clientID: client, filter: .init(text: "csv"), limit: 2, after: nil)
        #expect(first.items.map(\.id) == [byEmail.id, csv.id])
        #expect(try await list(.init(text: "csv"), after: first.next) == [export.id])
    }

    @Test(arguments: StoreFactories.available)
    func environmentsAreTheClientsNamedOnesSortedAndBounded(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        for environment in ["staging", nil, "production", "staging", "dev"] {
            try await s.item(client, environment: environment)
        }
        try await s.item(other, environment: "other-only")

        #expect(try await s.feedback.environments(clientID: client, limit: 10) == ["dev", "production", "staging"])
        #expect(try await s.feedback.environments(clientID: client, limit: 2) == ["dev", "production"])
        #expect(try await s.feedback.environments(clientID: "client_unknown", limit: 10) == [])
    }

    @Test(arguments: StoreFactories.available)
    func deletingAnItemTakesItsScreenshotsAlong(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let shot = try await s.upload(client)
        let kept = try await s.upload(client)
        let item = try await s.item(client, screenshots: [shot])

        // Another client's delete of the id changes nothing: not the item, not its screenshots (on SQLite they were
        // once deleted by the id alone, the client checked only for the item itself).
        #expect(try await s.feedback.deleteFeedback(id: item.id, clientID: other) == false)
        try await s.feedback.purgeDeletedScreenshots()
        #expect(try await s.feedback.feedback(id: item.id, clientID: client) != nil)
        #expect(try await s.feedback.screenshot(fileName: shot.fileName) != nil)
        #expect(try await s.feedback.screenshotBytes(fileName: shot.fileName) != nil)

        #expect(try await s.feedback.deleteFeedback(id: item.id, clientID: client))
        try await s.feedback.purgeDeletedScreenshots()

        #expect(try await s.feedback.feedback(id: item.id, clientID: client) == nil)
        #expect(try await s.feedback.screenshot(fileName: shot.fileName) == nil)
        #expect(try await s.feedback.screenshotBytes(fileName: shot.fileName) == nil)
        #expect(try await s.feedback.screenshot(fileName: kept.fileName) != nil)
        #expect(try await s.feedback.deleteFeedback(id: item.id, clientID: client) == false)
    }

    @Test(arguments: StoreFactories.available)
    func aScreenshotSeveralItemsNameGoesWithTheLastOfThem(_ factory: StoreFactory) async throws {
        // A widget that sends a submission again after its answer was lost makes two items naming one upload.
        let s = try await factory.store()
        let client = try await s.client()
        let shot = try await s.upload(client)
        let alone = try await s.upload(client)
        let first = try await s.item(client, at: 0, screenshots: [shot])
        try await s.item(client, at: 10, screenshots: [shot])
        try await s.item(client, at: 12, screenshots: [alone])
        let last = try await s.item(client, at: 20, email: "ada@example.com", screenshots: [shot])
        func stillThere(_ ref: ScreenshotRef) async throws -> Bool {
            try await s.feedback.purgeDeletedScreenshots()
            let record = try await s.feedback.screenshot(fileName: ref.fileName)
            let bytes = try await s.feedback.screenshotBytes(fileName: ref.fileName)
            #expect((record == nil) == (bytes == nil), "record and bytes go together")
            return record != nil && bytes != nil
        }

        // The item that claimed it first goes: the others still show it, and it is still attached (not counted
        // against the upload quota, not a stray upload for the sweep).
        #expect(try await s.feedback.deleteFeedback(id: first.id, clientID: client))
        #expect(try await stillThere(shot))
        #expect(try await s.feedback.unattachedScreenshotBytes(clientID: client) == 0)
        let strays = try await s.retention.deleteUnattachedUploadBatch(
            clientID: client, uploadedBefore: nil, limit: 10, at: S.t0Millis, record: .none)
        #expect(strays?.batch.rows == 0)

        // A batch (a retention sweep) that takes another of them leaves it too, and takes the upload only one of
        // its rows named.
        let sweep = try await s.retention.deleteFeedbackBatch(
            .createdBefore(clientID: client, cutoff: S.t0Millis + 15_000, plan: .free), limit: 100, at: S.t0Millis, record: .none)
        #expect(sweep?.batch.rows == 2)
        #expect(sweep?.batch.screenshots == 1)
        #expect(try await stillThere(shot))
        #expect(try await stillThere(alone) == false)

        // The person's export lists it with the item of theirs that names it; their erasure takes the last item,
        // and the screenshot with it.
        let scope = try await s.retention.resolve(.email("ada@example.com"), clientID: client)
        let export = try await s.retention.export(scope)
        #expect(export.screenshots.map(\.fileName) == [shot.fileName])
        #expect(export.screenshots.map(\.feedbackId) == [last.id])
        let erased = try await s.retention.deleteFeedbackBatch(
            .subject(scope), limit: 100, at: S.t0Millis, record: .none)
        #expect(erased?.batch.rows == 1)
        #expect(erased?.batch.screenshots == 1)
        #expect(try await stillThere(shot) == false)
    }

    @Test(arguments: StoreFactories.available)
    func anItemNamingTheSameUploadTwiceDeletesItOnce(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let shot = try await s.upload(client)
        let item = try await s.item(client, screenshots: [shot, shot])

        #expect(try await s.feedback.deleteFeedback(id: item.id, clientID: client))
        try await s.feedback.purgeDeletedScreenshots()
        #expect(try await s.feedback.screenshot(fileName: shot.fileName) == nil)
        #expect(try await s.feedback.screenshotBytes(fileName: shot.fileName) == nil)
    }

    @Test(arguments: StoreFactories.available)
    func aScreenshotRoundTripsItsRecordAndBytes(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let bytes = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let record = StoredScreenshot(
            fileName: "\(client)/1700000000000-abc123.webp", clientId: client, mimeType: "image/webp",
            fileSize: Int64(bytes.count), width: 1920, height: nil, createdAt: S.t0)

        try await s.feedback.saveScreenshot(record, bytes: bytes)

        #expect(try await s.feedback.screenshot(fileName: record.fileName) == record)
        #expect(try await s.feedback.screenshotBytes(fileName: record.fileName) == Data(bytes))
        #expect(try await s.feedback.screenshot(fileName: "\(client)/1700000000000-other.png") == nil)
        #expect(try await s.feedback.screenshotBytes(fileName: "\(client)/1700000000000-other.png") == nil)
    }

    @Test(arguments: StoreFactories.available)
    func aScreenshotSavedFromASpoolFileRoundTripsAndItsFileHoldsExactlyItsBytes(_ factory: StoreFactory)
        async throws
    {
        let s = try await factory.store()
        let client = try await s.client()
        let bytes = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        // A spool file, as the upload route writes one while the body arrives.
        let spool = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString).part").path
        #expect(FileManager.default.createFile(atPath: spool, contents: Data(bytes)))
        defer { unlink(spool) }
        let record = StoredScreenshot(
            fileName: "\(client)/1700000000000-slice1.png", clientId: client, mimeType: "image/png",
            fileSize: Int64(bytes.count), width: nil, height: nil, createdAt: S.t0)

        try await s.feedback.saveScreenshot(record, spooledFile: spool, quota: 0)

        #expect(try await s.feedback.screenshot(fileName: record.fileName) == record)
        #expect(try await s.feedback.screenshotBytes(fileName: record.fileName) == Data(bytes))
        if let path = try await s.feedback.screenshotFilePath(fileName: record.fileName) {
            #expect(FileManager.default.contents(atPath: path) == Data(bytes))
        }
        #expect(try await s.feedback.screenshotFilePath(fileName: "\(client)/1700000000000-other.png") == nil)
    }

    /// The quota is checked where the record is inserted: uploads saved at the same time (on PostgreSQL through
    /// several pooled sessions, as several instances would) never pass it together, and a refused one leaves nothing.
    @Test(arguments: StoreFactories.available)
    func concurrentSavesUnderAQuotaNeverPassItTogether(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let bytes = [UInt8](repeating: 7, count: 1000)
        func record(_ owner: String, _ n: Int) -> StoredScreenshot {
            StoredScreenshot(
                fileName: "\(owner)/1700000000000-quota\(n).png", clientId: owner, mimeType: "image/png",
                fileSize: Int64(bytes.count), width: nil, height: nil, createdAt: S.t0)
        }
        // Another client's uploads do not count against this one's quota.
        try await s.feedback.saveScreenshot(record(other, 99), bytes: bytes, quota: 3000)
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for n in 0..<12 {
                group.addTask {
                    do {
                        try await s.feedback.saveScreenshot(record(client, n), bytes: bytes, quota: 3000)
                        return true
                    } catch FeedbackError.uploadQuotaExceeded {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 3)
        #expect(try await s.feedback.unattachedScreenshotBytes(clientID: client) == 3000)
        for n in 0..<12 where try await s.feedback.screenshot(fileName: record(client, n).fileName) == nil {
            #expect(try await s.feedback.screenshotBytes(fileName: record(client, n).fileName) == nil)
            #expect(try await s.feedback.screenshotFilePath(fileName: record(client, n).fileName) == nil)
        }
    }

    /// Many more reads at once than the store has reader connections or the machine has cores, of every kind a
    /// request makes (a key lookup, a page, a data subject's export, the installations), while writes commit beside
    /// them: every one returns, and returns what was committed. (SQLite reads run GRDB's synchronous read on a
    /// queue of the store's own; one that waited on a connection held by a suspended task would never return.)
    @Test(.timeLimit(.minutes(3)), arguments: StoreFactories.available)
    func readsBesideWritesAllReturnWhatWasCommitted(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let (owner, key) = try await s.feedback.createClient(name: "Acme", plan: .free, allowedOrigins: [], at: S.t0)
        let client = owner.id
        for n in 0..<5 { try await s.item(client, at: Double(n), email: "reader@example.com") }
        let scope = try await s.retention.resolve(.email("reader@example.com"), clientID: client)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<16 {
                group.addTask { try await s.item(client, at: Double(10 + n), email: "writer\(n)@example.com") }
            }
            for n in 0..<96 {
                group.addTask {
                    switch n % 4 {
                    case 0: #expect(try await s.feedback.client(adminKey: key)?.id == client)
                    case 1:
                        let page = try await s.feedback.listFeedback(
                            clientID: client, filter: FeedbackFilter(), limit: 10, after: nil)
                        #expect((5...10).contains(page.items.count))
                        #expect(page.items.allSatisfy { $0.clientId == client })
                        #expect(page.items.map(\.createdAt) == page.items.map(\.createdAt).sorted(by: >))
                    case 2: #expect(try await s.retention.export(scope).feedback.count == 5)
                    default: #expect(try await s.slack.sealedInstallations().isEmpty)
                    }
                }
            }
            try await group.waitForAll()
        }
        let all = try await s.feedback.listFeedback(clientID: client, filter: FeedbackFilter(), limit: 100, after: nil)
        #expect(all.items.count == 21)
    }

    @Test(arguments: StoreFactories.available)
    func anItemClaimsOnlyItsOwnClientsUploads(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let mine = try await s.upload(client)
        let theirs = try await s.upload(other)

        try await s.item(client, screenshots: [mine, theirs])

        // Attached uploads are no longer strays; the other client's upload still is one of theirs.
        let mineLeft = try await s.retention.deleteUnattachedUploadBatch(
            clientID: client, uploadedBefore: nil, limit: 10, at: S.t0Millis, record: .none)
        let theirsLeft = try await s.retention.deleteUnattachedUploadBatch(
            clientID: other, uploadedBefore: nil, limit: 10, at: S.t0Millis, record: .none)
        #expect(mineLeft?.batch.rows == 0)
        #expect(theirsLeft?.batch.rows == 1)
    }

    /// An item naming another client's upload gets no hold on it: the owner's item that attached it still takes it
    /// along when deleted, and the naming item's data-subject export does not list it.
    @Test(arguments: StoreFactories.available)
    func anItemNamingAnotherClientsUploadGetsNoHoldOnIt(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let theirs = try await s.upload(other)
        try await s.item(client, email: "ada@example.com", screenshots: [theirs])
        let owners = try await s.item(other, screenshots: [theirs])

        let scope = try await s.retention.resolve(.email("ada@example.com"), clientID: client)
        #expect(try await s.retention.export(scope).screenshots.isEmpty)

        #expect(try await s.feedback.deleteFeedback(id: owners.id, clientID: other))
        try await s.feedback.purgeDeletedScreenshots()
        #expect(try await s.feedback.screenshot(fileName: theirs.fileName) == nil)
        #expect(try await s.feedback.screenshotBytes(fileName: theirs.fileName) == nil)
    }

    @Test(arguments: StoreFactories.available)
    func unattachedScreenshotBytesCountsOnlyThisClientsUnclaimedUploads(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        #expect(try await s.feedback.unattachedScreenshotBytes(clientID: client) == 0)
        #expect(try await s.feedback.unattachedScreenshotBytes(clientID: "client_nobody") == 0)
        let first = try await s.upload(client, bytes: [UInt8](repeating: 1, count: 1000))
        _ = try await s.upload(client, bytes: [UInt8](repeating: 2, count: 300))
        _ = try await s.upload(other, bytes: [UInt8](repeating: 3, count: 7))
        #expect(try await s.feedback.unattachedScreenshotBytes(clientID: client) == 1300)
        #expect(try await s.feedback.unattachedScreenshotBytes(clientID: other) == 7)

        // Claimed by an item, an upload no longer counts; deleting the item deletes it, so it never counts again.
        let item = try await s.item(client, screenshots: [first])
        #expect(try await s.feedback.unattachedScreenshotBytes(clientID: client) == 300)
        #expect(try await s.feedback.deleteFeedback(id: item.id, clientID: client))
        #expect(try await s.feedback.unattachedScreenshotBytes(clientID: client) == 300)
    }
}

/// `Idempotency-Key`: a submission sent again is answered with the item stored the first time.
@Suite struct SubmissionKeyConformanceTests {
    typealias S = StoreUnderTest

    static func draft(
        _ client: String, key: String, comment: String = "Export times out", screenshots: [ScreenshotRef] = []
    ) -> FeedbackDraft {
        var draft = FeedbackDraft(clientId: client, source: .widget, rating: 2, comment: comment, screenshots: screenshots)
        draft.submissionKey = SubmissionKey(header: key, draft: draft)
        return draft
    }

    @Test(arguments: StoreFactories.available)
    func aKeySentAgainStoresNothingAndAnswersTheFirstItem(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()

        let first = try await s.feedback.insert(Self.draft(client, key: "k-1"), at: S.t0, origin: nil)
        let again = try await s.feedback.insert(
            Self.draft(client, key: "k-1"), at: S.t0.addingTimeInterval(30), origin: nil)
        #expect(again.id == first.id)
        #expect(again.createdAt == first.createdAt)
        // Another key, or another client's same key, is another submission.
        let second = try await s.feedback.insert(Self.draft(client, key: "k-2"), at: S.t0, origin: nil)
        let theirs = try await s.feedback.insert(Self.draft(other, key: "k-1"), at: S.t0, origin: nil)
        #expect(Set([first.id, second.id, theirs.id]).count == 3)
        // Keys are each client's own: sent again, each client's key answers its own item, never the other's and
        // never a refusal as a reused key.
        #expect(try await s.feedback.insert(Self.draft(other, key: "k-1"), at: S.t0, origin: nil).id == theirs.id)
        #expect(try await s.feedback.insert(Self.draft(client, key: "k-1"), at: S.t0, origin: nil).id == first.id)
        #expect(try await s.items(client).map(\.id).sorted() == [first.id, second.id].sorted())
        #expect(try await s.items(other).map(\.id) == [theirs.id])
        // The key is not part of what the item reads back as.
        #expect(try await s.feedback.feedback(id: first.id, clientID: client)?.draft.submissionKey == nil)
    }

    @Test(arguments: StoreFactories.available)
    func aKeyAnotherClientAlsoSentStillAnswersEachClientWithItsOwnItem(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let other = try await s.client()
        let first = try await s.feedback.insert(Self.draft(client, key: "k-1"), at: S.t0, origin: nil)
        let theirs = try await s.feedback.insert(Self.draft(other, key: "k-1"), at: S.t0, origin: nil)

        #expect(try await s.feedback.insert(Self.draft(client, key: "k-1"), at: S.t0, origin: nil).id == first.id)
        #expect(try await s.feedback.insert(Self.draft(other, key: "k-1"), at: S.t0, origin: nil).id == theirs.id)
        #expect(try await s.items(client).map(\.id) == [first.id])
        #expect(try await s.items(other).map(\.id) == [theirs.id])
    }

    @Test(arguments: StoreFactories.available)
    func aKeySentWithOtherContentIsRefusedAndWritesNothing(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let first = try await s.feedback.insert(Self.draft(client, key: "k-1"), at: S.t0, origin: nil)

        await #expect(throws: FeedbackError.submissionKeyReused) {
            try await s.feedback.insert(Self.draft(client, key: "k-1", comment: "Something else"), at: S.t0, origin: nil)
        }
        #expect(try await s.items(client).map(\.id) == [first.id])
    }

    @Test(arguments: StoreFactories.available)
    func aDeletedItemTakesItsKeyAlong(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let first = try await s.feedback.insert(Self.draft(client, key: "k-1"), at: S.t0, origin: nil)
        #expect(try await s.feedback.deleteFeedback(id: first.id, clientID: client))

        let again = try await s.feedback.insert(Self.draft(client, key: "k-1"), at: S.t0, origin: nil)
        #expect(again.id != first.id)
        #expect(try await s.items(client).map(\.id) == [again.id])
    }

    /// Many copies of one submission at once (a client retrying while the first is still being written, on
    /// PostgreSQL in one batch or in several): one item, and every copy is answered with it.
    @Test(arguments: StoreFactories.available)
    func copiesSentAtOnceStoreOneItem(_ factory: StoreFactory) async throws {
        let s = try await factory.store()
        let client = try await s.client()
        let shot = try await s.upload(client)
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for n in 0..<24 {
                group.addTask {
                    // Half plain, half with a screenshot: the two write paths of a backend that has two.
                    let draft = n % 2 == 0
                        ? Self.draft(client, key: "plain") : Self.draft(client, key: "shot", screenshots: [shot])
                    return try await s.feedback.insert(draft, at: S.t0, origin: nil).id
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        let stored = try await s.items(client)
        #expect(stored.count == 2)
        #expect(Set(ids) == Set(stored.map(\.id)))
    }
}
