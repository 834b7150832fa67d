@testable import Feedback
import Testing

@Suite struct WebLinkTests {
    @Test func aPlainURLIsALinkReadingAsItself() throws {
        let link = try #require(WebLink("https://app.example.com/projects/42?tab=export#top", textLimit: 120))
        #expect(link.href == "https://app.example.com/projects/42?tab=export#top")
        #expect(link.text == "https://app.example.com/projects/42?tab=export#top")
        #expect(WebLink("HTTP://App.Example.com:8080/x", textLimit: 120)?.text == "http://App.Example.com:8080/x")
    }

    /// What could make the text name one site while the link goes to another is no link at all.
    @Test(arguments: [
        "javascript:alert(1)", "data:text/html,<b>x</b>", "ftp://example.com/", "https://", "https:///path",
        "https://yourapp.com.account.settings@evil.example/login", "https://yourapp.com\\@evil.example/",
        "https://yourapp.com/<x>", "https://yourapp.com/a|b", "https://your app.com/", "https://yourapp.com/\u{202E}gpj",
        " https://yourapp.com/", "https://yourapp.com/\"onmouseover=x",
        "https://yourapp.com/" + String(repeating: "a", count: 2_000),
    ])
    func refusedURLsAreNoLink(_ url: String) {
        #expect(WebLink(url, textLimit: 120) == nil)
    }

    /// A long URL is cut in its path; a host too long for the text keeps its end, the part that says whose it is.
    @Test func theTextKeepsTheHostItGoesTo() throws {
        let path = "/" + String(repeating: "p", count: 300)
        let long = try #require(WebLink("https://app.example.com" + path, textLimit: 40))
        #expect(long.text == "https://app.example.com/" + String(repeating: "p", count: 15) + "…")
        #expect(long.text.count == 40)
        let host = String(repeating: "yourapp.com.", count: 10) + "evil.example"
        let deep = try #require(WebLink("https://\(host)/login", textLimit: 40))
        #expect(deep.text.hasSuffix("com.evil.example"))
        #expect(deep.text.hasPrefix("https://…"))
        #expect(deep.text.count == 40)
    }
}
