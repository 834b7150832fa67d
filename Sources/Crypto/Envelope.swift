/// The byte layout of a sealed token: version 0x01, key-id length (8), key id in ASCII, then nonce, ciphertext, tag.
struct Envelope {
    static let version: UInt8 = 0x01
    /// Version, length byte and id: the part of the envelope that is authenticated but not encrypted.
    static let headerSize = 2 + TokenKey.idLength

    let keyID: String
    let box: AESGCM.SealedBox

    /// Builds an envelope around a box sealed under `keyID`.
    init(keyID: String, box: AESGCM.SealedBox) {
        self.keyID = keyID
        self.box = box
    }

    /// Splits `bytes` into its parts; anything short, of another version or with a bad id is `.malformedEnvelope`.
    init(parsing bytes: [UInt8]) throws(CryptoError) {
        let bodyStart = Self.headerSize
        guard bytes.count >= bodyStart + AESGCM.nonceSize + AESGCM.tagSize, bytes[0] == Self.version,
            bytes[1] == UInt8(TokenKey.idLength)
        else { throw .malformedEnvelope }
        let idBytes = bytes[2..<bodyStart]
        guard idBytes.allSatisfy(Self.isLowercaseHexDigit) else { throw .malformedEnvelope }
        let tagStart = bytes.count - AESGCM.tagSize
        keyID = String(decoding: idBytes, as: UTF8.self)
        box = AESGCM.SealedBox(
            nonce: Array(bytes[bodyStart..<bodyStart + AESGCM.nonceSize]),
            ciphertext: Array(bytes[bodyStart + AESGCM.nonceSize..<tagStart]),
            tag: Array(bytes[tagStart...])
        )
    }

    /// The version, length and id bytes, which GCM authenticates ahead of the caller's associated data.
    static func header(keyID: String) -> [UInt8] {
        [version, UInt8(TokenKey.idLength)] + Array(keyID.utf8)
    }

    /// Key ids are lowercase hex (see `TokenKey.id`); anything else in that slot means the bytes aren't an envelope.
    private static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    /// The envelope as bytes.
    var bytes: [UInt8] { Self.header(keyID: keyID) + box.nonce + box.ciphertext + box.tag }
}
