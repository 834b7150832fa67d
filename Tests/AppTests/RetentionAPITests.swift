import Feedback
import Foundation
import Retention
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import UseroTestSupport

@Suite struct RetentionAPITests {
    let day: TimeInterval = 86_400

    @Test func retentionRunAsOfDeletesAFreeClients31DayOldRowAndKeepsTheOther() async throws {
        try await TestServer.run { server in
            // Given a free client with rows 31 and 29 days older than the sweep instant
            let client = try await server.createClient(plan: .free)
            let asOf = Date().addingTimeInterval(100 * day)
            let old = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, rating: 2), at: asOf.addingTimeInterval(-31 * day), origin: nil)
            let recent = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, rating: 3), at: asOf.addingTimeInterval(-29 * day), origin: nil)

            // When `usero retention run --as-of` runs
            let report = try await RetentionCommand.runOnce(backend: server.parts.backend, asOf: asOf)

            // Then it reports the one deletion, and the admin API agrees
            #expect(report.feedback == 1)
            #expect(report.asOf == iso8601(asOf))
            let auth = ["Authorization": "Bearer \(client.key)"]
            #expect(try await server.request("GET", "/api/feedback/\(old.id)", headers: auth).status == 404)
            #expect(try await server.request("GET", "/api/feedback/\(recent.id)", headers: auth).status == 200)
        }
    }

    /// The Slack records kept for 8 days after a deletion (erased members, removed captures) go with the retention
    /// sweep, also where Slack is not configured and its worker never runs.
    @Test func theSweepForgetsSlackRecordsAfterEightDaysWithoutSlackConfigured() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient(plan: .free)
            let asOf = Date().addingTimeInterval(100 * day)
            for (member, age) in [("U_OLD", 9 * day), ("U_RECENT", 7 * day)] {
                try await server.parts.backend.slack.recordErasedMember(
                    clientID: client.id, memberKey: ErasedMembers.key(clientID: client.id, member: member),
                    at: epochMillis(asOf.addingTimeInterval(-age)))
            }
            #expect(try await server.count("slack_erased_member") == 2)
            _ = try await RetentionCommand.runOnce(backend: server.parts.backend, asOf: asOf)
            #expect(try await server.count("slack_erased_member") == 1)
        }
    }

    /// `--as-of` takes an instant, or a date for that day's midnight in UTC (both ISO 8601); anything else is refused.
    @Test func asOfTakesAnInstantOrADate() {
        #expect(RetentionCommand.parseAsOf("2026-12-01") == parseISO8601("2026-12-01T00:00:00Z"))
        #expect(RetentionCommand.parseAsOf("2026-12-01T09:30:00+01:00") == parseISO8601("2026-12-01T08:30:00Z"))
        for refused in ["2026-13-01", "2026-02-30", "2026-12-1", "12/01/2026", "2026-12-01T", "", "yesterday"] {
            #expect(RetentionCommand.parseAsOf(refused) == nil, "\(refused)")
        }
    }

    @Test func paidClientsOldRowsStayThenGoAfterAMoveToFree() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient(plan: .paid)
            let asOf = Date().addingTimeInterval(400 * day)
            let old = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "From last year"), at: Date(), origin: nil)
            let run = {
                try await RetentionCommand.runOnce(backend: server.parts.backend, asOf: asOf)
            }

            #expect(try await run().feedback == 0)
            #expect(try await server.count("feedback", where: "id = '\(old.id)'") == 1)

            _ = try await server.parts.store.updatePlan(clientID: client.id, plan: .free)
            #expect(try await run().feedback == 1)
            #expect(try await server.count("feedback", where: "id = '\(old.id)'") == 0)
        }
    }

    @Test func auditListsTheClientsDeletionsWithCountsAndNoContent() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient(plan: .free)
            let asOf = Date().addingTimeInterval(60 * day)
            _ = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "canary-audit-comment", userEmail: "c@x.io"),
                at: Date(), origin: nil)
            _ = try await RetentionCommand.runOnce(backend: server.parts.backend, asOf: asOf)

            let audit = try await server.request(
                "GET", "/api/audit", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(audit.status == 200)
            let items = try #require(audit.json["items"] as? [[String: Any]])
            #expect(items.count == 1)
            #expect(items.first?["kind"] as? String == "retention_sweep")
            #expect(items.first?["dueAt"] is String)
            #expect(items.first?["finishedAt"] is String)
            #expect((items.first?["counts"] as? [String: Int])?["feedback"] == 1)
            #expect(!audit.text.contains("canary-audit-comment"))
            #expect(!audit.text.contains("c@x.io"))
            #expect(try await server.request("GET", "/api/audit").status == 401)
        }
    }

    /// A trail longer than a page is read to its end through `nextCursor`, as the feedback list is; a bad `limit` or
    /// `cursor` is a 400 naming it, and a filter the route does not take is still refused.
    @Test func auditPagesThroughTheWholeTrail() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient(plan: .free)
            let auth = ["Authorization": "Bearer \(client.key)"]
            // Each erasure leaves an entry; user n held n items, so the entries tell each other apart by their counts.
            for n in 1...5 {
                for _ in 0..<n {
                    _ = try await server.parts.store.insert(
                        FeedbackDraft(clientId: client.id, source: .api, rating: 2, userId: "user-\(n)"), at: Date(), origin: nil)
                }
                #expect(try await server.postJSON("/api/privacy/erase", #"{"userId":"user-\#(n)"}"#, headers: auth).status == 200)
            }
            let first = try await server.request("GET", "/api/audit", headers: auth)
            let all = try #require(first.json["items"] as? [[String: Any]])
            #expect(all.count == 5)
            #expect(first.json["nextCursor"] is NSNull)

            var seen: [[String: Any]] = []
            var path = "/api/audit?limit=2"
            var pages = 0
            while pages < 5 {
                let page = try await server.request("GET", path, headers: auth)
                #expect(page.status == 200)
                seen += try #require(page.json["items"] as? [[String: Any]])
                pages += 1
                guard let next = page.json["nextCursor"] as? String else { break }
                path = "/api/audit?limit=2&cursor=\(next)"
            }
            #expect(pages == 3)
            // Every entry once, in the order of the one listing, the newest first.
            let erased = { (entries: [[String: Any]]) in entries.map { ($0["counts"] as? [String: Int])?["feedback"] ?? 0 } }
            #expect(erased(all) == [5, 4, 3, 2, 1])
            #expect(erased(seen) == [5, 4, 3, 2, 1])
            #expect(seen.allSatisfy { $0["kind"] as? String == "privacy_erasure" })

            for (query, field) in [
                ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=two", "limit"), ("cursor=not-a-cursor", "cursor"),
                ("kind=privacy_erasure", "kind"),
            ] {
                let refused = try await server.request("GET", "/api/audit?\(query)", headers: auth)
                #expect(refused.status == 400, "\(query)")
                #expect((refused.json["issues"] as? [String: Any])?[field] != nil, "\(query)")
            }
        }
    }
}

extension RetentionAPITests {
    /// The sweep runs every `USERO_RETENTION_INTERVAL_SECONDS` while serve runs, not only at its start: a free
    /// client's row that is past its 30 days goes at the next sweep, and again at the one after.
    @Test func serveSweepsAgainAtTheConfiguredInterval() async throws {
        try await TestServer.run(configure: { $0.retentionInterval = .seconds(1) }) { server in
            let client = try await server.createClient(plan: .free)
            for round in 1...2 {
                let expired = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: .api, rating: 2),
                    at: Date().addingTimeInterval(-31 * day), origin: nil)
                try await server.eventually(timeout: .seconds(30)) {
                    try await server.count("feedback", where: "id = '\(expired.id)'") == 0
                }
                #expect(try await server.count("feedback", where: "id = '\(expired.id)'") == 0, "round \(round)")
            }
        }
    }

    /// What `usero retention run` prints tells stray uploads (never attached to feedback, gone after a day) apart
    /// from the screenshots of expired feedback.
    @Test func retentionRunReportsStrayUploadsApartFromScreenshotsOfExpiredFeedback() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient(plan: .paid)
            _ = try await AccountClosureTests.upload(server, clientID: client.id)
            let report = try await RetentionCommand.runOnce(
                backend: server.parts.backend, asOf: Date().addingTimeInterval(2 * day))
            #expect(report.orphanScreenshots == 1)
            #expect(report.screenshots == 0)
            #expect(report.feedback == 0)
            #expect(report.clients == 1)
        }
    }
}
