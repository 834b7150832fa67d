import Feedback
import Foundation
import Logging
import Retention
@testable import SlackGateway
import Synchronization
import Testing
import UseroCrypto
import UseroTestSupport

/// Issue 12 below the HTTP layer: per-workspace trigger emoji, posting new feedback, recovery, App Home; on the
/// in-memory store, the fake Web API and a hand-set clock (no sleeps).
@Suite struct SlackBothWaysTests {
    static let team = "T0001"
    static let bot = "U0009"

    /// A store with one client and its workspace installed (token sealed under `keyRing`), the runner and the
    /// worker over them, and the clock they share.
    struct World {
        let store: InMemoryStore
        let api: FakeSlackWebAPI
        let clock: TestClock
        let keyRing: KeyRing
        let clientID: String
        let runner: SlackJobRunner
        let worker: SlackJobWorker
        let ingest: SlackIngest

        init(
            api: FakeSlackWebAPI = FakeSlackWebAPI(), clock: TestClock = TestClock(),
            settings: SlackSettings = SlackSettings(), scopes: String = SlackOAuth.scopes
        ) async throws {
            self.api = api
            self.clock = clock
            store = InMemoryStore(postsNewFeedbackToSlack: true)
            keyRing = KeyRing(current: try TokenKey(try SecretBytes.random(count: 32)))
            let (client, _) = try await store.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: clock.now())
            clientID = client.id
            let envelope = try keyRing.seal(Array("xoxb-test-token".utf8), associatedData: Array(SlackBothWaysTests.team.utf8))
            let saved = try await store.saveInstallation(
                Installation(
                    teamId: SlackBothWaysTests.team, clientId: client.id, enterpriseId: nil, teamName: "Acme",
                    botUserId: SlackBothWaysTests.bot, botId: "B0001", appId: "A0001", scopes: scopes,
                    installerUserId: "U0001", tokenEnvelope: envelope, tokenKeyId: keyRing.currentKeyID,
                    installedAt: epochMillis(clock.now()) - 3_600_000, settings: settings))
            #expect(saved == .saved)
            let wakeup = JobWakeup()
            runner = SlackJobRunner(
                store: store, auditor: store, api: api, keyRing: keyRing, clock: clock, logger: Logger(label: "test"),
                wakeup: wakeup, options: .init(publicURL: "https://usero.example.com"))
            worker = SlackJobWorker(
                runner: runner, store: store, clock: clock, pollInterval: .seconds(1), wakeup: wakeup,
                logger: Logger(label: "test"))
            ingest = SlackIngest(store: store, clock: clock, wakeup: wakeup, logger: Logger(label: "test"))
        }

        /// Runs every job that is due, advancing the clock to the next due job until the queue is empty or `limit`
        /// rounds passed; returns the simulated time it took.
        @discardableResult
        func drain(limit: Int = 5_000) async throws -> TimeInterval {
            let start = clock.now()
            for _ in 0..<limit {
                await worker.runDueJobs()
                let now = epochMillis(clock.now())
                guard let next = try await store.nextJobDueAt(now: now, kinds: Set(SlackJob.Kind.allCases)) else { break }
                if next > now { clock.advance(by: Double(next - now) / 1000) }
            }
            return clock.now().timeIntervalSince(start)
        }

        func submit(_ comment: String?, rating: Int? = 3, source: FeedbackSource = .widget) async throws -> FeedbackItem {
            try await store.insert(
                FeedbackDraft(
                    clientId: clientID, source: source, rating: rating, comment: comment,
                    pageUrl: "https://app.example.com/projects/42", pageTitle: "Export <project>",
                    environment: "staging"),
                at: clock.now(), origin: nil)
        }

        /// Another client with its own workspace T0002 installed, posting to C0888; returns the client's id.
        func connectAnotherClient() async throws -> String {
            let (other, _) = try await store.createClient(name: "Other", plan: .paid, allowedOrigins: [], at: clock.now())
            let envelope = try keyRing.seal(Array("xoxb-other-token".utf8), associatedData: Array("T0002".utf8))
            let saved = try await store.saveInstallation(
                Installation(
                    teamId: "T0002", clientId: other.id, enterpriseId: nil, teamName: "Other", botUserId: "U0109",
                    botId: "B0101", appId: "A0001", scopes: SlackOAuth.scopes, installerUserId: "U0101",
                    tokenEnvelope: envelope, tokenKeyId: keyRing.currentKeyID,
                    installedAt: epochMillis(clock.now()) - 3_600_000, settings: SlackSettings(notifyChannel: "C0888")))
            #expect(saved == .saved)
            return other.id
        }

        func reaction(_ emoji: String, event: String, user: String = "U0001", ts: String = "1700000000.000100") -> [UInt8] {
            Array(
                """
                {"type":"event_callback","team_id":"T0001","event_id":"\(event)","event":{"type":"reaction_added",
                "user":"\(user)","reaction":"\(emoji)","item":{"type":"message","channel":"C0001","ts":"\(ts)"}}}
                """.utf8)
        }
    }

    static func ts(_ millis: Int64) -> String { SlackRecoveryRules.slackTs(millis) }

    /// A page of channel history holding the bot's post of item `feedbackId` at `ts`.
    static func channelPage(postOf feedbackId: String, ts: String) -> MessagePage {
        let post = Message(
            ts: ts, user: bot, botId: "B0001", text: "New feedback",
            metadata: MessageMetadata(
                eventType: SlackNotificationMessage.eventType,
                payload: [SlackNotificationMessage.feedbackIdKey: feedbackId]))
        return MessagePage(messages: [post], nextCursor: nil)
    }

    /// The positions in `ids` of the items the posts link to, in posting order.
    static func order(of posts: [FakeSlackWebAPI.Call], _ ids: [String]) -> [Int] {
        let index = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        return posts.compactMap { post -> Int? in
            guard let json = post.json, let start = json.range(of: "/inbox/items/") else { return nil }
            let id = json[start.upperBound...].prefix { $0 != "|" }
            return index[String(id)]
        }
    }

    // MARK: Settings

    @Test func settingsBodiesAreCheckedFieldByField() throws {
        let ok = try SlackSettingsChange.parse(Array(#"{"triggerEmoji":["bug","bug","+1"],"notifyChannel":"C0777"}"#.utf8))
        #expect(ok.triggerEmoji == ["bug", "+1"])
        #expect(ok.notifyChannel == .some("C0777"))
        #expect(try SlackSettingsChange.parse(Array(#"{"notifyChannel":null}"#.utf8)).notifyChannel == .some(nil))
        #expect(try SlackSettingsChange.parse(Array(#"{"notifyChannel":null}"#.utf8)).triggerEmoji == nil)

        func issues(_ json: String) -> [String: [String]] {
            do {
                _ = try SlackSettingsChange.parse(Array(json.utf8))
            } catch FeedbackError.invalid(let issues) {
                return issues
            } catch {
                Issue.record("unexpected \(error)")
            }
            return [:]
        }
        #expect(issues(#"{"triggerEmoji":[]}"#).keys.sorted() == ["triggerEmoji"])
        #expect(issues(#"{"triggerEmoji":[":bug:"]}"#)["triggerEmoji"]?.first?.contains("colons") == true)
        #expect(issues(#"{"triggerEmoji":["Bug"]}"#).keys.sorted() == ["triggerEmoji"])
        #expect(issues(#"{"triggerEmoji":"bug"}"#).keys.sorted() == ["triggerEmoji"])
        #expect(issues(#"{"triggerEmoji":[1]}"#).keys.sorted() == ["triggerEmoji"])
        let eleven = (1...11).map { "\"e\($0)\"" }.joined(separator: ",")
        #expect(issues(#"{"triggerEmoji":[\#(eleven)]}"#)["triggerEmoji"] == ["At most 10 emoji names"])
        #expect(issues(##"{"notifyChannel":"#general"}"##).keys.sorted() == ["notifyChannel"])
        #expect(issues(#"{"notifyChannel":42}"#).keys.sorted() == ["notifyChannel"])
        #expect(issues(#"{"triggerEmoji":["bug"],"emoji":["x"]}"#) == ["emoji": ["Unknown field"]])
        #expect(issues(#"{}"#).keys.sorted() == ["body"])
        #expect(throws: FeedbackError.malformedJSON) { try SlackSettingsChange.parse(Array("{".utf8)) }
    }

    /// A workspace may choose as many as ten trigger emoji, the documented most: ten are saved (and read back from
    /// the store), and only an eleventh distinct one is refused; repeats do not count against the limit.
    @Test func tenTriggerEmojiAreAllowedAndElevenAreNot() throws {
        let ten = (1...10).map { "e\($0)" }
        #expect(SlackSettings.problem(triggerEmoji: ten) == nil)
        #expect(SlackSettings.problem(triggerEmoji: ten + ten) == nil)
        #expect(try SlackSettingsChange.parse(Array(#"{"triggerEmoji":["\#(ten.joined(separator: "\",\""))"]}"#.utf8)).triggerEmoji == ten)
        #expect(SlackSettings.triggerEmoji(stored: SlackSettings(triggerEmoji: ten).storedTriggerEmoji ?? "") == ten)
        #expect(SlackSettings.problem(triggerEmoji: ten + ["e11"]) == "At most 10 emoji names")
        // A name as Slack reports a skin tone: its base emoji already matches every tone.
        #expect(
            SlackSettings.problem(triggerEmoji: ["thumbsup::skin-tone-2"])
                == #"Skin tones are matched with their emoji: give "thumbsup", not thumbsup::skin-tone-2"#)
    }

    @Test func anyValidEmojiRoundTripsAsACaptureMethod() throws {
        for raw in ["reaction:bug", "reaction:wrench", "reaction:+1", "reaction:party-parrot", "shortcut", "command"] {
            #expect(SlackCaptureMethod(rawValue: raw)?.rawValue == raw)
        }
        for bad in ["reaction:", "reaction:Bug", "reaction:a:b", "reaction", "pushpin", ""] {
            #expect(SlackCaptureMethod(rawValue: bad) == nil)
        }
        let json = try JSONEncoder().encode(SlackCaptureMethod.reaction("bug"))
        #expect(String(decoding: json, as: UTF8.self) == #""reaction:bug""#)
        #expect(try JSONDecoder().decode(SlackCaptureMethod.self, from: json) == .reaction("bug"))
    }

    @Test func theWorkspacesOwnEmojiCaptureAndTheDefaultsStop() async throws {
        let world = try await World()
        // Given the workspace chose :bug: instead of the defaults
        let changed = try await world.store.updateSettings(
            client: world.clientID, SlackSettingsChange(triggerEmoji: ["bug"]), at: epochMillis(world.clock.now()))
        #expect(changed?.settings.triggerEmoji == ["bug"])
        // When members react with :wrench:, :pushpin: and :bug:
        _ = try await world.ingest.receiveEvent(world.reaction("wrench", event: "Ev1"))
        _ = try await world.ingest.receiveEvent(world.reaction("pushpin", event: "Ev2"))
        #expect(world.store.jobs.isEmpty)
        _ = try await world.ingest.receiveEvent(world.reaction("bug", event: "Ev3"))
        // Then only :bug: queued a capture, recorded as reaction:bug
        let jobs = world.store.jobs
        #expect(jobs.count == 1)
        guard case .captureReaction(let capture)? = jobs.first?.work else {
            Issue.record("expected a capture job")
            return
        }
        #expect(capture.via == "reaction:bug")
        // And the runner stores it with that method
        let page = MessagePage(
            messages: [Message(ts: "1700000000.000100", user: "U0002", text: "Export times out")], nextCursor: nil)
        let api = FakeSlackWebAPI(pages: [nil: page])
        let runner = SlackJobRunner(
            store: world.store, auditor: world.store, api: api, keyRing: world.keyRing, clock: world.clock,
            logger: Logger(label: "test"), wakeup: JobWakeup())
        for job in try await world.store.claimDueJobs(
            now: epochMillis(world.clock.now()), limit: 10, lease: 60_000, kinds: [.captureReaction])
        {
            #expect(await runner.run(job) == .finished)
        }
        let items = try await world.store.listFeedback(
            clientID: world.clientID, filter: FeedbackFilter(), limit: 10, after: nil
        ).items
        #expect(items.map(\.draft.slack?.capturedVia) == [.reaction("bug")])
    }

    /// Slack reports a skin-tone variant as `name::skin-tone-N`: a workspace that chose `+1` captures every tone of
    /// it, recorded as `reaction:+1`; a name that merely contains the suffix is no variant.
    @Test func aSkinToneOfAChosenEmojiCapturesAsThatEmoji() async throws {
        let world = try await World(settings: SlackSettings(triggerEmoji: ["+1"]))
        _ = try await world.ingest.receiveEvent(world.reaction("+1::skin-tone-2", event: "Ev1"))
        _ = try await world.ingest.receiveEvent(world.reaction("+1::skin-tone-9", event: "Ev2", ts: "1700000000.000200"))
        _ = try await world.ingest.receiveEvent(world.reaction("+1::skin-tone-", event: "Ev3", ts: "1700000000.000300"))
        let vias = world.store.jobs.compactMap { job -> String? in
            if case .captureReaction(let capture) = job.work { return capture.via } else { return nil }
        }
        #expect(vias == ["reaction:+1"])
        #expect(SlackSettings.emoji(reported: "thumbsup::skin-tone-6") == "thumbsup")
        #expect(SlackSettings.emoji(reported: "wrench") == "wrench")
        #expect(SlackSettings.emoji(reported: "::skin-tone-3") == "")

        // A recovery sweep reads the same names in a message's reactions.
        var installation = try #require(try await world.store.installation(client: world.clientID))
        installation.installedAt = 0
        let message = Message(
            ts: "1700000000.000400", user: "U0002", text: "Export times out",
            reactions: [Message.Reaction(name: "+1::skin-tone-4", users: ["U0003"])])
        let found = SlackRecoveryRules.captures(
            in: [message], channel: "C0001", installation: installation, window: 0...Int64.max)
        #expect(found.map(\.via) == [.reaction("+1")])
    }

    @Test func aReinstallKeepsSettingsAndAnUninstallClearsThem() async throws {
        let world = try await World(settings: SlackSettings(triggerEmoji: ["bug"], notifyChannel: "C0777"))
        var installation = try #require(try await world.store.installation(client: world.clientID))
        installation.settings = SlackSettings()
        #expect(try await world.store.saveInstallation(installation) == .saved)
        #expect(try await world.store.installation(client: world.clientID)?.settings.triggerEmoji == ["bug"])
        #expect(
            try await world.store.acceptUninstall(
                team: Self.team, eventId: "EvU", at: epochMillis(world.clock.now()), deadline: 0))
        #expect(try await world.store.installation(client: world.clientID) == nil)
        #expect(try await world.store.updateSettings(client: world.clientID, SlackSettingsChange(triggerEmoji: ["x"]), at: 0) == nil)
    }

    // MARK: Notifications

    @Test func aNewWidgetItemIsPostedOnceAsBlockKitWithItsCommentEscaped() async throws {
        let world = try await World(settings: SlackSettings(notifyChannel: "C0777"))
        let comment = "<!channel> Export & import > broken " + String(repeating: "x", count: 600)
        let item = try await world.submit(comment, rating: 2)
        try await world.drain()
        let posts = world.api.calls("chat.postMessage")
        #expect(posts.count == 1)
        let post = try #require(posts.first)
        #expect(post.channel == "C0777")
        let blocks = try #require(post.json)
        // Rating as a word, the comment escaped for mrkdwn and cut at 500 characters, page, environment, inbox link
        #expect(blocks.contains("*Bad* (2/4)"))
        #expect(blocks.contains("&lt;!channel&gt; Export &amp; import &gt; broken"))
        #expect(!blocks.contains("<!channel>"))
        // The visitor's words are verbatim: Slack makes no link of a bare address or #channel in them
        #expect(blocks.contains("xxxx…" + #"","type":"mrkdwn","verbatim":true}"#))
        #expect(blocks.contains(String(repeating: "x", count: 500 - 36) + "…"))
        #expect(!blocks.contains(String(repeating: "x", count: 500 - 35)))
        #expect(blocks.contains(
            "*Page:* <https://app.example.com/projects/42|https://app.example.com/projects/42> · Export &lt;project&gt;"))
        #expect(blocks.contains("*Environment:* staging"))
        #expect(blocks.contains("<https://usero.example.com/inbox/items/\(item.id)|Open in the usero inbox>"))
        #expect(post.text?.contains("&lt;!channel&gt;") == true)
        // Once: nothing is left to post
        #expect(world.store.jobs.isEmpty)
    }

    /// Deleting a posted item deletes its post: the post's `ts` is kept, and the deletion's job asks Slack to delete
    /// exactly that message. A post Slack says is gone already ends the job; an item deleted while its post went out
    /// has the post deleted at once; after an uninstall there is no token, and nothing is asked.
    @Test func aDeletedItemsPostIsDeletedFromTheChannel() async throws {
        let world = try await World(settings: SlackSettings(notifyChannel: "C0777"))
        let first = try await world.submit("First", rating: 2)
        let second = try await world.submit("Second", rating: 3)
        try await world.drain()
        let posted = world.api.calls("chat.postMessage")
        #expect(posted.count == 2)
        #expect(world.api.calls("chat.delete").isEmpty)

        #expect(try await world.store.deleteFeedback(id: first.id, clientID: world.clientID))
        try await world.drain()
        let deleted = world.api.calls("chat.delete")
        #expect(deleted.count == 1)
        #expect(deleted.first?.channel == "C0777")
        #expect(deleted.first?.text == "1800000000.000001")
        #expect(world.store.jobs.isEmpty)

        // Slack says it is gone already (deleted by hand): done, not retried
        world.api.fail("chat.delete", with: .slack(code: "message_not_found"))
        #expect(try await world.store.deleteFeedback(id: second.id, clientID: world.clientID))
        try await world.drain()
        #expect(world.api.calls("chat.delete").count == 2)
        #expect(world.store.jobs.isEmpty)

        // Deleted while its post was going out: the post is deleted once it is known
        let third = try await world.submit("Third", rating: 1)
        let store = world.store, client = world.clientID
        world.api.whenPosting { _ = try await store.deleteFeedback(id: third.id, clientID: client) }
        try await world.drain()
        #expect(try await world.store.feedbackItem(id: third.id, client: world.clientID) == nil)
        #expect(world.api.calls("chat.delete").map(\.text) == [
            "1800000000.000001", "1800000000.000002", "1800000000.000003",
        ])
        #expect(world.store.jobs.isEmpty)
        world.api.whenPosting(nil)

        // Uninstalled: the token went, and with it usero's say over its posts
        let fourth = try await world.submit("Fourth", rating: 4)
        try await world.drain()
        #expect(try await world.store.acceptUninstall(
            team: Self.team, eventId: "EU1", at: epochMillis(world.clock.now()), deadline: epochMillis(world.clock.now()) + 60_000))
        #expect(try await world.store.deleteFeedback(id: fourth.id, clientID: world.clientID))
        try await world.drain()
        #expect(world.api.calls("chat.delete").count == 3)
        #expect(world.store.jobs.isEmpty)
    }

    /// A workspace posting to C0777, and two items it posted there.
    static func twoItemsPosted() async throws -> (World, FeedbackItem, FeedbackItem) {
        let world = try await World(settings: SlackSettings(notifyChannel: "C0777"))
        let first = try await world.submit("First", rating: 2)
        let second = try await world.submit("Second", rating: 3)
        try await world.drain()
        #expect(world.api.calls("chat.postMessage").count == 2)
        return (world, first, second)
    }

    /// The deletion of a post is the only record of where the post is, so it keeps trying through an outage of
    /// Slack (or of the network) for up to a day, not a quarter of an hour's attempts; past a day it gives up.
    @Test func aPostsDeletionWaitsOutAnOutageOfHoursAndGivesUpAfterADay() async throws {
        let (world, first, second) = try await Self.twoItemsPosted()

        // Slack unreachable for 40 tries (more than two hours at the longest wait)
        world.api.fail("chat.delete", with: Array(repeating: SlackAPIError.unreachable, count: 40))
        #expect(try await world.store.deleteFeedback(id: first.id, clientID: world.clientID))
        let outage = try await world.drain()
        #expect(outage > 2 * 3_600)
        #expect(world.api.calls("chat.delete").count == 41)
        #expect(world.store.jobs.isEmpty)

        // Unreachable for longer than a day: given up once the job is a day old
        world.api.fail("chat.delete", with: Array(repeating: SlackAPIError.unreachable, count: 1_000))
        #expect(try await world.store.deleteFeedback(id: second.id, clientID: world.clientID))
        let queued = try #require(world.store.jobs.only?.createdAt)
        try await world.drain()
        #expect(world.store.jobs.isEmpty)
        let age = epochMillis(world.clock.now()) - queued
        #expect(age >= 86_400_000 && age < 86_400_000 + 600_000)
        #expect(world.api.calls("chat.delete").count < 41 + 1_000)
    }

    /// A workspace that revoked usero's token without uninstalling may install again: the deletion of a deleted
    /// item's post, the only record of where the post is, waits for the new token (asking Slack nothing meanwhile)
    /// and then deletes the post; with no token for a day, it ends.
    @Test func aPostsDeletionWaitsForATokenRevokedUntilTheWorkspaceInstallsAgain() async throws {
        let (world, first, second) = try await Self.twoItemsPosted()
        let installed = try #require(try await world.store.activeInstallation(team: Self.team))
        func revoke() async throws {
            try await world.store.acceptTokensRevoked(
                team: Self.team, eventId: nil, botUserIds: [Self.bot], at: epochMillis(world.clock.now()),
                retriedEventAt: nil)
        }

        try await revoke()
        #expect(try await world.store.deleteFeedback(id: first.id, clientID: world.clientID))
        for _ in 0..<6 {
            await world.worker.runDueJobs()
            world.clock.advance(by: 600)
        }
        #expect(world.api.calls("chat.delete").isEmpty)
        #expect(world.store.jobs.map(\.kind) == [.unpost])

        var again = installed
        again.installedAt = epochMillis(world.clock.now())
        #expect(try await world.store.saveInstallation(again) == .saved)
        try await world.drain()
        #expect(world.api.calls("chat.delete").map(\.text) == ["1800000000.000001"])
        #expect(world.store.jobs.isEmpty)

        // No token for a day: the job ends, Slack never asked.
        try await revoke()
        #expect(try await world.store.deleteFeedback(id: second.id, clientID: world.clientID))
        let queued = try #require(world.store.jobs.only?.createdAt)
        try await world.drain()
        #expect(world.store.jobs.isEmpty)
        #expect(epochMillis(world.clock.now()) - queued >= 86_400_000)
        #expect(world.api.calls("chat.delete").count == 1)
    }

    /// `since=$(date -Iseconds)` sends its offset's `+` unescaped, which a query string reads as a space: no instant
    /// holds a space, so it is read back as the `+` it was.
    @Test func aSinceWhoseOffsetPlusBecameASpaceIsReadAsThePlus() throws {
        let plus = try #require(try SlackWorkspace.parseSince("2026-12-04T10:00:00+01:00"))
        #expect(try SlackWorkspace.parseSince("2026-12-04T10:00:00 01:00") == plus)
        #expect(try SlackWorkspace.parseSince("2026-12-04T09:00:00Z") == plus)
        #expect(throws: (any Error).self) { try SlackWorkspace.parseSince("2026-12-04 10:00:00Z") }
    }

    /// Anyone may submit feedback, so the page line is the submitter's words: its link reads as where it goes, and a
    /// page title that reads like another address, or carries link syntax, stays plain text beside it.
    @Test func thePageLinkReadsAsWhereItGoesWhateverTheTitleSays() throws {
        func pageLine(url: String?, title: String?) throws -> String {
            let item = FeedbackItem(
                id: "fb_1", clientId: "client_a", createdAt: .init(timeIntervalSince1970: 1_700_000_000),
                draft: FeedbackDraft(clientId: "client_a", source: .api, rating: 1, pageUrl: url, pageTitle: title))
            let blocks = SlackNotificationMessage(item: item, publicURL: "https://usero.example.com").blocks
            let start = try #require(blocks.range(of: "*Page:* "))
            return String(blocks[start.lowerBound...].prefix { $0 != "\"" })
        }
        #expect(
            try pageLine(url: "https://evil.example/reset", title: "https://yourapp.com/account/reset")
                == "*Page:* <https://evil.example/reset|https://evil.example/reset> · https://yourapp.com/account/reset")
        #expect(
            try pageLine(url: "https://evil.example/", title: "<https://yourapp.com|Reset your password>")
                == "*Page:* <https://evil.example/|https://evil.example/> · &lt;https://yourapp.com|Reset your password&gt;")
        // Userinfo before the real host is not posted (it may be a password, or a name for another site): the
        // link and its text name the host it goes to.
        #expect(
            try pageLine(url: "https://yourapp.com@evil.example/", title: nil)
                == "*Page:* <https://evil.example/|https://evil.example/>")
        #expect(
            try pageLine(url: "https://alice:s3cret@app.example/account?token=abc#x", title: nil)
                == "*Page:* <https://app.example/account|https://app.example/account>")
        #expect(
            try pageLine(url: "https://a@b:c@@app.example:8443/x", title: nil)
                == "*Page:* <https://app.example:8443/x|https://app.example:8443/x>")
        // Nor a path segment's parameters: a session id there opens the submitter's session to the channel.
        #expect(
            try pageLine(url: "https://app.example/shop;jsessionid=0F3A9C/cart;v=2/checkout?step=2", title: nil)
                == "*Page:* <https://app.example/shop/cart/checkout|https://app.example/shop/cart/checkout>")
        #expect(
            try pageLine(url: "https://app.example/;jsessionid=0F3A9C", title: nil)
                == "*Page:* <https://app.example/|https://app.example/>")
        // Not http(s): the address as text.
        #expect(try pageLine(url: "ftp://files.example/a", title: nil) == "*Page:* ftp://files.example/a")
        #expect(try pageLine(url: nil, title: "Settings") == "*Page:* Settings")
        #expect(try pageLine(url: "?tab=2", title: "Settings") == "*Page:* Settings")
        // Slack is told not to make links of its own in these lines.
        let item = FeedbackItem(
            id: "fb_1", clientId: "client_a", createdAt: .init(timeIntervalSince1970: 1_700_000_000),
            draft: FeedbackDraft(clientId: "client_a", source: .api, rating: 1, pageUrl: "ftp://files.example/a"))
        let blocks = SlackNotificationMessage(item: item, publicURL: "https://usero.example.com").blocks
        #expect(blocks.contains(#""text":"*Page:* ftp://files.example/a","type":"mrkdwn","verbatim":true"#))
    }

    /// Slack refuses a whole post whose section text passes 3,000 characters (`invalid_blocks`): the comment's 500
    /// characters can be many more units (combining marks; `&` escaped to five), so they stop at the budget.
    @Test(arguments: [String(repeating: "e" + String(repeating: "\u{0301}", count: 12), count: 600),
                      String(repeating: "&", count: 600), String(repeating: "👨‍👩‍👧‍👦", count: 600)])
    func aLongCommentNeverMakesASectionSlackRefuses(_ comment: String) throws {
        let item = FeedbackItem(
            id: "fb_1", clientId: "client_a", createdAt: .init(timeIntervalSince1970: 1_700_000_000),
            draft: FeedbackDraft(clientId: "client_a", source: .api, comment: comment, pageTitle: comment, environment: "e"))
        let message = SlackNotificationMessage(item: item, publicURL: "https://usero.example.com")
        let blocks = try #require(try JSONSerialization.jsonObject(with: Data(message.blocks.utf8)) as? [[String: Any]])
        let texts = blocks.compactMap { ($0["text"] as? [String: Any])?["text"] as? String }
            + blocks.flatMap { ($0["elements"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String } }
        #expect(texts.allSatisfy { $0.utf16.count <= 3_000 }, "\(texts.map(\.utf16.count))")
        let posted = try #require(texts.first { $0.hasSuffix("…") })
        #expect(posted.count > 100)
        #expect(!posted.contains("&am…") && !posted.hasSuffix("&…"))
    }

    @Test func slackItemsDeletedItemsAndUnsetChannelsAreNotPosted() async throws {
        let world = try await World(settings: SlackSettings(notifyChannel: "C0777"))
        _ = try await world.submit("from Slack", source: .slack)
        #expect(world.store.jobs.isEmpty)
        let deleted = try await world.submit("deleted before the post")
        #expect(try await world.store.deleteFeedback(id: deleted.id, clientID: world.clientID))
        _ = try await world.submit("posted after the channel was cleared")
        _ = try await world.store.updateSettings(client: world.clientID, SlackSettingsChange(notifyChannel: .some(nil)), at: 0)
        _ = try await world.submit("no channel, no job")
        #expect(world.store.jobs.count == 2)
        try await world.drain()
        #expect(world.api.calls("chat.postMessage").isEmpty)
        #expect(world.store.jobs.isEmpty)
    }

    @Test func aChannelSlackRefusesIsRecordedForTheInboxAndClearedByTheNextGoodPost() async throws {
        let world = try await World(settings: SlackSettings(notifyChannel: "C0777"))
        world.api.fail("chat.postMessage", with: .slack(code: "not_in_channel"))
        _ = try await world.submit("first")
        try await world.drain()
        let problem = try #require(try await world.store.installation(client: world.clientID)?.notifyProblem)
        #expect(problem.code == "not_in_channel")
        #expect(problem.explanation.contains("Invite @usero"))
        #expect(world.store.jobs.isEmpty)
        // The admin invites the bot; the next post goes through and the problem is gone
        _ = try await world.submit("second")
        try await world.drain()
        #expect(world.api.calls("chat.postMessage").count == 2)
        #expect(try await world.store.installation(client: world.clientID)?.notifyProblem == nil)
    }

    /// A new item is posted to its own client's workspace only: another client's workspace with a notify channel
    /// gets no job for it (the PostgreSQL store reads the installations of several clients' items at once).
    @Test func aNewItemIsQueuedForItsOwnClientsWorkspaceOnly() async throws {
        let world = try await World(settings: SlackSettings(notifyChannel: "C0777"))
        _ = try await world.connectAnotherClient()
        _ = try await world.submit("Acme's own words")
        #expect(world.store.jobs.map(\.teamId) == [Self.team])
        try await world.drain()
        #expect(world.api.calls("chat.postMessage").map(\.channel) == ["C0777"])
    }

    /// A post job whose workspace is connected to another client by the time it runs (reinstalled for it meanwhile)
    /// posts nothing: one client's feedback never appears in another client's channel.
    @Test func aPostForAWorkspaceOfAnotherClientPostsNothing() async throws {
        let world = try await World()
        _ = try await world.connectAnotherClient()
        let item = try await world.submit("Acme's own words")
        #expect(world.store.jobs.isEmpty)  // Acme's workspace has no notify channel
        try await world.store.enqueue(
            NewSlackJob(
                clientId: world.clientID, teamId: "T0002", work: .postFeedback(PostFeedbackJob(feedbackId: item.id)),
                runAt: epochMillis(world.clock.now())))
        try await world.drain()
        #expect(world.api.calls("chat.postMessage").isEmpty)
        #expect(world.store.jobs.isEmpty)
    }

    /// A post waits out a Slack outage of a quarter of an hour (eleven failed tries, about 17 minutes of backoff) and
    /// goes out when Slack is back: it is not dropped, and the inbox shows no problem.
    @Test func aPostOutlastsAQuarterHourSlackOutage() async throws {
        let world = try await World(settings: SlackSettings(notifyChannel: "C0777"))
        world.api.fail("chat.postMessage", with: .unreachable, .unreachable, .unreachable, .unreachable, .unreachable,
                       .unreachable, .unreachable, .unreachable, .unreachable, .unreachable, .unreachable)
        _ = try await world.submit("after the outage")
        let took = try await world.drain()
        #expect(took >= 15 * 60)
        #expect(world.api.calls("chat.postMessage").count == 12)
        #expect(try await world.store.installation(client: world.clientID)?.notifyProblem == nil)
        #expect(world.store.jobs.isEmpty)
    }

    /// A post whose answer was lost is looked for in the channel before it goes out again, from a minute before the
    /// first try: Slack's clock (the message's `ts`) may be behind the instance's by seconds, and the post is then
    /// still found, kept for its deletion, and not posted twice.
    @Test func aPostWhoseAnswerWasLostIsFoundEvenWhenSlacksClockIsBehind() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock, settings: SlackSettings(notifyChannel: "C0777"))
        let sentAt = epochMillis(clock.now())
        world.api.fail("chat.postMessage", with: .unreachable)  // Slack took it; its answer never came
        let item = try await world.submit("posted once")
        await world.worker.runDueJobs()
        #expect(world.api.calls("chat.postMessage").count == 1)
        let ts = Self.ts(sentAt - 5_000)
        world.api.setHistory("C0777", [nil: Self.channelPage(postOf: item.id, ts: ts)])
        try await world.drain()
        #expect(world.api.calls("chat.postMessage").count == 1)
        #expect(world.store.withState { $0.posts[item.id]?.map(\.ts) } == [ts])
        #expect(world.store.jobs.isEmpty)
    }

    /// A post found in the channel on its next try (its answer was lost) clears the notice of an earlier problem, as
    /// a post answered at once does: the channel takes posts again.
    @Test func aPostFoundInTheChannelClearsTheNoticeOfAnEarlierProblem() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock, settings: SlackSettings(notifyChannel: "C0777"))
        world.api.fail("chat.postMessage", with: .slack(code: "not_in_channel"), .unreachable)
        _ = try await world.submit("refused")
        try await world.drain()
        #expect(try await world.store.installation(client: world.clientID)?.notifyProblem?.code == "not_in_channel")
        // Slack takes the next post and its answer is lost; the retry finds it in the channel (posted within the
        // minute the look allows for Slack's clock).
        let item = try await world.submit("posted once")
        world.api.setHistory("C0777", [nil: Self.channelPage(postOf: item.id, ts: Self.ts(epochMillis(clock.now())))])
        try await world.drain()
        #expect(world.api.calls("chat.postMessage").count == 2)
        #expect(world.store.jobs.isEmpty)
        #expect(try await world.store.installation(client: world.clientID)?.notifyProblem == nil)
    }

    /// Every post Slack refuses for good, and every post given up on after its retries, leaves the admin a word in
    /// the inbox: a token Slack no longer takes, a missing scope, blocks it refuses, Slack out of reach. They were
    /// dropped with a debug line, the workspace still shown as connected.
    @Test(arguments: [
        (SlackAPIError.slack(code: "token_revoked"), "Reconnect Slack"), (.slack(code: "missing_scope"), "permission"),
        (.slack(code: "invalid_blocks"), "invalid_blocks"), (.unreachable, "could not be reached"),
    ])
    func aPostLostForAnyReasonIsRecordedForTheInbox(_ error: SlackAPIError, words: String) async throws {
        let world = try await World(settings: SlackSettings(notifyChannel: "C0777"))
        world.api.fail("chat.postMessage", with: error, error, error, error, error, error, error, error, error, error, error, error)
        _ = try await world.submit("lost")
        try await world.drain()
        #expect(world.store.jobs.isEmpty)
        let problem = try #require(try await world.store.installation(client: world.clientID)?.notifyProblem)
        #expect(problem.explanation.contains(words), "\(problem.explanation)")
        #expect(problem.explanation.contains("C0777"))
    }

    @Test func aBurstOf500ArrivesInOrderAtSlacksPaceWithoutA429AndCapturesDoNotWait() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let api = FakeSlackWebAPI(postRateLimit: .init(clock: clock, interval: 1.0))
        let world = try await World(api: api, clock: clock, settings: SlackSettings(notifyChannel: "C0777"))
        var ids: [String] = []
        for n in 0..<500 { ids.append(try await world.submit("feedback \(n)").id) }
        // A capture arrives in the middle of the burst
        await world.worker.runDueJobs()
        _ = try await world.ingest.receiveEvent(world.reaction("wrench", event: "EvBurst"))
        let captureJobs = world.store.jobs.filter { $0.kind == .captureReaction }
        #expect(captureJobs.count == 1)
        await world.worker.runDueJobs()
        // The capture ran at once (it failed to find the message in the empty fake, and told the member so)
        #expect(world.store.jobs.filter { $0.kind == .captureReaction }.isEmpty)
        #expect(!world.api.calls("conversations.replies").isEmpty)

        let took = try await world.drain()
        let posts = world.api.calls("chat.postMessage")
        #expect(posts.count == 500)
        #expect(api.rateLimitedPosts == 0)
        #expect(posts.map { $0.json?.contains("feedback ") == true }.allSatisfy { $0 })
        #expect(Self.order(of: posts, ids) == Array(0..<500))
        // About one a second: the whole burst took just under 500 simulated seconds
        #expect(took >= 498 && took <= 520)
    }

    @Test func anItemArrivingDuringABurstQueuesBehindItAndKeepsThePace() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let api = FakeSlackWebAPI(postRateLimit: .init(clock: clock, interval: 1.0))
        let world = try await World(api: api, clock: clock, settings: SlackSettings(notifyChannel: "C0777"))
        var ids: [String] = []
        for n in 0..<3 { ids.append(try await world.submit("early \(n)").id) }
        await world.worker.runDueJobs()
        #expect(world.api.calls("chat.postMessage").count == 1)
        // A moment after the first post, a new item arrives: it neither jumps the queue nor rushes Slack
        clock.advance(by: 0.3)
        ids.append(try await world.submit("late").id)
        await world.worker.runDueJobs()
        #expect(world.api.calls("chat.postMessage").count == 1)
        try await world.drain()
        #expect(Self.order(of: world.api.calls("chat.postMessage"), ids) == [0, 1, 2, 3])
        #expect(api.rateLimitedPosts == 0)
        // After the burst, a lone item still waits out the pace of the last post
        _ = try await world.submit("alone")
        await world.worker.runDueJobs()
        #expect(world.api.calls("chat.postMessage").count == 4)
        clock.advance(by: 1)
        await world.worker.runDueJobs()
        #expect(world.api.calls("chat.postMessage").count == 5)
        #expect(api.rateLimitedPosts == 0)
    }

    /// With several instances, one waking the moment a post's job was finished claimed the next post before the
    /// pace held it: two posts 20 ms apart. The pace is set while the post's job still holds the workspace's lane.
    @Test func noOtherInstanceCanClaimTheNextPostBeforeThePaceHoldsIt() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock, settings: SlackSettings(notifyChannel: "C0777"))
        for n in 0..<2 { _ = try await world.submit("burst \(n)") }
        let claimedBetween = Mutex<[SlackJob.Kind]>([])
        world.store.onFinishJob { [store = world.store] _ in
            // Another instance's worker, at the very instant the first post's job is finished.
            let claimed = try await store.claimDueJobs(now: epochMillis(clock.now()), lanes: SlackJobWorker.claimLanes)
            claimedBetween.withLock { $0 += claimed.map(\.kind) }
        }
        await world.worker.runDueJobs()
        world.store.onFinishJob(nil)
        #expect(world.api.calls("chat.postMessage").count == 1)
        #expect(!claimedBetween.withLock { $0 }.contains(.postFeedback))
    }

    /// An instance that stalled (a paused process) after claiming a post, past its lease, and resumes after another
    /// instance took the post over, does not post it: not while the other holds it, nor after the other posted it
    /// and finished. (A walkthrough found that any job could run twice this way: the item posted twice.)
    @Test func aPostAnotherInstanceTookOverIsNotPostedAgainByTheOneThatStalled() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock, settings: SlackSettings(notifyChannel: "C0777"))
        _ = try await world.submit("posted once")
        func claim() async throws -> SlackJob? {
            try await world.store.claimDueJobs(now: epochMillis(clock.now()), lanes: SlackJobWorker.claimLanes).only
        }
        let stalled = try #require(try await claim())
        #expect(stalled.kind == .postFeedback)
        clock.advance(by: Double(SlackJobWorker.lease) / 1000 + 1)
        let takenOver = try #require(try await claim())
        #expect(takenOver.id == stalled.id)

        #expect(await world.runner.run(stalled) == .finished)
        #expect(world.api.calls("chat.postMessage").isEmpty)
        #expect(await world.runner.run(takenOver) == .finished)
        #expect(await world.runner.run(stalled) == .finished)
        #expect(world.api.calls("chat.postMessage").count == 1)
        #expect(world.store.jobs.isEmpty)
    }

    /// The stalled worker's own call answered at last with a 429 while the worker that took its post over has the
    /// post in flight: the stale answer neither forgets the other's "sent" mark nor releases its lease (a third claim
    /// then posted the item again, with nothing looked up first: an outside review saw two posts, three times).
    @Test func aStaleRateLimitReleasesNothingOfTheWorkerThatTookThePostOver() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock, settings: SlackSettings(notifyChannel: "C0777"))
        let item = try await world.submit("posted once")
        @Sendable func claim() async throws -> SlackJob? {
            try await world.store.claimDueJobs(now: epochMillis(clock.now()), lanes: SlackJobWorker.claimLanes).only
        }
        let stalled = try #require(try await claim())
        let (released, release) = AsyncStream<Void>.makeStream()
        let calls = Mutex(0)
        let takeover = Mutex<Task<SlackJobRunner.Result, Never>?>(nil)
        world.api.whenPosting { [runner = world.runner] in
            let call = calls.withLock { $0 += 1; return $0 }
            if call == 1 {
                // The stalled worker's call: while it hangs, its lease runs out and another worker takes the post,
                // whose own call is still going out when Slack answers this one 429.
                clock.advance(by: Double(SlackJobWorker.lease) / 1000 + 1)
                let takenOver = try #require(try await claim())
                takeover.withLock { $0 = Task { await runner.run(takenOver) } }
                while calls.withLock({ $0 }) < 2 { await Task.yield() }
                throw SlackAPIError.rateLimited(retryAfter: 1)
            }
            for await _ in released { break }
        }
        #expect(await world.runner.run(stalled) == .rateLimited)
        // Past the stale Retry-After: the post is still the other worker's, and no third worker takes it
        clock.advance(by: 2)
        #expect(try await claim() == nil)
        release.finish()
        #expect(await takeover.withLock { $0 }?.value == .finished)
        world.api.whenPosting(nil)
        await world.worker.runDueJobs()
        #expect(world.api.calls("chat.postMessage").count == 2)  // the stale one Slack refused, and one post
        #expect(world.store.jobs.isEmpty)
        #expect(try await world.store.feedbackItem(id: item.id, client: world.clientID) != nil)
    }

    /// A post that fails with a 5xx is retried later, and the posts behind it wait with it: no worker (another
    /// instance, or this one's next claim) may take the next post at any instant of the retry's writes. Rescheduled
    /// before the others were held, the failed post freed the lane and the next one went out first.
    @Test func noWorkerCanClaimThePostBehindOneThatFailedWhileItIsRetried() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock, settings: SlackSettings(notifyChannel: "C0777"))
        for n in 0..<2 { _ = try await world.submit("burst \(n)") }
        world.api.fail("chat.postMessage", with: .unreachable)
        let claimedBetween = Mutex<[SlackJob.Kind]>([])
        world.store.onRetryWrite { [store = world.store] in
            let claimed = try await store.claimDueJobs(now: epochMillis(clock.now()), lanes: SlackJobWorker.claimLanes)
            claimedBetween.withLock { $0 += claimed.map(\.kind) }
        }
        await world.worker.runDueJobs()
        world.store.onRetryWrite(nil)
        #expect(world.api.calls("chat.postMessage").count == 1)
        #expect(!claimedBetween.withLock { $0 }.contains(.postFeedback))
    }

    @Test func postsRefusedWithA429WaitItOutAndKeepTheirOrder() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        // Slack is stricter than our pace here: one post every 2.5 s
        let api = FakeSlackWebAPI(postRateLimit: .init(clock: clock, interval: 2.5))
        let world = try await World(api: api, clock: clock, settings: SlackSettings(notifyChannel: "C0777"))
        var ids: [String] = []
        for n in 0..<20 { ids.append(try await world.submit("burst \(n)").id) }
        try await world.drain()
        let posts = world.api.calls("chat.postMessage")
        #expect(Self.order(of: posts, ids) == Array(0..<20))
        // Each refusal waited out its Retry-After: at most one 429 per post, never a loop
        #expect(api.rateLimitedPosts > 0)
        #expect(api.rateLimitedPosts <= 20)
        #expect(world.store.jobs.isEmpty)
    }

    // MARK: Recovery

    /// Runs a world's due jobs step by step, 1.2 s of its clock apart, until `done` holds (ten steps at most).
    static func runSteps(_ world: World, _ clock: TestClock, until done: () -> Bool) async {
        for _ in 0..<10 where !done() {
            await world.worker.runDueJobs()
            clock.advance(by: 1.2)
        }
    }

    /// The sweep the world's one queued job carries (recorded as an issue when there is none).
    static func queuedSweep(_ world: World) -> RecoverJob? {
        guard case .recover(let sweep)? = world.store.jobs.only?.work else {
            Issue.record("expected the sweep's next step")
            return nil
        }
        return sweep
    }

    /// A world at a fixed instant whose channel is `scriptChannel`'s, with that instant in epoch milliseconds.
    static func scriptedWorld() async throws -> (world: World, clock: TestClock, now: Int64) {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock)
        let now = epochMillis(clock.now())
        scriptChannel(world.api, around: now)
        return (world, clock, now)
    }

    /// A channel whose history holds, inside the window: two messages reacted with a trigger emoji by members,
    /// one reacted only by the bot, one with another emoji, one posted by the app itself, and a thread whose reply
    /// carries :pushpin:.
    static func scriptChannel(_ api: FakeSlackWebAPI, around now: Int64) {
        let t = { (offset: Int64) in ts(now - 600_000 + offset) }
        api.setChannels([
            nil: ChannelPage(channels: ["C0001", "not a channel"], nextCursor: "more"),
            "more": ChannelPage(channels: ["C0002"], nextCursor: nil),
        ])
        let wrench = Message.Reaction(name: "wrench", users: ["U0009", "U0003", "U0004"])
        api.setHistory("C0001", [
            nil: MessagePage(
                messages: [
                    Message(ts: t(1_000), user: "U0002", text: "Export to CSV times out", reactions: [wrench]),
                    Message(ts: t(2_000), user: "U0002", text: "bot only", reactions: [.init(name: "wrench", users: ["U0009"])]),
                    Message(ts: t(3_000), user: "U0002", text: "other emoji", reactions: [.init(name: "tada", users: ["U0003"])]),
                    Message(ts: t(4_000), user: "U0009", botId: "B0001", text: "usero's own post", reactions: [wrench]),
                ], nextCursor: "page2"),
            "page2": MessagePage(
                messages: [Message(ts: t(5_000), user: "U0005", text: "Thread parent", replyCount: 2)], nextCursor: nil),
        ])
        api.setReplies("C0001", ts: t(5_000), [
            nil: MessagePage(
                messages: [
                    Message(ts: t(5_000), user: "U0005", text: "Thread parent", replyCount: 2),
                    Message(ts: t(6_000), threadTs: t(5_000), user: "U0006", text: "Filter panel resets",
                            reactions: [.init(name: "pushpin", users: ["U0007"])]),
                ], nextCursor: nil),
        ])
        api.setHistory("C0002", [
            nil: MessagePage(
                messages: [
                    Message(ts: t(7_000), user: "U0008", text: "Dark mode please", reactions: [.init(name: "pushpin", users: ["U0001"])]),
                    Message(ts: ts(now - 30 * 86_400_000), user: "U0008", text: "too old", reactions: [wrench]),
                ], nextCursor: nil),
        ])
    }

    /// A shortcut's row gets its permalink whether or not the answer reaches the forwarder: a `response_url` that
    /// Slack no longer takes (404) or that is not Slack's ended the job before the permalink was asked for.
    @Test(arguments: [SlackAPIError.http(status: 404), .slack(code: "response_url_not_allowed")])
    func aShortcutRowGetsItsPermalinkWhenTheAnswerFails(_ failure: SlackAPIError) async throws {
        let world = try await World()
        world.api.fail("response_url", with: failure)
        let captured = try await world.store.captureForward(
            CapturedMessage(
                teamId: Self.team, channelId: "C0002", messageTs: "1800000000.000100", threadTs: nil, authorId: "U0008",
                forwardedBy: "U0001", via: .shortcut, permalink: nil, text: "Dark mode please"),
            at: world.clock.now(), responseURL: "https://hooks.slack.com/actions/T0001/1/abc")
        try await world.drain()
        let id = try #require(captured.feedbackId)
        let row = try #require(try await world.store.feedback(id: id, clientID: world.clientID)?.draft.slack)
        #expect(row.permalink != nil)
        #expect(world.store.jobs.isEmpty)
    }

    @Test func aSweepCapturesExactlyTheTriggerReactionsItMissedAndSaysWhatItCovered() async throws {
        let (world, clock, now) = try await Self.scriptedWorld()
        // A message captured live already is not captured twice
        _ = try await world.store.captureForward(
            CapturedMessage(
                teamId: Self.team, channelId: "C0002", messageTs: Self.ts(now - 600_000 + 7_000), threadTs: nil,
                authorId: "U0008", forwardedBy: "U0001", via: .shortcut, permalink: nil, text: "Dark mode please"),
            at: clock.now(), responseURL: nil)
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        try await world.drain()

        let items = try await world.store.listFeedback(
            clientID: world.clientID, filter: FeedbackFilter(), limit: 50, after: nil
        ).items
        let recovered = items.filter { $0.draft.slack?.recovered == true }
        #expect(Set(recovered.compactMap(\.draft.comment)) == ["Export to CSV times out", "Filter panel resets"])
        let export = try #require(recovered.first { $0.draft.comment == "Export to CSV times out" }?.draft.slack)
        #expect(export.forwardedBy == "U0003")  // the first member of the reaction who is not the bot
        #expect(export.capturedVia == .reaction("wrench"))
        #expect(export.authorId == "U0002")
        #expect(export.permalink != nil)
        let reply = try #require(recovered.first { $0.draft.comment == "Filter panel resets" }?.draft.slack)
        #expect(reply.threadTs == Self.ts(now - 600_000 + 5_000))
        #expect(reply.capturedVia == .reaction("pushpin"))
        #expect(items.count == 3)  // the two recovered and the earlier shortcut, nothing else
        // The audit says what the sweep covered, in counts
        let entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.kind == "slack_recovery")
        #expect(entry.counts["channelsRead"] == 2)
        #expect(entry.counts["captured"] == 2)
        #expect(entry.counts["pagesRead"] == 4)
        #expect(entry.counts["windowStartEpochSeconds"] == Int((now - 3_600_000) / 1000))
        #expect(entry.counts["partial"] == 0)
        #expect(entry.dueAt == dateFromEpochMillis(now - 3_600_000))
        // Idempotent: the same sweep again stores nothing new
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        try await world.drain()
        #expect(try await world.store.listFeedback(clientID: world.clientID, filter: FeedbackFilter(), limit: 50, after: nil).items.count == 3)
    }

    @Test func aSweepCountsAReactionOnlyOnAMessagePostedWhileItsEmojiCaptured() throws {
        let installedAt: Int64 = 1_800_000_000_000
        var installation = Installation(
            teamId: Self.team, clientId: "c1", enterpriseId: nil, teamName: nil, botUserId: "U0009", botId: nil,
            appId: nil, scopes: "", installerUserId: nil, tokenEnvelope: nil, tokenKeyId: nil, installedAt: installedAt)
        // An hour after the install the workspace adds :bug: and keeps :wrench:; :pushpin: stops capturing
        let changedAt = installedAt + 3_600_000
        installation = installation.applying(SlackSettingsChange(triggerEmoji: ["wrench", "bug"]), at: changedAt)
        #expect(installation.triggerEmojiAddedAt == ["bug": changedAt])
        func message(_ postedAt: Int64, _ emoji: String...) -> Message {
            Message(
                ts: Self.ts(postedAt), user: "U0002", text: "posted at \(postedAt)",
                reactions: emoji.map { Message.Reaction(name: $0, users: ["U0003"]) })
        }
        let page = [
            message(installedAt - 60_000, "wrench"),  // before the install: not a forward to usero
            message(installedAt + 60_000, "wrench"),
            message(installedAt + 60_000 + 1, "bug"),  // before :bug: captured
            message(installedAt + 60_000 + 2, "bug", "wrench"),  // :wrench: captured then
            message(changedAt + 60_000, "bug"),
            message(changedAt + 60_000 + 1, "pushpin"),  // no longer a trigger
        ]
        let captured = SlackRecoveryRules.captures(
            in: page, channel: "C0001", installation: installation, window: (installedAt - 86_400_000)...(changedAt + 86_400_000))
        #expect(captured.map(\.text) == [
            "posted at \(installedAt + 60_000)", "posted at \(installedAt + 60_000 + 2)", "posted at \(changedAt + 60_000)",
        ])
        #expect(captured.map(\.via) == [.reaction("wrench"), .reaction("wrench"), .reaction("bug")])

        // Choosing :pushpin: again later starts it anew; :bug: and :wrench: keep their instants
        let later = changedAt + 7_200_000
        let again = installation.applying(SlackSettingsChange(triggerEmoji: ["bug", "pushpin", "wrench"]), at: later)
        #expect(again.triggerEmojiAddedAt == ["bug": changedAt, "pushpin": later])
        #expect(!again.forwards(reaction: "pushpin", onMessagePostedAt: later - 1))
        #expect(again.forwards(reaction: "pushpin", onMessagePostedAt: later))
        #expect(again.forwards(reaction: "wrench", onMessagePostedAt: installedAt))
        // A change of the channel alone leaves the emoji as they were
        #expect(again.applying(SlackSettingsChange(notifyChannel: .some("C0777")), at: later + 1).triggerEmojiAddedAt
            == again.triggerEmojiAddedAt)
        // The stored form reads back, and a damaged one is refused
        #expect(again.storedTriggerEmojiAddedAt == "bug=\(changedAt),pushpin=\(later)")
        #expect(Installation.triggerEmojiAddedAt(stored: try #require(again.storedTriggerEmojiAddedAt))
            == again.triggerEmojiAddedAt)
        #expect(Installation.triggerEmojiAddedAt(stored: "bug=soon") == nil)
        #expect(Installation.triggerEmojiAddedAt(stored: "Bug=1") == nil)
    }

    /// The settings' stored columns read back the same for every store; a damaged column is named, not guessed at.
    @Test func storedSettingsReadBackAndADamagedColumnIsNamed() throws {
        var installation = Installation(
            teamId: "T0001", clientId: "c1", enterpriseId: nil, teamName: nil, botUserId: "U0BOT", botId: nil,
            appId: nil, scopes: "reactions:read", installerUserId: nil, tokenEnvelope: nil, tokenKeyId: nil,
            installedAt: 1_800_000_000_000)
        try installation.restoreSettings(
            triggerEmoji: "bug,wrench", triggerEmojiAddedAt: "bug=1800000060000", notifyChannel: "C0777",
            notifyError: "not_in_channel", notifyErrorAt: 1_800_000_120_000)
        #expect(installation.settings.triggerEmoji == ["bug", "wrench"])
        #expect(installation.settings.notifyChannel == "C0777")
        #expect(installation.triggerEmojiAddedAt == ["bug": 1_800_000_060_000])
        #expect(installation.notifyProblem == NotifyProblem(channel: "C0777", code: "not_in_channel", at: 1_800_000_120_000))

        // Nothing stored: the defaults, and an error without a channel is no problem to show
        try installation.restoreSettings(
            triggerEmoji: nil, triggerEmojiAddedAt: nil, notifyChannel: nil, notifyError: "not_in_channel",
            notifyErrorAt: 1)
        #expect(installation.settings == SlackSettings())
        #expect(installation.triggerEmojiAddedAt.isEmpty)
        #expect(installation.notifyProblem == nil)

        for (emoji, addedAt, column) in [
            ("Wrench!", nil, "trigger_emoji"), ("wrench", "wrench=soon", "trigger_emoji_added_at"),
        ] {
            let error = #expect(throws: Installation.UndecodableColumn.self) {
                try installation.restoreSettings(
                    triggerEmoji: emoji, triggerEmojiAddedAt: addedAt, notifyChannel: nil, notifyError: nil,
                    notifyErrorAt: nil)
            }
            #expect(error?.name == column)
        }
    }

    /// Client `c1`'s installation in `team`, made at `installedAt`, its bot `U0009`.
    static func installationOfC1(at installedAt: Int64) -> Installation {
        Installation(
            teamId: team, clientId: "c1", enterpriseId: nil, teamName: nil, botUserId: "U0009", botId: nil,
            appId: nil, scopes: "", installerUserId: nil, tokenEnvelope: nil, tokenKeyId: nil, installedAt: installedAt)
    }

    /// Who forwarded a recovered message: every member who reacted with a trigger emoji, in Slack's order, the bot
    /// and repeats left out; after an erasure, the first of them not erased since the message was posted.
    @Test func aSweepKnowsEveryForwarderAndPassesOverOneErasedSinceThePost() throws {
        let installedAt: Int64 = 1_800_000_000_000
        let installation = Self.installationOfC1(at: installedAt)
        let posted = installedAt + 60_000
        let page = [
            Message(
                ts: Self.ts(posted), user: "U0002", text: "Export times out",
                reactions: [
                    Message.Reaction(name: "eyes", users: ["U0005"]),
                    Message.Reaction(name: "wrench", users: ["U0009", "U0032"]),
                    Message.Reaction(name: "pushpin", users: ["U0032", "U0004"]),
                ])
        ]
        let found = SlackRecoveryRules.captures(
            in: page, channel: "C0001", installation: installation, window: installedAt...(posted + 60_000))
        let captured = try #require(found.only)
        #expect(captured.forwardedBy == "U0032")
        #expect(captured.otherForwarders == [.init(member: "U0004", emoji: "pushpin")])
        #expect(captured.via == .reaction("wrench"))

        func key(_ member: String, client: String = "c1") -> String { ErasedMembers.key(clientID: client, member: member) }
        func forwarder(_ erasedAt: [String: Int64]) -> String?? {
            ErasedMembers.recoverable(captured, clientID: "c1", erasedAt: erasedAt).map(\.forwardedBy)
        }
        #expect(forwarder([:]) == "U0032")
        #expect(forwarder([key("U0032"): posted + 1]) == "U0004")
        // Stored as forwarded the way that member forwarded it
        #expect(ErasedMembers.recoverable(captured, clientID: "c1", erasedAt: [key("U0032"): posted])?.via
            == .reaction("pushpin"))
        #expect(ErasedMembers.recoverable(captured, clientID: "c1", erasedAt: [:])?.via == .reaction("wrench"))
        #expect(forwarder([key("U0032"): posted]) == "U0004")
        #expect(forwarder([key("U0032"): posted, key("U0004"): posted + 5]) == .none)  // each forward was erased
        #expect(forwarder([key("U0032"): posted - 1]) == "U0032")  // erased before the post: a new forward
        #expect(forwarder([key("U0032", client: "c2"): posted + 1]) == "U0032")  // another client's member
        #expect(forwarder([key("U0002"): posted]) == .none)  // the author was erased
        #expect(ErasedMembers.recoverable(captured, clientID: "c1", erasedAt: [key("U0032"): posted])?.otherForwarders == [])
    }

    /// A message many members reacted to keeps the first 21 of them (Slack's order, repeats once): enough to
    /// pass over erased ones, bounded however many reacted.
    @Test func aSweepKeepsTwentyOneForwardersOfAMessageManyReactedTo() throws {
        let installedAt: Int64 = 1_800_000_000_000
        let installation = Self.installationOfC1(at: installedAt)
        let posted = installedAt + 60_000
        let wrench = (1...15).map { "UW\($0)" }
        let pushpin = ["UW3"] + (1...15).map { "UP\($0)" }
        let page = [
            Message(
                ts: Self.ts(posted), user: "U0002", text: "Export times out",
                reactions: [
                    Message.Reaction(name: "wrench", users: wrench), Message.Reaction(name: "pushpin", users: pushpin),
                ])
        ]
        let found = SlackRecoveryRules.captures(
            in: page, channel: "C0001", installation: installation, window: installedAt...(posted + 60_000))
        let captured = try #require(found.only)
        #expect(captured.forwardedBy == "UW1")
        let expected = Array(wrench.dropFirst()).map { CapturedMessage.Forwarder(member: $0, emoji: "wrench") }
            + (1...6).map { CapturedMessage.Forwarder(member: "UP\($0)", emoji: "pushpin") }
        #expect(captured.otherForwarders == expected)
    }

    /// A sweep over one channel whose one page holds three messages forwarded with :wrench:, while
    /// `chat.getPermalink` fails once with `failure`: the permalink calls made, and the captured rows' links.
    static func sweepThreeMessages(permalinkFailingWith failure: SlackAPIError) async throws
        -> (permalinkCalls: Int, links: [String?])
    {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock)
        let now = epochMillis(clock.now())
        world.api.setChannels([nil: ChannelPage(channels: ["C0001"], nextCursor: nil)])
        world.api.setHistory("C0001", [
            nil: MessagePage(
                messages: (0..<3).map { index in
                    Message(ts: Self.ts(now - 600_000 + Int64(index) * 1_000), user: "U0002", text: "message \(index)",
                        reactions: [.init(name: "wrench", users: ["U0003"])])
                }, nextCursor: nil),
        ])
        world.api.fail("chat.getPermalink", with: failure)
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        try await world.drain()
        let links = try await world.store.listFeedback(
            clientID: world.clientID, filter: FeedbackFilter(), limit: 50, after: nil
        ).items.compactMap(\.draft.slack).map(\.permalink)
        return (world.api.calls("chat.getPermalink").count, links)
    }

    /// A token revoked while a step read its page (the workspace uninstalled), or Slack limiting or down: the first
    /// failed `chat.getPermalink` is the last of the step, and the page's captures are stored without links.
    @Test(arguments: [SlackAPIError.slack(code: "token_revoked"), .rateLimited(retryAfter: 30), .unreachable])
    func aPermalinkThatFailsForEveryMessageIsAskedOncePerStep(failure: SlackAPIError) async throws {
        let (calls, links) = try await Self.sweepThreeMessages(permalinkFailingWith: failure)
        #expect(calls == 1)
        #expect(links.count == 3)
        #expect(links.allSatisfy { $0 == nil })
    }

    /// A message of its own that has no link (deleted meanwhile) does not cost the others theirs.
    @Test func aPermalinkOneMessageLacksLeavesTheOthersTheirs() async throws {
        let (calls, links) = try await Self.sweepThreeMessages(permalinkFailingWith: .slack(code: "message_not_found"))
        #expect(calls == 3)
        #expect(links.count == 3)
        #expect(links.filter { $0 == nil }.count == 1)
    }

    @Test func aSweepWaitsOut429sWithoutHoldingLiveCapturesAndResumesWhereItStopped() async throws {
        let (world, clock, now) = try await Self.scriptedWorld()
        // conversations.history is limited hard: three 429s asking for a minute each
        world.api.fail("conversations.history", with: .rateLimited(retryAfter: 60), .rateLimited(retryAfter: 60), .rateLimited(retryAfter: 60))
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        // The sweep lists the channels, then meets the first 429
        await Self.runSteps(world, clock) { !world.api.calls("conversations.history").isEmpty }
        #expect(world.api.calls("conversations.history").count == 1)
        let waiting = try #require(world.store.jobs.first { $0.kind == .recover })
        #expect(waiting.runAt >= epochMillis(clock.now()) + 55_000)
        // A live capture meanwhile runs at once: recovery has its own lane
        _ = try await world.ingest.receiveEvent(world.reaction("wrench", event: "EvLive"))
        await world.worker.runDueJobs()
        #expect(!world.store.jobs.contains { $0.kind == .captureReaction })
        let took = try await world.drain()
        #expect(took >= 120)  // it waited the minutes Slack asked for
        let history = world.api.calls("conversations.history")
        // Three refused, then each page once: resumed, not restarted
        #expect(history.count == 3 + 3)
        #expect(history.filter { $0.channel == "C0001" && $0.cursor == nil }.count == 4)
        let recovered = try await world.store.listFeedback(
            clientID: world.clientID, filter: FeedbackFilter(), limit: 50, after: nil
        ).items.filter { $0.draft.slack?.recovered == true }
        #expect(recovered.count == 3)
        let entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.counts["captured"] == 3)
    }

    @Test func aChannelSlackRefusesIsSkippedAndAMissingScopeStopsTheSweepOnRecord() async throws {
        let (world, clock, now) = try await Self.scriptedWorld()
        world.api.fail("conversations.history", with: .slack(code: "not_in_channel"))
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        try await world.drain()
        var entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.counts["channelsSkipped"] == 1)
        #expect(entry.counts["channelsRead"] == 1)
        #expect(entry.counts["partial"] == 1)

        world.api.fail("users.conversations", with: .slack(code: "missing_scope"))
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        try await world.drain()
        entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.counts["stopped:missing_scope"] == 1)
        #expect(world.store.jobs.isEmpty)
    }

    /// A sweep that cannot go on (the token revoked meanwhile, or Slack out of reach through every retry) still
    /// leaves its audit entry, saying why it stopped: the admin sees the recovery was partial, not that none ran.
    @Test(arguments: [
        ([SlackAPIError.slack(code: "token_revoked")], "stopped:token_revoked"),
        (Array(repeating: SlackAPIError.unreachable, count: 8), "stopped:unreachable"),
    ])
    func aSweepThatCannotGoOnIsStillOnRecord(failures: [SlackAPIError], stopped: String) async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock)
        let now = epochMillis(clock.now())
        for failure in failures { world.api.fail("users.conversations", with: failure) }
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        try await world.drain()
        #expect(world.store.jobs.isEmpty)
        let entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.kind == "slack_recovery")
        #expect(entry.counts[stopped] == 1)
        #expect(entry.counts["partial"] == 1)
    }

    /// A thread whose replies Slack pages is read to its last page: a trigger reaction on a reply of the second page
    /// is recovered too.
    @Test func aSweepReadsEveryPageOfAThreadsReplies() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock)
        let now = epochMillis(clock.now())
        let parent = Self.ts(now - 600_000)
        world.api.setChannels([nil: ChannelPage(channels: ["C0001"], nextCursor: nil)])
        world.api.setHistory("C0001", [
            nil: MessagePage(messages: [Message(ts: parent, user: "U0005", text: "Thread parent", replyCount: 2)], nextCursor: nil)
        ])
        world.api.setReplies("C0001", ts: parent, [
            nil: MessagePage(
                messages: [
                    Message(ts: parent, user: "U0005", text: "Thread parent", replyCount: 2),
                    Message(ts: Self.ts(now - 590_000), threadTs: parent, user: "U0006", text: "First page reply",
                            reactions: [.init(name: "pushpin", users: ["U0007"])]),
                ], nextCursor: "replies2"),
            "replies2": MessagePage(
                messages: [
                    Message(ts: Self.ts(now - 580_000), threadTs: parent, user: "U0006", text: "Second page reply",
                            reactions: [.init(name: "wrench", users: ["U0007"])])
                ], nextCursor: nil),
        ])
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        try await world.drain()
        let recovered = try await world.store.listFeedback(
            clientID: world.clientID, filter: FeedbackFilter(), limit: 50, after: nil
        ).items.compactMap(\.draft.comment)
        #expect(Set(recovered) == ["First page reply", "Second page reply"])
        #expect(world.api.calls("conversations.replies").map(\.cursor) == [nil, "replies2"])
    }

    /// One sweep reads at most 1,000 channels however Slack pages the list: past that, channels are counted as
    /// omitted and the audit says the sweep was partial.
    @Test func aSweepReadsAtMostAThousandChannelsAcrossListPagesAndSaysItOmittedTheRest() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock)
        let now = epochMillis(clock.now())
        let ids = (1...1_005).map { "C\(String(100_000 + $0))" }
        world.api.setChannels([
            nil: ChannelPage(channels: Array(ids.prefix(600)), nextCursor: "more"),
            "more": ChannelPage(channels: Array(ids.dropFirst(600)), nextCursor: nil),
        ])
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        await Self.runSteps(world, clock) { world.api.calls("users.conversations").count >= 2 }
        guard let sweep = Self.queuedSweep(world) else { return }
        #expect(sweep.listed)
        #expect(sweep.channels == Array(ids.prefix(1_000)))
        #expect(sweep.channelsOmitted == 5)
        let counts = SlackRecoveryRules.auditCounts(sweep)
        #expect(counts["channelsOmitted"] == 5)
        #expect(counts["partial"] == 1)
    }

    /// A history page is read for its first 1,000 messages (Slack's pages hold fewer): a page claiming more
    /// leaves the sweep with at most 1,000 threads to follow, the page's first.
    @Test func aSweepFollowsAtMostAThousandThreadsOfAHistoryPage() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock)
        let now = epochMillis(clock.now())
        let parents = (1...1_005).map { Self.ts(now - 3_000_000 + Int64($0) * 1_000) }
        world.api.setChannels([nil: ChannelPage(channels: ["C0001"], nextCursor: nil)])
        world.api.setHistory("C0001", [
            nil: MessagePage(
                messages: parents.map { Message(ts: $0, user: "U0005", text: "Thread parent", replyCount: 1) },
                nextCursor: nil)
        ])
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        await Self.runSteps(world, clock) { !world.api.calls("conversations.history").isEmpty }
        guard let sweep = Self.queuedSweep(world) else { return }
        #expect(sweep.historyDone)
        #expect(sweep.threads == Array(parents.prefix(1_000)))
    }

    /// A `since` a few seconds ahead of the service's clock (the admin's clock is not the server's) is taken as
    /// "now", never as a window that ends before it starts (a sweep over it would stop the process at its first read).
    @Test func aRecoverySinceSecondsAheadOfTheClockSweepsFromNow() async throws {
        let (world, clock, now) = try await Self.scriptedWorld()
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now + 30_000)
        guard let sweep = Self.queuedSweep(world) else { return }
        #expect(sweep.since == now)
        try #require(sweep.since <= sweep.until)
        try await world.drain()
        let entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.counts["channelsRead"] == 2)
    }

    /// A sweep whose window ends before it starts (no path of usero writes one; a row from elsewhere could) reads
    /// nothing and is on record, where it used to trap on the range and take the whole service down.
    @Test func aSweepWhoseWindowEndsBeforeItStartsReadsNothingAndEnds() async throws {
        let (world, _, now) = try await Self.scriptedWorld()
        try await world.store.enqueue(
            NewSlackJob(
                clientId: world.clientID, teamId: Self.team,
                work: .recover(RecoverJob(trigger: "manual", since: now, until: now - 3_600_000)), runAt: now))
        try await world.drain()
        #expect(world.store.jobs.isEmpty)
        #expect(try await world.store.listFeedback(clientID: world.clientID, filter: FeedbackFilter(), limit: 5, after: nil)
            .items.isEmpty)
        let entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.kind == "slack_recovery")
        #expect(entry.counts["captured"] == 0)
    }

    /// A Slack (or a wrong `SLACK_API_URL`) answering every page of the channel list with another cursor and no
    /// channel kept a sweep listing for ever, a call a step (found by a review): the list stops after
    /// `maxListPages`, the channels listed are read, and the audit entry says the sweep stopped short.
    @Test func aChannelListThatNeverEndsStopsAtItsPageBudget() async throws {
        let (world, clock, now) = try await Self.scriptedWorld()
        world.api.setChannels([
            nil: ChannelPage(channels: ["C0001"], nextCursor: "again"),
            "again": ChannelPage(channels: ["not a channel"], nextCursor: "again"),
        ])
        try await SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
            .recover(clientID: world.clientID, since: now - 3_600_000)
        try await world.drain()
        #expect(world.store.jobs.isEmpty)
        #expect(world.api.calls("users.conversations").count == SlackRecoveryRules.maxListPages)
        let entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.counts["stopped:page_budget"] == 1)
        #expect(entry.counts["partial"] == 1)
        #expect(entry.counts["channelsRead"] == 1)
        #expect(entry.counts["captured"] == 2)  // C0001's message reacted with :wrench:, and its thread's reply
    }

    /// History that never ends (every page another cursor) stops at the sweep's page budget: the channels left are
    /// counted as omitted and the entry says why.
    @Test func historyThatNeverEndsStopsAtTheSweepsPageBudget() async throws {
        let (world, _, now) = try await Self.scriptedWorld()
        world.api.setHistory("C0001", [
            nil: MessagePage(messages: [], nextCursor: "again"), "again": MessagePage(messages: [], nextCursor: "again"),
        ])
        var sweep = RecoverJob(trigger: "manual", since: now - 3_600_000, until: now)
        sweep.listed = true
        sweep.channels = ["C0001", "C0002"]
        sweep.pagesRead = SlackRecoveryRules.maxPages - 3
        try await world.store.enqueue(
            NewSlackJob(clientId: world.clientID, teamId: Self.team, work: .recover(sweep), runAt: now))
        try await world.drain()
        #expect(world.store.jobs.isEmpty)
        #expect(world.api.calls("conversations.history").count == 3)
        let entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.counts["stopped:page_budget"] == 1)
        #expect(entry.counts["channelsOmitted"] == 2)
        #expect(entry.counts["pagesRead"] == SlackRecoveryRules.maxPages)
    }

    /// A channel read to its end with the sweep's last page counts as read, not omitted.
    @Test func aChannelReadToItsEndWithTheLastPageOfTheBudgetIsRead() async throws {
        let (world, _, now) = try await Self.scriptedWorld()
        var sweep = RecoverJob(trigger: "manual", since: now - 3_600_000, until: now)
        sweep.listed = true
        sweep.channels = ["C0002"]
        sweep.pagesRead = SlackRecoveryRules.maxPages - 1
        try await world.store.enqueue(
            NewSlackJob(clientId: world.clientID, teamId: Self.team, work: .recover(sweep), runAt: now))
        try await world.drain()
        let entry = try #require(try await world.store.auditEntries(clientID: world.clientID, limit: 10).first)
        #expect(entry.counts["channelsRead"] == 1)
        #expect(entry.counts["channelsOmitted"] == 0)
        #expect(entry.counts["stopped:page_budget"] == 0)
        #expect(entry.counts["captured"] == 1)
    }

    /// Seven requests in a row were seven sweeps reading every channel side by side, at seven times Slack's pace,
    /// with seven audit entries. A request that a sweep queued and not started covers (as far back, asked for within
    /// the last minute) joins it; one reaching further back, a minute later, or after that sweep began to read (it
    /// may have passed a channel already), is a sweep of its own.
    @Test func aRecoveryRequestAQueuedSweepCoversJoinsIt() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock)
        let now = epochMillis(clock.now())
        let workspace = SlackWorkspace(store: world.store, clock: clock, wakeup: nil)
        func sweeps() -> [RecoverJob] {
            world.store.jobs.compactMap { if case .recover(let sweep) = $0.work { sweep } else { nil } }
        }
        for _ in 0..<7 { try await workspace.recover(clientID: world.clientID, since: now - 3_600_000) }
        #expect(sweeps().count == 1)
        clock.advance(by: 30)
        try await workspace.recover(clientID: world.clientID, since: now - 1_800_000)
        #expect(sweeps().count == 1)
        try await workspace.recover(clientID: world.clientID, since: now - 7_200_000)
        #expect(sweeps().count == 2)
        clock.advance(by: 61)
        try await workspace.recover(clientID: world.clientID, since: now - 1_800_000)
        #expect(sweeps().count == 3)
        #expect(sweeps().map(\.since).sorted() == [now - 7_200_000, now - 3_600_000, now - 1_800_000])

        // Once the sweeps have begun to read, a request is a sweep of its own.
        Self.scriptChannel(world.api, around: now)
        await world.worker.runDueJobs()
        let started = sweeps().filter(\.hasStarted).count
        #expect(started > 0)
        let before = sweeps().count
        try await workspace.recover(clientID: world.clientID, since: now - 7_200_000)
        #expect(sweeps().count == before + 1)
    }

    @Test func aStartAfterDowntimeQueuesOneSweepOfTheGapAtMost24HoursBack() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let world = try await World(clock: clock)
        let t0 = epochMillis(clock.now())
        #expect(try await world.store.heartbeat(at: t0) == 0)  // first start ever: nothing to recover
        #expect(try await world.store.heartbeat(at: t0 + 30_000) == 0)  // running
        #expect(try await world.store.heartbeat(at: t0 + 60_000) == 0)  // a quick restart: Slack's retries cover it
        #expect(try await world.store.heartbeat(at: t0 + 660_000) == 1)  // down ten minutes
        #expect(try await world.store.heartbeat(at: t0 + 661_000) == 0)  // a second instance starting: once only
        guard case .recover(let sweep)? = world.store.jobs.first?.work else {
            Issue.record("expected a sweep")
            return
        }
        #expect(sweep.trigger == "startup")
        #expect(sweep.since == t0 + 60_000 - SlackRecoveryRules.margin)
        #expect(sweep.until == t0 + 660_000)
        let late = try #require(SlackRecoveryRules.afterDowntime(lastAlive: t0, now: t0 + 3 * 86_400_000))
        #expect(late.since == t0 + 2 * 86_400_000)
    }

    @Test func manualSweepsDefaultToTheLastEventSeenAndLookAtMostSevenDaysBack() throws {
        let now: Int64 = 1_800_000_000_000
        var installation = Installation(
            teamId: "T1", clientId: "c", enterpriseId: nil, teamName: nil, botUserId: nil, botId: nil, appId: nil,
            scopes: "", installerUserId: nil, tokenEnvelope: nil, tokenKeyId: nil, installedAt: now - 30 * 86_400_000)
        #expect(try SlackRecoveryRules.manual(since: nil, installation: installation, now: now).since == now - 7 * 86_400_000)
        installation.lastEventAt = now - 3_600_000
        #expect(try SlackRecoveryRules.manual(since: nil, installation: installation, now: now).since == now - 3_600_000)
        #expect(try SlackRecoveryRules.manual(since: now - 60_000, installation: installation, now: now).since == now - 60_000)
        #expect(throws: FeedbackError.self) {
            try SlackRecoveryRules.manual(since: now + 3_600_000, installation: installation, now: now)
        }
        #expect(SlackRecoveryRules.millis(ofTs: SlackRecoveryRules.slackTs(1_700_000_000_123)) == 1_700_000_000_123)
        #expect(SlackRecoveryRules.millis(ofTs: "1700000000.000100") == 1_700_000_000_000)
        #expect(SlackRecoveryRules.millis(ofTs: "abc.def") == nil)
        #expect(SlackRecoveryRules.millis(ofTs: "1e9.5") == nil)
    }

    // MARK: App Home

    @Test func openingTheHomeTabPublishesTheWorkspacesEmojiAndThisWeeksCaptures() async throws {
        let world = try await World(settings: SlackSettings(triggerEmoji: ["bug", "eyes"]))
        for ts in ["1.1", "1.2"] {
            _ = try await world.store.captureForward(
                CapturedMessage(
                    teamId: Self.team, channelId: "C1", messageTs: ts, threadTs: nil, authorId: nil, forwardedBy: "U1",
                    via: .shortcut, permalink: nil, text: "x"),
                at: world.clock.now(), responseURL: nil)
        }
        let event = #"""
            {"type":"event_callback","team_id":"T0001","event_id":"EvHome","event":{"type":"app_home_opened",
            "user":"U0001","channel":"D0001","tab":"home","event_ts":"1.0"}}
            """#
        _ = try await world.ingest.receiveEvent(Array(event.utf8))
        _ = try await world.ingest.receiveEvent(Array(event.utf8))  // Slack's retry: one view
        _ = try await world.ingest.receiveEvent(Array(event.replacingOccurrences(of: "\"home\"", with: "\"messages\"").replacingOccurrences(of: "EvHome", with: "EvMsg").utf8))
        try await world.drain()
        let published = world.api.calls("views.publish")
        #expect(published.count == 1)
        #expect(published.first?.user == "U0001")
        let view = try #require(published.first?.json)
        #expect(view.contains(#""type":"home""#))
        #expect(view.contains(":bug: or :eyes:"))
        #expect(!view.contains(":wrench:"))
        #expect(view.contains("Send to usero"))
        #expect(view.contains("/usero"))
        #expect(view.contains("2 messages captured"))
        #expect(view.contains("<https://usero.example.com/inbox|Open the feedback inbox>"))
    }

    /// "This week" on the Home tab counts the captures of the last seven days: those of three and six days ago
    /// with today's, not one of eight days ago.
    @Test func theHomeTabCountsTheCapturesOfTheLastSevenDays() async throws {
        let world = try await World()
        for (index, daysAgo) in [0.0, 3, 6, 8].enumerated() {
            _ = try await world.store.captureForward(
                CapturedMessage(
                    teamId: Self.team, channelId: "C1", messageTs: "1.\(index)", threadTs: nil, authorId: nil,
                    forwardedBy: "U1", via: .shortcut, permalink: nil, text: "x"),
                at: world.clock.now().addingTimeInterval(-daysAgo * 86_400), responseURL: nil)
        }
        try await world.store.enqueue(
            NewSlackJob(
                clientId: world.clientID, teamId: Self.team, work: .publishHome(PublishHomeJob(user: "U0001")),
                runAt: epochMillis(world.clock.now())))
        try await world.drain()
        let view = try #require(world.api.calls("views.publish").only?.json)
        #expect(view.contains("3 messages captured"), "\(view)")
    }
}
