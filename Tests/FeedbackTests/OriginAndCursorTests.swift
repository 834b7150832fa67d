import Feedback
import Foundation
import Testing

@Suite struct OriginPatternTests {
    func client(_ origins: [String]) -> Client {
        Client(id: "client_a", name: "A", plan: .free, allowedOrigins: origins, createdAt: Date())
    }

    @Test func emptyAllowlistAllowsEverything() {
        #expect(client([]).allows(origin: "https://anything.example"))
    }

    @Test func fullOriginsMatchExactlyIgnoringCaseAndTrailingSlash() {
        let c = client(["https://app.example.com"])
        #expect(c.allows(origin: "https://APP.example.com/"))
        #expect(!c.allows(origin: "http://app.example.com"))
        #expect(!c.allows(origin: "https://app.example.com.evil.io"))
    }

    @Test func wildcardCoversSubdomainsButNotLookalikes() {
        let c = client(["*.example.com"])
        #expect(c.allows(origin: "https://a.example.com"))
        #expect(!c.allows(origin: "https://badexample.com"))
    }

    @Test func requestsWithoutOriginAreServerToServer() {
        #expect(client(["https://app.example.com"]).allows(origin: nil))
    }
}

@Suite struct FeedbackCursorTests {
    @Test func tokenRoundTrips() throws {
        let cursor = FeedbackCursor(createdAtMillis: 1_700_000_000_123, id: "fb_abc")
        #expect(FeedbackCursor(token: cursor.token) == cursor)
    }

    /// `MToA` is `1:` and a NUL; the last is `1:` and a 300-character id.
    @Test(arguments: ["", "!!!", "bm90LWEtY3Vyc29y", "MToA", FeedbackCursor(createdAtMillis: 1, id: String(repeating: "a", count: 300)).token])
    func foreignTokensAreRejected(token: String) {
        #expect(FeedbackCursor(token: token) == nil)
    }
}
