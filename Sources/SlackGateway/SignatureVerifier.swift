public import Foundation
import UseroCrypto

/// Checks Slack's `X-Slack-Signature` (v0, HMAC-SHA256 over `v0:{timestamp}:{raw body}`) and freshness.
public struct SignatureVerifier: Sendable {
    /// Requests whose timestamp is further than this from now (either way) are refused.
    public static let maxSkew: Int64 = 300

    private let secret: SecretBytes

    /// A verifier for the app's signing secret (its UTF-8 bytes, used as-is).
    public init(signingSecret: Redacted<String>) {
        secret = SecretBytes(copying: Array(signingSecret.value.utf8))
    }

    /// Throws `.staleTimestamp` or `.badSignature` unless `signature` signs `body` at `timestamp`, near `now`.
    ///
    /// Runs before anything parses the body; both headers are taken as received (nil when missing).
    public func verify(body: [UInt8], timestamp: String?, signature: String?, now: Date) throws(SlackGatewayError) {
        guard let timestamp, !timestamp.isEmpty, timestamp.utf8.count <= 12,
            timestamp.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let seconds = Int64(timestamp)
        else { throw .staleTimestamp }
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        guard abs(nowSeconds - seconds) <= Self.maxSkew else { throw .staleTimestamp }
        guard let signature else { throw .badSignature }
        var base = Array("v0:\(timestamp):".utf8)
        base.append(contentsOf: body)
        let expected = Array("v0=".utf8) + Array(Hex.encode(HMACSHA256.authenticationCode(for: base, key: secret)).utf8)
        guard constantTimeEquals(expected, Array(signature.utf8)) else { throw .badSignature }
    }
}
