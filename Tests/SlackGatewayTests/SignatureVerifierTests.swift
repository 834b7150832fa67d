import Foundation
import SlackGateway
import Testing

@Suite struct SignatureVerifierTests {
    // Slack's published example ("Verifying requests from Slack"); the body is copied from
    // shared/fixtures/slack/signature_vectors.json (base64 there), never retyped.
    static let body = Array(Data(base64Encoded: """
        dG9rZW49eHl6ejBXYmFwQTR2QkNERUZhc3gwcTZHJnRlYW1faWQ9VDFEQzJKSDNKJnRlYW1fZG9tYWluPXRlc3R0ZWFtbm93JmNo\
        YW5uZWxfaWQ9RzhQU1M5VDNWJmNoYW5uZWxfbmFtZT1mb29iYXImdXNlcl9pZD1VMkNFUkxLSkEmdXNlcl9uYW1lPXJvYWRydW5u\
        ZXImY29tbWFuZD0lMkZ3ZWJob29rLWNvbGxlY3QmdGV4dD0mcmVzcG9uc2VfdXJsPWh0dHBzJTNBJTJGJTJGaG9va3Muc2xhY2su\
        Y29tJTJGY29tbWFuZHMlMkZUMURDMkpIM0olMkYzOTc3MDA4ODU1NTQlMkY5NnJHbGZtaWJJR2xnY1pSc2tYYUlGZk4mdHJpZ2dl\
        cl9pZD0zOTg3Mzg2NjMwMTUuNDc0NDU2MjkxMjEuODAzYTBiYzg4N2ExNGQxMGQyYzQ0N2ZjZThiNjcwM2M=
        """)!)
    static let verifier = SignatureVerifier(signingSecret: Redacted("8f742231b10e8888abcd99yyyzzz85a5"))
    static let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

    @Test func acceptsSlacksPublishedExample() throws {
        try Self.verifier.verify(
            body: Self.body, timestamp: "1531420618", signature: Self.signature,
            now: Date(timeIntervalSince1970: 1_531_420_618))
    }

    @Test func rejectsStaleAndFutureTimestamps() {
        for skew in [-301.0, 301.0, 86_400.0] {
            #expect(throws: SlackGatewayError.staleTimestamp) {
                try Self.verifier.verify(
                    body: Self.body, timestamp: "1531420618", signature: Self.signature,
                    now: Date(timeIntervalSince1970: 1_531_420_618 + skew))
            }
        }
    }

    @Test func rejectsMissingOrMalformedHeaders() {
        let now = Date(timeIntervalSince1970: 1_531_420_618)
        #expect(throws: SlackGatewayError.staleTimestamp) {
            try Self.verifier.verify(body: Self.body, timestamp: nil, signature: Self.signature, now: now)
        }
        #expect(throws: SlackGatewayError.staleTimestamp) {
            try Self.verifier.verify(body: Self.body, timestamp: "15314206l8", signature: Self.signature, now: now)
        }
        #expect(throws: SlackGatewayError.badSignature) {
            try Self.verifier.verify(body: Self.body, timestamp: "1531420618", signature: nil, now: now)
        }
        #expect(throws: SlackGatewayError.badSignature) {
            try Self.verifier.verify(body: Self.body + [0x20], timestamp: "1531420618", signature: Self.signature, now: now)
        }
    }

    @Test func theSecretNeverPrints() {
        let secret = Redacted("8f742231b10e8888abcd99yyyzzz85a5")
        #expect("\(secret)" == "<redacted>")
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("8f742231"))
    }
}
