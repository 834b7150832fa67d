/// One AES-256 key for sealing tokens, and the short id that envelopes carry to name it.
public struct TokenKey: Sendable, CustomStringConvertible {
    /// Length of `id` in characters (and in envelope bytes).
    static let idLength = 8
    private static let idDomain = Array("usero-token-key-id:".utf8)

    /// The key itself; never printed.
    let key: SecretBytes

    /// First 8 lowercase hex chars of SHA-256("usero-token-key-id:" + key bytes): stable, reveals nothing useful.
    public let id: String

    /// Wraps a 32-byte key, throwing `.invalidKeyLength` for any other size.
    public init(_ key: SecretBytes) throws(CryptoError) {
        guard key.count == AESGCM.keySize else { throw .invalidKeyLength(key.count) }
        // Hash incrementally so the key is never copied next to the prefix into an unwiped array.
        let digest = try DigestContext()
        try digest.update(Self.idDomain)
        try digest.update(key)
        self.key = key
        self.id = String(Hex.encode(try digest.finalize()).prefix(Self.idLength))
    }

    /// "TokenKey(id: …)": the id only, never the key.
    public var description: String { "TokenKey(id: \(id))" }
}
