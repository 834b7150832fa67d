import Feedback
import Foundation

// MARK: Page-level views (rendered by InboxTemplates; every string is escaped by `{{…}}`)

/// What every signed-in page shows in its header.
/// What every page's frame shows: its title and, when signed in, the client and the CSRF token for its forms.
struct Chrome: Sendable {
    var documentTitle: String
    var signedIn: Bool
    var clientID: String
    var clientName: String
    var csrfToken: String
}

struct LoginView: Sendable {
    var signedIn = false
    var loginToken: String
    /// A refused sign-in: said on the page, tied to the field, and first in the title.
    var errorText: String?
    var documentTitle: String { errorText == nil ? "Sign in" : "Error: Sign in" }
    /// The item page to return to after signing in, when the visitor came from one.
    var next: String?
    /// Why the form is shown, when the visitor was signed in a moment ago: they signed out, or their session ended.
    var loginNotice: String?
}

struct OptionView: Sendable {
    var value: String
    var label: String
    var isSelected: Bool
}

struct SlackInstallView: Sendable {
    var workspace: String
    var installedAtISO: String
    var installedAtText: String
    /// Slack revoked the token: nothing is captured until the workspace is reconnected.
    var isRevoked: Bool
}

struct SlackSettingsView: Sendable {
    var triggerEmojiText: String
    var notifyChannelText: String
    var notifyProblemText: String?
    var missingScopesText: String?
}

struct ListView: Sendable {
    var chrome: Chrome
    var noticeText: String?
    var slackSettings: SlackSettingsView?
    var sourceOptions: [OptionView]
    var environmentOptions: [OptionView]
    /// The text searched for, as the search field shows it (empty: none).
    var searchText: String = ""
    /// The client has more named environments than the filter lists: the page offers a field for any name.
    var environmentsCut: Bool = false
    var filterSummary: String
    /// On the default environment's view, when feedback of other environments exists: that it is not shown here
    /// (the README's own examples send `staging`, which a new team then missed), and the link to all of it.
    var environmentsHint: String?
    var allEnvironmentsHref: String?
    var isFiltered: Bool
    var slackInstall: SlackInstallView?
    var slackButtonLabel: String
    /// Whether this server can install Slack at all (its SLACK_* settings are there); without, the page says so in
    /// place of a Connect button that could only fail.
    var slackConfigured: Bool = true
    var items: [ItemView]
    var hasItems: Bool
    /// The first page, from an older one.
    var newerHref: String?
    /// The page just before this one, when that is not the first (which `newerHref` links to).
    var previousHref: String?
    var olderHref: String?
    /// The CSV of every item these filters select (all pages).
    var exportHref: String?
    /// A project with no feedback at all yet: its client id, which the widget and the API need (shown nowhere else
    /// but in a tooltip, which keyboards and touch screens do not reach), and the widget's demo page with it.
    var setupClientID: String? = nil
    var setupDemoHref: String? = nil
}

struct ConfirmView: Sendable {
    var chrome: Chrome
    var item: ItemView
    var deleteID: String
    var returnSource: String
    var returnEnvironment: String
    /// The text the list searched for (empty: none).
    var returnText: String
    /// The list page the item was on (its cursor; empty for the first page).
    var returnCursor: String
    var cancelHref: String
}

struct SingleItemView: Sendable {
    var chrome: Chrome
    var item: ItemView
    /// Back to the list page it was opened from, at the item; or, opened from elsewhere (a Slack post), to all
    /// feedback.
    var listHref: String
    var listLabel: String
}

struct MessageView: Sendable {
    var chrome: Chrome
    var heading: String
    var text: String
    var backHref: String
    var backLabel: String
}

// MARK: One feedback item

struct LinkView: Sendable {
    var isLink: Bool
    var href: String
    var text: String
}

struct ScreenshotView: Sendable {
    var fullHref: String?
    var alt: String
}

struct SlackCaptureView: Sendable {
    var channel: String?
    var method: String
    var permalink: String?
}

struct ReplayView: Sendable {
    var replayID: String
    var offsetText: String?
}

/// One feedback item, shaped for the template. Field names are unique across all views: mustache looks a missing
/// (nil) name up in the enclosing contexts, so a shared name could show the page's value inside an item.
struct ItemView: Sendable {
    var itemID: String
    var ratingText: String
    /// Said after the rating in the item's heading for screen readers (the visible heading is the rating alone, the
    /// same for many items): the start of the comment, else where it came from and when.
    var headingDetail: String
    var ratingClass: String
    var sourceValue: String
    var sourceLabel: String
    var environmentLabel: String
    var createdAtISO: String
    var createdAtText: String
    /// The comment, or in a list its start when it is long (`commentCut`): one comment of 50,000 characters would
    /// otherwise make a page of fifty items a long scroll.
    var comment: String?
    var commentCut: Bool
    /// In a list, the item's own page (its time links there, and "Read all" of a cut comment); nil on that page.
    var itemHref: String?
    var pageLink: LinkView?
    var pageTitle: String?
    var referrer: String?
    var userEmail: String?
    var userEmailHref: String?
    var endUserID: String?
    var replay: ReplayView?
    var slackCapture: SlackCaptureView?
    var screenshots: [ScreenshotView]
    var hasScreenshots: Bool
    var metadataJSON: String?
    var deleteHref: String
    var showActions: Bool
    /// What just happened, said where the page opens: this item follows one just deleted.
    var itemNotice: String?

    /// A comment in a list shows at most this many characters, and this many lines.
    static let previewCharacters = 600
    static let previewLines = 8

    init(_ item: FeedbackItem, filter: InboxFilter, showActions: Bool = true, inList: Bool = false) {
        let d = item.draft
        itemID = item.id
        if let rating = d.rating, let label = Self.ratingLabels[rating] {
            ratingText = "\(label) · \(rating)/4"
            ratingClass = "rating-\(rating)"
        } else {
            ratingText = "No rating"
            ratingClass = "rating-none"
        }
        sourceValue = d.source.rawValue
        sourceLabel = Self.sourceLabels[d.source] ?? d.source.rawValue
        environmentLabel = d.environment.map(InboxFormat.isolated) ?? "default environment"
        createdAtISO = iso8601(item.createdAt)
        createdAtText = InboxFormat.dateText(item.createdAt)
        let fullComment = d.comment.flatMap { $0.isEmpty ? nil : d.source == .slack ? SlackMarkup.plainText($0) : $0 }
        headingDetail = fullComment.map { InboxFormat.isolated(InboxFormat.shorten($0, to: 80)) } ?? "\(sourceLabel), \(createdAtText)"
        // The list's filters and page travel with the links out of it (the default view's first page as
        // `env=default`, so that its item's page tells it from a Slack post's link), so that the item's page,
        // cancelling and deleting come back to that page of that list.
        let path = "/inbox/items/\(InboxFilter.encode(item.id))"
        let back = filter.href(cursor: filter.cursor)
        let listQuery = "?" + (back == "/inbox" ? "env=default" : back.dropFirst("/inbox?".count))
        itemHref = inList ? path + listQuery : nil
        let preview = inList ? fullComment.map(Self.preview) : nil
        comment = (preview ?? fullComment).map(InboxFormat.isolated)
        commentCut = preview.map { $0 != fullComment } ?? false
        pageLink = d.pageUrl.map { url in
            if let link = WebLink(url, textLimit: 120) {
                LinkView(isLink: true, href: link.href, text: InboxFormat.isolated(link.text))
            } else {
                LinkView(isLink: false, href: url, text: InboxFormat.isolated(InboxFormat.shorten(url, to: 120)))
            }
        }
        pageTitle = d.pageTitle.map { InboxFormat.isolated(InboxFormat.shorten($0, to: 160)) }
        referrer = d.referrer.map { InboxFormat.isolated(InboxFormat.shorten($0, to: 160)) }
        userEmail = d.userEmail.map(InboxFormat.isolated)
        userEmailHref = d.userEmail.map(InboxFormat.mailtoHref)
        endUserID = d.userId.map(InboxFormat.isolated)
        replay = d.sessionReplayId.map {
            ReplayView(replayID: InboxFormat.isolated($0), offsetText: d.replayOffsetMs.map(InboxFormat.offsetText))
        }
        slackCapture = d.slack.map { slack in
            SlackCaptureView(
                channel: slack.channelId.map(InboxFormat.isolated), method: Self.captureLabel(slack.capturedVia, recovered: slack.recovered),
                permalink: slack.permalink.flatMap { WebAddress.isHTTP($0) ? $0 : nil })
        }
        screenshots = d.screenshots.enumerated().map { index, shot in
            var alt = "Screenshot \(index + 1)"
            if let width = shot.width, let height = shot.height { alt += " (\(width)×\(height))" }
            let path = InboxFormat.screenshotPath(shot.fileName, clientID: item.clientId)
            return ScreenshotView(fullHref: path, alt: alt)
        }
        hasScreenshots = !screenshots.isEmpty
        metadataJSON = d.metadata.map(\.jsonText)
        deleteHref = path + "/delete" + listQuery
        self.showActions = showActions
    }

    /// The start of a comment for a list: its first `previewLines` lines and `previewCharacters` characters, cut at
    /// a space when one is near, with "…" when anything was left out.
    static func preview(_ comment: String) -> String {
        var lines = 0
        var end = comment.startIndex
        var characters = 0
        while end < comment.endIndex, characters < previewCharacters {
            if comment[end] == "\n" {
                lines += 1
                if lines == previewLines { break }
            }
            comment.formIndex(after: &end)
            characters += 1
        }
        guard end < comment.endIndex else { return comment }
        var cut = comment[..<end]
        // Stopped inside a line: end at a word's end when one is near.
        if comment[end] != "\n", let space = cut.lastIndex(where: { $0 == " " || $0 == "\n" }),
            cut.distance(from: space, to: cut.endIndex) < 40
        {
            cut = cut[..<space]
        }
        return String(cut) + "…"
    }

    static let ratingLabels = [1: "Terrible", 2: "Bad", 3: "Good", 4: "Amazing"]
    static let sourceLabels: [FeedbackSource: String] = [.api: "API", .widget: "Widget", .slack: "Slack"]
    /// `reaction :bug:`, `message shortcut`, `/usero command`; recovered rows say so.
    static func captureLabel(_ method: SlackCaptureMethod, recovered: Bool) -> String {
        let label =
            switch method {
            case .reaction(let name): "reaction :\(name):"
            case .shortcut: "message shortcut"
            case .command: "/usero command"
            }
        // A sweep runs after downtime and when an admin asks for one: say what found it, not why it ran.
        return recovered ? label + " (recovered by a sweep)" : label
    }
}

// MARK: Formatting

enum InboxFormat {
    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `26 Nov 2026, 20:00 UTC`
    static func dateText(_ date: Date) -> String {
        let c = utc.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let hour = c.hour ?? 0, minute = c.minute ?? 0
        let time = (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)"
        return "\(c.day ?? 1) \(months[max(0, min(11, (c.month ?? 1) - 1))]) \(c.year ?? 1970), \(time) UTC"
    }

    /// `12.3 s`
    static func offsetText(_ millis: Int64) -> String {
        let tenths = millis / 100
        return "\(tenths / 10).\(tenths % 10) s"
    }

    /// `mailto:` and the address with everything but RFC 6068's plain characters percent-encoded, so that nothing in
    /// it (a `?`, `&`, `%` or `#`, stored before the domain check was strict) can add headers to the mail.
    static func mailtoHref(_ address: String) -> String {
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        var href = "mailto:"
        for byte in address.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "'"), UInt8(ascii: "("),
                UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
                UInt8(ascii: ":"), UInt8(ascii: "@"):
                href.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                href.unicodeScalars.append("%")
                href.unicodeScalars.append(hex[Int(byte >> 4)])
                href.unicodeScalars.append(hex[Int(byte & 0x0F)])
            }
        }
        return href
    }

    static func shorten(_ text: String, to limit: Int) -> String {
        text.count > limit ? String(text.prefix(limit - 1)) + "…" : text
    }

    /// Text an end user wrote, made safe to show beside the page's own: without the Unicode controls that embed or
    /// override text direction (an unclosed U+202E RIGHT-TO-LEFT OVERRIDE turns everything after it on its line
    /// around, "Read all" into "lla daeR", `user‮-admin` into `usernimda-`), and, when it holds anything that is not
    /// plain left-to-right text, each line set apart between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, so that
    /// it takes its own direction (an Arabic comment's punctuation on the right side of it) and lends none to the
    /// text around it. Works in any place text goes (a page's title, a list's option), where markup cannot.
    /// Plain left-to-right text is returned as it is.
    static func isolated(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isRightToLeftOrControl) else { return text }
        var result = "\u{2068}"
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 2)
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            switch scalar.value {
            case 0x202A...0x202E, 0x2066...0x2069:
                continue
            // A paragraph separator ends every isolate (the bidirectional algorithm's rule X8): each line has its own.
            // CR LF is one line end: marks between them left a lone CR, which HTML reads as a line end of its own.
            case 0x0A, 0x0D, 0x1C...0x1E, 0x85, 0x2029:
                result.unicodeScalars.append("\u{2069}")
                result.unicodeScalars.append(scalar)
                if scalar == "\r", index < scalars.count, scalars[index] == "\n" {
                    result.unicodeScalars.append("\n")
                    index += 1
                }
                result.unicodeScalars.append("\u{2068}")
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        result.unicodeScalars.append("\u{2069}")
        return result
    }

    /// A letter of a right-to-left script (Hebrew, Arabic, Syriac, Thaana, N'Ko and the rest of their blocks, their
    /// presentation forms, the historic and Adlam blocks of the supplementary planes), or a mark or control of
    /// direction.
    private static func isRightToLeftOrControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0590...0x08FF, 0xFB1D...0xFDFF, 0xFE70...0xFEFF, 0x10800...0x10FFF, 0x1E800...0x1EFFF,
            0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
            true
        default: false
        }
    }

    /// The path of one of our stored screenshots, or nil when the name is not `clientId/file` of this client.
    ///
    /// The stored `url` is whatever the submitter sent, so the inbox never uses it; it serves the file by name
    /// from this server instead, which is also what the page's `img-src 'self'` allows.
    static func screenshotPath(_ fileName: String, clientID: String) -> String? {
        let parts = fileName.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == clientID, !parts[1].isEmpty, parts[1].count <= 200,
            !parts[1].hasPrefix("."),
            parts[1].utf8.allSatisfy({ isFileNameByte($0) })
        else { return nil }
        return "/api/screenshots/\(clientID)/\(parts[1])"
    }

    private static func isFileNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}
