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
        let item = ItemView(
            FeedbackItem(id: "fb_1", clientId: "client_a", createdAt: Date(), draft: draft),
            filter: InboxFilter(source: nil, env: nil))
        let chrome = Chrome(documentTitle: "d", signedIn: true, clientID: "c", clientName: "n", csrfToken: "t")
        let views: [any MustacheParent] = [
            item, try #require(item.pageLink), try #require(item.replay), try #require(item.slackCapture),
            try #require(item.screenshots.first),
            chrome,
            LoginView(loginToken: "l", errorText: "e", next: "/inbox/items/x"), OptionView(value: "v", label: "l", isSelected: true),
            SlackInstallView(workspace: "w", installedAtISO: "i", installedAtText: "t", isRevoked: false),
            MessageView(chrome: chrome, heading: "h", text: "t", backHref: "b", backLabel: "l"),
            SlackSettingsView(
                triggerEmojiText: "bug", notifyChannelText: "C1", notifyProblemText: "p", missingScopesText: "m"),
            SingleItemView(chrome: chrome, item: item),
            ListView(
                chrome: chrome, noticeText: "n",
                slackSettings: SlackSettingsView(
                    triggerEmojiText: "bug", notifyChannelText: "C1", notifyProblemText: "p", missingScopesText: "m"),
                sourceOptions: [], environmentOptions: [], environmentsCut: true, filterSummary: "f", isFiltered: false,
                slackInstall: SlackInstallView(workspace: "w", installedAtISO: "i", installedAtText: "t", isRevoked: false),
                slackButtonLabel: "s", slackConfigured: true, items: [item], hasItems: true, newerHref: "/inbox", olderHref: "/inbox?cursor=x"),
            ConfirmView(
                chrome: chrome, item: item, deleteID: "d", returnSource: "s",
                returnEnvironment: "e", returnCursor: "c", cancelHref: "h"),
        ]
        for view in views {
            for child in Mirror(reflecting: view).children {
                let label = try #require(child.label)
                #expect(view.child(named: label) != nil, "\(type(of: view)).\(label) is not looked up")
            }
        }
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
