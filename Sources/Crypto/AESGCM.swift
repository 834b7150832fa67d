/// AES-256-GCM through OpenSSL's EVP cipher interface, with a fresh random 12-byte nonce per seal.
public enum AESGCM {
    /// Key length in bytes (AES-256).
    public static let keySize = 32
    /// Nonce length in bytes (96 bits, GCM's fast path).
    public static let nonceSize = 12
    /// Tag length in bytes (128 bits, never truncated).
    public static let tagSize = 16

    /// AES-256-GCM. A fresh random 12-byte nonce unless one is given (the parameter exists for known-answer tests).
    public static func seal(
        _ plaintext: some Collection<UInt8>,
        key: SecretBytes,
        nonce: [UInt8]? = nil,
        authenticating aad: some Collection<UInt8>
    ) throws(CryptoError) -> SealedBox {
        guard key.count == keySize else { throw .invalidKeyLength(key.count) }
        // A caller-chosen nonce exists only for known-answer tests; a wrong length is a programming error.
        precondition(nonce == nil || nonce?.count == nonceSize, "AES-GCM nonce must be 12 bytes")
        // Not `??`: its autoclosure is untyped `rethrows`, which would widen the error to `any Error`.
        let sealNonce: [UInt8]
        if let nonce { sealNonce = nonce } else { sealNonce = try SecureRandom.bytes(count: nonceSize) }
        let context = try CipherContext()
        try context.start(encrypting: true, key: key, nonce: sealNonce)
        try context.authenticate(aad)
        let ciphertext = try withContiguousBytes(plaintext) { (pointer, count) throws(CryptoError) in
            var output = [UInt8](repeating: 0, count: count)
            try output.withUnsafeMutableBufferPointer { (out) throws(CryptoError) in
                try context.update(UnsafeBufferPointer(start: pointer, count: count), into: out)
            }
            return output
        }
        return SealedBox(nonce: sealNonce, ciphertext: ciphertext, tag: try context.finishSealing())
    }

    /// Checks the tag and returns the plaintext in wiped storage; every mismatch is `.authenticationFailed`.
    public static func open(
        _ box: SealedBox,
        key: SecretBytes,
        authenticating aad: some Collection<UInt8>
    ) throws(CryptoError) -> SecretBytes {
        guard key.count == keySize else { throw .invalidKeyLength(key.count) }
        guard box.nonce.count == nonceSize, box.tag.count == tagSize else { throw .authenticationFailed }
        let context = try CipherContext()
        try context.start(encrypting: false, key: key, nonce: box.nonce)
        try context.authenticate(aad)
        // Decrypt straight into SecretBytes: if the tag then fails, the unauthenticated plaintext is wiped with it.
        let plaintext = try SecretBytes.filled(count: box.ciphertext.count) { (out) throws(CryptoError) in
            try box.ciphertext.withUnsafeBufferPointer { (input) throws(CryptoError) in
                try context.update(input, into: out)
            }
        }
        try context.finishOpening(tag: box.tag)
        return plaintext
    }
}
