import Feedback
import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@Suite struct FormBodyTests {
    @Test func plusIsASpaceAndEscapesAreUTF8() throws {
        let form = try #require(FormBody(Array("text=Export+to+CSV+%2850%25%29+%E2%80%93+fix&empty=&flag".utf8)))
        #expect(form["text"] == "Export to CSV (50%) – fix")
        #expect(form["empty"] == "")
        #expect(form["flag"] == "")
        #expect(form["missing"] == nil)
    }

    /// Hex digits in an escape are case-insensitive (RFC 3986), and empty pairs (`a=1&&b=2&`, as a query built by
    /// appending `&` writes them) are nothing, not a field without a name.
    @Test func lowercaseEscapesAndEmptyPairsAreRead() throws {
        let form = try #require(FormBody(Array("&text=caf%c3%a9%2b&&limit=2&".utf8)))
        #expect(form["text"] == "café+")
        #expect(form.fields.map(\.name) == ["text", "limit"])
    }

    @Test func brokenEscapesAreRefused() {
        #expect(FormBody(Array("a=%E".utf8)) == nil)
        #expect(FormBody(Array("a=%ZZ".utf8)) == nil)
        #expect(FormBody(Array("a=%FF".utf8)) == nil)
    }

    /// A request's query string is read the same way, with a broken escape refused by the name it came with.
    @Test func aQueryStringIsReadAsAForm() throws {
        func request(_ path: String) -> Request {
            Request(head: HTTPRequest(method: .get, scheme: "http", authority: "x", path: path), body: .init(buffer: ByteBuffer()))
        }
        let form = try request("/api/feedback?environment=my+env&a%20b=c%2Bd&cursor=x-_").formQuery()
        #expect(form["environment"] == "my env")
        #expect(form["a b"] == "c+d")
        #expect(form["cursor"] == "x-_")
        #expect(try request("/api/feedback").formQuery().fields.isEmpty)
        do {
            _ = try request("/api/feedback?limit=2&cursor=%%%").formQuery()
            Issue.record("a broken escape was read")
        } catch {
            guard case .badQuery(let field, _) = error else { throw error }
            #expect(field == "cursor")
        }
        #expect(request("/inbox?env=%E2%82").lenientFormQuery.fields.isEmpty)
    }

    @Test func encodingRoundTrips() throws {
        let encoded = FormBody.encode([("text", "a b&c=d ✓"), ("k", "")])
        let form = try #require(FormBody(Array(encoded.utf8)))
        #expect(form["text"] == "a b&c=d ✓")
        #expect(form["k"] == "")
    }
}
