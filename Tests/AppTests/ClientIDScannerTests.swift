import Feedback
import Foundation
import NIOCore
import Testing
import UseroTestSupport

@testable import usero

/// The rate limit's fast `clientId` reader agrees with the route's parser: whenever it answers, the id the route
/// would use is among its answers; when it is unsure it says so (nil) and the full parser is asked instead.
@Suite struct ClientIDScannerTests {
    static func scan(_ text: String) -> [String]? { scan(Array(text.utf8)) }
    static func scan(_ bytes: [UInt8]) -> [String]? { ClientIDScanner.scan(ByteBuffer(bytes: bytes).readableBytesView) }

    /// What the route's parser says `clientId` is (nil: not an object, or no string there).
    static func parsed(_ bytes: [UInt8]) -> String? {
        guard case .object(let fields)? = JSONValue.parse(bytes), case .string(let id)? = fields["clientId"] else {
            return nil
        }
        return id
    }

    @Test(arguments: [
        (#"{"clientId":"client_a","rating":3}"#, ["client_a"]),
        (#"  {"rating":3, "comment":"a \"quoted\" }{ ,: text", "clientId" : "client_b"}  "#, ["client_b"]),
        (#"{"\u0063lientId":"client_c"}"#, ["client_c"]),
        (#"{"clientId":"client_\u00e9\ud83e\udd80"}"#, ["client_é🦀"]),
        (#"{"metadata":{"clientId":"nested"},"list":[{"clientId":"x"}],"clientId":"client_d"}"#, ["client_d"]),
        (#"{"clientId":"one","clientId":"two"}"#, ["one", "two"]),
        (#"{"clientId":42}"#, []),
        (#"{}"#, []),
    ])
    func readsTopLevelClientIDs(json: String, expected: [String]) {
        #expect(Self.scan(json) == expected)
    }

    @Test(arguments: [
        #"[{"clientId":"a"}]"#, #"{"clientId":"a""#, #"{"clientId":"a"} trailing"#, #"{"clientId":"\x"}"#,
        #"{"clientId":"\ud800"}"#, #"{"clientId":"a" "rating":3}"#, #"{clientId:"a"}"#, "",
    ])
    func isUnsureOfWhatIsNotPlainJSON(text: String) {
        #expect(Self.scan(text) == nil)
    }

    @Test func otherEncodingsAreLeftToTheFullParser() throws {
        let json = #"{"clientId":"client_utf16"}"#
        let utf16 = try #require(json.data(using: .utf16))  // with a byte-order mark
        #expect(Self.scan(Array(utf16)) == nil)
        let bom = [0xEF, 0xBB, 0xBF] + Array(json.utf8)
        #expect(Self.scan(bom) == nil)
        let fallback = PublicRateLimitMiddleware.clientIDs(inJSON: ByteBuffer(bytes: Array(utf16)))
        #expect(fallback == (Self.parsed(Array(utf16)).map { [$0] } ?? []))
    }

    /// Random documents, written with random spacing and escapes: the scanner never disagrees with the parser.
    @Test func agreesWithTheRoutesParserOnRandomDocuments() throws {
        var random = SplitMix64(seed: 0x5eed_cafe)
        var answered = 0
        for _ in 0..<2_000 {
            let bytes = Array(Self.randomDocument(&random).utf8)
            let route = Self.parsed(bytes)
            guard let found = Self.scan(bytes) else { continue }
            answered += 1
            if let route {
                #expect(found.contains(route), "\(String(decoding: bytes, as: UTF8.self))")
            } else if case .object(let fields)? = JSONValue.parse(bytes), fields["clientId"] == nil {
                // No clientId at all: nothing may be counted. (A repeated key whose last value is not a string may
                // count the others: the route refuses that body anyway.)
                #expect(found.isEmpty, "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(answered > 1_500)
    }

    static let pieces = ["a", "é", "🦀", "\\\"", "\\\\", "\\/", "\\n", "\\u0041", "\\u00e9", "\\ud83e\\udd80", " ", "}", "{", ",", ":", "[", "]"]

    static func randomString(_ random: inout SplitMix64) -> String {
        (0..<random.below(6)).map { _ in pieces[random.below(pieces.count)] }.joined()
    }

    static func spaces(_ random: inout SplitMix64) -> String { ["", " ", "\n", "\t ", "  \r\n"][random.below(5)] }

    static func randomValue(_ random: inout SplitMix64, depth: Int) -> String {
        switch random.below(depth > 2 ? 5 : 7) {
        case 0: return "\"\(randomString(&random))\""
        case 1: return ["0", "-12", "3.5e10", "1E-3", "9223372036854775808"][random.below(5)]
        case 2: return ["true", "false", "null"][random.below(3)]
        case 3: return "\"client_\(random.below(1000))\""
        case 4: return "\"\""
        case 5: return "[" + (0..<random.below(3)).map { _ in spaces(&random) + randomValue(&random, depth: depth + 1) }
            .joined(separator: ",") + "]"
        default: return randomObject(&random, depth: depth + 1)
        }
    }

    static func randomKey(_ random: inout SplitMix64) -> String {
        switch random.below(6) {
        case 0: return "clientId"
        case 1: return "\\u0063lientId"
        case 2: return "client\\u0049d"
        case 3: return "clientid"
        default: return ["rating", "comment", "metadata", "pageUrl"][random.below(4)] + randomString(&random)
        }
    }

    static func randomObject(_ random: inout SplitMix64, depth: Int) -> String {
        let members = (0..<random.below(5)).map { _ in
            spaces(&random) + "\"\(randomKey(&random))\"" + spaces(&random) + ":" + spaces(&random)
                + randomValue(&random, depth: depth)
        }
        return "{" + members.joined(separator: ",") + spaces(&random) + "}"
    }

    static func randomDocument(_ random: inout SplitMix64) -> String {
        spaces(&random) + randomObject(&random, depth: 0) + spaces(&random)
    }
}
