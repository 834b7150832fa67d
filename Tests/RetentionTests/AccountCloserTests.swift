import Feedback
import Foundation
import GRDB
@testable import StoreSQLite
import Testing

@testable import Retention

@Suite struct AccountCloserTests {
    /// A client owning one of everything, and a bystander owning a row.
    struct Seeded {
        let store: TestStore
        let client: String
        let bystander: String
        let attached: ScreenshotRef
        let unattached: ScreenshotRef
    }

    func seed(rows: Int = 3) async throws -> Seeded {
        let t = try await TestStore()
        let client = try await t.createClient(plan: .paid)
        let bystander = try await t.createClient()
        let now = Date()
        let attached = try await t.uploadScreenshot(clientID: client, at: now)
        let unattached = try await t.uploadScreenshot(clientID: client, at: now)
        try await t.insertFeedback(clientID: client, at: now, screenshots: [attached])
        for i in 1..<rows { try await t.insertFeedback(clientID: client, at: now.addingTimeInterval(Double(-i))) }
        try await t.insertFeedback(clientID: bystander, at: now)
        try await t.database.write { db in
            let millis = epochMillis(now)
            try db.execute(
                sql:
                    "INSERT INTO end_user (client_id, user_id, email, created_at, updated_at) VALUES (?, 'u1', 'a@b.co', ?, ?)",
                arguments: [client, millis, millis])
            try db.execute(
                sql: """
                    INSERT INTO slack_installation (team_id, client_id, scopes, token_envelope, token_key_id, installed_at)
                    VALUES ('T0001', ?, 'chat:write', ?, 'k1', ?)
                    """,
                arguments: [client, Data([1, 2, 3, 4]), millis])
            try db.execute(
                sql:
                    "INSERT INTO job (kind, client_id, team_id, payload, run_at, created_at) VALUES ('slack.fetch', ?, 'T0001', '{}', ?, ?)",
                arguments: [client, millis, millis])
            try db.execute(
                sql: "INSERT INTO oauth_state (nonce, client_id, expires_at) VALUES ('n1', ?, ?)",
                arguments: [client, millis + 600_000])
        }
        return Seeded(store: t, client: client, bystander: bystander, attached: attached, unattached: unattached)
    }

    func expectEverythingGone(_ s: Seeded, in t: TestStore) async throws {
        for table in ["feedback", "screenshot", "end_user", "slack_installation", "oauth_state", "account_deletion"] {
            #expect(try await t.count(table, where: "client_id = ?", [s.client]) == 0, "\(table)")
        }
        #expect(try await t.count("job", where: "client_id = ?", [s.client]) == 0)
        #expect(try await t.count("client", where: "id = ?", [s.client]) == 0)
        #expect(t.fileExists(s.attached) == false)
        #expect(t.fileExists(s.unattached) == false)
        #expect(try await t.count("feedback", where: "client_id = ?", [s.bystander]) == 1)
        // The token goes to Slack's auth.revoke through a job that is nobody's, so it survives the client.
        let payload = try await t.database.read { db in
            try String.fetchOne(
                db,
                sql: "SELECT payload FROM job WHERE kind = 'slack.revoke' AND team_id = 'T0001' AND client_id IS NULL")
        }
        #expect(payload == #"{"tokenEnvelope":"AQIDBA=="}"#)
    }

    @Test func closingAnAccountDeletesEverythingItOwnsAndRevokesItsSlackToken() async throws {
        let s = try await seed()
        let t = s.store
        let counts = try await AccountCloser(store: t.store, feedback: t.store, owners: t.owners, clock: TestClock()).close(
            clientID: s.client)

        try await expectEverythingGone(s, in: t)
        #expect(counts["feedback"] == 3)
        #expect(counts["screenshots"] == 2)
        #expect(counts["endUsers"] == 1)
        #expect(counts["jobs"] == 1)
        #expect(counts["slackInstallations"] == 1)
        #expect(counts["oauthStates"] == 1)
        let entry = try #require(try await AuditLog(store: t.store).entries(clientID: s.client).first)
        #expect(entry.kind == "account_closure")
        #expect(entry.counts == counts)
    }

    @Test func aClosingClientIsInvisibleFromTheFirstStep() async throws {
        let s = try await seed()
        let closer = AccountCloser(store: s.store.store, feedback: s.store.store, owners: s.store.owners, clock: TestClock())
        #expect(try await closer.begin(clientID: s.client))
        #expect(try await s.store.store.client(id: s.client) == nil)
        #expect(try await s.store.count("slack_installation") == 0)
        #expect(try await closer.begin(clientID: s.client) == false)
    }

    @Test func closureInterruptedHalfwayFinishesAfterARestart() async throws {
        // Given a closure that "crashes" after its first step and one batch
        let s = try await seed(rows: 25)
        var policy = RetentionPolicy.standard
        policy.batchSize = 10
        let closer = AccountCloser(store: s.store.store, feedback: s.store.store, owners: s.store.owners, clock: TestClock(), policy: policy)
        #expect(try await closer.begin(clientID: s.client))
        #expect(try await closer.finish(clientID: s.client, maxBatches: 1) == nil)
        #expect(try await s.store.count("feedback", where: "client_id = ?", [s.client]) == 15)

        // When a restarted process finishes pending closures
        let restarted = try await s.store.reopened()
        let finished = try await AccountCloser(store: restarted.store, feedback: restarted.store, owners: restarted.owners, clock: TestClock(), policy: policy
        ).finishPending()

        // Then everything is gone and the audit entry counts what both processes deleted
        #expect(finished == 1)
        try await expectEverythingGone(s, in: restarted)
        let entry = try #require(try await AuditLog(store: restarted.store).entries(clientID: s.client).first)
        #expect(entry.counts["feedback"] == 25)
        #expect(entry.counts["slackInstallations"] == 1)
    }
}
