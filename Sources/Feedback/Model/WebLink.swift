import Foundation

/// A URL someone else wrote (a submitter's page URL) made safe to show as a link to the customer's team: only a
/// plain http(s) URL with a host becomes one, and its text begins with the host it really goes to. A label the
/// submitter chose (a page title reading `https://yourapp.com/reset`), userinfo before the host
/// (`https://yourapp.com.account@evil.example/`) or a long URL cut before its host would each let the text name one
/// site while the link goes to another.
public struct WebLink: Sendable, Equatable {
    /// Longest URL that becomes a link (Slack's link syntax takes at most a few thousand characters).
    public static let maxLength = 2_000

    /// The URL as given.
    public let href: String
    /// The scheme, host (and port), then path, query and fragment, cut to the limit with `…`; a host is never cut
    /// from its end.
    public let text: String

    /// The link for `url` with text of at most `textLimit` characters, or nil when it must be shown as text only:
    /// not http(s), no host, userinfo, a backslash (browsers read it as `/`, other parsers do not), white space,
    /// controls or `<>|"` (which end a Slack link or an attribute), or longer than `maxLength`.
    public init?(_ url: String, textLimit: Int) {
        guard url.utf8.count <= Self.maxLength else { return nil }
        let schemeLength: Int
        if url.utf8.starts(with: "https://".utf8, by: Self.sameLetter) {
            schemeLength = 8
        } else if url.utf8.starts(with: "http://".utf8, by: Self.sameLetter) {
            schemeLength = 7
        } else {
            return nil
        }
        guard !url.unicodeScalars.contains(where: Self.isRefused) else { return nil }
        let rest = url.unicodeScalars.dropFirst(schemeLength)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@"), URL(string: url)?.host?.isEmpty == false else { return nil }
        href = url
        let scheme = schemeLength == 8 ? "https://" : "http://"
        let hostText = String(authority)
        let tail = String(rest.dropFirst(authority.count))
        let limit = max(textLimit - scheme.count, 2)
        if hostText.unicodeScalars.count + tail.unicodeScalars.count <= limit {
            text = scheme + hostText + tail
        } else if hostText.unicodeScalars.count >= limit - 1 {
            // The end of a host is the part that says whose it is (`https://….evil.example`).
            text = scheme + "…" + String(hostText.unicodeScalars.suffix(limit - 1))
        } else {
            text = scheme + hostText + String(tail.unicodeScalars.prefix(limit - 1 - hostText.unicodeScalars.count)) + "…"
        }
    }

    private static func sameLetter(_ a: UInt8, _ b: UInt8) -> Bool { a | 0x20 == b | 0x20 }

    private static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\\", "<", ">", "|", "\"", "`": return true
        default:
            return scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
                || scalar.properties.generalCategory == .format
        }
    }
}
