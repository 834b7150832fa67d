import Feedback
import Foundation
import Mustache
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

@Suite struct InboxViewTests {
    /// Every stored property is reachable through `child(named:)`, so the switch cannot drift from the struct.
    @Test func mustacheLookupsCoverEveryPropertyOfTheViews() throws {
        let draft = FeedbackDraft(
            clientId: "client_a", source: .slack, rating: 3, comment: "c", userEmail: "e@example.com",
            pageUrl: "https://x.example/", pageTitle: "t", referrer: "r", metadata: .object(["a": .int(1)]),
            screenshots: [
                ScreenshotRef(
                    fileName: "client_a/1-a.png", url: "u", fileSize: 1, mimeType: "image/png", width: 1, height: 1)
            ],
            sessionReplayId: "s", replayOffsetMs: 5, userId: "u",
            slack: SlackCapture(
                teamId: "T", channelId: "C", messageTs: "1.2", threadTs: nil, authorId: nil, forwardedBy: nil,
                capturedVia: .command, permalink: "https://slack.example/p"))
        var item = ItemView(
            FeedbackItem(id: "fb_1", clientId: "client_a", createdAt: Date(), draft: draft),
            filter: InboxFilter(source: nil, env: nil), inList: true)
        item.itemNotice = "n"
        let chrome = Chrome(documentTitle: "d", signedIn: true, clientID: "c", clientName: "n", csrfToken: "t")
        let views: [any MustacheParent] = [
            item, try #require(item.pageLink), try #require(item.replay), try #require(item.slackCapture),
            try #require(item.screenshots.first),
            chrome,
            LoginView(loginToken: "l", errorText: "e", next: "/inbox/items/x", loginNotice: "n"), OptionView(value: "v", label: "l", isSelected: true),
            SlackInstallView(workspace: "w", installedAtISO: "i", installedAtText: "t", isRevoked: false),
            MessageView(chrome: chrome, heading: "h", text: "t", backHref: "b", backLabel: "l"),
            SlackSettingsView(
                triggerEmojiText: "bug", notifyChannelText: "C1", notifyProblemText: "p", missingScopesText: "m"),
            SingleItemView(chrome: chrome, item: item, listHref: "/inbox", listLabel: "l"),
            ListView(
                chrome: chrome, noticeText: "n",
                slackSettings: SlackSettingsView(
                    triggerEmojiText: "bug", notifyChannelText: "C1", notifyProblemText: "p", missingScopesText: "m"),
                sourceOptions: [], environmentOptions: [], environmentsCut: true, filterSummary: "f", environmentsHint: "h",
                allEnvironmentsHref: "/inbox?env=all", isFiltered: false,
                slackInstall: SlackInstallView(workspace: "w", installedAtISO: "i", installedAtText: "t", isRevoked: false),
                slackButtonLabel: "s", slackConfigured: true, items: [item], hasItems: true, newerHref: "/inbox", previousHref: "/inbox?cursor=y", olderHref: "/inbox?cursor=x",
                exportHref: "/inbox/export.csv", setupClientID: "client_a", setupDemoHref: "/widget/demo?clientId=client_a"),
            ConfirmView(
                chrome: chrome, item: item, deleteID: "d", returnSource: "s",
                returnEnvironment: "e", returnText: "q", returnCursor: "c", cancelHref: "h"),
        ]
        for view in views {
            for child in Mirror(reflecting: view).children {
                let label = try #require(child.label)
                #expect(view.child(named: label) != nil, "\(type(of: view)).\(label) is not looked up")
            }
        }
    }

    /// A Slack message is stored as Slack sends it (its markup, `&` as `&amp;`); the inbox shows it as it reads in
    /// Slack.
    @Test(arguments: [
        ("Q&amp;A page: 2 &lt; 3 &gt; 1", "Q&A page: 2 < 3 > 1"),
        ("typed &amp;lt; literally", "typed &lt; literally"),
        ("<@U0123> and <@U0456|ada>", "@U0123 and @ada"),
        ("in <#C0001|eng-feedback> and <#C0002>", "in #eng-feedback and #C0002"),
        ("<!here> <!channel> <!subteam^S0123|@design> <!subteam^S0456>", "@here @channel @design @subteam"),
        ("since <!date^1392734382^{date}|Feb 18, 2014>", "since Feb 18, 2014"),
        ("see <https://example.com/a?b=1&amp;c=2|the docs>", "see the docs (https://example.com/a?b=1&c=2)"),
        ("<https://example.com/x> <https://example.com/y|https://example.com/y>", "https://example.com/x https://example.com/y"),
        ("<mailto:ada@example.com|ada@example.com>", "ada@example.com"),
        ("a <b without its end", "a <b without its end"),
        ("if a < b and c > d", "if a < b and c > d"),  // as typed where Slack did not escape it
        ("<not a link>", "<not a link>"), ("<b>bold?</b>", "<b>bold?</b>"), ("<!-- note -->", "<!-- note -->"),
        ("Crash\n[file: Q&amp;A &lt;1&gt;.png]", "Crash\n[file: Q&A <1>.png]"),
        ("", ""),
    ])
    func slackMarkupReadsAsItDoesInSlack(_ stored: String, _ shown: String) {
        #expect(SlackMarkup.plainText(stored) == shown)
    }

    @Test func templatesCompile() throws {
        let library = try InboxTemplates.library()
        for (name, _) in InboxTemplates.sources { #expect(library.getTemplate(named: name) != nil) }
    }

    @Test(arguments: ["", "plain text", "<script>alert('x')</script>", "a & b \"c\" > d", "naïve 日本 <é>", "&amp;"])
    func inboxEscapingMatchesTheLibrarys(_ text: String) throws {
        InboxHTMLContentType.register()
        // The library's own HTML escaping, through a template without the pragma…
        let reference = try MustacheTemplate(string: "{{value}}").render(["value": text])
        // …and ours, through one with it.
        let ours = try MustacheTemplate(string: "{{% CONTENT_TYPE: INBOX_HTML}}{{value}}").render(["value": text])
        #expect(ours == reference)
    }
}

extension InboxViewTests {
    /// Times read as a clock does: hours and minutes under ten keep their leading zero (`05:09`, not `5:9`).
    @Test func timesShowTwoDigitHoursAndMinutes() {
        #expect(InboxFormat.dateText(Date(timeIntervalSince1970: 1_767_589_740)) == "5 Jan 2026, 05:09 UTC")
        #expect(InboxFormat.dateText(Date(timeIntervalSince1970: 1_767_589_740 + 60)) == "5 Jan 2026, 05:10 UTC")
    }

    /// Text from submitters is set apart line by line, without the controls that embed or override direction (a
    /// stray POP DIRECTIONAL ISOLATE of its own would close ours early); plain left-to-right text is left as it is.
    @Test func submittersTextIsIsolatedLineByLineWithoutDirectionControls() {
        #expect(InboxFormat.isolated("plain words, 42") == "plain words, 42")
        #expect(InboxFormat.isolated("user\u{202E}-admin") == "\u{2068}user-admin\u{2069}")
        #expect(InboxFormat.isolated("a\u{2069}\u{202E}b\nc") == "\u{2068}ab\u{2069}\n\u{2068}c\u{2069}")
        #expect(InboxFormat.isolated("شكرا!") == "\u{2068}شكرا!\u{2069}")
        // CR LF stays one line end (a review found marks between them, which HTML read as two).
        #expect(InboxFormat.isolated("سطر\r\nآخر") == "\u{2068}سطر\u{2069}\r\n\u{2068}آخر\u{2069}")
        #expect(InboxFormat.isolated("Grüße … 東京 🎉") == "Grüße … 東京 🎉")
    }
}
