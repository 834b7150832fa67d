import Feedback
import Foundation
import SlackGateway
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import Retention
import UseroTestSupport

/// The three capture paths, on channel messages and thread replies, against the fake Slack.
@Suite struct SlackCaptureTests {
    static let messageTs = "1700000000.000100"
    static let replyTs = "1700000450.000400"
    static let parentTs = "1700000400.000300"

    /// Runs `body` with a server installed for one client against a fresh fake (`configure` changes the server's
    /// configuration after the fake's settings).
    static func withInstalledServer(
        configure: @escaping @Sendable (inout AppConfig) -> Void = { _ in },
        _ body: @Sendable (TestServer, FakeSlack, (id: String, key: String)) async throws -> Void
    ) async throws {
        try await withFakeSlack { fake, api in
            try await TestServer.run(configure: {
                SlackTestSettings.configure(&$0, fakeURL: api)
                configure(&$0)
            }) { server in
                let client = try await server.installSlack()
                try await body(server, fake, client)
            }
        }
    }

    @Test func wrenchOnAChannelMessageIsFetchedStoredAndConfirmed() async throws {
        try await Self.withInstalledServer { server, fake, client in
            let ack = try await server.sendEvent("event_reaction_added_wrench.json")
            #expect(ack.status == 200)
            let confirmation = try #require(try await fake.waitForCalls("chat.postEphemeral").first)
            #expect(confirmation.form["user"] == "U0001")
            #expect(confirmation.form["channel"] == "C0001")
            #expect(confirmation.form["text"]?.contains("Sent to usero") == true)
            #expect(confirmation.authorization == "Bearer \(FakeSlack.botToken)")

            let item = try #require(try await server.items(client).first)
            #expect(item["source"] as? String == "slack")
            #expect(item["comment"] as? String == "Export to CSV times out")
            let slack = try #require(item["slack"] as? [String: Any])
            #expect(slack["teamId"] as? String == "T0001")
            #expect(slack["channelId"] as? String == "C0001")
            #expect(slack["messageTs"] as? String == Self.messageTs)
            #expect(slack["threadTs"] is NSNull)
            #expect(slack["authorId"] as? String == "U0002")
            #expect(slack["forwardedBy"] as? String == "U0001")
            #expect(slack["capturedVia"] as? String == "reaction:wrench")
            #expect(slack["permalink"] as? String == "https://acme-product.slack.com/archives/C0001/p1700000000000100")
            let fetch = try #require(await fake.calls("conversations.replies").first)
            #expect(fetch.query["channel"] == "C0001")
            #expect(fetch.query["ts"] == Self.messageTs)
            #expect(fetch.authorization == "Bearer \(FakeSlack.botToken)")
            // The job row goes once the confirmation call has returned, a moment after the fake saw it.
            try await server.eventually { try await server.count("job") == 0 }
            // The token travelled only in the Authorization header: not in the store, its WAL, or the logs
            #expect(try await server.databaseBytes().range(of: Data(FakeSlack.botToken.utf8)) == nil)
            #expect(!server.logs.text.contains("AbCdEfGhIjKlMnOpQrStUvWx"))
        }
    }

    @Test func pushpinOnAThreadReplyKeepsItsThread() async throws {
        try await Self.withInstalledServer { server, fake, client in
            #expect(try await server.sendEvent("event_reaction_added_pushpin_thread_reply.json").status == 200)
            let confirmation = try #require(try await fake.waitForCalls("chat.postEphemeral").first)
            #expect(confirmation.form["thread_ts"] == Self.parentTs)
            let item = try #require(try await server.items(client).first)
            #expect(item["comment"] as? String == "Same here: the filter panel resets after every save")
            let slack = try #require(item["slack"] as? [String: Any])
            #expect(slack["messageTs"] as? String == Self.replyTs)
            #expect(slack["threadTs"] as? String == Self.parentTs)
            #expect(slack["authorId"] as? String == "U0002")
            #expect(slack["capturedVia"] as? String == "reaction:pushpin")
            #expect((slack["permalink"] as? String)?.contains("thread_ts=\(Self.parentTs)") == true)
        }
    }

    @Test func historyIsTheFallbackWhenRepliesFindsNoThread() async throws {
        try await Self.withInstalledServer { server, fake, client in
            await fake.script("conversations.replies", .error("thread_not_found"))
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            _ = try await fake.waitForCalls("chat.postEphemeral")
            let history = try #require(await fake.calls("conversations.history").first)
            #expect(history.query["latest"] == Self.messageTs)
            #expect(history.query["inclusive"] == "true")
            #expect(try await server.items(client).count == 1)
        }
    }

    /// A screenshot posted to the channel without a word, forwarded with the wrench: the inbox item names the file
    /// rather than arriving empty, with the permalink that leads to it.
    @Test func aScreenshotPostedWithoutTextArrivesNamingItsFile() async throws {
        try await Self.withInstalledServer { server, fake, client in
            await fake.script(
                "conversations.replies",
                FakeSlack.Reply(
                    body: #"{"ok":true,"messages":[{"type":"message","ts":"\#(Self.messageTs)","user":"U0002","text":"","files":[{"id":"F0001","name":"Screenshot 2026-12-06.png","title":"Screenshot 2026-12-06.png","mimetype":"image/png","filetype":"png"}],"upload":true}]}"#
                ))
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            _ = try await fake.waitForCalls("chat.postEphemeral")
            let item = try #require(try await server.items(client).first)
            #expect(item["comment"] as? String == "[file: Screenshot 2026-12-06.png]")
            let slack = try #require(item["slack"] as? [String: Any])
            #expect(slack["permalink"] as? String == "https://acme-product.slack.com/archives/C0001/p1700000000000100")
        }
    }

    /// A permalink that is not an https URL (Slack's always is) is not stored: the row is kept without one, and the
    /// admin API never hands a `javascript:` link to whatever reads it.
    @Test func aPermalinkThatIsNotHTTPSIsNotStored() async throws {
        try await Self.withInstalledServer { server, fake, client in
            await fake.script(
                "chat.getPermalink",
                FakeSlack.Reply(body: #"{"ok":true,"channel":"C0001","permalink":"javascript:alert(document.cookie)"}"#))
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            _ = try await fake.waitForCalls("chat.postEphemeral")
            let item = try #require(try await server.items(client).first)
            #expect(item["comment"] as? String == "Export to CSV times out")
            let slack = try #require(item["slack"] as? [String: Any])
            #expect(slack["permalink"] is NSNull)
        }
    }

    /// The app's own posts (its notifications of new feedback, already in the inbox) are not captured again,
    /// forwarded by reaction or by the shortcut: the member is told why, and nothing is stored. Recovery skips them
    /// too.
    @Test func theAppsOwnPostIsNotCapturedAgain() async throws {
        try await Self.withInstalledServer { server, fake, client in
            await fake.script(
                "conversations.replies",
                FakeSlack.Reply(
                    body: #"{"ok":true,"messages":[{"type":"message","ts":"\#(Self.messageTs)","user":"U0009","bot_id":"B0001","text":"New feedback: ownpostcanary"}]}"#
                ))
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            let told = try #require(try await fake.waitForCalls("chat.postEphemeral").first)
            #expect(told.form["user"] == "U0001")
            #expect(told.form["text"]?.contains("usero's own post") == true)

            let body = Self.shortcutBody(server, replacing: [("U0002", "U0009")])
            #expect(
                try await server.postSlack("/slack/interactivity", body, contentType: "application/x-www-form-urlencoded")
                    .status == 200)
            let answer = try #require(try await fake.waitForCalls("response_url").first)
            #expect(answer.body.contains("usero's own post"))
            try await server.eventually { try await server.count("job") == 0 }
            #expect(try await server.items(client).isEmpty)
            #expect(try await server.databaseBytes().range(of: Data("ownpostcanary".utf8)) == nil)
        }
    }

    @Test func theShortcutStoresItsMessageAndAnswersThroughResponseURL() async throws {
        try await Self.withInstalledServer { server, fake, client in
            let responsePath = "/hooks/app/T0001/1234567890125/QwErTyUiOpAsDfGhJkLzXcVb"
            let body = Self.shortcutBody(server)
            let ack = try await server.postSlack(
                "/slack/interactivity", body, contentType: "application/x-www-form-urlencoded")
            #expect(ack.status == 200)
            #expect(ack.body.isEmpty)
            let answer = try #require(try await fake.waitForCalls("response_url").first)
            #expect(answer.path == responsePath)
            #expect(answer.authorization == nil)
            #expect(answer.body.contains("Sent to usero"))
            let item = try #require(try await server.items(client).first)
            #expect(item["comment"] as? String == "Export to CSV times out")
            let slack = try #require(item["slack"] as? [String: Any])
            #expect(slack["capturedVia"] as? String == "shortcut")
            #expect(slack["authorId"] as? String == "U0002")
            #expect(slack["forwardedBy"] as? String == "U0001")
            #expect(slack["messageTs"] as? String == Self.messageTs)
            #expect(await fake.calls("conversations.replies").isEmpty)
            try await server.eventually { (try await server.items(client).first?["slack"] as? [String: Any])?["permalink"] is String }
        }
    }

    /// When the shortcut's `response_url` refuses the answer for good (it expires after 30 minutes or five uses),
    /// the member still hears what became of the forward: the app tells them in the channel, where only they see it.
    @Test func aShortcutWhoseResponseURLRefusesTheAnswerIsAnsweredByTheApp() async throws {
        try await Self.withInstalledServer { server, fake, client in
            await fake.script("response_url", .init(status: 404, body: "expired_url"))
            let ack = try await server.postSlack(
                "/slack/interactivity", Self.shortcutBody(server), contentType: "application/x-www-form-urlencoded")
            #expect(ack.status == 200)
            let told = try #require(try await fake.waitForCalls("chat.postEphemeral").first)
            #expect(told.form["channel"] == "C0001")
            #expect(told.form["user"] == "U0001")
            #expect(told.form["text"]?.contains("Sent to usero") == true)
            #expect(await fake.calls("response_url").count == 1)
            #expect(try await server.items(client).count == 1)
        }
    }

    /// A `response_url` that is not Slack's (outside `SLACK_RESPONSE_URL_PREFIXES`) is never called, and one that is
    /// missing cannot be: either way the member hears from the app itself, only they see it.
    @Test(arguments: ["elsewhere", "missing"])
    func aShortcutWithoutAResponseURLToCallIsAnsweredByTheApp(_ url: String) async throws {
        try await Self.withInstalledServer { server, fake, client in
            var payload = try #require(
                try JSONSerialization.jsonObject(with: Fixtures.data("shortcut_message_action.json")) as? [String: Any])
            payload["response_url"] = url == "missing" ? nil : "https://hooks.example.net/app/T0001/1/x"
            let json = String(decoding: try JSONSerialization.data(withJSONObject: payload), as: UTF8.self)
            let ack = try await server.postSlack(
                "/slack/interactivity", "payload=" + Self.formEscape(json), contentType: "application/x-www-form-urlencoded")
            #expect(ack.status == 200)
            let told = try #require(try await fake.waitForCalls("chat.postEphemeral").first)
            #expect(told.form["channel"] == "C0001")
            #expect(told.form["user"] == "U0001")
            #expect(told.form["text"]?.contains("Sent to usero") == true)
            #expect(await fake.calls("response_url").isEmpty)
            #expect(try await server.items(client).count == 1)
            try await server.eventually { try await server.count("job") == 0 }
        }
    }

    /// Slack refusing the stored token for a call while `auth.test` still takes it: the forward cannot be captured
    /// nor the member told in Slack, so the operator is told instead: a warning naming the workspace and Slack's
    /// code, never the token. Nothing stored, nothing left queued, the installation kept. (Refused by `auth.test`
    /// too, it is an uninstall missed: `SlackUninstallTests`.)
    @Test(arguments: ["token_revoked", "account_inactive"])
    func aForwardSlackRefusesTheTokenForIsAWarningForTheOperator(_ code: String) async throws {
        try await Self.withInstalledServer { server, fake, client in
            await fake.script("conversations.replies", .error(code))
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            _ = try await fake.waitForCalls("conversations.replies")
            try await server.eventually { try await server.count("job") == 0 }
            #expect(try await server.items(client).isEmpty)
            #expect(await fake.calls("chat.postEphemeral").isEmpty)
            #expect(try await server.count("slack_installation", where: "token_envelope IS NOT NULL") == 1)
            let warning = try #require(server.logs.all.first { $0.contains("Slack refused this workspace's token") })
            #expect(warning.hasPrefix("warning"))
            #expect(warning.contains("slack.team_id=T0001"))
            #expect(warning.contains("slack.error=\(code)"))
            #expect(!server.logs.text.contains(FakeSlack.botToken))
        }
    }

    /// A NUL in a forwarded message's text (Slack allows one) is kept as U+FFFD with everything after it: SQLite
    /// ended the text at it, and PostgreSQL refused the row (a 500, the forward lost).
    @Test func aNULInAForwardedMessageKeepsTheRestOfItsText() async throws {
        try await Self.withInstalledServer { server, fake, client in
            let body = Self.shortcutBody(
                server, replacing: [("Export+to+CSV+times+out%22%2C%22team", "Export+to%5Cu0000CSV+times+out%22%2C%22team")])
            let ack = try await server.postSlack(
                "/slack/interactivity", body, contentType: "application/x-www-form-urlencoded")
            #expect(ack.status == 200)
            try await server.eventually { try await server.items(client).count == 1 }
            #expect(try await server.items(client).first?["comment"] as? String == "Export to\u{FFFD}CSV times out")
        }
    }

    @Test func theShortcutOnAThreadReplyKeepsItsThread() async throws {
        try await Self.withInstalledServer { server, fake, client in
            // The shortcut payload, with the reply from conversations_replies_ok.json as its message.
            var payload = try #require(
                try JSONSerialization.jsonObject(with: Fixtures.data("shortcut_message_action.json")) as? [String: Any])
            let replies = try #require(
                try JSONSerialization.jsonObject(with: Fixtures.data("conversations_replies_ok.json")) as? [String: Any])
            let reply = try #require((replies["messages"] as? [[String: Any]])?.first)
            payload["message"] = reply
            payload["message_ts"] = Self.replyTs
            payload["response_url"] = server.parts.config.slackAPIURL.replacingOccurrences(of: "/api/", with: "/hooks/r1")
            let json = String(decoding: try JSONSerialization.data(withJSONObject: payload), as: UTF8.self)
            let ack = try await server.postSlack(
                "/slack/interactivity", "payload=" + Self.formEscape(json), contentType: "application/x-www-form-urlencoded")
            #expect(ack.status == 200)
            _ = try await fake.waitForCalls("response_url")
            let slack = try #require(try await server.items(client).first?["slack"] as? [String: Any])
            #expect(slack["messageTs"] as? String == Self.replyTs)
            #expect(slack["threadTs"] as? String == Self.parentTs)
            #expect(slack["capturedVia"] as? String == "shortcut")
        }
    }

    @Test func theSlashCommandStoresItsTextAndAnswersAtOnce() async throws {
        try await Self.withInstalledServer { server, _, client in
            let reply = try await server.sendCommand(Fixtures.text("slash_command_usero.txt"))
            #expect(reply.status == 200)
            #expect(reply.header("Content-Type")?.hasPrefix("application/json") == true)
            #expect(reply.json["response_type"] as? String == "ephemeral")
            #expect((reply.json["text"] as? String)?.contains("Sent to usero") == true)
            let item = try #require(try await server.items(client).first)
            #expect(item["comment"] as? String == "Export to CSV is greyed out for viewers (50% of our team) – please fix")
            let slack = try #require(item["slack"] as? [String: Any])
            #expect(slack["capturedVia"] as? String == "command")
            #expect(slack["channelId"] as? String == "C0001")
            #expect(slack["messageTs"] is NSNull)
            #expect(slack["authorId"] as? String == "U0001")
        }
    }

    /// `/usero` takes what the public API takes: 50,000 characters stores, one more is answered with the limit and
    /// stores nothing; NUL (which no stored text may hold) is a malformed request.
    @Test func theSlashCommandKeepsThePublicAPIsCommentLimit() async throws {
        try await Self.withInstalledServer { server, _, client in
            let original = "text=Export+to+CSV+is+greyed+out+for+viewers+%2850%25+of+our+team%29+%E2%80%93+please+fix"
            func command(_ text: String) async throws -> HTTPResult {
                try await server.sendCommand(Fixtures.text("slash_command_usero.txt", replacing: [(original, "text=" + text)]))
            }
            let refused = try await command(String(repeating: "a", count: 50_001))
            #expect(refused.status == 200)
            #expect((refused.json["text"] as? String)?.contains("50000 characters") == true)
            #expect(try await server.count("feedback") == 0)
            #expect(try await command("before%00after").status == 400)
            #expect(try await server.count("feedback") == 0)
            let stored = try await command(String(repeating: "a", count: 50_000))
            #expect((stored.json["text"] as? String)?.contains("Sent to usero") == true)
            #expect(try await server.items(client).first?["comment"] as? String == String(repeating: "a", count: 50_000))
        }
    }

    @Test(arguments: ["", "help", "  HELP  "])
    func theSlashCommandWithoutTextAnswersWithUsageAndStoresNothing(text: String) async throws {
        try await Self.withInstalledServer { server, _, _ in
            let body = Fixtures.text("slash_command_usero_empty.txt", replacing: [("&text=&", "&text=\(text.replacingOccurrences(of: " ", with: "+"))&")])
            let reply = try await server.sendCommand(body)
            #expect(reply.status == 200)
            #expect((reply.json["text"] as? String)?.contains("/usero") == true)
            #expect(try await server.count("feedback") == 0)
            #expect(try await server.count("job") == 0)
        }
    }

    @Test func sslCheckGetsAnEmpty200AndDoesNothing() async throws {
        try await Self.withInstalledServer { server, _, _ in
            let reply = try await server.request(
                "POST", "/slack/commands", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                body: Data("ssl_check=1&token=abc".utf8))
            #expect(reply.status == 200)
            #expect(reply.body.isEmpty)
            #expect(try await server.count("feedback") == 0)
        }
    }

    @Test func urlVerificationEchoesTheChallenge() async throws {
        try await Self.withInstalledServer { server, _, _ in
            let reply = try await server.sendEvent("url_verification.json")
            #expect(reply.status == 200)
            #expect(reply.json["challenge"] as? String == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        }
    }

    /// Form-encodes a value the way Slack does (space as `+`).
    static func formEscape(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Slack's shortcut fixture as a form body, its `response_url` pointing at the fake, with `pairs` replaced too.
    static func shortcutBody(_ server: TestServer, replacing pairs: [(String, String)] = []) -> String {
        let fakeRoot = server.parts.config.slackAPIURL.replacingOccurrences(of: "/api/", with: "")
        return Fixtures.text(
            "shortcut_message_action.body.txt",
            replacing: [("https%3A%2F%2Fhooks.slack.com%2Fapp%2F", formEscape(fakeRoot + "/hooks/app/"))] + pairs)
    }
}
