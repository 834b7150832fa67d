import Feedback
import Foundation
@testable import SlackGateway
import Testing
import UseroTestSupport

/// What the Events API, the shortcut and `/usero` leave in the store, on the in-memory store with the fixtures.
@Suite struct SlackIngestTests {
    static let messageTs = "1700000000.000100"

    // MARK: Reactions

    @Test func aTriggerReactionEnqueuesOneCaptureJobAndWakesTheWorker() async throws {
        let world = try await SlackWorld()

        let reply = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))

        #expect(reply == .acknowledged)
        let job = try #require(world.jobs.only)
        #expect(job.work == .captureReaction(CaptureReactionJob(channel: "C0001", ts: Self.messageTs, user: "U0001", via: "reaction:wrench")))
        #expect(job.teamId == "T0001")
        #expect(job.clientId == world.clientID)
        #expect(job.runAt == world.nowMillis)
        #expect(world.items.isEmpty)
        #expect(world.wakeup.hasPendingSignal)
    }

    @Test func aRetryWithTheSameEventIdEnqueuesNothingMore() async throws {
        let world = try await SlackWorld()
        let body = try Fixtures.bytes("event_reaction_added_wrench.json")

        _ = try await world.ingest.receiveEvent(body)
        _ = try await world.ingest.receiveEvent(body)

        #expect(world.jobs.count == 1)
        #expect(world.seenEvents == ["Ev0001"])
    }

    @Test func theSameReactionUnderANewEventIdIsANewForward() async throws {
        let world = try await SlackWorld()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))
        _ = try await world.ingest.receiveEvent(
            try Fixtures.event("event_reaction_added_wrench.json", top: ["event_id": "Ev0002"]))
        #expect(world.jobs.count == 2)
    }

    /// Events that must leave no trace: no job, no row, no remembered event id.
    static let ignored: [(String, String, [String: String])] = [
        ("the bot's own reaction", "event_reaction_added_wrench.json", ["user": SlackWorld.botUser]),
        ("a reaction by the bot id", "event_reaction_added_wrench.json", ["user": "U0005", "bot_id": SlackWorld.botId]),
        ("another emoji", "event_reaction_added_other_emoji.json", [:]),
        ("a message", "event_message_channels.json", [:]),
        ("the app's own message", "event_message_app_bot_no_subtype.json", [:]),
    ]

    @Test(arguments: 0..<SlackIngestTests.ignored.count)
    func eventsThatAreNotForwardsEnqueueAndStoreNothing(index: Int) async throws {
        let (what, fixture, edit) = Self.ignored[index]
        let world = try await SlackWorld()

        let reply = try await world.ingest.receiveEvent(try Fixtures.event(fixture, event: edit))

        #expect(reply == .acknowledged, "\(what)")
        #expect(world.jobs.isEmpty, "\(what)")
        #expect(world.items.isEmpty, "\(what)")
        #expect(world.seenEvents.isEmpty, "\(what)")
        #expect(!world.wakeup.hasPendingSignal, "\(what)")
    }

    @Test func aTombstonedWorkspaceEnqueuesAndStoresNothing() async throws {
        let world = try await SlackWorld()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_app_uninstalled.json"))
        let afterUninstall = world.jobs

        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))

        #expect(world.jobs == afterUninstall)
        #expect(world.items.isEmpty)
        #expect(!world.seenEvents.contains("Ev0001"))
    }

    @Test func anAlreadyCapturedMessageEnqueuesOnlyTheNotice() async throws {
        let world = try await SlackWorld()
        try await world.storeCaptured(ts: Self.messageTs)

        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))

        let job = try #require(world.jobs.only)
        #expect(job.work == .notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "already_captured")))
        #expect(world.items.count == 1)
    }

    @Test func aRevokedTokenEnqueuesNothing() async throws {
        let world = try await SlackWorld()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_tokens_revoked.json"))
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))
        #expect(world.jobs.isEmpty)
    }

    // MARK: Uninstall

    @Test func appUninstalledDeletesTheInstallationTombstonesDropsPendingSlackJobsAndEnqueuesTheScrub() async throws {
        // Given T0001 with pending Slack work, a revoke waiting, and another workspace with its own capture
        let world = try await SlackWorld()
        let other = try await world.store.createClient(name: "Other", plan: .free, allowedOrigins: [], at: SlackWorld.now).0.id
        try await world.install(team: "T0002", clientID: other, botUser: "U0109", botId: "B0101")
        let capture = SlackJob.Work.captureReaction(CaptureReactionJob(channel: "C0001", ts: "1.1", user: "U0001", via: "reaction:wrench"))
        try await world.store.enqueue(world.newJob(capture))
        try await world.store.enqueue(world.newJob(.notify(NotifyJob(channel: "C0001", user: "U0001", outcome: "captured"))))
        try await world.store.enqueue(world.newJob(.respond(RespondJob(responseURL: "https://hooks.slack.com/x", outcome: "captured", feedbackId: nil, channel: nil, ts: nil))))
        try await world.store.enqueue(world.newJob(capture, team: "T0002", clientID: other))

        // When Slack says the app was uninstalled from T0001 (event_time 1700001000)
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_app_uninstalled.json"))

        // Then its installation and token are gone, the workspace is tombstoned for its client
        #expect(try await world.store.activeInstallation(team: "T0001") == nil)
        #expect(try await world.store.installation(client: world.clientID) == nil)
        #expect(world.store.withState { $0.tombstones["T0001"] } == .some(.some(world.clientID)))
        #expect(try await world.store.activeInstallation(team: "T0002") != nil)
        // …its pending Slack calls are dropped, the other workspace's stay, and the scrub is queued with its deadline
        let remaining = world.jobs
        #expect(remaining.filter { $0.teamId == "T0001" }.map(\.kind) == [.uninstall])
        #expect(remaining.filter { $0.teamId == "T0002" }.map(\.work) == [capture])
        let scrub = try #require(remaining.first { $0.kind == .uninstall })
        #expect(scrub.work == .uninstall(UninstallJob(clientId: world.clientID)))
        #expect(scrub.clientId == nil)
        #expect(scrub.deadlineAt == Int64(1_700_001_000_000 + 60_000))
        #expect(scrub.runAt == world.nowMillis)
        #expect(world.wakeup.hasPendingSignal)

        // And a retry of the same event changes nothing
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_app_uninstalled.json"))
        #expect(world.jobs == remaining)
    }

    @Test(arguments: [Int64.max, Int64.min, -1, 0, 1_700_004_605] as [Int64])
    func anEventTimeOutOfRangeDoesNotCrashAndTheDeadlineCountsFromNow(eventTime: Int64) async throws {
        let world = try await SlackWorld()
        _ = try await world.ingest.receiveEvent(
            try Fixtures.event("event_app_uninstalled.json", top: ["event_time": eventTime]))
        let scrub = try #require(world.jobs.first { $0.kind == .uninstall })
        #expect(scrub.deadlineAt == world.nowMillis + 60_000)
    }

    @Test(arguments: ["1e30", "99999999999999999999", "-99999999999999999999", "1700001000.5", "\"soon\""])
    func anEventTimeThatIsNoInt64StillUninstalls(eventTime: String) async throws {
        // Slack's numbers are bounded before use: an unreadable event_time must not turn the uninstall away, or
        // the token and the ids would stay.
        let world = try await SlackWorld()
        let text = String(decoding: try Fixtures.bytes("event_app_uninstalled.json"), as: UTF8.self)
            .replacingOccurrences(of: #""event_time": 1700001000"#, with: #""event_time": \#(eventTime)"#)
        #expect(text.contains(eventTime))

        _ = try await world.ingest.receiveEvent(Array(text.utf8))

        #expect(try await world.store.activeInstallation(team: "T0001") == nil)
        let scrub = try #require(world.jobs.first { $0.kind == .uninstall })
        #expect(scrub.deadlineAt == world.nowMillis + 60_000)
    }

    // MARK: tokens_revoked

    @Test func tokensRevokedForTheBotDropsTheToken() async throws {
        let world = try await SlackWorld()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_tokens_revoked.json"))
        let installation = try #require(try await world.store.activeInstallation(team: "T0001"))
        #expect(installation.tokenEnvelope == nil)
        #expect(installation.tokenKeyId == nil)
    }

    @Test func tokensRevokedForSomeoneElseKeepsTheToken() async throws {
        let world = try await SlackWorld()
        _ = try await world.ingest.receiveEvent(
            try Fixtures.event("event_tokens_revoked.json", event: ["tokens": ["oauth": ["U0001"], "bot": ["U0777"]]]))
        #expect(try await world.store.activeInstallation(team: "T0001")?.tokenEnvelope != nil)
        _ = try await world.ingest.receiveEvent(
            try Fixtures.event("event_tokens_revoked.json", top: ["event_id": "Ev0011"], event: ["tokens": ["oauth": ["U0009"]]]))
        #expect(try await world.store.activeInstallation(team: "T0001")?.tokenEnvelope != nil)
    }

    // MARK: /usero

    @Test func theSlashCommandCapturesItsTextOnce() async throws {
        let world = try await SlackWorld()

        let answer = try await world.ingest.receiveCommand(try Fixtures.bytes("slash_command_usero.txt"))

        #expect(answer == "Sent to usero :white_check_mark: Thanks for the feedback.")
        let item = try #require(world.items.only)
        #expect(item.clientId == world.clientID)
        #expect(item.createdAt == SlackWorld.now)
        #expect(item.draft.source == .slack)
        #expect(item.draft.comment == "Export to CSV is greyed out for viewers (50% of our team) – please fix")
        #expect(
            item.draft.slack
                == SlackCapture(
                    teamId: "T0001", channelId: "C0001", messageTs: nil, threadTs: nil, authorId: "U0001",
                    forwardedBy: "U0001", capturedVia: .command, permalink: nil))
        // The answer is the HTTP response itself: nothing is queued.
        #expect(world.jobs.isEmpty)
    }

    @Test func anEmptySlashCommandAnswersWithUsageAndStoresNothing() async throws {
        let world = try await SlackWorld()
        let answer = try await world.ingest.receiveCommand(try Fixtures.bytes("slash_command_usero_empty.txt"))
        #expect(answer == SlackIngest.usage)
        #expect(world.items.isEmpty)
    }

    @Test func theSlashCommandInAnUninstalledWorkspaceSaysSoAndStoresNothing() async throws {
        let world = try await SlackWorld()
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_app_uninstalled.json"))
        let answer = try await world.ingest.receiveCommand(try Fixtures.bytes("slash_command_usero.txt"))
        #expect(answer == ForwardOutcome.notInstalled.text)
        #expect(world.items.isEmpty)
    }

    // MARK: Shortcut

    @Test func theShortcutCapturesTheMessageAndEnqueuesTheResponse() async throws {
        let world = try await SlackWorld()

        try await world.ingest.receiveInteraction(try Fixtures.bytes("shortcut_message_action.body.txt"))

        let item = try #require(world.items.only)
        #expect(item.draft.comment == "Export to CSV times out")
        #expect(
            item.draft.slack
                == SlackCapture(
                    teamId: "T0001", channelId: "C0001", messageTs: Self.messageTs, threadTs: nil, authorId: "U0002",
                    forwardedBy: "U0001", capturedVia: .shortcut, permalink: nil))
        let job = try #require(world.jobs.only)
        #expect(
            job.work
                == .respond(
                    RespondJob(
                        responseURL: "https://hooks.slack.com/app/T0001/1234567890125/QwErTyUiOpAsDfGhJkLzXcVb",
                        outcome: "captured", feedbackId: item.id, channel: "C0001", ts: Self.messageTs,
                        user: "U0001")))
        #expect(world.wakeup.hasPendingSignal)

        // The same shortcut again: still one row, and the answer says it was there already.
        try await world.ingest.receiveInteraction(try Fixtures.bytes("shortcut_message_action.body.txt"))
        #expect(world.items.count == 1)
        guard case .respond(let again) = try #require(world.jobs.last).work else {
            Issue.record("expected a response job")
            return
        }
        #expect(again.outcome == "already_captured")
        #expect(again.feedbackId == item.id)
    }

    /// The shortcut fixture with its payload changed by `change`.
    static func shortcut(_ change: (inout [String: Any]) -> Void) throws -> [UInt8] {
        let body = String(decoding: try Fixtures.bytes("shortcut_message_action.body.txt"), as: UTF8.self)
        let json = try #require(body.dropFirst("payload=".count).replacingOccurrences(of: "+", with: " ").removingPercentEncoding)
        var payload = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        change(&payload)
        let changed = String(decoding: try JSONSerialization.data(withJSONObject: payload), as: UTF8.self)
        return Array(("payload=" + changed.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!).utf8)
    }

    /// A `response_url` no Slack sends (a NUL, a space, over 4,096 bytes) is not stored with the job: the shortcut is
    /// captured and answered by the app itself, as one without a `response_url` is, and its row gets its permalink
    /// (it stayed without one, found by a review).
    @Test func aShortcutWhoseResponseURLIsNoURLIsAnsweredByTheApp() async throws {
        for url in ["https://hooks.slack.com/a\u{0}b", "https://hooks.slack.com/a b",
                    "https://hooks.slack.com/" + String(repeating: "a", count: 4_100)] {
            let api = FakeSlackWebAPI()
            let world = try await SlackWorld(api: api)
            try await world.ingest.receiveInteraction(try Self.shortcut { $0["response_url"] = url })
            #expect(world.items.count == 1)
            let job = try #require(world.jobs.only)
            guard case .notify(let notice) = job.work else {
                Issue.record("expected the app's own answer, got \(job.work)")
                continue
            }
            #expect(notice.user == "U0001" && notice.outcome == "captured")
            // The member hears back, and the row gets its permalink as a shortcut's row answered through Slack does:
            // at the notice's first failure already, whether or not it ever reaches the member.
            api.fail("chat.postEphemeral", with: .http(status: 500))
            let claimed = try #require(try await world.claim(limit: 1).first)
            _ = await world.runner().run(claimed)
            #expect(api.calls("chat.postEphemeral").count == 1)
            #expect(world.items.only?.draft.slack?.permalink != nil)
        }
    }

    /// Slack's messages stop at 40,000 characters and its ids are short: a signed payload claiming more is cut to
    /// the comment limit (text) or refused (ids), never stored unbounded.
    @Test func aShortcutsTextIsCutToTheCommentLimitAndOverlongIdsAreRefused() async throws {
        let world = try await SlackWorld()
        let long = String(repeating: "é", count: 800_000)
        try await world.ingest.receiveInteraction(
            try Self.shortcut { payload in
                var message = payload["message"] as! [String: Any]
                message["text"] = long
                payload["message"] = message
            })
        let item = try #require(world.items.only)
        #expect(item.draft.comment?.unicodeScalars.count == SubmissionParser.maxCommentCharacters)

        for (key, value) in [("channel", ["id": String(repeating: "C", count: 5_000)]), ("user", ["id": String(repeating: "U", count: 100_000)])] {
            await #expect(throws: SlackGatewayError.malformedPayload) {
                try await world.ingest.receiveInteraction(try Self.shortcut { $0[key] = value })
            }
        }
        #expect(world.items.count == 1)
    }

    /// A screenshot posted without a word is forwarded as often as any message: the item names its files instead of
    /// arriving empty, and an integration's post without text of its own keeps its attachments' text.
    @Test func aForwardNamesTheMessagesFilesAndFallsBackToItsAttachments() async throws {
        let world = try await SlackWorld()
        func forward(_ fields: [String: Any], ts: String) async throws -> String? {
            try await world.ingest.receiveInteraction(
                try Self.shortcut { payload in
                    var message = payload["message"] as! [String: Any]
                    message.removeValue(forKey: "text")
                    message.merge(fields) { $1 }
                    message["ts"] = ts
                    payload["message"] = message
                    payload["message_ts"] = ts
                })
            return try #require(world.items.first { $0.draft.slack?.messageTs == ts }).draft.comment
        }
        let files: [[String: Any]] = [
            ["id": "F0001", "name": "login-error.png", "title": "Login error\nafter reset", "mimetype": "image/png"],
            ["id": "F0002", "mode": "hidden_by_limit"],
        ]
        #expect(try await forward(["text": "", "files": files], ts: "1700000001.000100")
            == "[file: Login error after reset]\n[file: file]")
        #expect(try await forward(["text": "Broken after the update", "files": [["name": "Q&A <1>.txt"]]], ts: "1700000002.000100")
            == "Broken after the update\n[file: Q&amp;A &lt;1&gt;.txt]")  // escaped as Slack escapes the text
        let attachments: [[String: Any]] = [["fallback": "Build 412 failed"], ["text": "", "fallback": " "], ["text": "Deploy paused"]]
        #expect(try await forward(["attachments": attachments], ts: "1700000003.000100") == "Build 412 failed\nDeploy paused")
        // A shape Slack never documented costs the courtesy, not the message.
        #expect(try await forward(["text": "Still here", "files": "F0003", "attachments": [7]], ts: "1700000004.000100")
            == "Still here")
        let many = (1...25).map { ["name": "shot-\($0).png"] }
        let listed = try #require(try await forward(["files": many], ts: "1700000005.000100"))
        #expect(listed.split(separator: "\n").count == 21)
        #expect(listed.hasSuffix("[file: shot-20.png]\n[5 more files]"))
        #expect(world.items.count == 5)
    }

    @Test func aReactionWithAnOverlongUserIsDropped() async throws {
        let world = try await SlackWorld()
        let event = String(decoding: try Fixtures.bytes("event_reaction_added_wrench.json"), as: UTF8.self)
            .replacingOccurrences(of: #""user": "U0001""#, with: #""user": "\#(String(repeating: "U", count: 100_000))""#)
            .replacingOccurrences(of: #""user":"U0001""#, with: #""user":"\#(String(repeating: "U", count: 100_000))""#)
        #expect(event.count > 100_000)
        _ = try await world.ingest.receiveEvent(Array(event.utf8))
        #expect(world.jobs.isEmpty)
    }

    /// Slack's ids are printable ASCII without spaces: a signed request whose team or user id holds a space, a tab
    /// or a line break is not Slack's, and is refused or dropped as one holding NUL is: nothing stored or queued.
    @Test(arguments: [" ", "\t", "\n"])
    func idsWithASpaceATabOrALineBreakAreRefusedAndStoreNothing(_ blank: String) async throws {
        let world = try await SlackWorld()
        let json = String(format: "\\u%04X", blank.unicodeScalars.first!.value)
        let form = try #require(blank.addingPercentEncoding(withAllowedCharacters: .alphanumerics))

        // An event from such a workspace is refused; a reaction by such a member is dropped.
        let event = String(decoding: try Fixtures.bytes("event_reaction_added_wrench.json"), as: UTF8.self)
        await #expect(throws: SlackGatewayError.malformedPayload) {
            _ = try await world.ingest.receiveEvent(Array(event.replacingOccurrences(of: "T0001", with: "T\(json)0001").utf8))
        }
        let byMember = event.replacingOccurrences(of: #""user": "U0001""#, with: #""user": "U\#(json)0001""#)
            .replacingOccurrences(of: "Ev0001", with: "Ev0002")
        #expect(byMember != event)
        _ = try await world.ingest.receiveEvent(Array(byMember.utf8))

        // `/usero` from such a workspace or member is refused, and so is the shortcut.
        let command = String(decoding: try Fixtures.bytes("slash_command_usero.txt"), as: UTF8.self)
        for (id, changed) in [("team_id=T0001", "team_id=T\(form)0001"), ("user_id=U0001", "user_id=U\(form)0001")] {
            await #expect(throws: SlackGatewayError.malformedPayload, "\(id)") {
                _ = try await world.ingest.receiveCommand(Array(command.replacingOccurrences(of: id, with: changed).utf8))
            }
        }
        await #expect(throws: SlackGatewayError.malformedPayload) {
            try await world.ingest.receiveInteraction(try Self.shortcut { $0["user"] = ["id": "U\(blank)0001"] })
        }
        #expect(world.items.isEmpty)
        #expect(world.jobs.isEmpty)
    }

    @Test func aReactionAfterTheShortcutOnlyNotifies() async throws {
        let world = try await SlackWorld()
        try await world.ingest.receiveInteraction(try Fixtures.bytes("shortcut_message_action.body.txt"))
        _ = try await world.ingest.receiveEvent(try Fixtures.bytes("event_reaction_added_wrench.json"))
        #expect(world.jobs.map(\.kind) == [.respond, .notify])
    }

    @Test func aBodyThatIsNotAnEnvelopeIsMalformed() async throws {
        let world = try await SlackWorld()
        await #expect(throws: SlackGatewayError.malformedPayload) {
            _ = try await world.ingest.receiveEvent(Array(#"{"event":{}}"#.utf8))
        }
        #expect(world.jobs.isEmpty)
    }
}

extension Collection {
    /// The single element, or nil when there are none or several.
    var only: Element? { count == 1 ? first : nil }
}
