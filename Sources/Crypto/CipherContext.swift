internal import COpenSSL

/// The one owner of an `EVP_CIPHER_CTX` for a single AES-256-GCM seal or open; `deinit` frees it.
///
/// `EVP_CIPHER_CTX_free` also wipes the expanded key schedule, so nothing key-derived outlives the operation.
final class CipherContext {
    private let context: OpaquePointer

    /// Allocates a context.
    init() throws(CryptoError) {
        context = try checkNotNull(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    /// Sets up AES-256-GCM in the given direction with `key` and a 12-byte `nonce`.
    func start(encrypting: Bool, key: SecretBytes, nonce: [UInt8]) throws(CryptoError) {
        precondition(key.count == AESGCM.keySize && nonce.count == AESGCM.nonceSize)
        let rc = key.withBytes { keyBuffer in
            nonce.withUnsafeBufferPointer { nonceBuffer in
                // GCM's default IV length is 12 bytes, so no EVP_CTRL_GCM_SET_IVLEN is needed.
                EVP_CipherInit_ex(
                    context,
                    EVP_aes_256_gcm(),
                    nil,
                    keyBuffer.baseAddress,
                    nonceBuffer.baseAddress,
                    encrypting ? 1 : 0
                )
            }
        }
        try check(rc, "EVP_CipherInit_ex")
    }

    /// Authenticates `aad` without encrypting it; must come before any `update(_:into:)`.
    func authenticate(_ aad: some Collection<UInt8>) throws(CryptoError) {
        let rc = withContiguousBytes(aad) { pointer, count in
            var written: Int32 = 0
            return count == 0 ? 1 : EVP_CipherUpdate(context, nil, &written, pointer, Int32(count))
        }
        try check(rc, "EVP_CipherUpdate")
    }

    /// Encrypts or decrypts `input` into `out`, which must hold `input.count` bytes (GCM is a stream mode).
    func update(_ input: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws(CryptoError) {
        precondition(out.count >= input.count)
        guard let inBase = input.baseAddress, let outBase = out.baseAddress, !input.isEmpty else { return }
        var written: Int32 = 0
        try check(EVP_CipherUpdate(context, outBase, &written, inBase, Int32(input.count)), "EVP_CipherUpdate")
        precondition(Int(written) == input.count, "AES-GCM wrote an unexpected number of bytes")
    }

    /// Finishes sealing and returns the 16-byte tag.
    func finishSealing() throws(CryptoError) -> [UInt8] {
        try finish().get()
        var tag = [UInt8](repeating: 0, count: AESGCM.tagSize)
        let rc = tag.withUnsafeMutableBytes { buffer in
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(buffer.count), buffer.baseAddress)
        }
        try check(rc, "EVP_CIPHER_CTX_ctrl")
        return tag
    }

    /// Checks `tag` against everything fed in so far; any failure is `.authenticationFailed`.
    func finishOpening(tag: [UInt8]) throws(CryptoError) {
        var expected = tag
        let rc = expected.withUnsafeMutableBytes { buffer in
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(buffer.count), buffer.baseAddress)
        }
        try check(rc, "EVP_CIPHER_CTX_ctrl")
        guard case .success = finish() else {
            drainErrorQueue()  // nothing in it tells the caller more than "didn't authenticate"
            throw .authenticationFailed
        }
    }

    /// Runs EVP_CipherFinal_ex, which for GCM writes no bytes: it computes (sealing) or verifies (opening) the tag.
    private func finish() -> Result<Void, CryptoError> {
        var scratch = [UInt8](repeating: 0, count: 16)  // room for a block, though GCM writes nothing here
        var written: Int32 = 0
        let rc = scratch.withUnsafeMutableBufferPointer { EVP_CipherFinal_ex(context, $0.baseAddress, &written) }
        return Result { () throws(CryptoError) in try check(rc, "EVP_CipherFinal_ex") }
    }
}
