/// Everything that can go wrong in Crypto; no case carries key material, plaintext or a key id from input.
public enum CryptoError: Error, Equatable, Sendable {
    /// An AES-GCM box did not open: wrong key, tampered bytes or mismatched associated data (deliberately opaque).
    case authenticationFailed
    /// An AES-256 key must be 32 bytes; carries the length that was given.
    case invalidKeyLength(Int)
    /// An envelope is too short, has an unknown version or a malformed key-id header.
    case malformedEnvelope
    /// An envelope names a key id that the key ring doesn't hold.
    case unknownKey
    /// An OpenSSL call failed; carries its name and the codes drained from the error queue.
    case openSSL(call: String, codes: [UInt])
}
