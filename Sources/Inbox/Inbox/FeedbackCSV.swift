import Feedback
import Foundation

/// The inbox's export: feedback as CSV (RFC 4180: comma-separated, CRLF line ends, a field holding a comma, a quote or
/// a line end quoted with its quotes doubled), for a spreadsheet or an import elsewhere.
///
/// What end users wrote is data here, never a formula: a field that starts with `=`, `+`, `-`, `@`, a tab or a line
/// end, or their full-width forms, after any spaces (which spreadsheets read as the start of a formula, and
/// `=HYPERLINK(…)` in a comment is a link to anywhere) starts with an apostrophe instead, as OWASP's advice on CSV
/// injection says. Slack member ids are left out: a spreadsheet has no use for them, and a copy would hold them past
/// an uninstall's scrub.
enum FeedbackCSV {
    /// The header row's names, in the columns' order.
    static let columns = [
        "id", "createdAt", "source", "environment", "rating", "comment", "userEmail", "userId", "pageUrl", "pageTitle",
        "referrer", "metadata", "screenshots", "sessionReplayId", "slackChannel", "slackCapturedVia", "slackPermalink",
    ]

    /// The file's first bytes: a byte order mark (without it, Excel reads UTF-8 as its legacy code page) and the
    /// header row.
    static var header: String { "\u{FEFF}" + columns.joined(separator: ",") + "\r\n" }

    /// Appends `item` as one row. Its screenshots are links to this server's copies (`publicURL` and the path the
    /// inbox shows them from): the `url` stored with a reference that names no upload of the client is whatever its
    /// sender wrote, which the inbox never links to and a spreadsheet must not offer as a screenshot either.
    static func appendRow(_ item: FeedbackItem, publicURL: String, to text: inout String) {
        let draft = item.draft
        let screenshots = draft.screenshots.compactMap { shot in
            InboxFormat.screenshotPath(shot.fileName, clientID: item.clientId).map { publicURL + $0 }
        }
        let fields: [String?] = [
            item.id, iso8601(item.createdAt), draft.source.rawValue, draft.environment, draft.rating.map(String.init),
            draft.comment, draft.userEmail, draft.userId, draft.pageUrl, draft.pageTitle, draft.referrer,
            draft.metadata?.jsonText,
            screenshots.isEmpty ? nil : screenshots.joined(separator: " "),
            draft.sessionReplayId, draft.slack?.channelId, draft.slack?.capturedVia.rawValue, draft.slack?.permalink,
        ]
        for (index, field) in fields.enumerated() {
            if index > 0 { text += "," }
            append(field ?? "", to: &text)
        }
        text += "\r\n"
    }

    /// Appends one field, neutralised and quoted as needed.
    static func append(_ field: String, to text: inout String) {
        var value = field
        // Judged by the first character that is not a space: some importers trim spaces before they read a formula.
        if let first = value.unicodeScalars.first(where: { $0 != " " }), formulaStarts.contains(first) {
            value = "'" + value
        }
        guard value.unicodeScalars.contains(where: needsQuotes.contains) else {
            text += value
            return
        }
        text += "\""
        text += value.replacingOccurrences(of: "\"", with: "\"\"")
        text += "\""
    }

    /// OWASP's list, a line feed, and the full-width forms some spreadsheets read as the ASCII ones.
    private static let formulaStarts: Set<Unicode.Scalar> = [
        "=", "+", "-", "@", "\t", "\r", "\n", "\u{FF1D}", "\u{FF0B}", "\u{FF0D}", "\u{FF20}",
    ]
    private static let needsQuotes: Set<Unicode.Scalar> = [",", "\"", "\r", "\n"]
}
