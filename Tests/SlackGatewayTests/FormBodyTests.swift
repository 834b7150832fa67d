import SlackGateway
import Testing

@Suite struct FormBodyTests {
    @Test func plusIsASpaceAndEscapesAreUTF8() throws {
        let form = try #require(FormBody(Array("text=Export+to+CSV+%2850%25%29+%E2%80%93+fix&empty=&flag".utf8)))
        #expect(form["text"] == "Export to CSV (50%) – fix")
        #expect(form["empty"] == "")
        #expect(form["flag"] == "")
        #expect(form["missing"] == nil)
    }

    @Test func brokenEscapesAreRefused() {
        #expect(FormBody(Array("a=%E".utf8)) == nil)
        #expect(FormBody(Array("a=%ZZ".utf8)) == nil)
        #expect(FormBody(Array("a=%FF".utf8)) == nil)
    }

    @Test func encodingRoundTrips() throws {
        let encoded = FormBody.encode([("text", "a b&c=d ✓"), ("k", "")])
        let form = try #require(FormBody(Array(encoded.utf8)))
        #expect(form["text"] == "a b&c=d ✓")
        #expect(form["k"] == "")
    }
}
