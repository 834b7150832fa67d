import Foundation

/// A Slack message's text as a person reads it in Slack, for the inbox. A captured message is stored as Slack sends
/// it: `&`, `<` and `>` escaped (`&amp;`, `&lt;`, `&gt;`), mentions and links in angle brackets (`<@U0123>`,
/// `<#C0123|general>`, `<!here>`, `<https://example.com|the docs>`). Shown as stored, "Q&A" read `Q&amp;A`.
/// Only the view changes: the admin API and the export keep the text as Slack sent it.
enum SlackMarkup {
    static func plainText(_ text: String) -> String {
        guard text.contains("<") || text.contains("&") else { return text }
        var out = ""
        var rest = text[...]
        while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
            out += unescaped(rest[..<open])
            out += reference(rest[rest.index(after: open)..<close])
            rest = rest[rest.index(after: close)...]
        }
        return out + unescaped(rest)
    }

    /// One `<…>`: a member (`@U…`), a channel (`#C…`), a special mention (`!here`, `!subteam^S…|@team`,
    /// `!date^…|fallback`) or a link, with its label after a `|` when it has one.
    private static func reference(_ inner: Substring) -> String {
        let parts = inner.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
        let target = unescaped(parts[0])
        let label = parts.count > 1 && !parts[1].isEmpty ? unescaped(parts[1]) : nil
        // Not Slack's (a `<` and `>` it left unescaped, in text it did not format): kept as written.
        let literal = "<" + unescaped(inner) + ">"
        if label == nil, target.contains(where: \.isWhitespace) { return literal }
        switch target.first {
        case "@", "#": return String(target.prefix(1)) + (label ?? String(target.dropFirst()))
        case "!": return label ?? "@" + (target.dropFirst().split(separator: "^").first.map(String.init) ?? "")
        default:
            guard isLink(target) else { return literal }
            let address = target.hasPrefix("mailto:") ? String(target.dropFirst("mailto:".count)) : target
            guard let label, label != address, label != target else { return address }
            return "\(label) (\(address))"
        }
    }

    /// Whether `target` starts with a URL scheme (`https:`, `mailto:`, …) and holds no white space, as Slack's
    /// links do.
    private static func isLink(_ target: String) -> Bool {
        guard let colon = target.firstIndex(of: ":"), colon != target.startIndex,
            target[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }),
            target.first?.isLetter == true
        else { return false }
        return !target.contains(where: \.isWhitespace)
    }

    private static func unescaped(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
