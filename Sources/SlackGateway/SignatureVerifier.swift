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
        var base: [UInt8] = []
        base.reserveCapacity(4 + timestamp.utf8.count + body.count)
        base.append(contentsOf: Self.basePrefix)
        base.append(contentsOf: timestamp.utf8)
        base.append(UInt8(ascii: ":"))
        base.append(contentsOf: body)
        // `v0=` and the code's lowercase hex, spelled byte by byte here: the generic Hex.encode and the String it
        // made cost more than the HMAC itself on this route (see BENCHMARKS.md).
        let code = HMACSHA256.authenticationCode(for: base, key: secret)
        var expected: [UInt8] = []
        expected.reserveCapacity(Self.signaturePrefix.count + 2 * code.count)
        expected.append(contentsOf: Self.signaturePrefix)
        for byte in code {
            expected.append(Self.hexDigits[Int(byte >> 4)])
            expected.append(Self.hexDigits[Int(byte & 0x0F)])
        }
        guard constantTimeEquals(expected, Array(signature.utf8)) else { throw .badSignature }
    }

    private static let basePrefix: [UInt8] = Array("v0:".utf8)
    private static let signaturePrefix: [UInt8] = Array("v0=".utf8)
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
