import Feedback
import Foundation
import SlackGateway
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import Retention
import UseroTestSupport

/// A clock that runs, but some time ahead of the machine's: a start "ten minutes later" without waiting.
struct ShiftedClock: WallClock {
    let offset: TimeInterval
    func now() -> Date { Date().addingTimeInterval(offset) }
}

/// Issue 12 as a new user tries it, against the real server and the fake Slack: choose the trigger emoji, post new
/// feedback to a channel, recover reactions missed while the service was down, open the Home tab.
@Suite struct SlackBothWaysAppTests {
    static func auth(_ client: (id: String, key: String)) -> [String: String] {
        ["Authorization": "Bearer \(client.key)", "Content-Type": "application/json"]
    }

    static func put(_ server: TestServer, _ client: (id: String, key: String), _ json: String) async throws -> HTTPResult {
        try await server.request("PUT", "/api/slack/settings", headers: auth(client), body: Data(json.utf8))
    }

    static func reaction(_ emoji: String, event: String) -> [(String, String)] {
        [(#""reaction": "wrench""#, #""reaction": "\#(emoji)""#), ("Ev0001", event)]
    }

    // MARK: Settings and trigger emoji

    @Test func changingTheEmojiMakesBugCaptureAndWrenchStopAndTheSettingsBelongToTheInstallation() async throws {
        try await withFakeSlack { fake, api in
            let folder = TestServer.makeFolder()
            let configure: @Sendable (inout AppConfig) -> Void = { SlackTestSettings.configure(&$0, fakeURL: api) }
            let client = try await TestServer.run(folder: folder, configure: configure) { server in
                let client = try await server.createClient()
                // Without an admin key: 401; without an installation: 404, for reading and for changing
                #expect(try await server.request("GET", "/api/slack/settings").status == 401)
                #expect(try await server.request("GET", "/api/slack/settings", headers: Self.auth(client)).status == 404)
                #expect(try await Self.put(server, client, #"{"triggerEmoji":["bug"]}"#).status == 404)
                try await server.installSlack(for: client)

                let defaults = try await server.request("GET", "/api/slack/settings", headers: Self.auth(client))
                #expect(defaults.status == 200)
                #expect(defaults.json["triggerEmoji"] as? [String] == ["wrench", "pushpin"])
                #expect(defaults.json["notifyChannel"] is NSNull)

                // Mistakes are named field by field, and change nothing
                let bad = try await Self.put(server, client, ##"{"triggerEmoji":[":bug:"],"notifyChannel":"#general"}"##)
                #expect(bad.status == 400)
                let issues = try #require(bad.json["issues"] as? [String: [String]])
                #expect(issues.keys.sorted() == ["notifyChannel", "triggerEmoji"])
                #expect(issues["notifyChannel"]?.first?.hasSuffix(", or null") == true)
                #expect(try await Self.put(server, client, "[1]").status == 400)
                #expect(try await Self.put(server, client, "{").status == 400)
                #expect(try await Self.put(server, client, #"{"emoji":["bug"]}"#).json["issues"] as? [String: [String]] == ["emoji": ["Unknown field"]])

                let changed = try await Self.put(server, client, #"{"triggerEmoji":["bug"]}"#)
                #expect(changed.status == 200)
                #expect(changed.json.keys.sorted() == ["notifyChannel", "triggerEmoji"])
                #expect(changed.json["triggerEmoji"] as? [String] == ["bug"])
                #expect(changed.json["notifyChannel"] is NSNull)

                // :wrench: no longer captures: acknowledged, nothing fetched, nothing stored
                #expect(try await server.sendEvent("event_reaction_added_wrench.json", replacing: Self.reaction("wrench", event: "Ev1201")).status == 200)
                #expect(try await server.count("job") == 0)
                // :bug: does
                #expect(try await server.sendEvent("event_reaction_added_wrench.json", replacing: Self.reaction("bug", event: "Ev1202")).status == 200)
                let confirmation = try #require(try await fake.waitForCalls("chat.postEphemeral").first)
                #expect(confirmation.form["text"]?.contains("Sent to usero") == true)
                let items = try await server.items(client)
                #expect(items.count == 1)
                let slack = try #require(items.first?["slack"] as? [String: Any])
                #expect(slack["capturedVia"] as? String == "reaction:bug")
                #expect(slack["recovered"] as? Bool == false)
                #expect(items.first?["recovered"] as? Bool == false)
                #expect(await fake.calls("conversations.replies").count == 1)
                // `/usero help` names the workspace's own emoji
                let help = try await server.sendCommand(
                    Fixtures.text("slash_command_usero_empty.txt", replacing: [("&text=&", "&text=help&")]))
                let usage = try #require(help.json["text"] as? String)
                #expect(usage.contains(":bug:"))
                #expect(!usage.contains(":wrench:"))
                return client
            }
            try await TestServer.run(folder: folder, configure: configure) { server in
                // The settings survived the restart
                let kept = try await server.request("GET", "/api/slack/settings", headers: Self.auth(client))
                #expect(kept.json["triggerEmoji"] as? [String] == ["bug"])
                // An uninstall clears them with the installation; a new install starts from the defaults
                #expect(try await server.sendEvent("event_app_uninstalled.json").status == 200)
                #expect(try await server.request("GET", "/api/slack/settings", headers: Self.auth(client)).status == 404)
                try await server.installSlack(for: client)
                let fresh = try await server.request("GET", "/api/slack/settings", headers: Self.auth(client))
                #expect(fresh.json["triggerEmoji"] as? [String] == ["wrench", "pushpin"])
            }
        }
    }

    // MARK: Notifications

    /// What usero posted goes with the item: deleting it in the inbox or the API, or erasing the person who sent it,
    /// deletes its post from the channel (`chat.delete` with the post's own channel and `ts`), through the real
    /// server, store and Web API client.
    @Test func deletingOrErasingAPostedItemDeletesItsPost() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            #expect(try await Self.put(server, client, #"{"notifyChannel":"C0777"}"#).status == 200)
            let auth = ["Authorization": "Bearer \(client.key)"]
            var ids: [String] = []
            for email in ["kept@example.com", "deleted@example.com", "erased@example.com"] {
                let submitted = try await server.postJSON(
                    "/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"comment":"About \#(email)","userEmail":"\#(email)"}"#)
                #expect(submitted.status == 200)
                ids.append(try #require(submitted.json["feedbackId"] as? String))
                // One at a time, so that each post's ts is known: the fake numbers them in the order they came
                _ = try await fake.waitForCalls("chat.postMessage", count: ids.count)
            }
            try await server.eventually { try await server.count("job") == 0 }
            #expect(try await server.count("slack_post") == 3)

            #expect(try await server.request("DELETE", "/api/feedback/\(ids[1])", headers: auth).status == 204)
            let first = try #require(try await fake.waitForCalls("chat.delete").first)
            #expect(first.form["channel"] == "C0777")
            #expect(first.form["ts"] == "1800000000.000001")
            #expect(first.authorization == "Bearer \(FakeSlack.botToken)")

            let erased = try await server.request(
                "POST", "/api/privacy/erase", headers: auth.merging(["Content-Type": "application/json"]) { $1 },
                body: Data(#"{"email":"erased@example.com"}"#.utf8))
            #expect(erased.status == 200)
            let deletes = try await fake.waitForCalls("chat.delete", count: 2)
            #expect(deletes.map { $0.form["ts"] } == ["1800000000.000001", "1800000000.000002"])
            try await server.eventually { try await server.count("job") == 0 }
            // The post of the item that stays is still known, and still in the channel
            #expect(try await server.count("slack_post") == 1)
            #expect(await fake.calls("chat.delete").count == 2)
        }
    }

    /// Closing the account deletes its items, and a post lives no longer than its item: each post of the account's
    /// feedback is deleted from the channel with the workspace's token, and the token is revoked after them.
    @Test func closingTheAccountDeletesItsPostsFromTheChannelThenRevokesTheToken() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            #expect(try await Self.put(server, client, #"{"notifyChannel":"C0777"}"#).status == 200)
            for n in 1...2 {
                let submitted = try await server.postJSON(
                    "/api/feedback", #"{"clientId":"\#(client.id)","rating":3,"comment":"Post \#(n)"}"#)
                #expect(submitted.status == 200)
                _ = try await fake.waitForCalls("chat.postMessage", count: n)
            }
            try await server.eventually { try await server.count("job") == 0 }
            let posted: Set<String> = ["1800000000.000000", "1800000000.000001"]  // the fake numbers its posts
            #expect(try await server.count("slack_post") == 2)

            let closed = try await server.request(
                "DELETE", "/api/account", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(closed.status == 204)

            let revoked = try #require(try await fake.waitForCalls("auth.revoke").first)
            #expect(revoked.authorization == "Bearer \(FakeSlack.botToken)")
            let deletes = await fake.calls("chat.delete")
            #expect(Set(deletes.compactMap { $0.form["ts"] }) == posted)
            #expect(deletes.allSatisfy { $0.form["channel"] == "C0777" && $0.authorization == "Bearer \(FakeSlack.botToken)" })
            // Every deletion was made before the token was revoked.
            let order = await fake.calls.map(\.method).filter { $0 == "chat.delete" || $0 == "auth.revoke" }
            #expect(order == ["chat.delete", "chat.delete", "auth.revoke"])
            try await server.eventually { try await server.count("job") == 0 }
            #expect(try await server.count("slack_post") == 0)
            #expect(!server.logs.text.contains(FakeSlack.botToken))
        }
    }

    @Test func aWidgetSubmissionAppearsInTheChosenChannelOnceAndSlackItemsAreNotEchoed() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            #expect(try await Self.put(server, client, #"{"notifyChannel":"C0777"}"#).status == 200)
            let submitted = try await server.postJSON(
                "/api/feedback",
                #"""
                {"clientId":"\#(client.id)","rating":4,"comment":"Love the <b>export</b> & <!channel>",
                 "pageUrl":"https://app.example.com/projects/42?invite=jamie%40example.com#access_token=canary-fragment-0001",
                 "pageTitle":"Export project","environment":"staging",
                 "userEmail":"jamie@example.com","metadata":{"secret":"canary-metadata-0001"}}
                """#,
                headers: ["X-Usero-Widget": "1"])
            #expect(submitted.status == 200)
            let id = try #require(submitted.json["feedbackId"] as? String)
            let post = try #require(try await fake.waitForCalls("chat.postMessage").first)
            #expect(post.form["channel"] == "C0777")
            #expect(post.authorization == "Bearer \(FakeSlack.botToken)")
            let blocks = try #require(post.form["blocks"])
            #expect(blocks.contains("*Amazing* (4/4)"))
            #expect(blocks.contains("Love the &lt;b&gt;export&lt;/b&gt; &amp; &lt;!channel&gt;"))
            #expect(blocks.contains("*Page:* <https://app.example.com/projects/42|https://app.example.com/projects/42> · Export project"))
            #expect(blocks.contains("*Environment:* staging"))
            #expect(blocks.contains("\(server.parts.config.publicURL)/inbox/items/\(id)|"))
            // What is not sent: email, metadata, the page's query and fragment (the email again, a token)
            #expect(!post.body.contains("jamie"))
            #expect(!post.body.contains("canary-metadata-0001"))
            #expect(!post.body.contains("canary-fragment-0001"))
            #expect(!post.body.contains("invite"))
            // A /usero item is stored, never posted back
            #expect(try await server.sendCommand(Fixtures.text("slash_command_usero.txt")).status == 200)
            try await server.eventually { try await server.count("job") == 0 }
            #expect(try await server.items(client).count == 2)
            #expect(await fake.calls("chat.postMessage").count == 1)
            // The link in the post opens the item in the inbox
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let page = try await browser.get("/inbox/items/\(id)")
            #expect(page.status == 200)
            #expect(page.text.contains("Love the &lt;b&gt;export&lt;/b&gt;"))
            #expect(try await browser.get("/inbox/items/fb_unknown").status == 404)
        }
    }

    /// A new item's post goes out as the item is accepted, not at the job worker's next poll (an hour away here).
    @Test func aNewItemIsPostedAtOnceRatherThanAtTheWorkersNextPoll() async throws {
        try await withFakeSlack { fake, api in
            try await TestServer.run(configure: {
                SlackTestSettings.configure(&$0, fakeURL: api)
                $0.slackJobPollInterval = .seconds(3600)
            }) { server in
                let client = try await server.installSlack()
                #expect(try await Self.put(server, client, #"{"notifyChannel":"C0777"}"#).status == 200)
                // Whatever the install and the settings enqueued is done: the worker sleeps until its next poll.
                try await server.eventually { try await server.count("job") == 0 }
                let submitted = try await server.postJSON(
                    "/api/feedback", #"{"clientId":"\#(client.id)","comment":"Posted at once"}"#)
                #expect(submitted.status == 200)
                let post = try #require(try await fake.waitForCalls("chat.postMessage").first)
                #expect(post.form["channel"] == "C0777")
                #expect(post.form["blocks"]?.contains("Posted at once") == true)
            }
        }
    }

    /// Runs `body` with a server whose client has Slack installed and posts new feedback to channel C0777, for the
    /// tests where a post hangs until released and must time out. Every other call (the install's OAuth exchange,
    /// the look at the history) must not, under the full suite's load on two cores: 3 s once failed the install.
    static func withHangingPosts(
        _ body: @Sendable (TestServer, FakeSlack, (id: String, key: String)) async throws -> Void
    ) async throws {
        try await SlackCaptureTests.withInstalledServer(configure: { $0.slackCallTimeout = 8 }) { server, fake, client in
            #expect(try await Self.put(server, client, #"{"notifyChannel":"C0777"}"#).status == 200)
            try await body(server, fake, client)
            await fake.releaseHung()
        }
    }

    /// A post whose answer never came (Slack took it, the call timed out) is not posted again: the next try finds it
    /// in the channel by the item's id in its metadata, and ends.
    @Test func aPostWhoseAnswerWasLostIsFoundInTheChannelAndNotPostedTwice() async throws {
        try await Self.withHangingPosts { server, fake, client in
            await fake.script("chat.postMessage", .slow)
            let submitted = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","comment":"Posted once"}"#)
            #expect(submitted.status == 200)
            let id = try #require(submitted.json["feedbackId"] as? String)
            let post = try #require(try await fake.waitForCalls("chat.postMessage").first)
            #expect(post.form["metadata"] == #"{"event_payload":{"feedback_id":"\#(id)"},"event_type":"usero_feedback_posted"}"#)
            try await server.eventually { try await server.count("job") == 0 }
            let looks = await fake.calls("conversations.history").filter { $0.query["channel"] == "C0777" }
            #expect(looks.count == 1)
            #expect(looks.first?.query["include_all_metadata"] == "true")
            #expect(await fake.calls("chat.postMessage").count == 1)
            // The next item goes out as usual, looked for nowhere.
            let next = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","comment":"Next"}"#)
            #expect(next.status == 200)
            #expect(try await fake.waitForCalls("chat.postMessage", count: 2).last?.form["blocks"]?.contains("Next") == true)
            #expect(await fake.calls("conversations.history").filter { $0.query["channel"] == "C0777" }.count == 1)
        }
    }

    /// A post Slack refused (a 429) is tried again without a look at the channel first; and a look Slack will not
    /// answer now (a 429 on the history, which Slack may allow once a minute) does not hold the workspace's posts
    /// back: the post goes out (found by a review: every try re-read the history, met the 429, and waited again).
    @Test func aRefusedPostIsNotLookedForAndALookSlackWillNotAnswerDoesNotHoldThePost() async throws {
        try await Self.withHangingPosts { server, fake, client in
            let limited = FakeSlack.Reply(
                status: 429, headers: ["Retry-After": "1"], body: #"{"ok":false,"error":"ratelimited"}"#)
            await fake.script("chat.postMessage", limited)
            let first = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","comment":"First"}"#)
            #expect(first.status == 200)
            _ = try await fake.waitForCalls("chat.postMessage", count: 2)
            try await server.eventually { try await server.count("job") == 0 }
            func looks() async -> Int {
                await fake.calls("conversations.history").filter { $0.query["channel"] == "C0777" }.count
            }
            #expect(await looks() == 0)

            // The next post's answer is lost; the look meets a 429; the post goes out all the same.
            await fake.script("chat.postMessage", .slow)
            await fake.script("conversations.history", limited)
            let second = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","comment":"Second"}"#)
            #expect(second.status == 200)
            _ = try await fake.waitForCalls("chat.postMessage", count: 4)
            try await server.eventually { try await server.count("job") == 0 }
            #expect(await looks() == 1)
        }
    }

    /// An admin who set the channel through the API learns there that posting fails, with what to do, until a post
    /// goes through; a fresh channel starts without the old channel's problem.
    @Test func theSettingsAPISaysWhyPostsToTheChannelFail() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            @Sendable func settings() async throws -> [String: Any] {
                try await server.request("GET", "/api/slack/settings", headers: Self.auth(client)).json
            }
            #expect(try await Self.put(server, client, #"{"notifyChannel":"C0888"}"#).json["notifyProblem"] == nil)
            await fake.script("chat.postMessage", .error("not_in_channel"))
            #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":1}"#).status == 200)
            _ = try await fake.waitForCalls("chat.postMessage")
            try await server.eventually { try await server.count("job") == 0 }

            let failing = try #require(try await settings()["notifyProblem"] as? [String: Any])
            #expect(failing["code"] as? String == "not_in_channel")
            #expect((failing["message"] as? String)?.contains("usero is not a member of channel C0888") == true)
            #expect((failing["message"] as? String)?.contains("/invite @usero") == true)
            #expect((failing["at"] as? String).flatMap(parseISO8601) != nil)
            // A change of the trigger emoji alone keeps it: the channel still fails.
            let kept = try await Self.put(server, client, #"{"triggerEmoji":["bug"]}"#)
            #expect((kept.json["notifyProblem"] as? [String: Any])?["code"] as? String == "not_in_channel")

            // Once the bot is invited, the next post goes through and the problem is gone.
            #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":2}"#).status == 200)
            _ = try await fake.waitForCalls("chat.postMessage", count: 2)
            // (The problem is cleared right after the job ends.)
            try await server.eventually { try await settings()["notifyProblem"] == nil }

            // Another channel starts clean: its problem, not the last one's.
            await fake.script("chat.postMessage", .error("is_archived"))
            #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#).status == 200)
            _ = try await fake.waitForCalls("chat.postMessage", count: 3)
            try await server.eventually { try await server.count("job") == 0 }
            #expect((try await settings()["notifyProblem"] as? [String: Any])?["code"] as? String == "is_archived")
            let moved = try await Self.put(server, client, #"{"notifyChannel":"C0999"}"#)
            #expect(moved.json["notifyChannel"] as? String == "C0999")
            #expect(moved.json["notifyProblem"] == nil)
            #expect(try await settings()["notifyProblem"] == nil)
        }
    }

    @Test func aChannelTheBotIsNotInIsShownInTheInboxAndTheInboxChangesTheSettings() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            await fake.script("chat.postMessage", .error("not_in_channel"))
            #expect(try await Self.put(server, client, #"{"notifyChannel":"C0888"}"#).status == 200)
            #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":1}"#).status == 200)
            _ = try await fake.waitForCalls("chat.postMessage")
            try await server.eventually { try await server.count("job") == 0 }

            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let inbox = try await browser.get("/inbox")
            #expect(inbox.text.contains("usero is not a member of channel C0888"))
            #expect(inbox.text.contains("Invite @usero"))
            #expect(inbox.text.contains(#"value="wrench, pushpin""#))
            #expect(inbox.text.contains(#"value="C0888""#))
            // The fake granted the scopes of before issue 12: the inbox says how to get recovery's permissions
            #expect(inbox.text.contains("lacks the Slack permissions channels:read, groups:read"))

            // The form beside "Connect Slack" saves both settings (colons people type are taken off)
            let csrf = try await browser.csrfToken()
            let saved = try await browser.post(
                "/inbox/slack/settings", [("csrf", csrf), ("triggerEmoji", ":bug:, eyes"), ("notifyChannel", "")])
            #expect(saved.status == 303)
            let settings = try await server.request("GET", "/api/slack/settings", headers: Self.auth(client))
            #expect(settings.json["triggerEmoji"] as? [String] == ["bug", "eyes"])
            #expect(settings.json["notifyChannel"] is NSNull)
            #expect(!(try await browser.get("/inbox")).text.contains("not a member of channel"))
            // A mistake is named, and changes nothing
            let refused = try await browser.post(
                "/inbox/slack/settings", [("csrf", csrf), ("triggerEmoji", "Bug!"), ("notifyChannel", "general")])
            #expect(refused.status == 400)
            #expect(refused.text.contains("Trigger emoji"))
            #expect(refused.text.contains("Channel"))
            // In the words of the form, not of the API's JSON
            #expect(refused.text.contains("or leave it empty for none"))
            #expect(!refused.text.contains("null"))
            // Without the CSRF token: refused
            #expect(try await browser.post("/inbox/slack/settings", [("triggerEmoji", "x")]).status == 403)
            let unchanged = try await server.request("GET", "/api/slack/settings", headers: Self.auth(client))
            #expect(unchanged.json["triggerEmoji"] as? [String] == ["bug", "eyes"])
        }
    }

    // MARK: Recovery

    /// History of C0001 while the service was down: three messages forwarded with a trigger emoji (one in a
    /// thread), one with another emoji whose text must never be stored or logged.
    static func scriptMissedReactions(_ fake: FakeSlack, at now: Date) async -> (String, String, String) {
        let base = epochMillis(now)
        let (t1, t2, parent, t3, other) = (
            SlackRecoveryRules.slackTs(base - 5_000), SlackRecoveryRules.slackTs(base - 4_000),
            SlackRecoveryRules.slackTs(base - 3_000), SlackRecoveryRules.slackTs(base - 2_000),
            SlackRecoveryRules.slackTs(base - 1_000)
        )
        await fake.script(
            "users.conversations",
            .init(body: #"{"ok":true,"channels":[{"id":"C0001","name":"eng-feedback"}],"response_metadata":{"next_cursor":""}}"#))
        await fake.script(
            "conversations.history",
            .init(
                body: #"""
                    {"ok":true,"has_more":false,"messages":[
                     {"type":"message","user":"U0002","ts":"\#(other)","text":"canary-not-forwarded-0001",
                      "reactions":[{"name":"tada","users":["U0003"],"count":1}]},
                     {"type":"message","user":"U0005","ts":"\#(parent)","text":"Thread parent","thread_ts":"\#(parent)",
                      "reply_count":1,"latest_reply":"\#(t3)"},
                     {"type":"message","user":"U0002","ts":"\#(t2)","text":"Dark mode please",
                      "reactions":[{"name":"pushpin","users":["U0004"],"count":1}]},
                     {"type":"message","user":"U0002","ts":"\#(t1)","text":"Export to CSV times out",
                      "reactions":[{"name":"wrench","users":["U0009","U0003"],"count":2}]}
                    ],"response_metadata":{"next_cursor":""}}
                    """#))
        await fake.script(
            "conversations.replies",
            .init(
                body: #"""
                    {"ok":true,"has_more":false,"messages":[
                     {"type":"message","user":"U0005","ts":"\#(parent)","text":"Thread parent","thread_ts":"\#(parent)","reply_count":1},
                     {"type":"message","user":"U0006","ts":"\#(t3)","text":"Filter panel resets","thread_ts":"\#(parent)",
                      "files":[{"id":"F0001","name":"filters.png","title":"filters.png","mimetype":"image/png"}],
                      "reactions":[{"name":"wrench","users":["U0007"],"count":1}]}
                    ]}
                    """#))
        return (t1, t2, t3)
    }

    @Test func reactionsMissedWhileTheServiceWasStoppedAreInTheInboxAfterTheNextStart() async throws {
        try await withFakeSlack { fake, api in
            let folder = TestServer.makeFolder()
            let configure: @Sendable (inout AppConfig) -> Void = { SlackTestSettings.configure(&$0, fakeURL: api) }
            let client = try await TestServer.run(folder: folder, configure: configure) { server in
                try await server.installSlack()
            }
            // Stopped. A minute later members post and react to three messages; Slack never delivers those events.
            let (t1, t2, t3) = await Self.scriptMissedReactions(fake, at: Date().addingTimeInterval(60))
            // Started again "ten minutes later"
            let logs = CapturedLogs()
            try await TestServer.run(folder: folder, logs: logs, clock: ShiftedClock(offset: 600), configure: configure) {
                server in
                try await server.eventually { try await server.items(client).count == 3 }
                let items = try await server.items(client)
                let byTs = Dictionary(
                    uniqueKeysWithValues: items.compactMap { item -> (String, [String: Any])? in
                        guard let slack = item["slack"] as? [String: Any], let ts = slack["messageTs"] as? String else {
                            return nil
                        }
                        return (ts, slack)
                    })
                #expect(Set(byTs.keys) == [t1, t2, t3])
                #expect(items.allSatisfy { $0["recovered"] as? Bool == true })
                #expect(byTs.values.allSatisfy { $0["recovered"] as? Bool == true })
                #expect(byTs[t1]?["forwardedBy"] as? String == "U0003")  // not the bot, U0009
                #expect(byTs[t1]?["capturedVia"] as? String == "reaction:wrench")
                #expect(byTs[t2]?["capturedVia"] as? String == "reaction:pushpin")
                #expect(byTs[t3]?["threadTs"] as? String != nil)
                #expect(Set(items.compactMap { $0["comment"] as? String })
                    == ["Export to CSV times out", "Dark mode please", "Filter panel resets\n[file: filters.png]"])
                // The message without a trigger emoji was read and dropped: not stored, not logged
                #expect(try await server.databaseBytes().range(of: Data("canary-not-forwarded-0001".utf8)) == nil)
                #expect(!logs.text.contains("canary-not-forwarded-0001"))
                // The audit says what the sweep covered
                try await server.eventually {
                    let audit = try await server.request("GET", "/api/audit", headers: Self.auth(client))
                    return audit.text.contains("slack_recovery")
                }
                let audit = try await server.request("GET", "/api/audit", headers: Self.auth(client))
                let entries = try #require(audit.json["items"] as? [[String: Any]])
                let entry = try #require(entries.first { $0["kind"] as? String == "slack_recovery" })
                let counts = try #require(entry["counts"] as? [String: Int])
                #expect(counts["captured"] == 3)
                #expect(counts["channelsRead"] == 1)
                // History was asked from shortly before the stop, not from the beginning of time
                let history = try #require(await fake.calls("conversations.history").first)
                let oldest = try #require(history.query["oldest"].flatMap(SlackRecoveryRules.millis(ofTs:)))
                #expect(oldest > epochMillis(Date()) - 10 * 60_000)
            }
        }
    }

    @Test func anAdminAsksForARecoveryAndItWaitsOutSlacksRateLimit() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            let recover = { (query: String) in
                try await server.request("POST", "/api/slack/recover" + query, headers: Self.auth(client))
            }
            let garbage = try await recover("?since=yesterday")
            #expect(garbage.status == 400)
            #expect((garbage.json["issues"] as? [String: [String]])?.keys.sorted() == ["since"])
            #expect(try await recover("?since=2099-01-01T00:00:00Z").status == 400)
            // An offset no clock shows is no instant (it moved the window by days).
            for offset in ["%2B99:00", "-24:00", "%2B05:60"] {
                let odd = try await recover("?since=2026-12-04T19:00:00\(offset)")
                #expect(odd.status == 400, "\(offset)")
                #expect((odd.json["issues"] as? [String: [String]])?.keys.sorted() == ["since"], "\(offset)")
            }
            #expect(try await server.request("POST", "/api/slack/recover").status == 401)

            let t1 = SlackRecoveryRules.slackTs(epochMillis(Date()))
            await fake.script(
                "users.conversations",
                .init(body: #"{"ok":true,"channels":[{"id":"C0001"}],"response_metadata":{"next_cursor":""}}"#))
            // conversations.history is rate limited first (Retry-After: 1)
            await fake.script("conversations.history", .rateLimited)
            await fake.script(
                "conversations.history",
                .init(
                    body: #"{"ok":true,"messages":[{"type":"message","user":"U0002","ts":"\#(t1)","text":"Export to CSV times out","reactions":[{"name":"wrench","users":["U0003"]}]}]}"#))
            let since = iso8601(Date().addingTimeInterval(-3600))
            let queued = try await recover("?since=\(since)")
            #expect(queued.status == 202)
            #expect(queued.text == #"{"queued":true}"#)
            try await server.eventually { try await server.items(client).count >= 1 }
            // The 429 came first; the sweep waited it out and asked again for the same page
            let history = await fake.calls("conversations.history")
            #expect(history.count == 2)
            #expect(history.map { $0.query["cursor"] == nil } == [true, true])
            #expect(history.allSatisfy { $0.query["channel"] == "C0001" })
            let item = try #require(try await server.items(client).first)
            #expect(item["recovered"] as? Bool == true)
        }
    }

    /// Scripts one channel whose history holds `messages` (ts, the emoji its reaction by U0003 carries).
    static func scriptHistory(_ fake: FakeSlack, _ messages: [(ts: String, emoji: String)]) async {
        let json = messages.map {
            #"{"type":"message","user":"U0002","ts":"\#($0.ts)","text":"Message \#($0.ts)","reactions":[{"name":"\#($0.emoji)","users":["U0003"]}]}"#
        }
        await fake.script(
            "users.conversations",
            .init(body: #"{"ok":true,"channels":[{"id":"C0001"}],"response_metadata":{"next_cursor":""}}"#))
        await fake.script(
            "conversations.history", .init(body: #"{"ok":true,"messages":[\#(json.joined(separator: ","))]}"#))
    }

    /// The Slack timestamps of the client's items.
    static func messageStamps(_ server: TestServer, _ client: (id: String, key: String)) async throws -> Set<String> {
        Set(try await server.items(client).compactMap { ($0["slack"] as? [String: Any])?["messageTs"] as? String })
    }

    @Test func aRecoveryDoesNotBringBackAMessageTheAdminDeleted() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            let t1 = SlackRecoveryRules.slackTs(epochMillis(Date()))
            let t2 = SlackRecoveryRules.slackTs(epochMillis(Date()) + 1)
            func scriptHistory(_ stamps: [String]) async { await Self.scriptHistory(fake, stamps.map { ($0, "wrench") }) }
            @Sendable func stamps() async throws -> Set<String> { try await Self.messageStamps(server, client) }
            let since = iso8601(Date().addingTimeInterval(-3600))
            await scriptHistory([t1])
            #expect(try await server.request("POST", "/api/slack/recover?since=\(since)", headers: Self.auth(client)).status == 202)
            try await server.eventually { try await stamps() == [t1] }
            let id = try #require(try await server.items(client).first?["id"] as? String)
            #expect(try await server.request("DELETE", "/api/feedback/\(id)", headers: Self.auth(client)).status == 204)

            // The message still carries its :wrench:; a second sweep finds it and a newer one
            await scriptHistory([t2, t1])
            #expect(try await server.request("POST", "/api/slack/recover?since=\(since)", headers: Self.auth(client)).status == 202)
            try await server.eventually { try await stamps().contains(t2) }
            #expect(try await stamps() == [t2])
            #expect(await fake.calls("conversations.history").count == 2)
            // Each sweep's audit counts the one row it stored: the second found two messages and left one out
            @Sendable func captured() async throws -> [Int] {
                let audit = try await server.request("GET", "/api/audit", headers: Self.auth(client))
                let entries = audit.json["items"] as? [[String: Any]] ?? []
                return entries.filter { $0["kind"] as? String == "slack_recovery" }
                    .compactMap { ($0["counts"] as? [String: Int])?["captured"] }
            }
            try await server.eventually { try await captured().count == 2 }
            #expect(try await captured() == [1, 1])
        }
    }

    @Test func aRecoveryCountsANewlyChosenEmojiOnlyOnMessagesPostedSinceItWasChosen() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            // :bug: is an everyday reaction in this workspace before it becomes a trigger
            let before = SlackRecoveryRules.slackTs(epochMillis(Date()))
            try await Task.sleep(for: .milliseconds(5))
            #expect(try await Self.put(server, client, #"{"triggerEmoji":["bug","wrench"]}"#).status == 200)
            try await Task.sleep(for: .milliseconds(5))
            let after = SlackRecoveryRules.slackTs(epochMillis(Date()))
            let wrench = SlackRecoveryRules.slackTs(epochMillis(Date()) + 1)
            await Self.scriptHistory(fake, [(wrench, "wrench"), (after, "bug"), (before, "bug")])
            let since = iso8601(Date().addingTimeInterval(-3600))
            #expect(try await server.request("POST", "/api/slack/recover?since=\(since)", headers: Self.auth(client)).status == 202)
            try await server.eventually {
                let audit = try await server.request("GET", "/api/audit", headers: Self.auth(client))
                return audit.text.contains("slack_recovery")
            }
            // The message reacted :bug: before :bug: captured is not a forward; the ones since are
            #expect(try await Self.messageStamps(server, client) == [after, wrench])
        }
    }

    @Test func recoveryWithoutAnInstallationIs404() async throws {
        try await withFakeSlack { _, api in
            try await TestServer.run(configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) { server in
                let client = try await server.createClient()
                #expect(try await server.request("POST", "/api/slack/recover", headers: Self.auth(client)).status == 404)
            }
        }
    }

    // MARK: App Home

    @Test func openingTheHomeTabShowsTheWorkspacesEmojiAndTheInboxLink() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            #expect(try await Self.put(server, client, #"{"triggerEmoji":["bug","eyes"]}"#).status == 200)
            let event = #"""
                {"token":"x","team_id":"T0001","api_app_id":"A0001","type":"event_callback","event_id":"EvHome01",
                 "event_time":1700000300,"event":{"type":"app_home_opened","user":"U0001","channel":"D0001",
                 "tab":"home","event_ts":"1700000300.000100"}}
                """#
            #expect(try await server.postSlack("/slack/events", event).status == 200)
            let publish = try #require(try await fake.waitForCalls("views.publish").first)
            #expect(publish.form["user_id"] == "U0001")
            #expect(publish.authorization == "Bearer \(FakeSlack.botToken)")
            let view = try #require(publish.form["view"])
            #expect(view.contains(#""type":"home""#))
            #expect(view.contains(":bug: or :eyes:"))
            #expect(view.contains("Send to usero"))
            #expect(view.contains("0 messages captured"))
            #expect(view.contains("\(server.parts.config.publicURL)/inbox|"))
        }
    }
}

extension SlackBothWaysAppTests {
    /// A submission sent again with its `Idempotency-Key` is posted to the channel once.
    @Test func aSubmissionSentAgainIsPostedOnce() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            #expect(try await Self.put(server, client, #"{"notifyChannel":"C0777"}"#).status == 200)
            let body = #"{"clientId":"\#(client.id)","rating":2,"comment":"Sent twice"}"#
            for _ in 0..<3 {
                let sent = try await server.postJSON("/api/feedback", body, headers: ["Idempotency-Key": "once"])
                #expect(sent.status == 200)
            }
            let other = try await server.postJSON("/api/feedback", body, headers: ["Idempotency-Key": "twice"])
            #expect(other.status == 200)
            _ = try await fake.waitForCalls("chat.postMessage", count: 2)
            try await server.eventually { try await server.count("job") == 0 }
            #expect(await fake.calls("chat.postMessage").count == 2)
        }
    }
}
