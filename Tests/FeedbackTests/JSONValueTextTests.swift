import Foundation
import Feedback
import Testing

/// `jsonText` is what the stores keep of metadata: written by hand, it must read back as the same value.
@Suite struct JSONValueTextTests {
    static let awkward: [String] = [
        "", "plain", "quote \" and backslash \\ and slash /", "line\nbreak\r\ttab", "bell \u{7} nul-free \u{1F}",
        "\u{8}\u{C}", "é ü ß 日本語", "emoji 👩🏽‍💻 and flags 🇫🇷", "\u{2028}\u{2029}", "{\"not\":\"an object\"}",
    ]

    @Test(arguments: awkward)
    func stringsReadBackUnchanged(_ string: String) throws {
        let value = JSONValue.object([string: .array([.string(string), .null])])
        #expect(JSONValue.parse(Array(value.jsonText.utf8)) == value)
    }

    @Test func numbersBooleansAndNestingReadBackUnchanged() {
        let value = JSONValue.object([
            "int": .int(-9_007_199_254_740_993), "max": .int(Int64.max), "zero": .int(0),
            "unsigned": .bigInteger("18446744073709551615"), "below": .bigInteger("-99999999999999999999"),
            "half": .double(0.5), "tiny": .double(1e-7), "huge": .double(1.5e300), "negative": .double(-2.25),
            "yes": .bool(true), "no": .bool(false), "nothing": .null,
            "nested": .array([.object(["deeper": .array([.int(1), .string("two")])]), .array([])]), "empty": .object([:]),
        ])
        #expect(JSONValue.parse(Array(value.jsonText.utf8)) == value)
    }

    /// Through JSONEncoder too (an end user's traits in an export): the digits, as a number.
    @Test func bigIntegersEncodeAsTheirDigits() throws {
        let encoded = try JSONEncoder().encode(["id": JSONValue.bigInteger("18446744073709551615")])
        #expect(String(decoding: encoded, as: UTF8.self) == #"{"id":18446744073709551615}"#)
    }

    /// A request's integer past a double's range is refused as `1e400` is; one within it encodes through
    /// JSONEncoder. A 309-digit trait encoded as infinity, which JSONEncoder refuses: its person's record answered
    /// 500 for good. A stored document holding one from before still reads (`parse`), and encodes as its digits.
    @Test func integersPastADoublesRangeAreRefusedAndNoneEncodesAsInfinity() throws {
        let tooMany = "1" + String(repeating: "0", count: 309)
        #expect(JSONValue.parseRequestBody(Array(#"{"x":\#(tooMany)}"#.utf8)) == nil)
        #expect(JSONValue.parseRequestBody(Array(#"{"a":[{"x":-\#(tooMany)}]}"#.utf8)) == nil)
        #expect(JSONValue.parse(Array(#"{"x":\#(tooMany)}"#.utf8)) == .object(["x": .bigInteger(tooMany)]))
        let most = "9" + String(repeating: "0", count: 307)
        let parsed = try #require(JSONValue.parseRequestBody(Array(#"{"x":\#(most)}"#.utf8)))
        #expect(parsed == .object(["x": .bigInteger(most)]))
        let encoded = try JSONEncoder().encode(parsed)
        #expect(try JSONSerialization.jsonObject(with: encoded) is [String: Any])
        // Stored before the parser refused them: the digits, as text, rather than a 500.
        let stored = try JSONEncoder().encode(["x": JSONValue.bigInteger(tooMany)])
        #expect(String(decoding: stored, as: UTF8.self) == #"{"x":"\#(tooMany)"}"#)
    }

    @Test func textIsCompactWithSortedKeysAndEscapedControls() {
        let value = JSONValue.object(["b": .int(2), "a": .array([.string("x\"y\n\u{1}")]), "c": .bool(true)])
        #expect(value.jsonText == #"{"a":["x\"y\n\u0001"],"b":2,"c":true}"#)
    }
}
