import Testing
import UseroCrypto

@Suite struct KeyRingTests {
    let oldKey: TokenKey
    let newKey: TokenKey
    let team = Array("T1DC2JH3J".utf8)
    let token = Array("xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy".utf8)

    init() throws {
        oldKey = try TokenKey(try randomKey())
        newKey = try TokenKey(try randomKey())
    }

    @Test func sealThenOpenReturnsThePlaintext() throws {
        let ring = KeyRing(current: newKey)
        let envelope = try ring.seal(token, associatedData: team)
        #expect(try ring.open(envelope, associatedData: team).bytesForTesting == token)
    }

    @Test func theEnvelopeHasVersionOneAndTheCurrentKeyID() throws {
        // Given a ring whose current key is newKey
        let ring = KeyRing(current: newKey, previous: [oldKey])
        // When sealing
        let envelope = try ring.seal(token, associatedData: team)
        // Then the layout is 0x01, 8, the id in ASCII, nonce, ciphertext, tag
        #expect(envelope.first == 0x01)
        #expect(envelope[1] == 8)
        #expect(String(decoding: envelope[2..<10], as: UTF8.self) == newKey.id)
        #expect(envelope.count == 1 + 1 + 8 + AESGCM.nonceSize + token.count + AESGCM.tagSize)
        #expect(ring.currentKeyID == newKey.id)
        #expect(try KeyRing.keyID(ofEnvelope: envelope) == newKey.id)
    }

    @Test func aRotatedRingOpensOldEnvelopesAndResealsThemUnderTheNewKey() throws {
        // Given an envelope sealed before rotation
        let oldEnvelope = try KeyRing(current: oldKey).seal(token, associatedData: team)
        let rotated = KeyRing(current: newKey, previous: [oldKey])
        // When the rotated ring opens and reseals it
        #expect(try rotated.open(oldEnvelope, associatedData: team).bytesForTesting == token)
        let resealed = try rotated.reseal(oldEnvelope, associatedData: team)
        // Then the new envelope names the new key and the new key alone opens it
        #expect(try KeyRing.keyID(ofEnvelope: resealed) == newKey.id)
        #expect(try KeyRing(current: newKey).open(resealed, associatedData: team).bytesForTesting == token)
        #expect(throws: CryptoError.unknownKey) { try KeyRing(current: oldKey).open(resealed, associatedData: team) }
    }

    @Test func aRingWithoutTheNamedKeyThrowsUnknownKey() throws {
        let envelope = try KeyRing(current: oldKey).seal(token, associatedData: team)
        #expect(throws: CryptoError.unknownKey) { try KeyRing(current: newKey).open(envelope, associatedData: team) }
        #expect(throws: CryptoError.unknownKey) { try KeyRing(current: newKey).reseal(envelope, associatedData: team) }
    }

    /// Two rotations not yet resealed: a ring with two previous keys opens an envelope under either, each by the id
    /// it names, and one under a key it lacks is an unknown key (left to an instance that has it), not a forgery.
    @Test func aRingWithSeveralPreviousKeysOpensEachByTheIdItNames() throws {
        let oldest = try TokenKey(try randomKey())
        let fromOldest = try KeyRing(current: oldest).seal(token, associatedData: team)
        let fromOld = try KeyRing(current: oldKey).seal(token, associatedData: team)
        let ring = KeyRing(current: newKey, previous: [oldKey, oldest])
        #expect(try ring.open(fromOldest, associatedData: team).bytesForTesting == token)
        #expect(try ring.open(fromOld, associatedData: team).bytesForTesting == token)
        #expect(ring.holdsKey(of: fromOldest) && ring.holdsKey(of: fromOld))
        let elsewhere = try KeyRing(current: try TokenKey(try randomKey())).seal(token, associatedData: team)
        #expect(!ring.holdsKey(of: elsewhere))
        #expect(throws: CryptoError.unknownKey) { try ring.open(elsewhere, associatedData: team) }
    }

    @Test func everyEnvelopeShorterThanTheMinimumIsMalformed() throws {
        // Given a valid envelope of an empty plaintext (exactly header + nonce + tag = 38 bytes)
        let ring = KeyRing(current: newKey)
        let envelope = try ring.seal([UInt8](), associatedData: team)
        #expect(envelope.count == 38)
        #expect(try ring.open(envelope, associatedData: team).count == 0)
        // Then every truncation of it is malformed, for open, reseal and keyID
        for length in 0..<envelope.count {
            let truncated = Array(envelope.prefix(length))
            #expect(throws: CryptoError.malformedEnvelope) { try ring.open(truncated, associatedData: team) }
            #expect(throws: CryptoError.malformedEnvelope) { try ring.reseal(truncated, associatedData: team) }
            #expect(throws: CryptoError.malformedEnvelope) { try KeyRing.keyID(ofEnvelope: truncated) }
        }
    }

    @Test func anUnknownVersionOrIDLengthIsMalformed() throws {
        let ring = KeyRing(current: newKey)
        let envelope = try ring.seal(token, associatedData: team)
        for (index, value) in [(0, UInt8(0x02)), (0, 0x00), (1, 7), (1, 9), (2, UInt8(ascii: "Z"))] {
            var altered = envelope
            altered[index] = value
            #expect(throws: CryptoError.malformedEnvelope) { try ring.open(altered, associatedData: team) }
        }
    }

    @Test func movingAnEnvelopeToAnotherTeamFailsAuthentication() throws {
        let ring = KeyRing(current: newKey)
        let envelope = try ring.seal(token, associatedData: team)
        #expect(throws: CryptoError.authenticationFailed) {
            try ring.open(envelope, associatedData: Array("T0OTHERTEAM".utf8))
        }
    }

    @Test func relabellingAnEnvelopeWithAnotherHeldKeyFailsAuthentication() throws {
        // Given a ring holding both keys and an envelope sealed under the new one
        let ring = KeyRing(current: newKey, previous: [oldKey])
        var envelope = try ring.seal(token, associatedData: team)
        // When its header is rewritten to name the old key
        envelope.replaceSubrange(2..<10, with: Array(oldKey.id.utf8))
        // Then it doesn't open under either
        #expect(throws: CryptoError.authenticationFailed) { try ring.open(envelope, associatedData: team) }
    }

    @Test func truncatingTheTagOfALongEnvelopeFailsAuthentication() throws {
        let ring = KeyRing(current: newKey)
        let envelope = try ring.seal(token, associatedData: team)
        #expect(throws: CryptoError.authenticationFailed) {
            try ring.open(Array(envelope.dropLast()), associatedData: team)
        }
    }
}
