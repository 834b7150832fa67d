import Foundation
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

@Suite struct WidgetTests {
    @Test func widgetIsServedAsJavaScriptToAnyOrigin() async throws {
        try await TestServer.run { server in
            let response = try await server.request("GET", "/widget.js", headers: ["Origin": "https://shop.example"])
            #expect(response.status == 200)
            #expect(response.header("Content-Type")?.hasPrefix("application/javascript") == true)
            #expect(response.header("Access-Control-Allow-Origin") == "*")
            #expect(response.header("Cache-Control")?.contains("max-age=") == true)
            #expect(response.text.contains("initUseroFeedbackWidget"))

            // Revalidation by ETag answers 304 without the body.
            let etag = try #require(response.header("ETag"))
            let again = try await server.request("GET", "/widget.js", headers: ["If-None-Match": etag])
            #expect(again.status == 304)
            #expect(again.body.isEmpty)
            // Compared weakly, as RFC 9110 says: a compressing proxy hands browsers the tag as W/"…"; `*` matches too
            for tag in ["W/\(etag)", "\"other\", W/\(etag)", "*"] {
                #expect(try await server.request("GET", "/widget.js", headers: ["If-None-Match": tag]).status == 304, "\(tag)")
            }
            #expect(try await server.request("GET", "/widget.js", headers: ["If-None-Match": "W/\"other\""]).status == 200)
        }
    }

    @Test func widgetIsUnder15KBGzipped() throws {
        // Given the script exactly as served, when compressed as `gzip -9 | wc -c` would…
        let gzip = try ChildProcess.run("/bin/sh", ["-c", "gzip -9 | wc -c"], input: Data(WidgetAsset.script))
        let text = String(decoding: gzip.stdout, as: UTF8.self)
        // …then it is under 15 KB.
        let bytes = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(bytes > 0)
        #expect(bytes < 15 * 1024, "widget.js is \(bytes) bytes gzipped")
    }

    @Test(arguments: [
        "clientId", "position", "theme", "title", "placeholder", "showEmailOption", "showScreenshotOption",
        "environment", "metadata", "baseUrl", "getUser", "onSubmit", "onError", "onOpen", "onClose",
    ])
    func widgetReadsEveryDocumentedOption(_ option: String) {
        #expect(WidgetScript.source.contains("opts.\(option)"))
    }

    @Test func widgetMarksItsSubmissionsAndFillsThePageFields() {
        let source = WidgetScript.source
        for expected in [
            "'X-Usero-Widget'", "pageUrl: cut(here, 8192)", "payload.pageTitle", "payload.referrer", "'/api/screenshots'",
            "'/api/feedback'", "attachShadow", "prefers-color-scheme", "document.currentScript",
        ] {
            #expect(source.contains(expected), "missing \(expected)")
        }
        // Nothing configurable is ever parsed as HTML.
        #expect(!source.contains("innerHTML = opts"))
    }

    @Test func demoPageLoadsTheWidget() async throws {
        try await TestServer.run { server in
            let page = try await server.request("GET", "/widget/demo?clientId=client_abc")
            #expect(page.status == 200)
            #expect(page.header("Content-Type")?.hasPrefix("text/html") == true)
            #expect(page.text.contains("<script src=\"/widget.js\"></script>"))
            // On the inbox's origin: never framed by another site; its script never read as anything else.
            #expect(page.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            #expect(page.header("X-Frame-Options") == "DENY")
            let script = try await server.request("GET", "/widget/demo.js")
            #expect(script.text.contains("initUseroFeedbackWidget({ clientId: clientId"))
            #expect(script.header("X-Content-Type-Options") == "nosniff")
        }
    }
}
