@testable import Feedback
import Foundation
import Testing
import UseroTestSupport

/// `JSONValue.parse` reads documents as Foundation's `JSONSerialization` does (the parser it replaced): the same
/// values from valid documents, nil for the same invalid ones, and nil for a trailing comma, which Foundation lets
/// pass but JSON does not have. Compared case by case and over mutated documents.
@Suite struct JSONValueParserTests {
    static let valid: [String] = [
        "{}", "[]", "\"a\"", "0", "-0", "1.5", "-1.5e-3", "1E+2", "2e-2", "true", "false", "null",
        " {\"a\" : [1, 2, {\"b\": null}] }\n", "{\"a\":1,\"a\":2}", "\t[\r\n]",
        #""\u00e9\ud83d\ude00\n\t\"\\\/\b\f\r""#, "\"é😀 ünïcødé\"", #""\u0000 and \u001f""#,
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
        "18446744073709551616", "123456789012345678901234567890", "1e308", "-1.7976931348623157e308", "5e-324",
        "0.1", "100000000000000000000.0", "-1.776931348623157e108", "[0.30000000000000004, 1e-7, 123.456e-300]", "[[[[[]]]]]", "\u{FEFF}{}",
        #"{"clientId":"client_abc","rating":3,"comment":"Export to CSV times out","userEmail":"jamie@example.com","#
            + #""metadata":{"appVersion":"2.4.1","build":1842,"flags":[true,false,null],"ratio":0.25}}"#,
    ]

    static let invalid: [String] = [
        "", " ", "{", "}", "[", "]", "[1,,]", "{\"a\":1,,}", "{a:1}", "{\"a\" 1}", "[1 2]", "1 2", "\"a\"x", "01", "-01",
        "1.", ".5", "-", "+1", "1e", "1e+", "1.e5", "NaN", "Infinity", "-Infinity", "tru", "nulll", "True", "\"abc",
        "\"a\u{1}b\"", "\"a\nb\"", #""\x""#, #""\u12""#, #""\u12g4""#, "[,]", "{,}", "{\"a\"}", "{\"a\":}", "[1,,2]",
        "'a'", "[1]]", "{}}", "/* c */ 1", "1 // c",
    ]

    /// What `JSONSerialization` accepts and JSON does not: a comma before the end of an array or object.
    static let trailingCommas: [String] = [
        "[1,]", "{\"a\":1,}", "[[1,],]", "[[1],]", "{\"a\":[1,2,],\"b\":2}", "[1, \n]", "{\"a\":{},\t}",
        #"{"clientId":"client_abc","rating":3,}"#,
    ]

    @Test(arguments: trailingCommas)
    func aTrailingCommaIsRefusedThoughFoundationTakesIt(_ text: String) {
        #expect(Self.foundation(Array(text.utf8)) != nil, "Foundation refuses \(text) too")
        #expect(Self.hasTrailingComma(Array(text.utf8)))
        #expect(JSONValue.parse(Array(text.utf8)) == nil, "accepted: \(text)")
    }

    @Test func aCommaInsideAStringIsNoTrailingComma() {
        let text = #"{"a":",]","b":",}"}"#
        #expect(!Self.hasTrailingComma(Array(text.utf8)))
        #expect(JSONValue.parse(Array(text.utf8)) == .object(["a": .string(",]"), "b": .string(",}")]))
    }

    @Test(arguments: valid)
    func validDocumentsReadTheSameAsFoundation(_ text: String) throws {
        let parsed = try #require(JSONValue.parse(Array(text.utf8)), "rejected: \(text)")
        let reference = try #require(Self.foundation(Array(text.utf8)))
        #expect(Self.same(parsed, reference), "\(text): \(parsed) against \(reference)")
    }

    @Test(arguments: invalid)
    func invalidDocumentsAreRefusedAsFoundationRefusesThem(_ text: String) {
        #expect(Self.foundation(Array(text.utf8)) == nil, "Foundation accepts \(text)")
        #expect(JSONValue.parse(Array(text.utf8)) == nil, "accepted: \(text)")
    }

    @Test func aRepeatedKeyKeepsTheLastAndIsNoticed() throws {
        let repeated = try #require(JSONValue.parseNoticingDuplicateKeys(Array(#"{"a":1,"b":{"c":1,"c":2}}"#.utf8)))
        #expect(repeated.value == .object(["a": .int(1), "b": .object(["c": .int(2)])]))
        #expect(repeated.duplicateKeys)
        // The same key in two objects, or in an array's objects, is no repeat.
        let distinct = try #require(JSONValue.parseNoticingDuplicateKeys(Array(#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#.utf8)))
        #expect(!distinct.duplicateKeys)
        #expect(JSONValue.parseNoticingDuplicateKeys(Array(#"{"a":1,"a":"#.utf8)) == nil)
    }

    @Test func invalidUTF8AndLoneSurrogatesAreRefused() {
        let documents: [[UInt8]] = [
            [0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xE2, 0x82, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
            Array(#""\ud800""#.utf8), Array(#""\udc00""#.utf8), Array(#""\ud800\u0041""#.utf8),
            Array(#""\ud800x""#.utf8),
        ]
        for bytes in documents {
            #expect(JSONValue.parse(bytes) == nil, "accepted: \(bytes)")
            #expect(Self.foundation(bytes) == nil, "Foundation accepts \(bytes)")
        }
    }

    @Test func integersThatFitInt64StayIntegersAndOthersAreDoubles() {
        #expect(JSONValue.parse(Array("-9223372036854775808".utf8)) == .int(.min))
        #expect(JSONValue.parse(Array("-7223372036854775808".utf8)) == .int(-7_223_372_036_854_775_808))
        #expect(JSONValue.parse(Array("9223372036854775807".utf8)) == .int(.max))
        // Past Int64: the digits as sent, never a double's rounding of them.
        #expect(JSONValue.parse(Array("9223372036854775808".utf8)) == .bigInteger("9223372036854775808"))
        #expect(JSONValue.parse(Array("-9223372036854775809".utf8)) == .bigInteger("-9223372036854775809"))
        #expect(JSONValue.parse(Array("18446744073709551615".utf8))?.jsonText == "18446744073709551615")
        #expect(JSONValue.parse(Array("18446744073709551615".utf8))?.integerValue == nil)
        #expect(JSONValue.parse(Array("18446744073709551615".utf8))?.numberValue == 18_446_744_073_709_551_615)
        #expect(JSONValue.parse(Array("1.0".utf8)) == .double(1))
        #expect(JSONValue.parse(Array("-1.776931348623157e108".utf8)) == .double(-1.776931348623157e108))
        #expect(JSONValue.parse(Array("-0".utf8)) == .int(0))
    }

    @Test func nestingIsBoundedWithoutExhaustingTheStack() {
        let deepest = JSONValueParser.maxDepth
        let fits = String(repeating: "[", count: deepest) + String(repeating: "]", count: deepest)
        #expect(JSONValue.parse(Array(fits.utf8)) != nil)
        let tooDeep = String(repeating: "[", count: deepest + 1) + String(repeating: "]", count: deepest + 1)
        #expect(JSONValue.parse(Array(tooDeep.utf8)) == nil)
        #expect(JSONValue.parse(Array(String(repeating: "[{\"a\":", count: 100_000).utf8)) == nil)
    }

    /// Small edits of valid documents (a byte dropped, added or changed) are read, or refused, as Foundation does.
    @Test func mutatedDocumentsReadTheSameAsFoundation() {
        // No NUL: Foundation takes a document whose first bytes hold zeros for UTF-16 or UTF-32.
        let alphabet = Array("{}[]:,\"\\/u0123456789abcdefABCDEF.eE+-tfnrl \n\t".utf8) + [0x01, 0x80, 0xC3, 0xA9, 0xFF]
        var generator = SplitMix64(seed: 0x5EED_1234)
        var disagreements: [String] = []
        for round in 0..<20_000 {
            var bytes = Array(Self.valid[round % Self.valid.count].utf8)
            for _ in 0...generator.below(3) {
                let position = bytes.isEmpty ? 0 : generator.below(bytes.count)
                let byte = alphabet[generator.below(alphabet.count)]
                switch generator.next() % 3 {
                case 0 where !bytes.isEmpty: bytes.remove(at: position)
                case 1 where !bytes.isEmpty: bytes[position] = byte
                default: bytes.insert(byte, at: position)
                }
            }
            let parsed = JSONValue.parse(bytes)
            let reference = Self.hasTrailingComma(bytes) ? nil : Self.foundation(bytes)
            let agree = switch (parsed, reference) {
            case (nil, nil): true
            case (let a?, let b?): Self.same(a, b)
            default: false
            }
            if !agree { disagreements.append("\(String(decoding: bytes, as: UTF8.self)) \(bytes)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    // MARK: The reference: JSONSerialization, converted as JSONValue.parse did before

    /// Whether `bytes` hold a `,` followed (after white space) by `]` or `}` outside a string: what
    /// `JSONSerialization` reads and the parser refuses.
    static func hasTrailingComma(_ bytes: [UInt8]) -> Bool {
        var inString = false
        var escaped = false
        var afterComma = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true }
                else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true; afterComma = false
            case UInt8(ascii: ","): afterComma = true
            case UInt8(ascii: "]"), UInt8(ascii: "}"): if afterComma { return true }
            case 0x20, 0x09, 0x0A, 0x0D: break
            default: afterComma = false
            }
        }
        return false
    }

    static func foundation(_ bytes: [UInt8]) -> JSONValue? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
            return nil
        }
        return convert(object)
    }

    private static let booleanType = ObjectIdentifier(type(of: NSNumber(value: true)))

    private static func convert(_ value: Any) -> JSONValue? {
        switch value {
        case let string as String:
            return .string(string)
        case let object as [String: Any]:
            var values: [String: JSONValue] = [:]
            for (key, element) in object {
                guard let converted = convert(element) else { return nil }
                values[key] = converted
            }
            return .object(values)
        case let number as NSNumber:
            if ObjectIdentifier(type(of: number)) == booleanType { return .bool(number.boolValue) }
            switch String(cString: number.objCType) {
            case "d", "f", "Q": return .double(number.doubleValue)
            default: return .int(number.int64Value)
            }
        case let array as [Any]:
            var values: [JSONValue] = []
            for element in array {
                guard let converted = convert(element) else { return nil }
                values.append(converted)
            }
            return .array(values)
        case is NSNull:
            return .null
        case let decimal as Decimal:
            return .double(NSDecimalNumber(decimal: decimal).doubleValue)
        default:
            return nil
        }
    }

    /// Equal, but for negative integers of 19 digits (see below), and doubles within a few units in the last place:
    /// Foundation's reading of some numbers is not correctly rounded (it reads -1.776931348623157e108 as
    /// -1.7769313486231553e108; this parser reads it through `strtod`, correctly rounded), and it reads integers
    /// beyond UInt64 through `Decimal`.
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        // JSONSerialization reads every negative integer of 19 digits as a double; this parser keeps those that
        // fit Int64 exact.
        case (.int(let x), .double) where x <= -1_000_000_000_000_000_000: same(.double(Double(x)), b)
        // An integer past Int64 JSONSerialization reads as a double; this parser keeps its digits.
        case (.bigInteger(let digits), .double): Double(digits).map { same(.double($0), b) } ?? false
        case (.double(let x), .double(let y)): x == y || abs(x - y) <= 4e-15 * max(abs(x), abs(y))
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)):
            x.count == y.count && x.allSatisfy { key, value in y[key].map { same(value, $0) } ?? false }
        default: a == b
        }
    }
}
