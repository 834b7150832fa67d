internal import COpenSSL

/// HMAC-SHA256 through OpenSSL's one-shot `HMAC()`.
public enum HMACSHA256 {
    /// The 32-byte HMAC-SHA256 of `message` under `key`; compare codes with `constantTimeEquals`.
    public static func authenticationCode(for message: some Collection<UInt8>, key: SecretBytes) -> [UInt8] {
        var failed = false
        let code = key.withBytes { keyBuffer in
            withContiguousBytes(message) { messagePointer, messageCount in
                [UInt8](unsafeUninitializedCapacity: Int(EVP_MAX_MD_SIZE)) { out, initialized in
                    var length: UInt32 = 0
                    // Never a NULL key, even an empty one: OpenSSL reads NULL as "keep the previous key".
                    withContiguousBytes(keyBuffer) { keyPointer, keyCount in
                        let result = HMAC(
                            EVP_sha256(),
                            keyPointer,
                            Int32(keyCount),
                            messagePointer,
                            messageCount,
                            out.baseAddress,
                            &length
                        )
                        failed = result == nil
                    }
                    initialized = failed ? 0 : Int(length)
                }
            }
        }
        // Only an allocation failure inside OpenSSL gets here; see SHA256.hash for why this doesn't throw.
        if failed { fatalError("HMAC-SHA256 failed: \(CryptoError.openSSL(call: "HMAC", codes: drainErrorQueue()))") }
        return code
    }
}
