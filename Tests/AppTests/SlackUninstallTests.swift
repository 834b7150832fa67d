import GRDB
import Feedback
import Foundation
import SlackGateway
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import Retention
import UseroTestSupport

/// Uninstall and token revocation: the privacy promises.
@Suite struct SlackUninstallTests {
    @Test func aScrubNeverWaitsBehindAnotherWorkspaceWhoseSlackHangs() async throws {
        try await withFakeSlack { fake, api in
            // The hung call's own deadline is two minutes here, so a scrub queued behind it could not finish within the
            // 60 s promise (with Slack's usual 10 s, a loaded machine blurred the two).
            try await TestServer.run(configure: {
                SlackTestSettings.configure(&$0, fakeURL: api)
                $0.slackCallTimeout = 120
            }) { server in
                // Given two workspaces of two clients, and Slack accepting calls for T0002 but never answering
                let first = try await server.installSlack()
                await fake.script(
                    "oauth.v2.access",
                    .init(body: Fixtures.text("oauth_v2_access_ok.json", replacing: [("T0001", "T0002")])))
                await fake.script(
                    "auth.test",
                    .init(body: #"{"ok":true,"team_id":"T0002","user_id":"U0009","bot_id":"B0001"}"#))
                let second = try await server.createClient()
                try await server.installSlack(for: second)
                await fake.script("conversations.replies", .hang, .hang, .hang)
                #expect(
                    try await server.sendEvent(
                        "event_reaction_added_wrench.json", replacing: [("T0001", "T0002"), ("Ev0001", "Ev2001")]
                    ).status == 200)
                _ = try await fake.waitForCalls("conversations.replies")
                // And a captured row in the first workspace
                #expect(try await server.sendCommand(Fixtures.text("slash_command_usero.txt")).status == 200)

                // When the first workspace uninstalls while the other's Slack call hangs
                let eventTime = Int(Date().timeIntervalSince1970)
                let started = ContinuousClock.now
                #expect(
                    try await server.sendEvent(
                        "event_app_uninstalled.json", replacing: [("1700001000", "\(eventTime)")]
                    ).status == 200)

                // Then its scrub finishes within the 60 s promise, while the hung call is still open
                try await server.eventually(timeout: .seconds(60)) {
                    try await server.count("audit_entry", where: "kind = 'slack_uninstall_scrub'") == 1
                }
                #expect(ContinuousClock.now - started < .seconds(60))
                #expect(try await server.count("feedback", where: "slack_author_id IS NOT NULL") == 0)
                #expect(try await server.items(first).count == 1)
                await fake.releaseHung()
            }
        }
    }

    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly)) func uninstallDeletesTheTokenAtOnceAndScrubsIdsWithinTheDeadline() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            // Given rows captured by reaction and by command
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            #expect(try await server.sendCommand(Fixtures.text("slash_command_usero.txt")).status == 200)
            _ = try await fake.waitForCalls("chat.postEphemeral")
            try await server.eventually { try await server.count("feedback", where: "slack_author_id IS NOT NULL") == 2 }

            // When the workspace uninstalls
            let eventTime = Int(Date().timeIntervalSince1970)
            let ack = try await server.sendEvent(
                "event_app_uninstalled.json", replacing: [("1700001000", "\(eventTime)")])
            #expect(ack.status == 200)

            // Then the token is gone with the acknowledgement, and the ids within 60 s of the event
            #expect(try await server.count("slack_installation") == 0)
            try await server.eventually { try await server.count("audit_entry", where: "kind = 'slack_uninstall_scrub'") == 1 }
            #expect(try await server.count("feedback", where: "slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL") == 0)
            let items = try await server.items(client)
            #expect(items.count == 2)
            #expect(Set(items.compactMap { $0["comment"] as? String }).count == 2)
            let (auditClient, due, finished, counts) = try await server.parts.database.read { db in
                (
                    try String.fetchOne(db, sql: "SELECT client_id FROM audit_entry"),
                    try Int64.fetchOne(db, sql: "SELECT due_at FROM audit_entry"),
                    try Int64.fetchOne(db, sql: "SELECT finished_at FROM audit_entry"),
                    try String.fetchOne(db, sql: "SELECT counts FROM audit_entry")
                )
            }
            #expect(auditClient == client.id)
            #expect(due == Int64(eventTime) * 1000 + 60_000)
            #expect((finished ?? .max) <= (due ?? 0))
            #expect(counts == #"{"rows":2}"#)
            // The scrubbed ids (author U0002, forwarder U0001) are gone from the file and its WAL too, not only
            // from the rows: the WAL held the rows as they were until a checkpoint overwrote them. A reader holding a
            // snapshot at that moment (under the whole suite, one of this server's own) defers the checkpoint, which
            // then tries again in the background (README): waited for, within the helper's minute.
            try await server.eventually {
                let bytes = try await server.databaseBytes()
                return bytes.range(of: Data("U0002".utf8)) == nil && bytes.range(of: Data("U0001".utf8)) == nil
            }
            let bytes = try await server.databaseBytes()
            #expect(bytes.range(of: Data(FakeSlack.botToken.utf8)) == nil)
            #expect(bytes.range(of: Data("U0002".utf8)) == nil)
            #expect(bytes.range(of: Data("U0001".utf8)) == nil)

            // And nothing from that workspace is captured any more, not even a late retry
            #expect(try await server.sendEvent(
                "event_reaction_added_wrench.json", replacing: [("Ev0001", "Ev0201")]).status == 200)
            let refused = try await server.sendCommand(Fixtures.text("slash_command_usero.txt"))
            #expect((refused.json["text"] as? String)?.contains("isn't installed") == true)
            #expect(try await server.sendEvent(
                "event_app_uninstalled.json", replacing: [("1700001000", "\(eventTime)")]).status == 200)
            #expect(try await server.count("feedback") == 2)
            #expect(try await server.count("feedback", where: "slack_author_id IS NOT NULL") == 0)

            // Until the app is installed again
            try await server.installSlack(for: client)
            #expect(try await server.sendCommand(Fixtures.text("slash_command_usero.txt")).status == 200)
            #expect(try await server.count("feedback", where: "slack_author_id = 'U0001'") == 1)
        }
    }

    /// Slack retries a delivery it could not make (usero down, a timeout) for minutes: an `app_uninstalled` or
    /// `tokens_revoked` whose first delivery failed can arrive after the admin installed usero again. Such a late
    /// retry, from before this installation, must not uninstall it or forget its new token; the rows the earlier
    /// installation captured still lose their ids. The same events as first deliveries uninstall as always.
    @Test func aLateRetryFromBeforeAReinstallLeavesTheNewInstallationWorking() async throws {
        try await SlackCaptureTests.withInstalledServer { server, _, client in
            #expect(try await server.sendCommand(Fixtures.text("slash_command_usero.txt")).status == 200)
            let retry = ["X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_error"]
            let beforeInstall = "\(Int(Date().timeIntervalSince1970) - 120)"
            #expect(try await server.sendEvent(
                "event_tokens_revoked.json", replacing: [("1700000990", beforeInstall)], headers: retry).status == 200)
            #expect(try await server.sendEvent(
                "event_app_uninstalled.json", replacing: [("1700001000", beforeInstall)], headers: retry).status == 200)

            // The scrub of what the earlier installation captured runs, and finds nothing of it here
            try await server.eventually(timeout: .seconds(30)) {
                try await server.count("audit_entry", where: "kind = 'slack_uninstall_scrub'") == 1
            }
            #expect(try await server.count("slack_installation", where: "token_envelope IS NOT NULL") == 1)
            #expect(try await server.count("slack_tombstone") == 0)
            let installed = try await server.request(
                "GET", "/api/slack/installation", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(installed.status == 200, "\(installed.text)")
            let again = try await server.sendCommand(Fixtures.text("slash_command_usero.txt"))
            #expect((again.json["text"] as? String)?.contains("revoked") == false, "\(again.text)")
            #expect((again.json["text"] as? String)?.contains("isn't installed") == false, "\(again.text)")
            #expect(try await server.count("feedback", where: "slack_author_id = 'U0001'") == 2)

            // A first delivery is taken as it comes
            #expect(try await server.sendEvent(
                "event_app_uninstalled.json", replacing: [("1700001000", beforeInstall), ("Ev0009", "Ev0909")]
            ).status == 200)
            #expect(try await server.count("slack_installation") == 0)
            try await server.eventually(timeout: .seconds(30)) {
                try await server.count("feedback", where: "slack_author_id IS NOT NULL") == 0
            }
        }
    }

    /// The uninstall the service did not hear: Slack retries `app_uninstalled` for a few minutes only, so a
    /// workspace that uninstalled while usero was down left its token and its members' ids behind, until usero next
    /// called Slack with it (here the recovery sweep an admin asks for after the outage). Slack refuses the token
    /// then, and again to `auth.test`: the workspace is uninstalled as the event would have done it, its token
    /// deleted and the ids scrubbed within 60 s, the text kept; the operator is told, never the token.
    @Test func anUninstallMissedWhileDownIsFoundAtTheNextCallAndKeptWithinTheDeadline() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            #expect(try await server.sendCommand(Fixtures.text("slash_command_usero.txt")).status == 200)
            try await server.eventually { try await server.count("feedback", where: "slack_author_id IS NOT NULL") == 1 }
            // Slack no longer takes the token (the event that said why never arrived)
            await fake.script("users.conversations", .error("token_revoked"))
            await fake.script("auth.test", .error("token_revoked"))
            let auth = ["Authorization": "Bearer \(client.key)"]
            let started = ContinuousClock.now
            #expect(try await server.request("POST", "/api/slack/recover", headers: auth).status == 202)

            try await server.eventually(timeout: .seconds(60)) {
                try await server.count("audit_entry", where: "kind = 'slack_uninstall_scrub'") == 1
            }
            #expect(ContinuousClock.now - started < .seconds(60))
            #expect(await fake.calls("auth.test").count == 2)  // the install's, and the check
            #expect(try await server.request("GET", "/api/slack/installation", headers: auth).status == 404)
            try await Self.expectUninstalledAsTheEventWould(server, client)
        }
    }

    /// An instant as the API writes it (ISO 8601 with milliseconds).
    static func instant(_ text: String) -> Date? {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return format.date(from: text)
    }

    /// After an uninstall found without its event: no installation, no member id on the captured row, its text
    /// kept, the operator warned with the workspace named, and never the token in the logs.
    static func expectUninstalledAsTheEventWould(_ server: TestServer, _ client: (id: String, key: String)) async throws {
        #expect(try await server.count("slack_installation") == 0)
        #expect(
            try await server.count("feedback", where: "slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL")
                == 0)
        let items = try await server.items(client)
        #expect(items.count == 1)
        #expect((items.first?["comment"] as? String)?.isEmpty == false)
        let warning = try #require(server.logs.all.first { $0.contains("treated as uninstalled") })
        #expect(warning.hasPrefix("warning") && warning.contains("slack.team_id=T0001"))
        #expect(!server.logs.text.contains(FakeSlack.botToken))
    }

    /// The uninstall nothing called Slack after: its `app_uninstalled` never reached usero (a network or load
    /// balancer outage longer than Slack's retries, while usero itself ran), and the workspace sends nothing more.
    /// The daily check of every token (here shortened to every beat) asks `auth.test`; Slack refuses the token for
    /// good, and the workspace is uninstalled as the event would have done it: the token deleted, the ids scrubbed
    /// within 60 s of the check, the text kept.
    @Test func theDailyTokenCheckFindsAnUninstallWhoseEventNeverArrived() async throws {
        try await SlackCaptureTests.withInstalledServer(configure: {
            $0.slackHeartbeatInterval = .milliseconds(200)
            $0.slackTokenCheckAge = 0
        }) { server, fake, client in
            #expect(try await server.sendCommand(Fixtures.text("slash_command_usero.txt")).status == 200)
            try await server.eventually { try await server.count("feedback", where: "slack_author_id IS NOT NULL") == 1 }
            // Checked while the token works: nothing changes.
            let before = await fake.calls("auth.test").count
            try await server.eventually { await fake.calls("auth.test").count >= before + 2 }
            #expect(try await server.count("slack_installation", where: "token_envelope IS NOT NULL") == 1)

            await fake.script("auth.test", .error("token_revoked"), .error("token_revoked"))
            try await server.eventually(timeout: .seconds(60)) {
                try await server.count("audit_entry", where: "kind = 'slack_uninstall_scrub'") == 1
            }
            // Within 60 s of the check, as the audit entry records it.
            let audit = try await server.request("GET", "/api/audit", headers: ["Authorization": "Bearer \(client.key)"])
            let scrub = try #require(
                (audit.json["items"] as? [[String: Any]])?.first { $0["kind"] as? String == "slack_uninstall_scrub" })
            let dueAt = try #require((scrub["dueAt"] as? String).flatMap(Self.instant))
            let finishedAt = try #require((scrub["finishedAt"] as? String).flatMap(Self.instant))
            #expect(finishedAt <= dueAt)
            #expect(await fake.calls("users.conversations").isEmpty)
            try await Self.expectUninstalledAsTheEventWould(server, client)
        }
    }

    @Test func revokedBotTokensAreDeletedAndLaterForwardsRefusedCleanly() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            #expect(try await server.sendEvent("event_tokens_revoked.json").status == 200)
            #expect(try await server.count("slack_installation", where: "token_envelope IS NULL") == 1)
            let reply = try await server.sendCommand(Fixtures.text("slash_command_usero.txt"))
            #expect(reply.status == 200)
            #expect((reply.json["text"] as? String)?.contains("revoked") == true)
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            #expect(try await server.count("feedback") == 0)
            #expect(try await server.count("job") == 0)
            #expect(await fake.calls("conversations.replies").isEmpty)
            #expect(try await server.items(client).isEmpty)

            // And the inbox and the admin API say so, where they said "connected", until the workspace is
            // reconnected
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            #expect(try await browser.signIn(adminKey: client.key).status == 303)
            let page = try await browser.get("/inbox").text
            #expect(page.contains("was revoked"))
            #expect(!page.contains("Slack: connected"))
            func installation() async throws -> [String: Any] {
                let answer = try await server.request(
                    "GET", "/api/slack/installation", headers: ["Authorization": "Bearer \(client.key)"])
                #expect(answer.status == 200, "\(answer.text)")
                return answer.json
            }
            let revoked = try await installation()
            #expect(revoked["tokenRevoked"] as? Bool == true)
            #expect(revoked["teamId"] as? String == "T0001")
            try await server.installSlack(for: client)
            let reconnected = try await browser.get("/inbox").text
            #expect(reconnected.contains("Slack: connected"))
            #expect(!reconnected.contains("was revoked"))
            let active = try await installation()
            #expect(active["tokenRevoked"] == nil)
            #expect(Set(active.keys) == ["teamId", "teamName", "installedAt", "scopes"])
        }
    }
}
