import Feedback
import Foundation

extension ListView {
    /// Notices the list can show, by the code in `?notice=`; anything else shows nothing.
    static let notices = [
        "deleted": "Feedback deleted.",
        "slack-unconfigured":
            "Slack is not configured on this server: set SLACK_SIGNING_SECRET, SLACK_CLIENT_ID and "
            + "SLACK_CLIENT_SECRET.",
        "slack-settings-saved": "Slack settings saved.",
    ]

    init(
        visitor: InboxVisitor, filter: InboxFilter, page: FeedbackPage, environments: [String],
        installation: InboxSlack.Installation?, notice: String?, noticeAt: String? = nil,
        previousPage: FeedbackCursor? = nil,
        settings: InboxSlack.Settings? = nil,
        slackConfigured: Bool = true
    ) {
        self.slackConfigured = slackConfigured
        chrome = visitor.chrome(title: "Inbox")
        noticeText = notice.flatMap { Self.notices[$0] }
        slackSettings = settings.map { found in
            SlackSettingsView(
                triggerEmojiText: found.triggerEmoji.joined(separator: ", "),
                notifyChannelText: found.notifyChannel ?? "",
                notifyProblemText: found.notifyProblem.map { text in
                    found.notifyProblemAt.map { text + " (last failure: " + InboxFormat.dateText($0) + ")" } ?? text
                },
                missingScopesText: found.missingScopes.isEmpty
                    ? nil
                    : "This installation lacks the Slack permissions " + found.missingScopes.joined(separator: ", ")
                        + ", which usero needs to recover reactions missed while it was down. Press Reconnect Slack "
                        + "to grant them; the settings stay.")
        }
        searchText = filter.text ?? ""
        sourceOptions =
            [OptionView(value: "", label: "All sources", isSelected: filter.source == nil)]
            + FeedbackSource.allCases.map { source in
                OptionView(
                    value: source.rawValue, label: ItemView.sourceLabels[source] ?? source.rawValue,
                    isSelected: filter.source == source)
            }
        // One more than the filter lists is asked for, to know that the list is cut.
        environmentsCut = environments.count > InboxLimits.environmentLimit
        var names = Array(environments.prefix(InboxLimits.environmentLimit))
        if case .named(let name) = filter.environment, !names.contains(name) { names.append(name) }
        environmentOptions =
            [
                OptionView(
                    value: "default", label: "Default environment",
                    isSelected: filter.environment == .defaultEnvironment),
                OptionView(value: "all", label: "All environments", isSelected: filter.environment == .all),
            ]
            + names.map { OptionView(value: "env:" + $0, label: InboxFormat.isolated($0), isSelected: filter.environment == .named($0)) }
        let sourceText = filter.source.map { (ItemView.sourceLabels[$0] ?? $0.rawValue) + " only" } ?? "all sources"
        let environmentText =
            switch filter.environment {
            case .defaultEnvironment: "default environment"
            case .all: "all environments"
            case .named(let name): "environment \(InboxFormat.isolated(name))"
            }
        filterSummary = "\(environmentText), \(sourceText)" + (filter.text.map { ", matching “\(InboxFormat.isolated($0))”" } ?? "")
        if filter.environment == .defaultEnvironment, !environments.isEmpty {
            let shown = environments.prefix(3).map(InboxFormat.isolated).joined(separator: ", ") + (environments.count > 3 ? ", …" : "")
            environmentsHint = "Feedback sent with an environment (\(shown)) is not shown here."
            allEnvironmentsHref = InboxFilter(source: filter.source?.rawValue, env: "all", text: filter.text).href()
        }
        // Every list page says in its title which one it is (and what just happened, as a screen reader meets the
        // title first on the page a change led to).
        chrome.documentTitle =
            (noticeText.map { $0 + " " } ?? "") + "Inbox · " + filterSummary + (filter.cursor == nil ? "" : " · older items")
        isFiltered = filter.isFiltered
        slackInstall = installation.map { found in
            SlackInstallView(
                workspace: found.teamName.map(InboxFormat.isolated) ?? "a Slack workspace", installedAtISO: iso8601(found.installedAt),
                installedAtText: InboxFormat.dateText(found.installedAt), isRevoked: found.isRevoked)
        }
        slackButtonLabel = installation == nil ? "Connect Slack" : "Reconnect Slack"
        items = page.items.map { ItemView($0, filter: filter, inList: true) }
        // A notice about the item the page opens at (the one after a deleted item) stands there, not at the top.
        if let noticeAt, let text = noticeText, let index = items.firstIndex(where: { $0.itemID == noticeAt }) {
            items[index].itemNotice = text
            noticeText = nil
        }
        hasItems = !items.isEmpty
        newerHref = filter.cursor == nil ? nil : filter.href()
        previousHref = previousPage.map { filter.href(cursor: $0) }
        olderHref = page.next.map { filter.href(cursor: $0) }
        exportHref = items.isEmpty ? nil : filter.href(path: "/inbox/export.csv")
        if items.isEmpty, !filter.isFiltered, filter.cursor == nil, environments.isEmpty {
            setupClientID = visitor.client.id
            setupDemoHref = "/widget/demo?clientId=" + InboxFilter.encode(visitor.client.id)
        }
    }
}
