public import Feedback
import Foundation

/// Which new items are posted to Slack, and how the post reads. Stores call `jobs(for:installations:)` inside the
/// transaction that inserts the item, so an accepted item's post is as durable as the item.
public enum SlackNotificationRules {
    /// The post jobs a newly accepted item needs: one for each of its client's installations that has a notify
    /// channel and a token. Slack items are never echoed back to Slack. A post is due no earlier than the
    /// workspace's `postNotBefore`, so it queues behind the posts already waiting (in order) and keeps Slack's pace.
    public static func jobs(for item: FeedbackItem, installations: [Installation]) -> [NewSlackJob] {
        guard item.draft.source == .api || item.draft.source == .widget else { return [] }
        return installations.filter {
            $0.clientId == item.clientId && $0.tokenEnvelope != nil && $0.settings.notifyChannel != nil
        }.map {
            NewSlackJob(
                clientId: item.clientId, teamId: $0.teamId, work: .postFeedback(PostFeedbackJob(feedbackId: item.id)),
                runAt: max(epochMillis(item.createdAt), $0.postNotBefore ?? 0))
        }
    }
}

/// Text for Slack's mrkdwn: what came from a user is escaped so it cannot ping a channel or forge a link.
public enum SlackMrkdwn {
    /// `&`, `<`, `>` as Slack wants them escaped.
    public static func escape(_ text: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(character)
            }
        }
        return out
    }

    /// The first `limit` characters, with `…` when cut.
    public static func prefix(_ text: String, _ limit: Int) -> String {
        text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    /// `escape` of the first `limit` characters, with `…` when cut, and never over `budget` UTF-16 units: a
    /// character may hold any number of combining marks, and escaping makes `&` five, so 500 characters could be
    /// 6,500 units, past the 3,000 Slack takes in a section's text (it refuses the whole post: `invalid_blocks`).
    public static func escapedPrefix(_ text: some StringProtocol, _ limit: Int, budget: Int = 2_900) -> String {
        var out = ""
        var taken = 0
        for character in text {
            let piece = escape(String(character))
            guard taken < limit, out.utf16.count + piece.utf16.count <= budget - 1 else { return out + "…" }
            out += piece
            taken += 1
        }
        return out
    }

    /// A link `<url|label>` when `url` is a plain http(s) URL that cannot break out of the link syntax; otherwise
    /// the escaped text alone.
    public static func link(_ url: String, label: String) -> String {
        let lower = url.lowercased()
        let safe =
            (lower.hasPrefix("https://") || lower.hasPrefix("http://")) && url.count <= 2_000
            && !url.contains { $0 == "<" || $0 == ">" || $0 == "|" || $0.isWhitespace || $0.isNewline }
        let text = escape(label.replacingOccurrences(of: "|", with: "¦"))
        return safe ? "<\(url)|\(text)>" : text
    }

    /// JSON text of Block Kit values (sorted keys: the same message always encodes the same way).
    static func json(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return value is [String: Any] ? "{}" : "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A section of mrkdwn `text`; `verbatim`: Slack links nothing in it by itself (no bare URL, channel name or
    /// @name made a link), for text someone outside the workspace wrote.
    static func section(_ text: String, verbatim: Bool = false) -> [String: Any] {
        var object: [String: Any] = ["type": "mrkdwn", "text": text]
        if verbatim { object["verbatim"] = true }
        return ["type": "section", "text": object]
    }
}

/// The message posted to the notify channel for a new item: rating as a word, the comment's first 500 characters,
/// page title and URL, environment, and a link to the item in the inbox. Nothing else of the item (no email, user
/// id, metadata or screenshots) is sent.
public struct SlackNotificationMessage: Sendable, Equatable {
    /// Characters of the comment that are posted.
    public static let commentLimit = 500
    /// The words for ratings 1-4, as the inbox shows them.
    public static let ratingWords = [1: "Terrible", 2: "Bad", 3: "Good", 4: "Amazing"]

    /// The `event_type` of the metadata every post carries, and its payload's key naming the item.
    public static let eventType = "usero_feedback_posted"
    public static let feedbackIdKey = "feedback_id"

    /// The notification's fallback text.
    public var text: String
    /// The Block Kit blocks, as JSON text.
    public var blocks: String
    /// The message's metadata (`chat.postMessage`'s `metadata`), as JSON text: the item's id, so that a try whose
    /// answer was lost can find the post in the channel's history before it posts again (`Message.metadata`).
    public var metadata: String

    /// `url` as a channel may see it: without its query and fragment, without the userinfo before its host
    /// (`https://alice:s3cret@app.example/` is `https://app.example/`, the host it really goes to), and without the
    /// parameters of its path's segments (`/cart;jsessionid=…`: a session id, which anyone in the channel could use).
    static func channelAddress(_ url: String) -> String {
        let address = url.prefix { $0 != "?" && $0 != "#" }
        var origin = Substring()
        var path = address
        if let scheme = address.range(of: "://") {
            let authority = address[scheme.upperBound...].prefix { $0 != "/" && $0 != "\\" }
            let host = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
            origin = address[..<scheme.upperBound] + host
            path = address[authority.endIndex...]
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).map { $0.prefix { $0 != ";" } }
        return String(origin) + segments.joined(separator: "/")
    }

    /// The message for `item`; `inboxURL` is the service's public URL.
    public init(item: FeedbackItem, publicURL: String) {
        let d = item.draft
        let rating = d.rating.flatMap { Self.ratingWords[$0] }
        let ratingText = rating.map { "*\($0)* (\(d.rating ?? 0)/4)" } ?? "no rating"
        let from = d.source == .widget ? "the widget" : "the API"
        var blocks: [[String: Any]] = [SlackMrkdwn.section(":speech_balloon: New feedback from \(from): \(ratingText)")]
        let comment = d.comment.flatMap { $0.isEmpty ? nil : $0 }
        if let comment {
            // Verbatim: a visitor's words; a bare address or #channel in them stays text, not a link Slack made.
            blocks.append(SlackMrkdwn.section(SlackMrkdwn.escapedPrefix(comment, Self.commentLimit), verbatim: true))
        }
        var facts: [String] = []
        // The page's link reads as where it goes; its title (the submitter's words) is plain text beside it. Its
        // userinfo, query and fragment stay in the inbox: they can carry a password, an email, a token or anything
        // else of the page's.
        var page: [String] = []
        if let given = d.pageUrl, case let url = Self.channelAddress(given), !url.isEmpty {
            if let link = WebLink(url, textLimit: 150) {
                page.append("<\(link.href)|\(SlackMrkdwn.escape(link.text))>")
            } else {
                page.append(SlackMrkdwn.escapedPrefix(url, 150, budget: 900))
            }
        }
        if let title = d.pageTitle, !title.isEmpty { page.append(SlackMrkdwn.escapedPrefix(title, 150, budget: 900)) }
        if !page.isEmpty { facts.append("*Page:* " + page.joined(separator: " · ")) }
        facts.append("*Environment:* " + SlackMrkdwn.escapedPrefix(d.environment ?? "default", 128, budget: 900))
        // Verbatim: Slack would otherwise make a link of an address WebLink left as text (userinfo before the host).
        blocks.append([
            "type": "context", "elements": facts.map { ["type": "mrkdwn", "text": $0, "verbatim": true] as [String: Any] },
        ])
        let base = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        blocks.append(SlackMrkdwn.section(SlackMrkdwn.link("\(base)/inbox/items/\(item.id)", label: "Open in the usero inbox")))
        self.blocks = SlackMrkdwn.json(blocks)
        metadata = SlackMrkdwn.json(["event_type": Self.eventType, "event_payload": [Self.feedbackIdKey: item.id]])
        var fallback = "New feedback from \(from) (\(rating ?? "no rating"))"
        if let comment { fallback += ": " + SlackMrkdwn.escapedPrefix(comment, 150, budget: 900) }
        text = fallback
    }
}

/// The App Home tab: the three ways to forward (with the workspace's own trigger emoji), this week's captures, and
/// a link to the inbox. Built from counts and settings only.
public struct SlackHomeView: Sendable, Equatable {
    /// The view, as the JSON text `views.publish` takes.
    public var json: String

    /// The Home tab for a workspace with `settings` that captured `capturedThisWeek` messages in the last 7 days.
    public init(settings: SlackSettings, capturedThisWeek: Int, publicURL: String) {
        let emojiText = SlackSettings.spoken(settings.triggerEmoji)
        let base = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        let captures = capturedThisWeek == 1 ? "1 message" : "\(capturedThisWeek) messages"
        let blocks: [[String: Any]] = [
            ["type": "header", "text": ["type": "plain_text", "text": "usero: feedback from Slack"]],
            SlackMrkdwn.section("Forward any message to your team's feedback inbox, in one of three ways:"),
            SlackMrkdwn.section("*1. React* with \(emojiText) on the message."),
            SlackMrkdwn.section("*2. Message menu* (⋮ on the message) → *Send to usero*."),
            SlackMrkdwn.section("*3. Type* `/usero your feedback` in any channel."),
            ["type": "divider"],
            SlackMrkdwn.section("*This week:* \(captures) captured from this workspace in the last 7 days."),
            SlackMrkdwn.section(SlackMrkdwn.link("\(base)/inbox", label: "Open the feedback inbox")),
        ]
        json = SlackMrkdwn.json(["type": "home", "blocks": blocks])
    }
}
