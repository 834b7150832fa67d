import Feedback
import Foundation
import Testing

@Suite struct OriginPatternTests {
    func client(_ origins: [String]) -> Client {
        Client(id: "client_a", name: "A", plan: .free, allowedOrigins: origins, createdAt: Date())
    }

    /// `allowlist` answers the usual case (an `Origin` spelled as an entry is stored) without taking either apart;
    /// that shortcut never disagrees with the entry-by-entry match.
    @Test func theExactSpellingShortcutAgreesWithTheFullMatch() {
        let entries = [
            "https://app.example.com", "http://localhost:3000", "https://*.example.org", "*.example.net", "app.example.io",
            "https://[::1]:8443", "HTTPS://Upper.Example.com:443/", "http://plain.example.com:80",
        ]
        let origins = [
            "https://app.example.com", "http://localhost:3000", "https://*.example.org", "https://a.example.org",
            "https://a.example.net", "http://app.example.io", "https://[::1]:8443", "https://upper.example.com",
            "http://plain.example.com", "https://app.example.com:443", "null", "javascript:alert(1)", "*",
        ]
        for entry in entries {
            let stored = OriginPattern.normalize(entry)
            for origin in origins {
                #expect(
                    OriginPattern.allowlist([stored], allows: origin) == OriginPattern.matches(pattern: stored, origin: origin),
                    "\(stored) \(origin)")
            }
        }
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

    /// Entries no browser could send as its `Origin` are not valid: they would be stored and never match.
    @Test(arguments: [
        "*", "http://", "https://", "javascript:alert(1)", "https://app.example.com/path", "ftp://app.example.com",
        "https://user@app.example.com", "https://app.example.com:0", "https://app.example.com:99999", "*.", "",
        "https://app..example.com", "app.example.com/path",
    ])
    func entriesABrowserCannotSendAreInvalid(entry: String) {
        #expect(!OriginPattern.isValid(entry))
    }

    @Test(arguments: [
        "https://app.example.com", "http://localhost:3000", "app.example.com", "*.example.com",
        "https://*.example.com", "localhost:3000", "http://[::1]:8080", "HTTPS://App.Example.com/",
    ])
    func originsHostsAndWildcardsAreValid(entry: String) {
        #expect(OriginPattern.isValid(entry))
    }

    /// Browsers leave a scheme's default port out of `Origin`: `https://x:443` is stored as `https://x`, and an entry
    /// stored with it before still matches.
    @Test func aDefaultPortIsDroppedAndMatchesWhatBrowsersSend() {
        #expect(OriginPattern.normalize("https://App.example.com:443/") == "https://app.example.com")
        #expect(OriginPattern.normalize("http://app.example.com:80") == "http://app.example.com")
        #expect(OriginPattern.normalize("http://app.example.com:443") == "http://app.example.com:443")
        let stored = client(["https://app.example.com:443", "http://legacy.example.com:80"])
        #expect(stored.allows(origin: "https://app.example.com"))
        #expect(stored.allows(origin: "http://legacy.example.com"))
        #expect(!stored.allows(origin: "http://app.example.com"))
        #expect(!stored.allows(origin: "https://app.example.com:8443"))
    }

    @Test func aWildcardWithASchemeCoversSubdomainsOfThatSchemeOnly() {
        let c = client(["https://*.example.com"])
        #expect(c.allows(origin: "https://a.example.com"))
        #expect(c.allows(origin: "https://a.b.example.com"))
        #expect(!c.allows(origin: "http://a.example.com"))
        #expect(!c.allows(origin: "https://example.com"))
        #expect(!c.allows(origin: "https://badexample.com"))
    }

    @Test func portsMatchExactly() {
        let c = client(["http://localhost:3000", "staging.example.com:8443", "app.example.com"])
        #expect(c.allows(origin: "http://localhost:3000"))
        #expect(!c.allows(origin: "http://localhost:3001"))
        #expect(!c.allows(origin: "http://localhost"))
        #expect(c.allows(origin: "https://staging.example.com:8443"))
        #expect(!c.allows(origin: "https://staging.example.com"))
        #expect(c.allows(origin: "http://app.example.com"))
        #expect(!c.allows(origin: "https://app.example.com:8443"))
        // A bare entry with a scheme's default port means that port, which the browser leaves out.
        #expect(client(["app.example.com:443"]).allows(origin: "https://app.example.com"))
    }

    @Test func anOriginThatIsNoOriginMatchesNothing() {
        let c = client(["*.example.com", "app.example.com"])
        #expect(!c.allows(origin: "null"))
        #expect(!c.allows(origin: "app.example.com"))
        #expect(!c.allows(origin: "https://*.example.com"))
    }
}

@Suite struct FeedbackCursorTests {
    @Test func tokenRoundTrips() throws {
        let cursor = FeedbackCursor(createdAtMillis: 1_700_000_000_123, id: "fb_abc")
        #expect(FeedbackCursor(token: cursor.token) == cursor)
    }

    /// `MToA` is `1:` and a NUL; `LTE6eA` is `-1:x` (no item was made before 1970; it read as an empty page); the
    /// last is `1:` and a 300-character id.
    @Test(arguments: [
        "", "!!!", "bm90LWEtY3Vyc29y", "MToA", "LTE6eA",
        FeedbackCursor(createdAtMillis: 1, id: String(repeating: "a", count: 300)).token,
    ])
    func foreignTokensAreRejected(token: String) {
        #expect(FeedbackCursor(token: token) == nil)
    }
}
