import Testing
import UseroCrypto

/// Keys never reach a description, a debug description or a dump.
@Suite struct RedactionTests {
    // Printable and distinctive, so a leak shows up whether it's rendered as text, hex or an array of numbers.
    static let keyBytes = Array("SENTINEL-KEY-0123456789-abcdefgh".utf8)

    static func renderings(of value: Any) -> [String] {
        var dumped = ""
        dump(value, to: &dumped)
        return [String(describing: value), String(reflecting: value), dumped, "\(value)"]
    }

    static func assertNoKeyIn(_ value: Any) {
        let forbidden = [
            "SENTINEL", Hex.encode(keyBytes), Hex.encode(keyBytes).uppercased(),
            keyBytes.prefix(8).map(String.init).joined(separator: ", "),
        ]
        for text in renderings(of: value) {
            for fragment in forbidden { #expect(!text.contains(fragment), "leaked into: \(text)") }
        }
    }

    @Test func secretBytesPrintRedacted() {
        let secret = SecretBytes(copying: Self.keyBytes)
        #expect(String(describing: secret) == "SecretBytes(<redacted>)")
        #expect(String(reflecting: secret) == "SecretBytes(<redacted>)")
        Self.assertNoKeyIn(secret)
    }

    @Test func tokenKeyPrintsOnlyItsID() throws {
        let key = try TokenKey(SecretBytes(copying: Self.keyBytes))
        #expect(String(describing: key) == "TokenKey(id: \(key.id))")
        Self.assertNoKeyIn(key)
    }

    @Test func keyRingPrintsOnlyKeyIDs() throws {
        let current = try TokenKey(SecretBytes(copying: Self.keyBytes))
        let previous = try TokenKey(try randomKey())
        let ring = KeyRing(current: current, previous: [previous])
        #expect(String(describing: ring) == "KeyRing(current: \(current.id), previous: [\(previous.id)])")
        Self.assertNoKeyIn(ring)
    }

    @Test func errorsCarryNoSecrets() throws {
        let ring = KeyRing(current: try TokenKey(SecretBytes(copying: Self.keyBytes)))
        let envelope = try ring.seal(Self.keyBytes, associatedData: [UInt8]())
        let error = #expect(throws: CryptoError.self) { try ring.open(envelope, associatedData: [1]) }
        Self.assertNoKeyIn(error as Any)
    }
}
