import UseroCrypto
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

/// Dropping what isn't a forward, deduplicating, retrying, and surviving restarts.
@Suite struct SlackReliabilityTests {
    @Test func otherEmojiAndMessageEventsStoreNothingAndLogNoText() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            let canary = "CANARY-\(UUID().uuidString)"
            let dropped: [(String, [(String, String)])] = [
                ("event_reaction_added_other_emoji.json", []),
                ("event_reaction_added_file.json", []),
                ("event_message_channels.json", [("Export to CSV times out on big projects", canary)]),
                ("event_message_bot_message.json", [("Deploy finished: web 2024.11.26-1", canary)]),
                ("event_message_app_bot_no_subtype.json", [("Sent to usero :white_check_mark:", canary)]),
                ("event_message_changed.json", [("Export to CSV times out on big projects (>10k rows)", canary)]),
                ("app_rate_limited.json", []),
            ]
            for (name, pairs) in dropped {
                let reply = try await server.sendEvent(name, replacing: pairs)
                #expect(reply.status == 200, "\(name)")
            }
            // A wrench by usero's own bot user is dropped too
            let own = try await server.sendEvent(
                "event_reaction_added_wrench.json", replacing: [(#""user": "U0001""#, #""user": "U0009""#)])
            #expect(own.status == 200)

            #expect(try await server.count("feedback") == 0)
            #expect(try await server.count("job") == 0)
            #expect(try await server.count("slack_event_seen") == 0)
            #expect(await fake.calls("conversations.replies").isEmpty)
            #expect(await fake.calls("chat.postEphemeral").isEmpty)
            #expect(try await server.items(client).isEmpty)
            #expect(!server.logs.text.contains(canary))
            #expect(server.logs.text.contains("slack.event_type=message"))
            #expect(try await server.databaseBytes().range(of: Data(canary.utf8)) == nil)
        }
    }

    /// Slack holds back a workspace's events past 30,000 an hour and says so with `app_rate_limited`: reactions made
    /// meanwhile never arrive. The delivery is acknowledged, and the operator hears of it: a warning naming the
    /// workspace and the minute (and how to sweep what was missed), and a counter on `/metrics`.
    @Test func aRateLimitedWorkspaceIsAWarningAndACount() async throws {
        let folder = TestServer.makeFolder()
        var environment = UseroBinary.storeEnvironment(in: folder)
        environment["SLACK_SIGNING_SECRET"] = SlackTestSettings.signingSecret
        let log = folder.appendingPathComponent("serve.log").path
        let port = UseroBinary.freePort()
        let (process, healthy) = try await UseroBinary.startServe(port: port, environment: environment, log: log)
        defer { process.send(SIGKILL) }
        try #require(healthy)
        let body = Data(Fixtures.text("app_rate_limited.json").utf8)
        let answer = try await HTTPResult.send(
            "POST", "http://127.0.0.1:\(port)/slack/events", headers: SlackTestSettings.headers(for: body), body: body)
        #expect(answer.status == 200)
        let metrics = try await HTTPResult.send("GET", "http://127.0.0.1:\(port)/metrics").text
        #expect(metrics.contains("usero_slack_events_rate_limited_total 1"), "\(metrics)")
        let warnings = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("warning") && $0.contains("app_rate_limited") }
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.contains("slack.team_id=T0001") == true)
        #expect(warnings.first?.contains("slack.minute_rate_limited=2023-11-14T22:19:00") == true, "\(warnings)")
    }

    @Test func aRetriedDeliveryAndEveryOtherForwardOfTheSameMessageGiveOneRow() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            // The same delivery twice (Slack's http_timeout retry)
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            let retry = try await server.sendEvent(
                "event_reaction_added_wrench.json",
                headers: ["X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"])
            #expect(retry.status == 200)
            _ = try await fake.waitForCalls("chat.postEphemeral")
            // Another member, another emoji, the shortcut and the wrench again: all the same message
            #expect(try await server.sendEvent(
                "event_reaction_added_wrench.json",
                replacing: [(#""user": "U0001""#, #""user": "U0003""#), ("Ev0001", "Ev0101")]).status == 200)
            #expect(try await server.sendEvent(
                "event_reaction_added_wrench.json",
                replacing: [(#""reaction": "wrench""#, #""reaction": "pushpin""#), ("Ev0001", "Ev0102")]).status == 200)
            let shortcut = Fixtures.text(
                "shortcut_message_action.body.txt",
                replacing: [("https%3A%2F%2Fhooks.slack.com%2Fapp%2F", SlackCaptureTests.formEscape(
                    server.parts.config.slackAPIURL.replacingOccurrences(of: "/api/", with: "/hooks/")))])
            #expect(try await server.postSlack(
                "/slack/interactivity", shortcut, contentType: "application/x-www-form-urlencoded").status == 200)

            let ephemerals = try await fake.waitForCalls("chat.postEphemeral", count: 3)
            let answer = try #require(try await fake.waitForCalls("response_url").first)
            #expect(answer.body.contains("Already in usero"))
            #expect(ephemerals.filter { $0.form["text"]?.contains("Already in usero") == true }.count == 2)
            #expect(ephemerals.contains { $0.form["user"] == "U0003" })
            #expect(try await server.items(client).count == 1)
            // One fetch in all: later forwards found the row without asking Slack again
            #expect(await fake.calls("conversations.replies").count == 1)
            #expect(try await server.count("slack_event_seen") == 3)
        }
    }

    @Test func concurrentForwardsOfOneMessageFetchItOnceAndStoreOneRow() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            // Five members react at the same moment
            try await withThrowingTaskGroup(of: Int.self) { group in
                for n in 1...5 {
                    group.addTask {
                        try await server.sendEvent(
                            "event_reaction_added_wrench.json",
                            replacing: [(#""user": "U0001""#, #""user": "U010\#(n)""#), ("Ev0001", "Ev030\(n)")]
                        ).status
                    }
                }
                for try await status in group { #expect(status == 200) }
            }
            let confirmations = try await fake.waitForCalls("chat.postEphemeral", count: 5)
            #expect(confirmations.filter { $0.form["text"]?.contains("Sent to usero") == true }.count == 1)
            #expect(try await server.items(client).count == 1)
            #expect(await fake.calls("conversations.replies").count == 1)
        }
    }

    @Test func rateLimitsAndServerErrorsAreRetriedUntilTheyLand() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            await fake.script("conversations.replies", .rateLimited, .serverError)
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            let confirmation = try #require(try await fake.waitForCalls("chat.postEphemeral").first)
            #expect(confirmation.form["text"]?.contains("Sent to usero") == true)
            #expect(await fake.calls("conversations.replies").count == 3)
            #expect(try await server.items(client).count == 1)
            // The job row goes once the confirmation call has returned, a moment after the fake saw it.
            try await server.eventually { try await server.count("job") == 0 }
        }
    }

    @Test func aBurstInOneRateLimitedWorkspaceQueuesAndAllLands() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            await fake.script("conversations.replies", .rateLimited)
            // Two different messages forwarded at once: the top-level one and the thread reply
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            #expect(try await server.sendEvent("event_reaction_added_pushpin_thread_reply.json").status == 200)
            _ = try await fake.waitForCalls("chat.postEphemeral", count: 2)
            #expect(try await server.items(client).count == 2)
            // One 429, then one fetch per message: the queue waited instead of hammering Slack
            #expect(await fake.calls("conversations.replies").count == 3)
        }
    }

    @Test func notInChannelIsExplainedToTheForwarder() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            await fake.script("conversations.replies", .fixture("conversations_history_not_in_channel.json"))
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            let reason = try #require(try await fake.waitForCalls("chat.postEphemeral").first)
            #expect(reason.form["user"] == "U0001")
            #expect(reason.form["text"]?.contains("Invite @usero") == true)
            #expect(try await server.items(client).isEmpty)
            try await server.eventually { try await server.count("job") == 0 }
        }
    }

    @Test func whenSlackRefusesTheEphemeralTooTheForwarderHearsItInADirectMessage() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            // Given a channel the bot is not in: Slack refuses both the fetch and the ephemeral there
            await fake.script("conversations.replies", .fixture("conversations_history_not_in_channel.json"))
            await fake.script("chat.postEphemeral", .error("not_in_channel"))
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            // Then the explanation reaches the member as a direct message from the app
            let direct = try #require(try await fake.waitForCalls("chat.postMessage").first)
            #expect(direct.form["channel"] == "U0001")
            #expect(direct.form["text"]?.contains("Invite @usero") == true)
            #expect(try await server.items(client).isEmpty)
        }
    }

    @Test func aJobAcknowledgedBeforeARestartIsDoneAfterIt() async throws {
        try await withFakeSlack { fake, api in
            let folder = TestServer.makeFolder()
            // Install while Slack is reachable
            let client = try await TestServer.run(folder: folder, configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) {
                server in try await server.installSlack()
            }
            // Slack unreachable: the reaction is acknowledged and queued, the work cannot happen, the server stops
            try await TestServer.run(folder: folder, configure: {
                SlackTestSettings.configure(&$0, fakeURL: api)
                $0.slackAPIURL = "http://127.0.0.1:1/api/"
            }) { server in
                #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
                #expect(try await server.count("job") == 1)
                try await server.eventually { try await server.count("job", where: "attempts > 0") == 1 }
            }
            // A new server on the same folder finishes it
            try await TestServer.run(folder: folder, configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) {
                server in
                _ = try await fake.waitForCalls("chat.postEphemeral")
                #expect(try await server.items(client).count == 1)
                try await server.eventually { try await server.count("job") == 0 }
            }
        }
    }

    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly)) func aRevokeJobFromAccountClosureRevokesAndEndsWhateverSlackSays() async throws {
        try await withFakeSlack { fake, api in
            try await TestServer.run(configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) { server in
                let (ring, _) = try SlackKeys.load(config: server.parts.config, createIfMissing: false, logger: nil)
                func enqueueRevoke(attempts: Int = 0) async throws {
                    let envelope = try ring.seal(Array(FakeSlack.botToken.utf8), associatedData: Array("T0001".utf8))
                    let payload = #"{"tokenEnvelope":"\#(Data(envelope).base64EncodedString())"}"#
                    try await server.parts.database.write { db in
                        try db.execute(
                            sql: """
                                INSERT INTO job (kind, client_id, team_id, payload, run_at, attempts, created_at)
                                VALUES ('slack.revoke', NULL, 'T0001', ?, 0, ?, 0)
                                """,
                            arguments: [payload, attempts])
                    }
                }
                // Slack answers ok
                try await enqueueRevoke()
                let revoked = try #require(try await fake.waitForCalls("auth.revoke").first)
                #expect(revoked.authorization == "Bearer \(FakeSlack.botToken)")
                try await server.eventually { try await server.count("job") == 0 }
                // Slack answers an error: the job still ends
                await fake.script("auth.revoke", .fixture("error_invalid_auth.json"))
                try await enqueueRevoke()
                _ = try await fake.waitForCalls("auth.revoke", count: 2)
                try await server.eventually { try await server.count("job") == 0 }
                // Slack keeps failing: the job ends after its last attempt
                await fake.script("auth.revoke", .serverError)
                try await enqueueRevoke(attempts: 4)
                _ = try await fake.waitForCalls("auth.revoke", count: 3)
                try await server.eventually { try await server.count("job") == 0 }
                #expect(!server.logs.text.contains("AbCdEfGhIjKlMnOpQrStUvWx"))
            }
        }
    }
}
