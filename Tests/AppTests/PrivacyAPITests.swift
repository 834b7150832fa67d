import Feedback
import Foundation
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

@Suite struct PrivacyAPITests {
    static func slackRow(_ server: TestServer, clientID: String, author: String, forwarder: String, ts: String)
        async throws -> String
    {
        let capture = SlackCapture(
            teamId: "T1", channelId: "C1", messageTs: ts, threadTs: nil, authorId: author, forwardedBy: forwarder,
            capturedVia: .reactionPushpin, permalink: nil)
        return try await server.parts.store.insert(
            FeedbackDraft(clientId: clientID, source: .slack, comment: "Slack says \(ts)", slack: capture), at: Date(), origin: nil).id
    }

    /// The ids of the items an export returned.
    static func exportedIDs(_ server: TestServer, key: String, query: String) async throws -> Set<String> {
        let export = try await server.request(
            "GET", "/api/privacy/export?\(query)", headers: ["Authorization": "Bearer \(key)"])
        #expect(export.status == 200)
        return Set((export.json["feedback"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
    }

    static func erase(_ server: TestServer, key: String, _ body: String) async throws -> [String: Int] {
        let erased = try await server.postJSON("/api/privacy/erase", body, headers: ["Authorization": "Bearer \(key)"])
        #expect(erased.status == 200)
        return erased.json["counts"] as? [String: Int] ?? [:]
    }

    /// A person's export past one page of items (200) has every item once: the export reads them a page at a time
    /// (it held all of them at once, and anyone can put a person's email on any number of items).
    @Test func anExportOfMoreItemsThanAPageHasEachOnce() async throws {
        try await TestServer.run(configure: { $0.publicRateLimit = 0 }) { server in
            let client = try await server.createClient()
            var sent: Set<String> = []
            for n in 0..<450 {
                let posted = try await server.postJSON(
                    "/api/feedback", #"{"clientId":"\#(client.id)","comment":"n\#(n)","userEmail":"many@example.com"}"#)
                sent.insert(try #require(posted.json["feedbackId"] as? String))
            }
            let export = try await server.request(
                "GET", "/api/privacy/export?email=many%40example.com", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(export.status == 200)
            let listed = (export.json["feedback"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(listed.count == 450)
            #expect(Set(listed) == sent)
        }
    }

    /// Metadata nested as deep as the public API admits made the export of its sender fail (a 200 carrying an error
    /// body): anyone can name a person's email on an item, so anyone could break that person's export.
    @Test func anItemWithTheDeepestMetadataAcceptedIsExported() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let depth = SubmissionParser.maxMetadataDepth
            let deep = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
            let sent = try await server.postJSON(
                "/api/feedback",
                #"{"clientId":"\#(client.id)","rating":3,"userEmail":"deep@example.com","metadata":\#(deep)}"#)
            #expect(sent.status == 200)
            let id = try #require(sent.json["feedbackId"] as? String)

            let export = try await server.request(
                "GET", "/api/privacy/export?email=deep%40example.com", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(export.status == 200)
            // The metadata comes back whole; with it set aside, the document is the export of that one item.
            let text = String(decoding: export.body, as: UTF8.self)
            #expect(text.contains(#""metadata":\#(deep)"#))
            let rest = try #require(JSONValue.parse(Array(text.replacingOccurrences(of: deep, with: "null").utf8)))
            guard case .object(let document) = rest, case .array(let items)? = document["feedback"],
                case .object(let item)? = items.first
            else { Issue.record("not an export: \(text.prefix(200))"); return }
            #expect(items.count == 1)
            #expect(item["id"] == .string(id))
            #expect(item["userEmail"] == .string("deep@example.com"))
            #expect(document["subject"] == .object(["email": .string("deep@example.com")]))
        }
    }

    @Test func exportAndEraseByEmail() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let shot = try await AccountClosureTests.upload(server, clientID: client.id)
            let shotJSON = String(decoding: try JSONSerialization.data(withJSONObject: shot), as: UTF8.self)
            let mine = try await server.postJSON(
                "/api/feedback",
                #"{"clientId":"\#(client.id)","comment":"Mine","userEmail":"ada+x@example.com","screenshots":[\#(shotJSON)]}"#)
            let id = try #require(mine.json["feedbackId"] as? String)
            let theirs = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","comment":"Theirs","userEmail":"bob@example.com"}"#)
            #expect(
                try await server.postJSON(
                    "/api/identify", #"{"clientId":"\#(client.id)","userId":"ada","email":"ada+x@example.com"}"#
                ).status == 200)

            let export = try await server.request(
                "GET", "/api/privacy/export?email=ada%2Bx%40example.com",
                headers: ["Authorization": "Bearer \(client.key)"])
            #expect(export.status == 200)
            #expect((export.json["subject"] as? [String: String]) == ["email": "ada+x@example.com"])
            #expect((export.json["endUsers"] as? [[String: Any]])?.first?["userId"] as? String == "ada")
            let items = try #require(export.json["feedback"] as? [[String: Any]])
            #expect(items.map { $0["id"] as? String } == [id])
            #expect(items.first?["comment"] as? String == "Mine")
            // The screenshot attached to the item, by a URL that serves it.
            let shots = try #require(export.json["screenshots"] as? [[String: Any]])
            #expect(shots.count == 1)
            let url = try #require(shots.first?["url"] as? String)
            #expect(url == shot["url"] as? String)
            let path = String(url.dropFirst(server.parts.config.publicURL.count))
            #expect(try await server.request("GET", path).status == 200)

            // Surrounding white space in the request is no other address (it erased nothing, and said so as a success).
            let counts = try await Self.erase(server, key: client.key, #"{"email":" ada+x@example.com\n"}"#)
            #expect(counts["feedback"] == 1)
            #expect(counts["endUsers"] == 1)
            #expect(try await Self.exportedIDs(server, key: client.key, query: "email=ada%2Bx%40example.com").isEmpty)
            #expect(try await server.request("GET", path).status == 404)
            #expect(
                try await server.count("feedback", where: "id = '\(theirs.json["feedbackId"] as? String ?? "")'") == 1)
            let audit = try await server.request(
                "GET", "/api/audit", headers: ["Authorization": "Bearer \(client.key)"])
            #expect((audit.json["items"] as? [[String: Any]])?.first?["kind"] as? String == "privacy_erasure")
        }
    }

    @Test func exportAndEraseByUserId() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            #expect(
                try await server.postJSON(
                    "/api/identify", #"{"clientId":"\#(client.id)","userId":"u-9","email":"nine@example.com"}"#
                ).status == 200)
            let linked = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":1,"userId":"u-9"}"#)
            let byEmail = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"userEmail":"nine@example.com"}"#)
            let other = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":3,"userId":"u-1"}"#)
            let expected: Set<String> = [
                try #require(linked.json["feedbackId"] as? String), try #require(byEmail.json["feedbackId"] as? String),
            ]
            #expect(try await Self.exportedIDs(server, key: client.key, query: "userId=u-9") == expected)

            let counts = try await Self.erase(server, key: client.key, #"{"userId":"u-9"}"#)
            #expect(counts["feedback"] == 2)
            #expect(counts["endUsers"] == 1)
            #expect(
                try await server.request(
                    "GET", "/api/end-users/u-9", headers: ["Authorization": "Bearer \(client.key)"]
                ).status == 404)
            #expect(try await Self.exportedIDs(server, key: client.key, query: "userId=u-9").isEmpty)
            #expect(
                try await server.count("feedback", where: "id = '\(other.json["feedbackId"] as? String ?? "")'") == 1)
        }
    }

    @Test func exportAndEraseBySlackUserId() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let wrote = try await Self.slackRow(
                server, clientID: client.id, author: "U0002", forwarder: "U0001", ts: "1.1")
            let forwarded = try await Self.slackRow(
                server, clientID: client.id, author: "U0003", forwarder: "U0002", ts: "1.2")
            let unrelated = try await Self.slackRow(
                server, clientID: client.id, author: "U0003", forwarder: "U0001", ts: "1.3")
            #expect(
                try await Self.exportedIDs(server, key: client.key, query: "slackUserId=U0002") == [wrote, forwarded])

            let counts = try await Self.erase(server, key: client.key, #"{"slackUserId":"U0002"}"#)
            #expect(counts["feedback"] == 1)
            #expect(counts["slackForwardsScrubbed"] == 1)
            #expect(try await Self.exportedIDs(server, key: client.key, query: "slackUserId=U0002").isEmpty)
            let kept = try await server.request(
                "GET", "/api/feedback/\(forwarded)", headers: ["Authorization": "Bearer \(client.key)"])
            #expect((kept.json["slack"] as? [String: Any])?["forwardedBy"] is NSNull)
            #expect((kept.json["slack"] as? [String: Any])?["authorId"] as? String == "U0003")
            #expect(try await server.count("feedback", where: "id = '\(unrelated)'") == 1)
        }
    }

    /// A member's reaction accepted before their erasure, its message still being fetched (Slack slow or rate
    /// limiting), is not stored once the erasure answered: the erasure cancels the member's queued work, and the
    /// fetch in flight finds its job gone. Found by a review: the row came back with the member's ids 30 s later.
    @Test func anErasureCancelsTheMembersForwardStillBeingFetched() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            // Given a wrench by U0001 whose message fetch hangs, and a notice to them queued from an earlier forward
            await fake.script("conversations.replies", .slow)
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            _ = try await fake.waitForCalls("conversations.replies")
            // Their export lists the forward in flight (what it is and when, nothing of the message)
            let export = try await server.request(
                "GET", "/api/privacy/export?slackUserId=U0001", headers: ["Authorization": "Bearer \(client.key)"])
            let queued = try #require(export.json["queuedWork"] as? [[String: Any]])
            #expect(queued.map { $0["kind"] as? String } == ["Slack: their reaction's forward, message not fetched yet"])
            #expect(queued.first?["queuedAt"] is String)
            #expect(!export.text.contains("1700000000.000100"))

            // When U0001 is erased while the fetch is in flight
            _ = try await Self.erase(server, key: client.key, #"{"slackUserId":"U0001"}"#)
            #expect(try await server.count("job", where: "kind = 'slack.capture'") == 0)

            // Then the fetch, answered after the erasure, stores nothing and tells nobody. A reaction after the
            // erasure, on another message (a thread reply), is a new forward and captured as usual: the workspace's
            // jobs run one at a time, so once its row is there the first job has ended.
            await fake.releaseHung()
            #expect(try await server.sendEvent("event_reaction_added_pushpin_thread_reply.json").status == 200)
            try await server.eventually {
                try await server.count("feedback", where: "slack_message_ts = '1700000450.000400'") == 1
            }
            #expect(try await server.count("feedback") == 1)
            #expect(try await server.count("feedback", where: "slack_message_ts = '1700000000.000100'") == 0)
        }
    }

    /// A shortcut's answer still queued (its `response_url` slow) is work in the member's name: their export lists
    /// it, and their erasure cancels it, so no notice about the forward reaches them afterwards.
    @Test func anErasureCancelsTheAnswerToTheMembersShortcut() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            await fake.script("response_url", .hang)
            let ack = try await server.postSlack(
                "/slack/interactivity", SlackCaptureTests.shortcutBody(server),
                contentType: "application/x-www-form-urlencoded")
            #expect(ack.status == 200)
            _ = try await fake.waitForCalls("response_url")
            let export = try await server.request(
                "GET", "/api/privacy/export?slackUserId=U0001", headers: ["Authorization": "Bearer \(client.key)"])
            let queued = try #require(export.json["queuedWork"] as? [[String: Any]])
            #expect(queued.map { $0["kind"] as? String } == ["Slack: the answer to their shortcut"])

            _ = try await Self.erase(server, key: client.key, #"{"slackUserId":"U0001"}"#)
            #expect(try await server.count("job", where: "kind = 'slack.respond'") == 0)
            await fake.releaseHung()
        }
    }

    /// Someone else's reaction to a member's message, accepted before the member's erasure and fetched after it,
    /// stores nothing: the erasure could not know whose message the queued reaction named, so it records the
    /// erasure and the capture finds it. A reaction made after the erasure is a new forward and is captured.
    @Test func anErasureKeepsOthersQueuedForwardsOfTheMembersMessagesFromStoringThem() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            // Given a wrench by U0001 on a message U0002 wrote, its fetch in flight
            await fake.script("conversations.replies", .slow)
            #expect(try await server.sendEvent("event_reaction_added_wrench.json").status == 200)
            _ = try await fake.waitForCalls("conversations.replies")

            // When the author, U0002, is erased while the fetch is in flight
            _ = try await Self.erase(server, key: client.key, #"{"slackUserId":"U0002"}"#)

            // Then the fetch, answered after the erasure, stores nothing. A reaction after the erasure, to another
            // message of theirs, is captured as usual: the workspace's jobs run one at a time, so once its row is
            // there the first job has ended.
            await fake.releaseHung()
            #expect(try await server.sendEvent("event_reaction_added_pushpin_thread_reply.json").status == 200)
            try await server.eventually {
                try await server.count("feedback", where: "slack_message_ts = '1700000450.000400'") == 1
            }
            #expect(try await server.count("feedback") == 1)
            #expect(try await server.count("feedback", where: "slack_message_ts = '1700000000.000100'") == 0)
            #expect(try await server.count("job", where: "kind = 'slack.capture'") == 0)
            // The erasure is on record without the member's id.
            #expect(try await server.count("slack_erased_member") == 1)
            #expect(try await server.count("slack_erased_member", where: "member_key LIKE '%U0002%'") == 0)
        }
    }

    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly)) func deletingOneItemRemovesItAndItsScreenshotFile() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let shot = try await AccountClosureTests.upload(server, clientID: client.id)
            let fileName = try #require(shot["fileName"] as? String)
            let shotJSON = String(decoding: try JSONSerialization.data(withJSONObject: shot), as: UTF8.self)
            let posted = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":1,"screenshots":[\#(shotJSON)]}"#)
            let id = try #require(posted.json["feedbackId"] as? String)
            let auth = ["Authorization": "Bearer \(client.key)"]

            #expect(try await server.request("DELETE", "/api/feedback/\(id)", headers: auth).status == 204)

            #expect(try await server.request("GET", "/api/feedback/\(id)", headers: auth).status == 404)
            #expect(try await server.request("GET", "/api/screenshots/\(fileName)").status == 404)
            let path = server.parts.files.root.appendingPathComponent(fileName).path
            #expect(FileManager.default.fileExists(atPath: path) == false)
        }
    }

    @Test func privacyRequestsNeedTheAdminKeyAndExactlyOneKey() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            #expect(try await server.request("GET", "/api/privacy/export?email=a@b.co").status == 401)
            #expect(try await server.postJSON("/api/privacy/erase", #"{"email":"a@b.co"}"#).status == 401)
            // A key that is none of the three (a typo beside a real one), or one given twice, never narrows the
            // request silently to the other key.
            for query in ["", "?email=a@b.co&userId=u"] {
                let result = try await server.request("GET", "/api/privacy/export\(query)", headers: auth)
                #expect(result.status == 400)
                #expect(result.json["error"] as? String == "Give exactly one of email, userId, slackUserId")
            }
            // The field at fault is named.
            for (query, field, problem) in [
                ("?foo=bar", "foo", "Unknown field"), ("?slackUserId=U1&foo=bar", "foo", "Unknown field"),
                ("?email=a@b.co&email=d@e.co", "email", "Given more than once"),
                ("?userId=" + String(repeating: "u", count: 255), "userId", "Must be at most 254 characters"),
            ] {
                let result = try await server.request("GET", "/api/privacy/export\(query)", headers: auth)
                #expect(result.status == 400)
                #expect((result.json["issues"] as? [String: [String]])?[field] == [problem], "\(query)")
            }
            for body in [
                "{}", #"{"email":"a@b.co","slackUserId":"U1"}"#, "[]", #"{"email":"a@b.co","email":"d@e.co"}"#,
                #"{"email":"a@b.co","email":"a@b.co"}"#,
            ] {
                let result = try await server.postJSON("/api/privacy/erase", body, headers: auth)
                #expect(result.status == 400, "\(body)")
                #expect(result.json["error"] as? String == "Give exactly one of email, userId, slackUserId", "\(body)")
            }
            for (body, field, problem) in [
                (#"{"userId":7}"#, "userId", "Must be a string"), (#"{"email":"a@b.co","userid":"u42"}"#, "userid", "Unknown field"),
                (#"{"userId":"x","foo":1}"#, "foo", "Unknown field"), (#"{"emial":"a@b.co"}"#, "emial", "Unknown field"),
            ] {
                let result = try await server.postJSON("/api/privacy/erase", body, headers: auth)
                #expect(result.status == 400, "\(body)")
                #expect((result.json["issues"] as? [String: [String]])?[field] == [problem], "\(body)")
            }
            #expect(try await server.count("feedback") == 0)
            #expect(try await server.postJSON("/api/privacy/erase", "{oops", headers: auth).status == 400)
        }
    }

    /// The query string is read as a form, as Python's requests, `URLSearchParams` and browsers write one: `%20` and
    /// `%2B` are what they say, names are decoded. A subject holding a `+` as sent could mean a space or a plus sign
    /// (`auth+42`, `ada+x@example.com`): refused, naming the key, instead of a guess answered with an empty export; an
    /// email with a space, which no address holds, is refused too.
    @Test func aPrivacyQueryIsReadAsAFormAndAnEmailWithASpaceIsRefused() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            let item = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":1,"userId":"ada lovelace"}"#)
            let id = try #require(item.json["feedbackId"] as? String)
            let plus = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"userId":"auth+42"}"#)
            let plusID = try #require(plus.json["feedbackId"] as? String)
            #expect(try await Self.exportedIDs(server, key: client.key, query: "user%49d=ada%20lovelace") == [id])
            #expect(try await Self.exportedIDs(server, key: client.key, query: "userId=auth%2B42") == [plusID])
            // A + as sent could be either: refused, naming the key, rather than guessed (an export of nothing)
            for request in [
                ("GET", "/api/privacy/export?email=ada+x@example.com", nil, "email"),
                ("GET", "/api/privacy/export?userId=auth+42", nil, "userId"),
                ("GET", "/api/privacy/export?userId=ada+lovelace", nil, "userId"),
                ("POST", "/api/privacy/erase", #"{"email":"ada x@example.com"}"#, "email"),
            ] {
                let result = try await server.request(
                    request.0, request.1, headers: auth.merging(["Content-Type": "application/json"]) { $1 },
                    body: request.2.map { Data($0.utf8) })
                #expect(result.status == 400)
                let issues = try #require(result.json["issues"] as? [String: [String]])
                #expect(issues[request.3]?.first?.contains("%2B") == true, "\(result.text)")
            }
            #expect(try await server.count("feedback") == 2)
        }
    }

    /// "All access is logged": every request whose credentials reach a client's data (the admin API, the inbox)
    /// leaves one `info` line (the default level) with the client, the method, the route's template and the status;
    /// never the concrete path, the query, a subject's email or the key. A key that matches no client is logged as
    /// refused.
    @Test func accessToAClientsDataIsLoggedAtInfoWithoutTheSubject() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            #expect(
                try await server.postJSON(
                    "/api/identify", #"{"clientId":"\#(client.id)","userId":"logged.person@example.com"}"#
                ).status == 200)
            #expect(try await server.request("GET", "/api/feedback?environment=staging", headers: auth).status == 200)
            #expect(
                try await server.request("GET", "/api/end-users/logged.person%40example.com", headers: auth).status == 200)
            #expect(
                try await server.request("GET", "/api/privacy/export?email=logged.person@example.com", headers: auth)
                    .status == 200)
            #expect(try await server.request("GET", "/api/feedback", headers: ["Authorization": "Bearer nope"]).status == 401)
            // A screenshot's address is enough to read it: logged like a read with credentials, without the file.
            let shot = try await AccountClosureTests.upload(server, clientID: client.id)
            let shotPath = "/api/screenshots/\(try #require(shot["fileName"] as? String))"
            let shotFile = try #require(shotPath.split(separator: "/").last)
            #expect(try await server.request("GET", shotPath).status == 200)

            let lines = server.logs.text.split(separator: "\n")
            let access = lines.filter { $0.hasPrefix("info ") && $0.contains(" Access ") }
            for route in ["/api/feedback", "/api/end-users/{userId}", "/api/privacy/export", "/api/screenshots/{clientId}/{file}"] {
                #expect(
                    access.contains { $0.contains("client.id=\(client.id)") && $0.contains("http.route=\(route) ") && $0.contains("http.status=200") },
                    "\(route): \(access)")
            }
            #expect(lines.contains { $0.hasPrefix("info ") && $0.contains("Access refused") && $0.contains("http.status=401") })
            // The public submission carried no credentials: not an access to the client's data.
            #expect(!access.contains { $0.contains("/api/identify") })
            #expect(!server.logs.text.contains("logged.person"))
            #expect(!server.logs.text.contains("staging"))
            #expect(!server.logs.text.contains(client.key))
            #expect(!server.logs.text.contains(shotFile))
            // The upload carried no credentials either: one access line for the screenshot, its download.
            #expect(access.filter { $0.contains("/api/screenshots") }.count == 1, "\(access)")
        }
    }
}
