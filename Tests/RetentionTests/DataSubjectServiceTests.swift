import Feedback
import Foundation
import GRDB
@testable import StoreSQLite
import Testing

@testable import Retention

@Suite struct DataSubjectServiceTests {
    func slack(author: String?, forwarder: String?, ts: String) -> SlackCapture {
        SlackCapture(
            teamId: "T1", channelId: "C1", messageTs: ts, threadTs: nil, authorId: author, forwardedBy: forwarder,
            capturedVia: .reactionWrench, permalink: nil)
    }

    func service(_ t: TestStore) -> DataSubjectService {
        DataSubjectService(store: t.store, feedback: t.store, clock: TestClock(), publicURL: "https://usero.test/")
    }

    /// The export is read a page of items at a time and sent in pieces of at least the size asked (but the last);
    /// whatever the page and piece sizes, the pieces make the same document, every item once, newest first, with
    /// every screenshot its items name.
    @Test func anExportInPagesAndPiecesIsTheWholeDocumentOnce() async throws {
        let t = try await TestStore()
        let client = try await t.createClient()
        var ids: [String] = []
        var shots: [String] = []
        for n in 1...5 {
            let shot = try await t.uploadScreenshot(clientID: client, at: Date())
            shots.append(shot.fileName)
            // Two items of one instant: the page boundary between them takes each once.
            let at = Date(timeIntervalSince1970: 1_700_000_000 + Double(min(n, 4)))
            ids.append(try await t.insertFeedback(clientID: client, at: at, userEmail: "ada@example.com", screenshots: [shot]))
        }
        _ = try await t.insertFeedback(clientID: client, at: Date(), userEmail: "bob@example.com")
        var orders: [[String]] = []
        for (pageSize, pieceSize) in [(200, Int.max), (2, Int.max), (2, 1), (1, 1), (5, 1)] {
            let document = try await service(t).exportDocument(
                clientID: client, subject: .email("ada@example.com"), pageSize: pageSize)
            var pieces: [String] = []
            try await document.write(inPiecesOf: pieceSize) { pieces.append($0) }
            if pieceSize == .max { #expect(pieces.count == 1) } else { #expect(pieces.count == 6) }
            let text = pieces.joined()
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            let listed = try #require(parsed["feedback"] as? [[String: Any]]).compactMap { $0["id"] as? String }
            #expect(listed.count == 5 && Set(listed) == Set(ids), "pages of \(pageSize)")
            orders.append(listed)
            let named = try #require(parsed["screenshots"] as? [[String: Any]]).compactMap { $0["url"] as? String }
            #expect(Set(named) == Set(shots.map { "https://usero.test/api/screenshots/\($0)" }), "pages of \(pageSize)")
            let collected = try await document.collect()
            #expect(collected.feedback.map(\.id) == listed)
        }
        // Newest first (the two of one instant by id), whatever the pages and pieces.
        #expect(orders.allSatisfy { $0 == [ids[4], ids[3]].sorted(by: >) + [ids[2], ids[1], ids[0]] }, "\(orders)")

        let none = try await service(t).exportDocument(clientID: client, subject: .email("nobody@example.com"))
        var empty: [String] = []
        try await none.write(inPiecesOf: 1) { empty.append($0) }
        #expect(empty.count == 1)
        let parsed = try JSONSerialization.jsonObject(with: Data(empty.joined().utf8)) as? [String: Any]
        #expect((parsed?["feedback"] as? [Any])?.isEmpty == true)
        #expect((parsed?["screenshots"] as? [Any])?.isEmpty == true)
    }

    @Test func subjectNeedsExactlyOneKey() throws {
        #expect(throws: RetentionError.subjectRequired) { try DataSubject(keys: [:]) }
        #expect(throws: RetentionError.subjectRequired) { try DataSubject(keys: ["email": "a@b.co", "userId": "u"]) }
        #expect(throws: RetentionError.subjectRequired) { try DataSubject(keys: ["email": ""]) }
        #expect(try DataSubject(keys: ["slackUserId": "U1"]) == .slackUser("U1"))
        // An email without the white space around it; an id exactly as given.
        #expect(try DataSubject(keys: ["email": " a@b.co\n"]) == .email("a@b.co"))
        #expect(throws: RetentionError.subjectRequired) { try DataSubject(keys: ["email": " \t"]) }
        #expect(try DataSubject(keys: ["userId": " u "]) == .userID(" u "))
        // At most 254 characters, counted as Unicode scalars (combining marks count)
        #expect(throws: RetentionError.invalidSubjectField(field: "userId", problem: "Must be at most 254 characters")) {
            try DataSubject(keys: ["userId": "u" + String(repeating: "\u{301}", count: 254)])
        }
        // A key that is none of the three, or one given twice, is named.
        #expect(throws: RetentionError.invalidSubjectField(field: "emial", problem: "Unknown field")) {
            try DataSubject(pairs: [("emial", "a@b.co")])
        }
        #expect(throws: RetentionError.invalidSubjectField(field: "email", problem: "Given more than once")) {
            try DataSubject(pairs: [("email", "a@b.co"), ("email", "d@e.co")])
        }
    }

    @Test func emailReachesTheEndUserIdentifiedWithItAndTheirItems() async throws {
        let t = try await TestStore()
        let client = try await t.createClient()
        let other = try await t.createClient()
        try await t.database.write { db in
            try db.execute(
                sql:
                    "INSERT INTO end_user (client_id, user_id, email, created_at, updated_at) VALUES (?, 'u1', 'Ada@Example.com', 1, 1)",
                arguments: [client])
        }
        let shot = try await t.uploadScreenshot(clientID: client, at: Date())
        let byEmail = try await t.insertFeedback(
            clientID: client, at: Date(), userEmail: "ada@example.com", screenshots: [shot])
        let byUser = try await t.insertFeedback(clientID: client, at: Date(), userId: "u1")
        let someoneElse = try await t.insertFeedback(clientID: client, at: Date(), userEmail: "bob@example.com")
        let otherClient = try await t.insertFeedback(clientID: other, at: Date(), userEmail: "ada@example.com")

        let export = try await service(t).export(clientID: client, subject: .email("ada@example.com"))
        #expect(Set(export.feedback.map(\.id)) == [byEmail, byUser])
        #expect(export.endUsers.map(\.userId) == ["u1"])
        #expect(export.screenshots.map(\.url) == ["https://usero.test/api/screenshots/\(shot.fileName)"])

        let counts = try await service(t).erase(clientID: client, subject: .userID("u1"))
        #expect(counts["feedback"] == 2)
        #expect(counts["screenshots"] == 1)
        #expect(counts["endUsers"] == 1)
        #expect(t.fileExists(shot) == false)
        #expect(try await t.exists(feedback: someoneElse))
        #expect(try await t.exists(feedback: otherClient))
        let entry = try #require(try await AuditLog(store: t.store).entries(clientID: client).first)
        #expect(entry.kind == "privacy_erasure")
        #expect(entry.counts == counts)
    }

    /// An email any number of end users share (250,001 here, past the most parameters this SQLite binds in one
    /// statement) is exported and erased, as on PostgreSQL: the end users' ids go to SQLite as one argument.
    @Test func anEmailSharedByMoreEndUsersThanSQLiteBindsIsExportedAndErased() async throws {
        let t = try await TestStore()
        let client = try await t.createClient()
        try await t.database.write { db in
            try db.execute(
                sql: """
                    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250001)
                    INSERT INTO end_user (client_id, user_id, email, created_at, updated_at)
                    SELECT ?, 'u' || i, 'shared@example.com', 1, 1 FROM n
                    """,
                arguments: [client])
        }
        let byUser = try await t.insertFeedback(clientID: client, at: Date(), userId: "u250001")
        let someoneElse = try await t.insertFeedback(clientID: client, at: Date(), userId: "v1")

        let export = try await service(t).export(clientID: client, subject: .email("shared@example.com"))
        #expect(export.endUsers.count == 250_001)
        #expect(export.feedback.map(\.id) == [byUser])

        let counts = try await service(t).erase(clientID: client, subject: .email("Shared@Example.com"))
        #expect(counts["endUsers"] == 250_001)
        #expect(counts["feedback"] == 1)
        #expect(try await t.count("end_user") == 0)
        #expect(try await t.exists(feedback: someoneElse))
    }

    /// Someone with more items than one batch takes: the erasure goes on batch after batch until none is left, and
    /// its one audit entry counts them all (it is not "done" with the rest still stored).
    @Test func anErasureTakesEveryBatchNotOnlyTheFirst() async throws {
        let t = try await TestStore()
        let client = try await t.createClient()
        var theirs: [String] = []
        for _ in 0..<7 { theirs.append(try await t.insertFeedback(clientID: client, at: Date(), userId: "u1")) }
        let someoneElse = try await t.insertFeedback(clientID: client, at: Date(), userId: "u2")
        let batchesOfThree = DataSubjectService(
            store: t.store, feedback: t.store, clock: TestClock(), publicURL: "https://usero.test/",
            policy: RetentionPolicy(
                freeRetention: 30 * 86_400, orphanUploadRetention: 86_400, batchSize: 3, pauseBetweenBatches: .zero))

        let counts = try await batchesOfThree.erase(clientID: client, subject: .userID("u1"))

        #expect(counts["feedback"] == 7)
        for id in theirs { #expect(try await t.exists(feedback: id) == false) }
        #expect(try await t.exists(feedback: someoneElse))
        let entry = try #require(try await AuditLog(store: t.store).entries(clientID: client).first)
        #expect(entry.counts["feedback"] == 7)
    }

    @Test func slackMemberLosesWhatTheyWroteAndOnlyTheirIdWhereTheyForwarded() async throws {
        let t = try await TestStore()
        let client = try await t.createClient()
        let wrote = try await t.insertFeedback(
            clientID: client, at: Date(), slack: slack(author: "U1", forwarder: "U2", ts: "1.1"))
        let forwarded = try await t.insertFeedback(
            clientID: client, at: Date(), slack: slack(author: "U3", forwarder: "U1", ts: "1.2"))
        let unrelated = try await t.insertFeedback(
            clientID: client, at: Date(), slack: slack(author: "U3", forwarder: "U3", ts: "1.3"))

        let export = try await service(t).export(clientID: client, subject: .slackUser("U1"))
        #expect(Set(export.feedback.map(\.id)) == [wrote, forwarded])

        let counts = try await service(t).erase(clientID: client, subject: .slackUser("U1"))
        #expect(counts["feedback"] == 1)
        #expect(counts["slackForwardsScrubbed"] == 1)
        #expect(try await t.exists(feedback: wrote) == false)
        let kept = try #require(try await t.store.feedback(id: forwarded, clientID: client))
        #expect(kept.draft.slack?.forwardedBy == nil)
        #expect(kept.draft.slack?.authorId == "U3")
        #expect(try await t.exists(feedback: unrelated))
        #expect(try await service(t).export(clientID: client, subject: .slackUser("U1")).feedback.isEmpty)
    }

    @Test func erasingSomeoneWeHoldNothingAboutIsStillOnRecord() async throws {
        let t = try await TestStore()
        let client = try await t.createClient()
        let counts = try await service(t).erase(clientID: client, subject: .email("nobody@example.com"))
        #expect(counts.isEmpty)
        #expect(try await AuditLog(store: t.store).entries(clientID: client).map(\.kind) == ["privacy_erasure"])
    }
}
