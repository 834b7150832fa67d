/// Seals tokens under the current key and opens envelopes under any key it holds, so keys can rotate.
///
/// Envelope: byte 0x01, 1 byte key-id length (8), key id ASCII, 12-byte nonce, ciphertext, 16-byte tag.
/// GCM authenticates the 10-byte header followed by the caller's associated data (e.g. the team id), so an
/// envelope opens only under the key it names and only for the record it was sealed for.
public struct KeyRing: Sendable, CustomStringConvertible {
    private let current: TokenKey
    private let previous: [TokenKey]

    /// A ring that seals with `current` and can still open envelopes sealed under any of `previous`.
    public init(current: TokenKey, previous: [TokenKey] = []) {
        self.current = current
        self.previous = previous
    }

    /// The id new envelopes carry.
    public var currentKeyID: String { current.id }

    /// The ids of every key the ring holds: the envelopes it can open.
    public var keyIDs: Set<String> { Set([current.id] + previous.map(\.id)) }

    /// Seals `plaintext` under the current key, bound to `associatedData`.
    public func seal(
        _ plaintext: some Collection<UInt8>,
        associatedData: some Collection<UInt8>
    ) throws(CryptoError) -> [UInt8] {
        let aad = Envelope.header(keyID: current.id) + associatedData
        let box = try AESGCM.seal(plaintext, key: current.key, authenticating: aad)
        return Envelope(keyID: current.id, box: box).bytes
    }

    /// Opens an envelope sealed under any key in the ring with the same `associatedData`.
    public func open(_ envelope: [UInt8], associatedData: some Collection<UInt8>) throws(CryptoError) -> SecretBytes {
        let parsed = try Envelope(parsing: envelope)
        guard let token = key(withID: parsed.keyID) else { throw .unknownKey }
        let aad = Envelope.header(keyID: parsed.keyID) + associatedData
        return try AESGCM.open(parsed.box, key: token.key, authenticating: aad)
    }

    /// The id of the key an envelope was sealed under, without opening it.
    public static func keyID(ofEnvelope envelope: [UInt8]) throws(CryptoError) -> String {
        try Envelope(parsing: envelope).keyID
    }

    /// Whether the ring holds the key `envelope` was sealed with (false for an envelope that does not parse).
    public func holdsKey(of envelope: [UInt8]) -> Bool {
        (try? Self.keyID(ofEnvelope: envelope)).flatMap { key(withID: $0) } != nil
    }

    /// Opens with whichever key the envelope names and seals again with the current key.
    public func reseal(_ envelope: [UInt8], associatedData: some Collection<UInt8>) throws(CryptoError) -> [UInt8] {
        let aad = Array(associatedData)
        let plaintext = try open(envelope, associatedData: aad)
        // Seal from the wiped buffer directly so the plaintext is never copied into an ordinary array.
        return try plaintext.withBytes { (bytes) throws(CryptoError) in try seal(bytes, associatedData: aad) }
    }

    /// "KeyRing(current: …, previous: […])": key ids only, never keys.
    public var description: String {
        "KeyRing(current: \(current.id), previous: [\(previous.map(\.id).joined(separator: ", "))])"
    }

    private func key(withID id: String) -> TokenKey? {
        current.id == id ? current : previous.first { $0.id == id }
    }
}
