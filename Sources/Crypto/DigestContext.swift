internal import COpenSSL

/// The one owner of an `EVP_MD_CTX` computing SHA-256; `deinit` frees it.
final class DigestContext {
    private let context: OpaquePointer

    /// Allocates a context and starts a SHA-256 computation.
    init() throws(CryptoError) {
        context = try checkNotNull(EVP_MD_CTX_new(), "EVP_MD_CTX_new")
        // If init fails, deinit still runs (every stored property is set) and frees the context.
        try check(EVP_DigestInit_ex(context, EVP_sha256(), nil), "EVP_DigestInit_ex")
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Feeds `bytes` into the hash.
    func update(_ bytes: some Collection<UInt8>) throws(CryptoError) {
        let rc = withContiguousBytes(bytes) { pointer, count in EVP_DigestUpdate(context, pointer, count) }
        try check(rc, "EVP_DigestUpdate")
    }

    /// Feeds a secret into the hash without copying it out of its wiped storage.
    func update(_ secret: SecretBytes) throws(CryptoError) {
        try secret.withBytes { (buffer) throws(CryptoError) in
            try update(buffer)
        }
    }

    /// Finishes the computation and returns the 32-byte digest.
    func finalize() throws(CryptoError) -> [UInt8] {
        var rc: Int32 = 0
        let digest = [UInt8](unsafeUninitializedCapacity: Int(EVP_MAX_MD_SIZE)) { buffer, initialized in
            var length: UInt32 = 0
            rc = EVP_DigestFinal_ex(context, buffer.baseAddress, &length)
            initialized = rc == 1 ? Int(length) : 0
        }
        try check(rc, "EVP_DigestFinal_ex")
        return digest
    }
}
