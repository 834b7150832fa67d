import Testing
import UseroCrypto

@Suite struct AESGCMTests {
    // MARK: Known answers

    @Test(arguments: GCMVector.all)
    func sealReproducesTheKnownAnswer(_ vector: GCMVector) throws {
        // Given the vector's key and nonce
        let key = SecretBytes(copying: try hex(vector.key))
        // When sealing its plaintext with that nonce
        let box = try AESGCM.seal(
            try hex(vector.plaintext),
            key: key,
            nonce: try hex(vector.nonce),
            authenticating: try hex(vector.aad)
        )
        // Then ciphertext and tag are the published ones
        #expect(Hex.encode(box.ciphertext) == vector.ciphertext)
        #expect(Hex.encode(box.tag) == vector.tag)
        #expect(Hex.encode(box.nonce) == vector.nonce)
    }

    @Test(arguments: GCMVector.all)
    func openRecoversTheKnownPlaintext(_ vector: GCMVector) throws {
        let box = AESGCM.SealedBox(
            nonce: try hex(vector.nonce),
            ciphertext: try hex(vector.ciphertext),
            tag: try hex(vector.tag)
        )
        let plaintext = try AESGCM.open(
            box,
            key: SecretBytes(copying: try hex(vector.key)),
            authenticating: try hex(vector.aad)
        )
        #expect(Hex.encode(plaintext.bytesForTesting) == vector.plaintext)
    }

    // MARK: Tampering

    enum Part: String, CaseIterable, Sendable { case tag, ciphertext, nonce, associatedData }

    @Test(arguments: Part.allCases, [0, 37, 95])
    func flippingOneBitAnywhereFailsAuthentication(_ part: Part, bit: Int) throws {
        // Given a box sealed over 32 bytes with 16 bytes of associated data
        let key = try randomKey()
        var aad = Array("team:T1DC2JH3J.16".utf8.prefix(16))
        var box = try AESGCM.seal(Array(0..<32), key: key, authenticating: aad)
        // When one bit of one part changes
        func flip(_ bytes: inout [UInt8]) {
            let index = (bit / 8) % bytes.count
            bytes[index] ^= 1 << (bit % 8)
        }
        switch part {
        case .tag: flip(&box.tag)
        case .ciphertext: flip(&box.ciphertext)
        case .nonce: flip(&box.nonce)
        case .associatedData: flip(&aad)
        }
        // Then open refuses with the one opaque error
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(box, key: key, authenticating: aad) }
    }

    @Test func aWrongKeyFailsAuthentication() throws {
        let box = try AESGCM.seal(Array("xoxb-secret".utf8), key: try randomKey(), authenticating: [UInt8]())
        #expect(throws: CryptoError.authenticationFailed) {
            try AESGCM.open(box, key: try randomKey(), authenticating: [UInt8]())
        }
    }

    @Test func aTruncatedTagOrNonceFailsAuthentication() throws {
        let key = try randomKey()
        let box = try AESGCM.seal([1, 2, 3], key: key, authenticating: [UInt8]())
        var shortTag = box
        shortTag.tag.removeLast()
        var shortNonce = box
        shortNonce.nonce.removeLast()
        #expect(throws: CryptoError.authenticationFailed) {
            try AESGCM.open(shortTag, key: key, authenticating: [UInt8]())
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try AESGCM.open(shortNonce, key: key, authenticating: [UInt8]())
        }
    }

    @Test func aThirtyOneByteKeyIsRejectedByLength() throws {
        let shortKey = SecretBytes(copying: [UInt8](repeating: 7, count: 31))
        #expect(throws: CryptoError.invalidKeyLength(31)) {
            try AESGCM.seal([1], key: shortKey, authenticating: [UInt8]())
        }
        let box = try AESGCM.seal([1], key: try randomKey(), authenticating: [UInt8]())
        #expect(throws: CryptoError.invalidKeyLength(31)) {
            try AESGCM.open(box, key: shortKey, authenticating: [UInt8]())
        }
    }

    // MARK: Nonces

    @Test func twoSealsOfTheSamePlaintextDiffer() throws {
        let key = try randomKey()
        let plaintext = Array("same token".utf8)
        let first = try AESGCM.seal(plaintext, key: key, authenticating: [UInt8]())
        let second = try AESGCM.seal(plaintext, key: key, authenticating: [UInt8]())
        #expect(first.nonce.count == AESGCM.nonceSize)
        #expect(first.nonce != second.nonce)
        #expect(first.ciphertext != second.ciphertext)
    }

    @Test func aRoundTripPreservesEmptyAndLongPlaintexts() throws {
        let key = try randomKey()
        for plaintext in [[], Array("xoxb-1-2-3".utf8), try SecureRandom.bytes(count: 4099)] {
            let box = try AESGCM.seal(plaintext, key: key, authenticating: Array("T123".utf8))
            #expect(box.ciphertext.count == plaintext.count && box.tag.count == AESGCM.tagSize)
            #expect(try AESGCM.open(box, key: key, authenticating: Array("T123".utf8)).bytesForTesting == plaintext)
        }
    }
}
