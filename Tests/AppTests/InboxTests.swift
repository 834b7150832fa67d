import GRDB
import Feedback
import Foundation
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

@Suite struct InboxTests {
    // MARK: Sign-in and sessions

    @Test func signInWithAWrongKeyIsRefused() async throws {
        try await TestServer.run { server in
            _ = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)

            // Given no session, the inbox sends the visitor to the sign-in form.
            let anonymous = try await browser.get("/inbox")
            #expect(anonymous.status == 303)
            #expect(anonymous.header("Location") == "/inbox/login")

            // When the form is posted with a key that is not a client's…
            let refused = try await browser.signIn(adminKey: "uak_" + String(repeating: "0", count: 64))

            // …then it is refused, no session is set, and the inbox stays closed.
            #expect(refused.status == 401)
            #expect(refused.text.contains("That admin key is not valid."))
            #expect(browser.cookies[InboxCookies.session] == nil)
            #expect(try await browser.get("/inbox").status == 303)
        }
    }

    @Test func signInWithoutTheLoginTokenIsRefused() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            let response = try await browser.post("/inbox/login", [("adminKey", client.key)])
            #expect(response.status == 403)
            #expect(browser.cookies[InboxCookies.session] == nil)
        }
    }

    /// Two sign-in forms open at once (two links followed from Slack): the older one still signs in, since the
    /// browser keeps one login token for both, and so does the other one after it (a sign-in does not end the token).
    @Test func aSignInFormOpenedInAnotherTabDoesNotExpireThisOne() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            let first = try #require(InboxTestBrowser.hiddenField("loginToken", in: try await browser.get("/inbox/login").text))
            let second = try #require(InboxTestBrowser.hiddenField("loginToken", in: try await browser.get("/inbox/login").text))
            #expect(first == second)
            let signedIn = try await browser.post("/inbox/login", [("loginToken", first), ("adminKey", client.key)])
            #expect(signedIn.status == 303)
            #expect(try await browser.get("/inbox").status == 200)
            // The second tab, submitted after the first signed in (with another project's key, say)
            let otherProject = try await server.createClient()
            _ = try await server.parts.store.insert(
                FeedbackDraft(clientId: otherProject.id, source: .api, rating: 3, comment: "Other project's item"),
                at: Date(), origin: nil)
            let again = try await browser.post("/inbox/login", [("loginToken", second), ("adminKey", otherProject.key)])
            #expect(again.status == 303, "\(again.text)")
            #expect(try await browser.get("/inbox").text.contains("Other project&#39;s item"))
            // A browser without the cookie gets a token of its own, and another browser's token does not sign it in
            let stranger = InboxTestBrowser(baseURL: server.baseURL)
            let own = try #require(InboxTestBrowser.hiddenField("loginToken", in: try await stranger.get("/inbox/login").text))
            #expect(own != first)
            #expect(try await stranger.post("/inbox/login", [("loginToken", first), ("adminKey", client.key)]).status == 403)
        }
    }

    @Test func sessionCookieIsHttpOnlyLaxAndScopedToTheInbox() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            let signedIn = try await browser.signIn(adminKey: client.key)
            #expect(signedIn.status == 303)
            #expect(signedIn.header("Location") == "/inbox")

            let header = try #require(browser.setCookieHeaders.first { $0.hasPrefix(InboxCookies.session + "=") })
            #expect(header.contains("HttpOnly"))
            // Lax: a link to an item, followed from Slack in a browser (cross-site), finds the admin signed in
            #expect(header.contains("SameSite=Lax"))
            #expect(header.contains("Path=/inbox"))
            #expect(!header.contains("Secure"))  // served over plain http here
            let id = try #require(browser.cookies[InboxCookies.session])
            #expect(id.count == 64)

            let page = try await browser.get("/inbox")
            #expect(page.status == 200)
            #expect(page.text.contains("No feedback here yet"))
            // Neither the admin key nor the session id reaches a log line.
            #expect(!server.logs.text.contains(client.key))
            #expect(!server.logs.text.contains(id))
        }
    }

    /// The browser keeps the session cookie as long as the server keeps a busy session (twelve hours), so an admin
    /// reading all day is not signed out at the idle timeout's two hours while still active.
    @Test func sessionCookieLastsAsLongAsABusySession() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let header = try #require(browser.setCookieHeaders.first { $0.hasPrefix(InboxCookies.session + "=") })
            #expect(header.contains("Max-Age=\(Int(InboxSessions.absoluteTimeout));"), "\(header)")
        }
    }

    @Test func sessionCookieIsSecureWhenThePublicURLIsHTTPS() async throws {
        try await TestServer.run(configure: { $0.publicURL = "https://feedback.example.com" }) { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let header = try #require(browser.setCookieHeaders.first { $0.hasPrefix(InboxCookies.session + "=") })
            #expect(header.contains("; Secure"))
        }
    }

    @Test func signingOutEndsTheSession() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let oldSession = try #require(browser.cookies[InboxCookies.session])
            let csrf = try await browser.csrfToken()

            let out = try await browser.post("/inbox/logout", [("csrf", csrf)])
            #expect(out.status == 303)
            #expect(out.header("Location") == "/inbox/login?notice=signed-out")
            #expect(browser.cookies[InboxCookies.session] == nil)
            #expect(try await browser.get("/inbox/login?notice=signed-out").text.contains("You signed out."))

            // The old cookie, replayed, no longer opens the inbox: the sign-in form says the session ended.
            browser.cookies[InboxCookies.session] = oldSession
            let bounced = try await browser.get("/inbox")
            #expect(bounced.status == 303 && bounced.header("Location") == "/inbox/login?notice=ended")
            let form = try await browser.get("/inbox/login?notice=ended")
            #expect(form.text.contains("<p class=\"alert notice\" role=\"status\">Your session has ended."))
            // Anything else in `notice` says nothing.
            #expect(!(try await browser.get("/inbox/login?notice=%3Cb%3E").text.contains("alert notice")))
        }
    }

    /// Signing in again in the same browser (another project's key on a shared machine, say) ends the session the
    /// browser had: its cookie, replayed, no longer opens the inbox.
    @Test func signingInAgainEndsTheBrowsersEarlierSession() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let other = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let earlier = try #require(browser.cookies[InboxCookies.session])

            // A second tab's sign-in form, posted with the login token the browser keeps
            let token = try #require(browser.cookies[InboxCookies.login])
            let again = try await browser.post("/inbox/login", [("loginToken", token), ("adminKey", other.key)])
            #expect(again.status == 303)
            let later = try #require(browser.cookies[InboxCookies.session])
            #expect(later != earlier)
            #expect(try await browser.get("/inbox").status == 200)

            let replay = InboxTestBrowser(baseURL: server.baseURL)
            replay.cookies[InboxCookies.session] = earlier
            #expect(try await replay.get("/inbox").status == 303)
        }
    }

    // MARK: CSRF

    /// A new client's one item ("Keep me"), and a browser signed in to its inbox with the page's CSRF token.
    static func signedInWithOneItem(_ server: TestServer) async throws -> (FeedbackItem, InboxTestBrowser, String) {
        let client = try await server.createClient()
        let item = try await server.parts.store.insert(
            FeedbackDraft(clientId: client.id, source: .api, rating: 3, comment: "Keep me"), at: Date(), origin: nil)
        let browser = InboxTestBrowser(baseURL: server.baseURL)
        try await browser.signIn(adminKey: client.key)
        return (item, browser, try await browser.csrfToken())
    }

    @Test func changesWithoutTheSessionOrTheCSRFTokenAreRefused() async throws {
        try await TestServer.run { server in
            let (item, browser, csrf) = try await Self.signedInWithOneItem(server)
            let path = "/inbox/items/\(item.id)/delete"

            // Without the token, with a wrong one, and with the token but no session: 403, nothing deleted.
            #expect(try await browser.post(path, []).status == 403)
            #expect(try await browser.post(path, [("csrf", String(repeating: "a", count: 64))]).status == 403)
            let stranger = InboxTestBrowser(baseURL: server.baseURL)
            #expect(try await stranger.post(path, [("csrf", csrf)]).status == 403)
            #expect(try await stranger.post("/inbox/slack/connect", [("csrf", csrf)]).status == 403)
            #expect(try await browser.post("/inbox/logout", []).status == 403)
            #expect(try await server.count("feedback") == 1)

            // With both, the item goes.
            let deleted = try await browser.post(path, [("csrf", csrf)])
            #expect(deleted.status == 303)
            #expect(deleted.header("Location") == "/inbox?notice=deleted")
            #expect(try await server.count("feedback") == 0)
            #expect(try await browser.get("/inbox?notice=deleted").text.contains("Feedback deleted."))
        }
    }

    @Test func deleteAsksForConfirmationFirst() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let item = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .widget, rating: 1, comment: "Broken"), at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            let confirm = try await browser.get("/inbox/items/\(item.id)/delete?source=widget")
            #expect(confirm.status == 200)
            #expect(confirm.text.contains("Delete this feedback?"))
            #expect(confirm.text.contains("action=\"/inbox/items/\(item.id)/delete\""))
            #expect(confirm.text.contains("name=\"source\" value=\"widget\""))
            #expect(try await server.count("feedback") == 1)

            let other = try await browser.get("/inbox/items/fb_doesnotexist/delete")
            #expect(other.status == 404)
        }
    }

    /// Deleting from an older page comes back to that page: the delete link, the confirmation's Cancel and the
    /// redirect after deleting keep the page's cursor with the filters (they used to land on the first page), and
    /// the redirect lands at the item that followed the deleted one (it landed at the top of the page).
    @Test func deletingFromAnOlderPageComesBackToThatPage() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for n in 0..<(InboxLimits.pageSize + 5) {
                _ = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: .widget, rating: 2, comment: "Item \(n)"),
                    at: start.addingTimeInterval(Double(n)), origin: nil)
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            func hrefs(_ text: String, containing part: String) -> [String] {
                text.components(separatedBy: "href=\"").dropFirst().compactMap { rest in
                    let href = String(rest.prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
                    return href.contains(part) ? href : nil
                }
            }
            let first = try await browser.get("/inbox?source=widget")
            let older = try #require(hrefs(first.text, containing: "cursor=").first)
            let cursor = try #require(older.components(separatedBy: "cursor=").last?.components(separatedBy: "&").first)
            let second = try await browser.get(older)
            #expect(second.text.contains("Item 4"))
            let deleteLink = try #require(hrefs(second.text, containing: "/delete").first)
            #expect(deleteLink.contains("cursor=\(cursor)") && deleteLink.contains("source=widget"), "\(deleteLink)")

            let confirm = try await browser.get(deleteLink)
            #expect(confirm.status == 200)
            #expect(confirm.text.contains("name=\"cursor\" value=\"\(cursor)\""))
            let cancel = try #require(hrefs(confirm.text, containing: "#item-").first)
            #expect(cancel.hasPrefix("/inbox?source=widget&cursor=\(cursor)#item-"), "\(cancel)")

            func itemID(_ link: String) -> String? {
                link.components(separatedBy: "/inbox/items/").last?.components(separatedBy: "/").first
            }
            let id = try #require(itemID(deleteLink))
            // The item after it in the list: where the redirect lands, so that triage goes on from there
            let following = try #require(hrefs(second.text, containing: "/delete").dropFirst().first.flatMap(itemID))
            let deleted = try await browser.post(
                "/inbox/items/\(id)/delete",
                [("csrf", try await browser.csrfToken()), ("source", "widget"), ("env", "default"), ("cursor", cursor)])
            #expect(deleted.status == 303)
            #expect(
                deleted.header("Location")
                    == "/inbox?source=widget&cursor=\(cursor)&notice=deleted&at=\(following)#item-\(following)")
            let back = try await browser.get(try #require(deleted.header("Location")))
            // The notice stands at that item, where the page opens (at the top it was out of sight), and once
            #expect(back.text.contains(
                "<li class=\"item\" id=\"item-\(following)\">\n  <p class=\"alert notice\" role=\"status\">Feedback deleted.</p>"))
            #expect(back.text.components(separatedBy: "Feedback deleted.</p>").count == 2)
            #expect(back.text.contains("Item 3") && back.text.contains("id=\"item-\(following)\""))
            #expect(try await server.count("feedback") == InboxLimits.pageSize + 4)
        }
    }

    /// More environments than the filter lists (one per pull request, say): the page says the list is cut and offers
    /// a field for any name, so an environment past the first 100 by name (here `staging`) is still reachable.
    @Test func environmentsPastTheListedOnesCanBeTypedIn() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            for n in 0..<(InboxLimits.environmentLimit + 5) {
                _ = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: .api, rating: 2, environment: "pr-\(1000 + n)"),
                    at: Date(), origin: nil)
            }
            _ = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, rating: 2, comment: "On staging", environment: "staging"),
                at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            let page = try await browser.get("/inbox?env=all")
            #expect(page.text.components(separatedBy: "<option value=\"env:").count - 1 == InboxLimits.environmentLimit)
            #expect(!page.text.contains("value=\"env:staging\""))
            #expect(page.text.contains("name=\"envName\""))
            #expect(page.text.contains("first 100 environments"))

            let typed = try await browser.get("/inbox?envName=+staging+&env=all")
            #expect(typed.status == 200)
            #expect(typed.text.contains("On staging"))
            #expect(typed.text.contains("<option value=\"env:staging\" selected>"))
            #expect(!typed.text.contains("pr-1000</span>"))

            // With few environments there is no such field
            let small = try await server.createClient()
            let other = InboxTestBrowser(baseURL: server.baseURL)
            try await other.signIn(adminKey: small.key)
            #expect(!(try await other.get("/inbox").text.contains("name=\"envName\"")))
        }
    }

    // MARK: Rendering

    @Test func markupInACommentRendersAsText() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let posted = try await server.postJSON(
                "/api/feedback",
                #"{"clientId":"\#(client.id)","comment":"<script>alert('x')</script><b>bold</b>","#
                    + #""pageUrl":"javascript:alert(1)","pageTitle":"\"><img src=x onerror=alert(1)>"}"#)
            #expect(posted.status == 200)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            let page = try await browser.get("/inbox")
            #expect(page.status == 200)
            #expect(page.text.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"))
            #expect(!page.text.contains("<script"))
            #expect(!page.text.contains("<b>bold"))
            #expect(!page.text.contains("<img src=x"))
            #expect(!page.text.contains("href=\"javascript:"))
            // Security headers on the page.
            let csp = try #require(page.header("Content-Security-Policy"))
            #expect(csp.contains("default-src 'none'"))
            #expect(!csp.contains("unsafe-inline"))
            #expect(page.header("X-Content-Type-Options") == "nosniff")
            #expect(page.header("X-Frame-Options") == "DENY")
            #expect(page.header("Referrer-Policy") == "same-origin")
            #expect(page.header("Cache-Control") == "no-store")
        }
    }

    /// Each item in the list opens its own page (its time is the link), and a long comment shows its start there
    /// with "Read all" (a review found no way from the list to an item, and a 6 KB comment filling sixty lines):
    /// the item's page shows all of it.
    @Test func theListOpensEachItemAndShowsTheStartOfALongComment() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let long = (1...400).map { "word\($0)" }.joined(separator: " ") + " THE-END"
            let lines = (1...30).map { "line \($0)" }.joined(separator: "\\n")
            var ids: [String] = []
            for comment in [long, lines, "short and whole"] {
                let posted = try await server.postJSON(
                    "/api/feedback", #"{"clientId":"\#(client.id)","comment":"\#(comment)"}"#)
                ids.append(try #require(posted.json["feedbackId"] as? String))
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let list = try await browser.get("/inbox").text
            for id in ids { #expect(list.contains("<a class=\"open-item\" href=\"/inbox/items/\(id)?env=default\">"), "\(id)") }
            // What the comments show (a screen reader's heading of each says its first 80 characters too)
            let shown = list.components(separatedBy: "<p class=\"comment\">").dropFirst().map {
                String($0.prefix { $0 != "<" }).trimmingCharacters(in: .whitespaces)
            }
            #expect(shown.count == 3)
            #expect(shown.contains { $0.hasPrefix("word1 ") && $0.contains("word60 ") && !$0.contains("word200") && $0.hasSuffix("…") })
            #expect(shown.contains { $0.hasPrefix("line 1\n") && $0.hasSuffix("line 8…") && !$0.contains("line 9") })
            #expect(shown.contains("short and whole"))
            #expect(list.components(separatedBy: "Read all<span class=\"sr\"> of this feedback</span>").count == 3)
            let page = try await browser.get("/inbox/items/\(ids[0])")
            #expect(page.status == 200 && page.text.contains("word400 THE-END</p>") && !page.text.contains("Read all"))
            #expect(try await browser.get("/inbox/items/\(ids[1])").text.contains("line 30</p>"))
        }
    }

    /// Anyone can submit feedback, so its links must read as what they do: a page link's text begins with the host it
    /// goes to, an address with userinfo is no link, and the email's `mailto:` carries no extra headers.
    @Test func linksFromSubmittersReadAsWhereTheyGo() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let sneaky = "support@yourapp.com?bcc=attacker%40evil.example&subject=Re"
            let refused = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":1,"userEmail":"\#(sneaky)"}"#)
            #expect(refused.status == 400)
            #expect((refused.json["issues"] as? [String: [String]])?["userEmail"] == ["Invalid email address"])

            // As stored before the domain check was strict, and two page addresses that hide their host.
            let longHost = "https://" + String(repeating: "yourapp.com.account.", count: 8) + "evil.example/login"
            for (email, page) in [(sneaky, "https://yourapp.com.settings@evil.example/login"), ("a@b.example", longHost)] {
                _ = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: .api, rating: 1, userEmail: email, pageUrl: page),
                    at: Date(), origin: nil)
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let html = try await browser.get("/inbox").text
            #expect(html.contains(#"href="mailto:support@yourapp.com%3Fbcc%3Dattacker%2540evil.example%26subject%3DRe""#))
            #expect(!html.contains("mailto:support@yourapp.com?"))
            #expect(!html.contains(#"href="https://yourapp.com.settings@evil.example/login""#))
            #expect(html.contains("https://yourapp.com.settings@evil.example/login"))
            #expect(html.contains(#"href="\#(longHost)""#))
            // Too long a host for the text: its end, the part that says whose it is.
            #expect(html.contains("\">https://…") && html.contains(".account.evil.example<span class=\"sr\"> (opens in a new tab)</span></a>"))
        }
    }

    @Test func listShowsEveryFieldOfAnItem() async throws {
        try await TestServer.run { server in
            // Paid: these items are dated 2023, and the retention sweep that runs at startup keeps paid items.
            let client = try await server.createClient(plan: .paid)
            let shot = ScreenshotRef(
                fileName: "\(client.id)/1700000000000-abc12.png", url: "https://elsewhere.example/x.png", fileSize: 10,
                mimeType: "image/png", width: 640, height: 400)
            _ = try await server.parts.store.insert(
                FeedbackDraft(
                    clientId: client.id, source: .widget, rating: 2, comment: "Export is slow",
                    userEmail: "jamie@example.com", pageUrl: "https://app.example.com/export", pageTitle: "Export",
                    referrer: "https://app.example.com/", metadata: .object(["build": .int(1842)]),
                    screenshots: [shot], sessionReplayId: "replay_123", replayOffsetMs: 12_345, userId: "user-9"),
                at: Date(timeIntervalSince1970: 1_700_000_000), origin: nil)
            _ = try await server.parts.store.insert(
                FeedbackDraft(
                    clientId: client.id, source: .slack, comment: "Export to CSV times out",
                    slack: SlackCapture(
                        teamId: "T0001", channelId: "C0001", messageTs: "1700000000.000100", threadTs: nil,
                        authorId: "U0002", forwardedBy: "U0001", capturedVia: .reactionWrench,
                        permalink: "https://acme.slack.com/archives/C0001/p1700000000000100")),
                at: Date(timeIntervalSince1970: 1_700_000_100), origin: nil)
            _ = try await server.parts.store.insert(
                FeedbackDraft(
                    clientId: client.id, source: .slack, comment: "Found by a sweep",
                    slack: SlackCapture(
                        teamId: "T0001", channelId: "C0001", messageTs: "1700000000.000200", threadTs: nil,
                        authorId: "U0002", forwardedBy: "U0001", capturedVia: .reaction("eyes"), permalink: nil,
                        recovered: true)),
                at: Date(timeIntervalSince1970: 1_700_000_050), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let html = try await browser.get("/inbox").text

            // Newest first: the Slack item comes before the widget item.
            let slackAt = try #require(html.range(of: "Export to CSV times out")).lowerBound
            let widgetAt = try #require(html.range(of: "Export is slow")).lowerBound
            #expect(slackAt < widgetAt)
            for expected in [
                "Bad · 2/4", "No rating", ">Widget<", ">Slack<", "jamie@example.com", "https://app.example.com/export",
                "(Export)", "user-9", "Session replay", "replay_123", "at 12.3 s", "channel <code>C0001</code>",
                "reaction :wrench:", "href=\"https://acme.slack.com/archives/C0001/p1700000000000100\"",
                "Open in Slack", "&quot;build&quot;:1842", "14 Nov 2023, 22:13 UTC",
                "reaction :eyes: (recovered by a sweep)",
                // The thumbnail comes from this server, never from the submitted URL.
                "<img src=\"/api/screenshots/\(client.id)/1700000000000-abc12.png\"",
                "alt=\"Screenshot 1 (640×400)\"",
            ] {
                #expect(html.contains(expected), "missing \(expected)")
            }
            #expect(!html.contains("elsewhere.example"))
        }
    }

    /// A Slack item's comment is Slack's markup as the message was sent (the API and the export keep it so); the
    /// inbox shows it as it reads in Slack, where it used to show `Q&amp;A` and links in angle brackets.
    @Test func aSlackMessageReadsInTheInboxAsItDidInSlack() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let stored = "Q&amp;A export &lt;broken&gt; cc <@U0456|ada>, see <https://app.example.com/qa?x=1&amp;y=2|the QA page>"
            _ = try await server.parts.store.insert(
                FeedbackDraft(
                    clientId: client.id, source: .slack, comment: stored,
                    slack: SlackCapture(
                        teamId: "T0001", channelId: "C0001", messageTs: "1700000000.000100", threadTs: nil,
                        authorId: "U0002", forwardedBy: "U0001", capturedVia: .shortcut, permalink: nil)),
                at: Date(), origin: nil)
            // The same text from the widget is what its visitor typed: shown as it is
            _ = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .widget, comment: "typed &amp; as is"), at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let html = try await browser.get("/inbox").text
            #expect(html.contains(
                "Q&amp;A export &lt;broken&gt; cc @ada, see the QA page (https://app.example.com/qa?x=1&amp;y=2)"))
            #expect(!html.contains("Q&amp;amp;A") && !html.contains("U0456"))
            #expect(html.contains("typed &amp;amp; as is"))
            let api = try await server.request("GET", "/api/feedback", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(api.text.contains(#""comment":"Q&amp;A export &lt;broken&gt; cc <@U0456|ada>"#))
        }
    }

    @Test func filtersBySourceAndEnvironmentWithTheDefaultEnvironmentFirst() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let store = server.parts.store
            _ = try await store.insert(FeedbackDraft(clientId: client.id, source: .api, comment: "default api"), at: Date(), origin: nil)
            _ = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .widget, comment: "default widget"), at: Date(), origin: nil)
            _ = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .widget, comment: "staging widget", environment: "staging"),
                at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            // The default view is the default environment, offered first.
            let first = try await browser.get("/inbox").text
            #expect(first.contains("default api") && first.contains("default widget"))
            #expect(!first.contains("staging widget"))
            let defaultOption = try #require(first.range(of: "<option value=\"default\" selected>Default environment"))
            let stagingOption = try #require(first.range(of: "<option value=\"env:staging\">staging</option>"))
            #expect(defaultOption.lowerBound < stagingOption.lowerBound)
            // ... and it says what it leaves out, with the way to all of it.
            #expect(first.contains(
                #"Feedback sent with an environment (staging) is not shown here. <a href="/inbox?env=all">Show all environments</a>"#))
            #expect(!(try await browser.get("/inbox?env=all").text.contains("is not shown here")))
            #expect(try await browser.get("/inbox?source=widget").text.contains(#"<a href="/inbox?source=widget&amp;env=all">"#))

            let staging = try await browser.get("/inbox?env=env%3Astaging").text
            #expect(staging.contains("staging widget") && !staging.contains("default api"))

            let widgets = try await browser.get("/inbox?source=widget&env=all").text
            #expect(widgets.contains("default widget") && widgets.contains("staging widget"))
            #expect(!widgets.contains("default api"))

            // The filter form is a GET form: a browser writes an environment's space as `+`.
            _ = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "spaced env", environment: "my env"),
                at: Date(), origin: nil)
            let spaced = try await browser.get("/inbox?source=&env=env%3Amy+env").text
            #expect(spaced.contains("spaced env") && !spaced.contains("staging widget"))
            // A query that does not decode shows the default view, not an error.
            let broken = try await browser.get("/inbox?env=env%3Astaging%E2%82")
            #expect(broken.status == 200 && broken.text.contains("default api"))
        }
    }

    @Test func pagesThroughFiftyItemsAtATime() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient(plan: .paid)
            let start = Date(timeIntervalSince1970: 1_700_000_000)
            for index in 0..<55 {
                _ = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: .api, comment: "item number \(index)."),
                    at: start.addingTimeInterval(Double(index)), origin: nil)
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            let first = try await browser.get("/inbox").text
            #expect(first.components(separatedBy: "<li class=\"item\"").count - 1 == 50)
            #expect(first.contains("item number 54.") && !first.contains("item number 4."))
            let older = try #require(InboxTestBrowser.attribute("href", before: "rel=\"next\"", in: first))
            let second = try await browser.get(older.replacingOccurrences(of: "&amp;", with: "&")).text
            #expect(second.components(separatedBy: "<li class=\"item\"").count - 1 == 5)
            #expect(second.contains("item number 4.") && second.contains("item number 0."))
            #expect(second.contains("« Newest"))
            #expect(!second.contains("Newer"), "the page before is the newest")
        }
    }

    /// From the third page on, "Newer" goes one page back (there was only "Newest", found by a review): to the
    /// page "Older" came from, filters and all.
    @Test func newerGoesBackOnePageWithTheFilters() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            // 128 widget items: three pages of the widget's search.
            for n in 0..<(3 * InboxLimits.pageSize + 10) {
                _ = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: n % 5 == 0 ? .api : .widget, comment: "Item \(n)."),
                    at: start.addingTimeInterval(Double(n)), origin: nil)
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            func older(_ page: String) throws -> String {
                try #require(InboxTestBrowser.attribute("href", before: "rel=\"next\"", in: page)).replacingOccurrences(of: "&amp;", with: "&")
            }
            var pages = [try await browser.get("/inbox?source=widget&q=item").text]
            var addresses = ["/inbox?source=widget&q=item"]
            for _ in 0..<2 {
                addresses.append(try older(pages.last!))
                pages.append(try await browser.get(addresses.last!).text)
            }
            #expect(pages[2].contains("Item 1.") && !pages[2].contains("Item 0."))
            let newer = try #require(InboxTestBrowser.attribute("href", before: "rel=\"prev\"", in: pages[2]))
                .replacingOccurrences(of: "&amp;", with: "&")
            #expect(newer == addresses[1])
            #expect(pages[2].contains(">« Newest</a>"))
        }
    }

    /// A signed-out visitor following an item's link (what a Slack notification carries) signs in and lands on that
    /// item; a `next` that is not an item's page of this inbox sends them to the list, never elsewhere.
    @Test func signingInFromAnItemsLinkReturnsToThatItem() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let posted = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":4}"#)
            let id = try #require(posted.json["feedbackId"] as? String)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            let bounced = try await browser.get("/inbox/items/\(id)")
            #expect(bounced.status == 303)
            let location = try #require(bounced.header("Location"))
            #expect(location == "/inbox/login?next=/inbox/items/\(id)")
            let form = try await browser.get(location)
            let token = try #require(InboxTestBrowser.hiddenField("loginToken", in: form.text))
            #expect(InboxTestBrowser.hiddenField("next", in: form.text) == "/inbox/items/\(id)")
            let signedIn = try await browser.post(
                "/inbox/login", [("loginToken", token), ("adminKey", client.key), ("next", "/inbox/items/\(id)")])
            #expect(signedIn.status == 303)
            #expect(signedIn.header("Location") == "/inbox/items/\(id)")
            #expect(try await browser.get("/inbox/items/\(id)").status == 200)

            for next in ["https://evil.example/", "//evil.example/x", "/inbox/items/../../x", "/inbox/items/a/b", "/elsewhere"] {
                let other = InboxTestBrowser(baseURL: server.baseURL)
                let page = try await other.get("/inbox/login?next=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
                #expect(InboxTestBrowser.hiddenField("next", in: page.text) == nil, "\(next)")
                let token = try #require(InboxTestBrowser.hiddenField("loginToken", in: page.text))
                let done = try await other.post(
                    "/inbox/login", [("loginToken", token), ("adminKey", client.key), ("next", next)])
                #expect(done.header("Location") == "/inbox", "\(next)")
            }
        }
    }

    /// A session that ends while a filtered page is open (two idle hours, say): signing in again returns to that page
    /// with its filters, written anew from them, so a `next` naming anything else of the list is dropped.
    @Test func signingInAfterASessionEndedReturnsToTheFilteredPage() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            let bounced = try await browser.get("/inbox?source=widget&env=env%3Astaging&notice=deleted")
            #expect(bounced.status == 303)
            let location = try #require(bounced.header("Location"))
            #expect(location == "/inbox/login?next=/inbox%3Fsource%3Dwidget%26env%3Denv%253Astaging", "\(location)")
            let form = try await browser.get(location)
            let next = try #require(InboxTestBrowser.hiddenField("next", in: form.text))
            #expect(next == "/inbox?source=widget&amp;env=env%3Astaging" || next == "/inbox?source=widget&env=env%3Astaging")
            let token = try #require(InboxTestBrowser.hiddenField("loginToken", in: form.text))
            let signedIn = try await browser.post(
                "/inbox/login",
                [("loginToken", token), ("adminKey", client.key), ("next", "/inbox?source=widget&env=env%3Astaging")])
            #expect(signedIn.header("Location") == "/inbox?source=widget&env=env%3Astaging")

            // Only the list's own filters come back; an unfiltered list is the plain sign-in
            let other = InboxTestBrowser(baseURL: server.baseURL)
            let page = try await other.get("/inbox/login")
            let otherToken = try #require(InboxTestBrowser.hiddenField("loginToken", in: page.text))
            let done = try await other.post(
                "/inbox/login",
                [("loginToken", otherToken), ("adminKey", client.key), ("next", "/inbox?source=api&go=%2F%2Fevil.example")])
            #expect(done.header("Location") == "/inbox?source=api")

            // A search comes back too, as written (spaces, `&`, `+`, `#`, accents), the ends trimmed
            let searcher = InboxTestBrowser(baseURL: server.baseURL)
            let searchLogin = try await searcher.get("/inbox/login")
            let searchToken = try #require(InboxTestBrowser.hiddenField("loginToken", in: searchLogin.text))
            let searched = try await searcher.post(
                "/inbox/login",
                [("loginToken", searchToken), ("adminKey", client.key),
                 ("next", "/inbox?env=all&q=%20Q%26A%20%2B%20%231%20caf%C3%A9%20")])
            #expect(searched.header("Location") == "/inbox?env=all&q=Q%26A%20%2B%20%231%20caf%C3%A9")
            #expect(try await InboxTestBrowser(baseURL: server.baseURL).get("/inbox").header("Location") == "/inbox/login")
        }
    }

    /// A form's address opened in the browser (`/inbox/logout`), or a page's address sent a form: the inbox's own
    /// page saying so, with `Allow`, not the API's JSON.
    @Test func anAddressAskedWithTheWrongMethodIsAnInboxPage() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            for (method, path, allow) in [
                ("GET", "/inbox/logout", "POST"), ("GET", "/inbox/slack/connect", "POST"),
                ("GET", "/inbox/slack/settings", "POST"), ("POST", "/inbox", "GET, HEAD"),
                ("POST", "/inbox/items/fb_x", "GET, HEAD"),
            ] {
                let page = method == "GET" ? try await browser.get(path) : try await browser.post(path, [])
                #expect(page.status == 405, "\(method) \(path)")
                #expect(page.header("Allow") == allow, "\(method) \(path)")
                #expect(page.header("Content-Type")?.hasPrefix("text/html") == true, "\(method) \(path)")
                #expect(page.text.contains("Not a page to open"))
                #expect(page.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
            }
            // Still signed in: opening the sign-out address signed nobody out
            #expect(try await browser.get("/inbox").status == 200)
        }
    }

    // MARK: Slack

    @Test func connectSlackSaysWhenSlackIsNotConfigured() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            // The page says so where the status is, instead of a Connect button that could only fail
            let page = try await browser.get("/inbox").text
            #expect(page.contains("Slack is not configured on this server"))
            #expect(!page.contains("Slack: not connected"))
            #expect(!page.contains("/inbox/slack/connect"))

            // And a connect posted anyway (a page from before the settings went) is told the same
            let response = try await browser.post("/inbox/slack/connect", [("csrf", try await browser.csrfToken())])
            #expect(response.status == 303)
            let location = try #require(response.header("Location"))
            #expect(try await browser.get(location).text.contains("Slack is not configured on this server"))
        }
    }

    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly)) func showsTheSlackInstallationWithoutItsToken() async throws {
        try await TestServer.run(configure: { config in
            // A server that can install Slack (else the page says Slack is not configured, and offers no button);
            // nothing here calls Slack, so its API is a closed port.
            SlackTestSettings.configure(&config, fakeURL: "http://127.0.0.1:9/api/")
        }) { server in
            let client = try await server.createClient()
            try await server.parts.database.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO slack_installation (team_id, client_id, team_name, token_envelope, installed_at)
                        VALUES ('T0001', ?, 'Acme <Corp>', x'00', 1700000000000)
                        """,
                    arguments: [client.id])
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let html = try await browser.get("/inbox").text
            #expect(html.contains("connected to <strong>Acme &lt;Corp&gt;</strong>"))
            #expect(html.contains("Reconnect Slack"))
        }
    }
}

extension InboxTestBrowser {
    /// The value of `name="…"` in the tag that also holds `marker`.
    static func attribute(_ name: String, before marker: String, in html: String) -> String? {
        guard let markerRange = html.range(of: marker) else { return nil }
        let head = html[..<markerRange.lowerBound]
        guard let start = head.range(of: "\(name)=\"", options: .backwards) else { return nil }
        let rest = html[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }
}

extension InboxTests {
    @Test func aSignInSurvivesARestartOfTheServer() async throws {
        // Given a browser signed in to a server
        let folder = TestServer.makeFolder()
        let browser = try await TestServer.run(folder: folder) { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            #expect(try await browser.signIn(adminKey: client.key).status == 303)
            #expect(try await browser.get("/inbox").status == 200)
            return browser
        }
        // When the server is replaced by a new process on the same store (another port, as another instance)
        try await TestServer.run(folder: folder) { server in
            let again = InboxTestBrowser(baseURL: server.baseURL)
            again.cookies = browser.cookies
            // Then the session and its CSRF token still work
            let page = try await again.get("/inbox")
            #expect(page.status == 200)
            #expect(page.text.contains("No feedback here yet"))
            let csrf = try await again.csrfToken()
            let out = try await again.post("/inbox/logout", [("csrf", csrf)])
            #expect(out.status == 303)
            #expect(try await again.get("/inbox").status == 303)
        }
    }
}

// MARK: Filters that travel with the admin (mutation review)

extension InboxTests {
    /// Paging through a filtered list stays in it: "Older »" and "« Newest" keep the source and the environment, and
    /// an older page says so in its title.
    @Test func pagingAFilteredListKeepsItsFilters() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for n in 0..<(InboxLimits.pageSize + 3) {
                _ = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: .widget, comment: "Staging \(n).", environment: "staging"),
                    at: start.addingTimeInterval(Double(n)), origin: nil)
            }
            _ = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .widget, comment: "On the default environment"),
                at: start, origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            let first = try await browser.get("/inbox?source=widget&env=env%3Astaging").text
            let older = try #require(InboxTestBrowser.attribute("href", before: "rel=\"next\"", in: first))
                .replacingOccurrences(of: "&amp;", with: "&")
            #expect(older.hasPrefix("/inbox?source=widget&env=env%3Astaging&cursor="), "\(older)")
            let second = try await browser.get(older).text
            #expect(second.contains("Staging 0.") && !second.contains("On the default environment"))
            #expect(second.contains("<title>Inbox · environment staging, Widget only · older items · usero</title>"))
            let newest = try #require(InboxTestBrowser.attribute("href", before: ">« Newest", in: second))
            #expect(newest.replacingOccurrences(of: "&amp;", with: "&") == "/inbox?source=widget&env=env%3Astaging")
        }
    }

    /// The search field finds text in comments and emails, in any case, within the other filters; the field shows
    /// it, the title says it, and paging and deleting keep it. A search for markup is text, not markup.
    @Test func searchingFindsCommentsAndEmailsAndPagingAndDeletingKeepIt() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let store = server.parts.store
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for n in 0..<(InboxLimits.pageSize + 2) {
                _ = try await store.insert(
                    FeedbackDraft(clientId: client.id, source: .widget, comment: "Export \(n) to CSV times out"),
                    at: start.addingTimeInterval(Double(n)), origin: nil)
            }
            let byEmail = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Lovely", userEmail: "ana@csv.example"),
                at: start.addingTimeInterval(100), origin: nil)
            _ = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Unrelated praise"),
                at: start.addingTimeInterval(101), origin: nil)
            // Older than the email's item and of its source, but not found: the deletion does not come back at it.
            _ = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Older, unrelated"),
                at: start.addingTimeInterval(99), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            // Written back as text, in the field and in the links.
            let odd = try await browser.get("/inbox?q=Q%26A%20%2B%20%22%231%22%20caf%C3%A9").text
            #expect(odd.contains(#"value="Q&amp;A + &quot;#1&quot; café""#))
            #expect(odd.contains("matching “Q&amp;A + &quot;#1&quot; café”"))

            let first = try await browser.get("/inbox?q=%20csv%20").text
            #expect(first.contains(#"<input id="q" name="q" type="search" maxlength="200" value="csv">"#))
            #expect(first.contains("<title>Inbox · default environment, all sources, matching “csv” · usero</title>"))
            #expect(first.contains("Lovely") && first.contains("Export 51 to CSV") && !first.contains("Unrelated"))
            let older = try #require(InboxTestBrowser.attribute("href", before: "rel=\"next\"", in: first))
                .replacingOccurrences(of: "&amp;", with: "&")
            #expect(older.hasPrefix("/inbox?q=csv&cursor="), "\(older)")
            let second = try await browser.get(older).text
            #expect(second.contains("Export 0 to CSV") && !second.contains("Unrelated"))

            // Within a source; and nothing found says the filters are why.
            let api = try await browser.get("/inbox?source=api&q=CSV").text
            #expect(api.contains("Lovely") && !api.contains("Export"))
            let none = try await browser.get("/inbox?q=%3Cb%3Enothing%3C%2Fb%3E").text
            #expect(none.contains("No feedback here yet for these filters."))
            #expect(none.contains("value=\"&lt;b&gt;nothing&lt;/b&gt;\""))

            // Deleting from a search comes back to it.
            let deleteLink = try #require(
                InboxTestBrowser.attribute("href", before: ">Delete<span", in: api)?
                    .replacingOccurrences(of: "&amp;", with: "&"))
            #expect(deleteLink == "/inbox/items/\(byEmail.id)/delete?source=api&q=CSV")
            let confirm = try await browser.get(deleteLink).text
            let text = try #require(InboxTestBrowser.hiddenField("q", in: confirm))
            #expect(text == "CSV")
            let deleted = try await browser.post(
                "/inbox/items/\(byEmail.id)/delete",
                [("csrf", try #require(InboxTestBrowser.hiddenField("csrf", in: confirm))), ("source", "api"),
                 ("env", "default"), ("q", text), ("cursor", "")])
            #expect(deleted.status == 303)
            #expect(deleted.header("Location") == "/inbox?source=api&q=CSV&notice=deleted")
        }
    }

    /// The filter form shows the filters the page applies, so pressing Apply again does not drop one; an empty
    /// filtered list says the filters are why.
    @Test func theFilterFormShowsTheChosenSourceAndEnvironment() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            _ = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "From the API"), at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            let widgets = try await browser.get("/inbox?source=widget").text
            #expect(widgets.contains("<option value=\"widget\" selected>Widget</option>"))
            #expect(!widgets.contains("<option value=\"\" selected>"))
            #expect(widgets.contains("<option value=\"default\" selected>Default environment</option>"))
            #expect(widgets.contains("No feedback here yet for these filters."))

            let all = try await browser.get("/inbox?env=all&source=slack").text
            #expect(all.contains("<option value=\"slack\" selected>Slack</option>"))
            #expect(all.contains("<option value=\"all\" selected>All environments</option>"))

            let allSources = try await browser.get("/inbox?env=env%3Astaging").text
            #expect(allSources.contains("<option value=\"\" selected>All sources</option>"))
            #expect(allSources.contains("No feedback here yet for these filters."))
        }
    }

    /// Deleting from a named environment's list comes back to that environment, at the next item of that list (not
    /// at an item of another environment that happens to follow it in time).
    @Test func deletingInANamedEnvironmentComesBackToItAtItsNextItem() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let store = server.parts.store
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            let older = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Older on staging", environment: "staging"),
                at: start, origin: nil)
            _ = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Between, on production", environment: "production"),
                at: start.addingTimeInterval(1), origin: nil)
            let newer = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Newer on staging", environment: "staging"),
                at: start.addingTimeInterval(2), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            let list = try await browser.get("/inbox?env=env%3Astaging").text
            let deleteLink = try #require(
                InboxTestBrowser.attribute("href", before: ">Delete<span", in: list)?
                    .replacingOccurrences(of: "&amp;", with: "&"))
            #expect(deleteLink == "/inbox/items/\(newer.id)/delete?env=env%3Astaging")
            let confirm = try await browser.get(deleteLink).text
            // The confirmation's form carries the list's environment, as the browser posts it
            let env = try #require(InboxTestBrowser.hiddenField("env", in: confirm))
            #expect(env == "env:staging")
            let deleted = try await browser.post(
                "/inbox/items/\(newer.id)/delete",
                [("csrf", try #require(InboxTestBrowser.hiddenField("csrf", in: confirm))),
                 ("source", try #require(InboxTestBrowser.hiddenField("source", in: confirm))), ("env", env),
                 ("cursor", try #require(InboxTestBrowser.hiddenField("cursor", in: confirm)))])
            #expect(deleted.status == 303)
            #expect(deleted.header("Location") == "/inbox?env=env%3Astaging&notice=deleted&at=\(older.id)#item-\(older.id)")
        }
    }

    /// An item opened from its own link (a Slack notification's) is deleted back to the list of every environment,
    /// which holds it whatever its environment, not to the default one.
    @Test func deletingFromAnItemsOwnPageComesBackToAllEnvironments() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let item = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Staging bug", environment: "staging"),
                at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let page = try await browser.get("/inbox/items/\(item.id)").text
            // "All feedback" is all of it: the list of every environment, where this staging item is
            #expect(InboxTestBrowser.attribute("href", before: ">« All feedback<", in: page) == "/inbox?env=all")
            #expect(try await browser.get("/inbox?env=all").text.contains("Staging bug"))
            #expect(try await !browser.get("/inbox").text.contains("Staging bug"))
            let deleteLink = try #require(InboxTestBrowser.attribute("href", before: ">Delete<span", in: page))
            #expect(deleteLink == "/inbox/items/\(item.id)/delete?env=all")
            let confirm = try await browser.get(deleteLink).text
            #expect(InboxTestBrowser.hiddenField("env", in: confirm) == "all")
            let deleted = try await browser.post(
                "/inbox/items/\(item.id)/delete", [("csrf", try await browser.csrfToken()), ("env", "all")])
            #expect(deleted.header("Location") == "/inbox?env=all&notice=deleted")
        }
    }

    /// An item opened from a filtered, paged list keeps that list: its page leads back to it, at the item, and
    /// deleting it there comes back to that page of it, as deleting from the list does.
    @Test func anItemOpenedFromAFilteredPageGoesBackToThatPage() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let start = Date().addingTimeInterval(-600)
            var ids: [String] = []
            for index in 0..<53 {
                let item = try await server.parts.store.insert(
                    FeedbackDraft(
                        clientId: client.id, source: .widget, comment: "Crash \(index) on export", environment: "staging"),
                    at: start.addingTimeInterval(Double(index)), origin: nil)
                ids.append(item.id)
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let first = try await browser.get("/inbox?source=widget&env=env%3Astaging&q=crash").text
            let older = try #require(InboxTestBrowser.attribute("href", before: "rel=\"next\"", in: first))
                .replacingOccurrences(of: "&amp;", with: "&")
            let list = String(older.split(separator: "#")[0])
            #expect(list.hasPrefix("/inbox?source=widget&env=env%3Astaging&q=crash&cursor="), "\(list)")
            let second = try await browser.get(older).text
            // The page's second item: "Crash 1", whose neighbour below is "Crash 0"
            let itemLink = try #require(
                InboxTestBrowser.attribute("href", before: "><time datetime", in: second.components(
                    separatedBy: "Crash 2 on export").last ?? "")?.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(itemLink == "/inbox/items/\(ids[1])" + list.dropFirst("/inbox".count), "\(itemLink)")

            // From the default view's first page too: back to it, not to all feedback.
            _ = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Default one"), at: Date(), origin: nil)
            let defaultView = try await browser.get("/inbox").text
            let defaultLink = try #require(
                InboxTestBrowser.attribute("href", before: "><time datetime", in: defaultView))
            #expect(defaultLink.hasSuffix("?env=default"), "\(defaultLink)")
            let defaultItem = try await browser.get(defaultLink).text
            let defaultBack = try #require(InboxTestBrowser.attribute("href", before: ">« Back to the list<", in: defaultItem))
            #expect(defaultBack.hasPrefix("/inbox#item-"), "\(defaultBack)")

            let page = try await browser.get(itemLink).text
            #expect(page.contains("Crash 1 on export"))
            #expect(InboxTestBrowser.attribute("href", before: ">« Back to the list<", in: page)?
                .replacingOccurrences(of: "&amp;", with: "&") == list + "#item-\(ids[1])")
            let deleteLink = try #require(
                InboxTestBrowser.attribute("href", before: ">Delete<span", in: page)?
                    .replacingOccurrences(of: "&amp;", with: "&"))
            #expect(deleteLink == "/inbox/items/\(ids[1])/delete" + list.dropFirst("/inbox".count))
            let confirm = try await browser.get(deleteLink).text
            let cursor = try #require(InboxTestBrowser.hiddenField("cursor", in: confirm))
            let deleted = try await browser.post(
                "/inbox/items/\(ids[1])/delete",
                [("csrf", try #require(InboxTestBrowser.hiddenField("csrf", in: confirm))), ("source", "widget"),
                 ("env", "env:staging"), ("q", "crash"), ("cursor", cursor)])
            #expect(deleted.header("Location") == list + "&notice=deleted&at=\(ids[0])#item-\(ids[0])")
            let back = try await browser.get(try #require(deleted.header("Location"))).text
            #expect(back.contains("Feedback deleted.") && back.contains("Crash 0 on export") && !back.contains("Crash 1 on"))
        }
    }

    /// An item deleted twice (from two open tabs, say) is not reported deleted again: the second time says it is gone.
    @Test func deletingAnItemAlreadyDeletedSaysItIsGone() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let item = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Twice"), at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let csrf = try await browser.csrfToken()
            #expect(try await browser.post("/inbox/items/\(item.id)/delete", [("csrf", csrf)]).status == 303)
            let again = try await browser.post("/inbox/items/\(item.id)/delete", [("csrf", csrf)])
            #expect(again.status == 404)
            #expect(again.text.contains("already deleted"))
            #expect(again.header("Location") == nil)
        }
    }

    /// A sign-in link for an item, opened when already signed in (a tab left on the sign-in form while another tab
    /// signed in), goes straight to that item rather than to the list.
    @Test func aSignInLinkOpenedWhenSignedInGoesToItsItem() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let item = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Linked"), at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let opened = try await browser.get("/inbox/login?next=%2Finbox%2Fitems%2F\(item.id)")
            #expect(opened.status == 303)
            #expect(opened.header("Location") == "/inbox/items/\(item.id)")
            #expect(try await browser.get("/inbox/login").header("Location") == "/inbox")
        }
    }

    /// A Delete pressed after the session ended (the list left open overnight) signs in and comes back to that
    /// item, Delete one step away, not to the top of the inbox.
    @Test func aDeleteOpenedSignedOutComesBackToItsItemAfterSignIn() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let item = try await server.parts.store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Left open"), at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            let opened = try await browser.get("/inbox/items/\(item.id)/delete?env=all")
            #expect(opened.status == 303)
            #expect(opened.header("Location") == "/inbox/login?next=/inbox/items/\(item.id)")
        }
    }
}

extension InboxTests {
    /// A Slack item's "Open in Slack" link is offered only for a web address: a stored permalink of another scheme
    /// (`javascript:`) is no link on the page.
    @Test func openInSlackIsOnlyEverAWebLink() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            _ = try await server.parts.store.insert(
                FeedbackDraft(
                    clientId: client.id, source: .slack, comment: "Odd permalink",
                    slack: SlackCapture(
                        teamId: "T0001", channelId: "C0001", messageTs: "1700000000.000100", threadTs: nil,
                        authorId: "U0002", forwardedBy: "U0001", capturedVia: .shortcut,
                        permalink: "javascript:alert(1)")),
                at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let html = try await browser.get("/inbox").text
            #expect(html.contains("Odd permalink") && html.contains("message shortcut"))
            #expect(!html.contains("javascript:"))
            #expect(!html.contains("Open in Slack"))
        }
    }

    /// Exactly as many environments as the filter lists: every one is offered, and the page does not claim the list
    /// is cut nor offer the field for typing a name.
    @Test func exactlyAHundredEnvironmentsAreAllListedWithoutTheTypingField() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            for n in 0..<InboxLimits.environmentLimit {
                _ = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: .api, rating: 2, environment: "pr-\(1000 + n)"),
                    at: Date(), origin: nil)
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let page = try await browser.get("/inbox?env=all").text
            #expect(page.components(separatedBy: "<option value=\"env:").count - 1 == InboxLimits.environmentLimit)
            #expect(!page.contains("name=\"envName\""))
            #expect(!page.contains("first 100 environments"))
        }
    }

    /// An unclosed RIGHT-TO-LEFT OVERRIDE in what a submitter sent turned the page's own text around it (found by a
    /// review: "Read all" read "lla daeR", a user id `user‮-admin` read `usernimda-`, the list's heading and title
    /// reversed after an environment's name): each such value is set apart, without the override.
    @Test func textFromSubmittersCannotTurnThePagesOwnTextAround() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let store = server.parts.store
            let long = "\u{202E}" + String(repeating: "please refund me now ", count: 40)
            _ = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, rating: 1, comment: long, userId: "user\u{202E}-admin"),
                at: Date(), origin: nil)
            _ = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, rating: 4, comment: "شكرا جزيلا، التطبيق رائع!"),
                at: Date(), origin: nil)
            _ = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "plain words", environment: "\u{202E}prod"),
                at: Date(), origin: nil)
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)

            let page = try await browser.get("/inbox")
            #expect(page.status == 200)
            // Only where a form sends the name back as it is stored.
            let environmentValue = "value=\"env:\u{202E}prod\""
            #expect(!page.text.replacingOccurrences(of: environmentValue, with: "").unicodeScalars.contains("\u{202E}"))
            // The cut comment's own isolate ends before the page's link.
            #expect(page.text.contains("…\u{2069} <a href="), "\(page.text)")
            #expect(page.text.contains("<code>\u{2068}user-admin\u{2069}</code>"))
            #expect(page.text.contains(">\u{2068}شكرا جزيلا، التطبيق رائع!\u{2069}<"))
            // The environment in the filter's list, the heading and the title.
            #expect(page.text.contains(">\u{2068}prod\u{2069}</option>"))
            let filtered = try await browser.get("/inbox?env=env%3A%E2%80%AEprod")
            #expect(!filtered.text.replacingOccurrences(of: environmentValue, with: "").unicodeScalars.contains("\u{202E}"))
            #expect(filtered.text.contains("<title>Inbox · environment \u{2068}prod\u{2069}, all sources · usero</title>"))
            #expect(filtered.text.contains(">plain words<"), "left-to-right text is shown as it is")
        }
    }

    /// Deleting the last item of an older page came back to that page, empty, saying "No feedback here yet." with
    /// items on the pages before it (found by a review); so did a bookmark past the list's end.
    @Test func anOlderPageWithNothingLeftOnItOpensTheNewestPage() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for n in 0...InboxLimits.pageSize {
                _ = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: .api, rating: 2, comment: "Item \(n)"),
                    at: start.addingTimeInterval(Double(n)), origin: nil)
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let first = try await browser.get("/inbox")
            let older = try #require(
                first.text.components(separatedBy: "href=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
                    .first { $0.contains("cursor=") }?.replacingOccurrences(of: "&amp;", with: "&"))
            let cursor = try #require(older.components(separatedBy: "cursor=").last)
            let second = try await browser.get(older)
            #expect(second.text.contains("Item 0"))
            let oldest = try #require(
                second.text.components(separatedBy: "id=\"item-").dropFirst().first.map { String($0.prefix { $0 != "\"" }) })

            let deleted = try await browser.post(
                "/inbox/items/\(oldest)/delete",
                [("csrf", try await browser.csrfToken()), ("env", "default"), ("cursor", cursor)])
            let back = try await browser.get(try #require(deleted.header("Location")))
            #expect(back.status == 303)
            #expect(back.header("Location") == "/inbox?notice=deleted")
            let newest = try await browser.get("/inbox?notice=deleted")
            #expect(newest.text.contains("Feedback deleted.") && newest.text.contains("Item \(InboxLimits.pageSize)"))
            #expect(!newest.text.contains("No feedback here yet"))
            // One page left: no pager, not an empty landmark.
            #expect(!newest.text.contains("class=\"pager\""))
        }
    }

    /// Past the second page, an emptied page opens the page just before it, not the newest (a review's second look).
    @Test func aThirdPageWithNothingLeftOpensTheSecond() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for n in 0...(2 * InboxLimits.pageSize) {
                _ = try await server.parts.store.insert(
                    FeedbackDraft(clientId: client.id, source: .api, rating: 2, comment: "Item \(n)"),
                    at: start.addingTimeInterval(Double(n)), origin: nil)
            }
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            func older(_ page: String) throws -> String {
                try #require(InboxTestBrowser.attribute("href", before: "rel=\"next\"", in: page)).replacingOccurrences(of: "&amp;", with: "&")
            }
            let second = try older(try await browser.get("/inbox").text)
            let third = try older(try await browser.get(second).text)
            let cursor = try #require(third.components(separatedBy: "cursor=").last)
            let page = try await browser.get(third).text
            let oldest = try #require(page.components(separatedBy: "id=\"item-").dropFirst().first.map { String($0.prefix { $0 != "\"" }) })
            let deleted = try await browser.post(
                "/inbox/items/\(oldest)/delete", [("csrf", try await browser.csrfToken()), ("env", "default"), ("cursor", cursor)])
            let back = try await browser.get(try #require(deleted.header("Location")))
            #expect(back.status == 303)
            #expect(back.header("Location") == second + "&notice=deleted")
        }
    }

    /// A form sent after the session ended (Delete, Sign out, Save Slack settings) said so with a bare Sign in link:
    /// after signing in the item and the list's place were gone (found by a review). The link now returns where a
    /// GET's redirect would, and Sign out of an ended session is done rather than refused.
    @Test func aFormSentAfterTheSessionEndedSignsInBackToItsPage() async throws {
        try await TestServer.run { server in
            let (item, browser, csrf) = try await Self.signedInWithOneItem(server)
            try await server.execute("DELETE FROM inbox_session")

            let refused = try await browser.post("/inbox/items/\(item.id)/delete", [("csrf", csrf), ("env", "default")])
            #expect(refused.status == 403)
            #expect(refused.text.contains("href=\"/inbox/login?next=/inbox/items/\(item.id)&amp;notice=ended\""), "\(refused.text)")
            #expect(try await server.count("feedback") == 1)
            let settings = try await browser.post("/inbox/slack/settings", [("csrf", csrf), ("triggerEmoji", "bug")])
            #expect(settings.status == 403)
            #expect(settings.text.contains("href=\"/inbox/login?notice=ended\""))

            let signedOut = try await browser.post("/inbox/logout", [("csrf", csrf)])
            #expect(signedOut.status == 303)
            #expect(signedOut.header("Location") == "/inbox/login?notice=ended")
            #expect(browser.cookies[InboxCookies.session] == nil)
        }
    }

    /// A form sends a line feed in an option's value as CR LF, so an environment named with one was listed but
    /// never shown when picked (found by a review): the API refuses such names, naming the field, and stores nothing.
    @Test func anEnvironmentWithALineBreakIsRefused() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let refused = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"environment":"line\nbreak"}"#)
            #expect(refused.status == 400)
            #expect(refused.text.contains("environment") && refused.text.contains("control characters"), "\(refused.text)")
            #expect(try await server.count("feedback") == 0)
        }
    }

    /// A new project's inbox said only "No feedback here yet.": the client id the widget and the API need was in a
    /// tooltip alone (found by a review). The empty inbox shows it, with the widget's demo page for it.
    @Test func anEmptyInboxShowsTheClientIDAndWhereToTryIt() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let browser = InboxTestBrowser(baseURL: server.baseURL)
            try await browser.signIn(adminKey: client.key)
            let empty = try await browser.get("/inbox").text
            #expect(empty.contains("This project's client id is <code>\(client.id)</code>"))
            let demo = try #require(InboxTestBrowser.attribute("href", before: ">the widget's demo page", in: empty))
            #expect(demo == "/widget/demo?clientId=\(client.id)")
            #expect(try await server.request("GET", demo).status == 200)

            #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":4}"#).status == 200)
            #expect(!(try await browser.get("/inbox").text.contains("This project's client id")))
        }
    }
}
