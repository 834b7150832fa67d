import Feedback
import Foundation
import Testing

@testable import Inbox
@testable import usero
import UseroTestSupport

/// The inbox's CSV export: what the list's filters select, every page of it, as a spreadsheet reads it.
@Suite struct InboxExportTests {
    /// Reads RFC 4180 CSV into records (quoted fields with doubled quotes, CRLF or LF line ends).
    static func records(_ text: String) -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var scalars = text.unicodeScalars.makeIterator()
        var pending = scalars.next()
        while let c = pending {
            pending = scalars.next()
            if quoted {
                if c == "\"" {
                    if pending == "\"" { field.unicodeScalars.append("\""); pending = scalars.next() } else { quoted = false }
                } else {
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",": record.append(field); field = ""
            case "\r": continue
            case "\n": record.append(field); records.append(record); record = []; field = ""
            default: field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
        return records
    }

    @Test func theListDownloadsAsCSVWithItsFiltersAndEveryPage() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let other = try await server.createClient()
            let store = server.parts.store
            let start = Date()
            // More than one of the export's pages (200 items), in two environments, and another project's item.
            for n in 0..<205 {
                _ = try await store.insert(
                    FeedbackDraft(clientId: client.id, source: .api, rating: 1 + n % 4, comment: "staging item \(n)", environment: "staging"),
                    at: start.addingTimeInterval(Double(n) / 1000), origin: nil)
            }
            let tricky = #"=HYPERLINK("https://evil.example","click"), said "they""# + "\nsecond line"
            let widget = try await store.insert(
                FeedbackDraft(
                    clientId: client.id, source: .widget, rating: 2, comment: tricky, userEmail: "ada@example.com",
                    pageUrl: "https://app.example/settings", metadata: .object(["plan": .string("pro")]),
                    screenshots: [
                        ScreenshotRef(
                            fileName: "\(client.id)/1700000000000-abc12.png", url: "https://phish.example/one",
                            fileSize: 5, mimeType: "image/png", width: nil, height: nil),
                        ScreenshotRef(
                            fileName: "nope/x.png", url: "https://phish.example/login", fileSize: 5,
                            mimeType: "image/png", width: nil, height: nil),
                    ]),
                at: start.addingTimeInterval(1), origin: nil)
            _ = try await store.insert(
                FeedbackDraft(clientId: other.id, source: .api, rating: 3, comment: "another project's"), at: start, origin: nil)

            let browser = InboxTestBrowser(baseURL: server.baseURL)
            // Signed out: to the sign-in form, which returns to the list with those filters.
            let anonymous = try await browser.get("/inbox/export.csv?source=widget")
            #expect(anonymous.status == 303)
            #expect(anonymous.header("Location") == "/inbox/login?next=/inbox%3Fsource%3Dwidget")
            _ = try await browser.signIn(adminKey: client.key)

            // The list links to the export of what it shows.
            let list = try await browser.get("/inbox?env=all")
            #expect(list.text.contains(#"href="/inbox/export.csv?env=all" download"#))

            let all = try await browser.get("/inbox/export.csv?env=all")
            #expect(all.status == 200)
            #expect(all.header("Content-Type") == "text/csv; charset=utf-8")
            #expect(all.header("Content-Disposition")?.hasPrefix("attachment; filename=\"usero-feedback-") == true)
            #expect(all.header("Cache-Control") == "no-store")
            #expect(all.text.hasPrefix("\u{FEFF}id,createdAt,source,"))
            let rows = Self.records(String(all.text.dropFirst()))
            #expect(rows.first == FeedbackCSV.columns)
            #expect(rows.count == 1 + 206)
            #expect(rows.allSatisfy { $0.count == FeedbackCSV.columns.count })
            #expect(!all.text.contains("another project's"))
            // Newest first, each item once.
            #expect(rows[1][0] == widget.id)
            #expect(Set(rows.dropFirst().map { $0[0] }).count == 206)

            // The comment comes back as written, but as text: a spreadsheet does not read it as a formula.
            let row = rows[1]
            let column = { (name: String) in row[FeedbackCSV.columns.firstIndex(of: name)!] }
            #expect(column("comment") == "'" + tricky)
            #expect(column("source") == "widget")
            #expect(column("rating") == "2")
            #expect(column("userEmail") == "ada@example.com")
            #expect(column("metadata") == #"{"plan":"pro"}"#)
            #expect(column("environment") == "")
            // Screenshots link to this server's copy, never to the URL a submitter wrote beside a file name (found by
            // a review: a reference naming no upload put `https://phish.example/login` in the column), and one that
            // names no file of this client is left out, as the inbox shows it without a link.
            #expect(column("screenshots") == server.parts.config.publicURL + "/api/screenshots/\(client.id)/1700000000000-abc12.png")

            // The list's filters: the widget's item only; the default environment's view, which holds it too.
            let widgets = Self.records(String(try await browser.get("/inbox/export.csv?source=widget&env=all").text.dropFirst()))
            #expect(widgets.dropFirst().map { $0[0] } == [widget.id])
            let defaults = Self.records(String(try await browser.get("/inbox/export.csv").text.dropFirst()))
            #expect(defaults.dropFirst().map { $0[0] } == [widget.id])
            let staging = Self.records(String(try await browser.get("/inbox/export.csv?env=env:staging&q=item+20").text.dropFirst()))
            #expect(Set(staging.dropFirst().map { $0[5] }) == Set(["staging item 20"] + (200..<205).map { "staging item \($0)" }))
        }
    }

    @Test func aFieldIsQuotedOnlyWhenItMustAndNeverStartsAFormula() {
        func field(_ value: String) -> String {
            var text = ""
            FeedbackCSV.append(value, to: &text)
            return text
        }
        #expect(field("plain text") == "plain text")
        #expect(field("a, b") == #""a, b""#)
        #expect(field(#"say "hi""#) == #""say ""hi""""#)
        #expect(field("two\nlines") == "\"two\nlines\"")
        for start in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx", "  =1+1", "\u{FF1D}1+1", "\u{FF20}SUM(A1)"] {
            #expect(field(start).hasPrefix("'") || field(start).hasPrefix("\"'"), "\(start)")
        }
        #expect(field("") == "")
        #expect(field("a=b") == "a=b")
        #expect(field("  spaced") == "  spaced")
    }
}
