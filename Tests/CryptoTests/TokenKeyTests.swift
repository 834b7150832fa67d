import Testing
import UseroCrypto

@Suite struct TokenKeyTests {
    @Test func theIDIsEightLowercaseHexCharactersOfTheDomainSeparatedHash() throws {
        // Given a fixed key
        let keyBytes = [UInt8](repeating: 0x42, count: 32)
        // When wrapped twice
        let first = try TokenKey(SecretBytes(copying: keyBytes))
        let second = try TokenKey(SecretBytes(copying: keyBytes))
        // Then the id is stable, 8 lowercase hex chars, and the prefix of SHA-256("usero-token-key-id:" + key)
        #expect(first.id == second.id)
        #expect(first.id.count == 8 && first.id.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(first.id == String(Hex.encode(SHA256.hash(Array("usero-token-key-id:".utf8) + keyBytes)).prefix(8)))
        // And it isn't simply the start of the key's own hash
        #expect(first.id != String(Hex.encode(SHA256.hash(keyBytes)).prefix(8)))
    }

    @Test func differentKeysGetDifferentIDs() throws {
        #expect(try TokenKey(try randomKey()).id != TokenKey(try randomKey()).id)
    }

    @Test(arguments: [0, 16, 31, 33, 64])
    func onlyThirtyTwoByteKeysAreAccepted(length: Int) {
        #expect(throws: CryptoError.invalidKeyLength(length)) {
            try TokenKey(SecretBytes(copying: [UInt8](repeating: 1, count: length)))
        }
    }
}
