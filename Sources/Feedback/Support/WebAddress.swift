import Foundation

/// Addresses people may follow: what becomes a link (in the inbox, in Slack) or is stored as one.
public enum WebAddress {
    /// An absolute http(s) URL with a host; anything else (`javascript:`, `data:`, a path) is not.
    public static func isHTTP(_ text: String) -> Bool {
        let lower = text.lowercased()
        return (lower.hasPrefix("https://") || lower.hasPrefix("http://")) && URL(string: text)?.host != nil
    }
}
