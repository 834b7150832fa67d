import Testing
import UseroCrypto

/// An HMAC-SHA256 known answer; `expected` may be a prefix of the full code (RFC 4231 case 5 truncates to 128 bits).
struct HMACVector: Sendable, CustomTestStringConvertible {
    let name: String
    let key: [UInt8]
    let message: [UInt8]
    let expected: String
    var testDescription: String { name }

    // RFC 4231, "Identifiers and Test Vectors for HMAC-SHA-224, -256, -384, and -512", section 4, cases 1–7.
    static let rfc4231: [HMACVector] = [
        HMACVector(
            name: "RFC 4231 case 1",
            key: [UInt8](repeating: 0x0b, count: 20),
            message: Array("Hi There".utf8),
            expected: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        ),
        HMACVector(
            name: "RFC 4231 case 2: key shorter than the output",
            key: Array("Jefe".utf8),
            message: Array("what do ya want for nothing?".utf8),
            expected: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ),
        HMACVector(
            name: "RFC 4231 case 3",
            key: [UInt8](repeating: 0xaa, count: 20),
            message: [UInt8](repeating: 0xdd, count: 50),
            expected: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
        ),
        HMACVector(
            name: "RFC 4231 case 4",
            key: Array(1...25),
            message: [UInt8](repeating: 0xcd, count: 50),
            expected: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"
        ),
        HMACVector(
            name: "RFC 4231 case 5: truncated to 128 bits",
            key: [UInt8](repeating: 0x0c, count: 20),
            message: Array("Test With Truncation".utf8),
            expected: "a3b6167473100ee06e0c796c2955552b"
        ),
        HMACVector(
            name: "RFC 4231 case 6: key larger than a block",
            key: [UInt8](repeating: 0xaa, count: 131),
            message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            expected: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        ),
        HMACVector(
            name: "RFC 4231 case 7: key and data larger than a block",
            key: [UInt8](repeating: 0xaa, count: 131),
            message: Array(
                ("This is a test using a larger than block-size key and a larger than block-size data. "
                    + "The key needs to be hashed before being used by the HMAC algorithm.").utf8
            ),
            expected: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        ),
    ]
}

@Suite struct HMACSHA256Tests {
    @Test(arguments: HMACVector.rfc4231)
    func matchesRFC4231(_ vector: HMACVector) {
        let code = HMACSHA256.authenticationCode(for: vector.message, key: SecretBytes(copying: vector.key))
        #expect(code.count == 32)
        #expect(Hex.encode(code.prefix(vector.expected.count / 2)) == vector.expected)
    }

    @Test func matchesSlacksPublishedSigningExample() {
        // Given the worked example on Slack's "Verifying requests from Slack" page (also the first vector in
        // shared/fixtures/slack/signature_vectors.json); note the body's token is xyzz0WbapA4vBCDEFasx0q6G.
        let secret = SecretBytes(copying: "8f742231b10e8888abcd99yyyzzz85a5".utf8)
        let body =
            "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            + "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            + "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554"
            + "%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
        // When signing the v0 base string
        let code = HMACSHA256.authenticationCode(for: ("v0:1531420618:" + body).utf8, key: secret)
        // Then the signature is Slack's
        #expect("v0=" + Hex.encode(code) == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
    }

    @Test func anEmptyKeyAndMessageGiveTheStandardCode() {
        // The widely published HMAC-SHA256("", ""), e.g. Python's hmac module.
        let code = HMACSHA256.authenticationCode(for: [UInt8](), key: SecretBytes(copying: [UInt8]()))
        #expect(Hex.encode(code) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }
}
