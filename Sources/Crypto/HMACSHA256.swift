internal import COpenSSL

/// HMAC-SHA256 through OpenSSL's one-shot `HMAC()`.
public enum HMACSHA256 {
    /// The 32-byte HMAC-SHA256 of `message` under `key`; compare codes with `constantTimeEquals`.
    public static func authenticationCode(for message: some Collection<UInt8>, key: SecretBytes) -> [UInt8] {
        withContiguousBytes(message) { pointer, count in code(UnsafeBufferPointer(start: pointer, count: count), key) }
    }

    /// The same for an array, with no generic code at the call site: a generic call from another module runs
    /// unspecialised, instantiating generic metadata each time, and the Slack signature check makes this call on
    /// every request.
    public static func authenticationCode(for message: [UInt8], key: SecretBytes) -> [UInt8] {
        message.withUnsafeBufferPointer { code($0, key) }
    }

    private static func code(_ message: UnsafeBufferPointer<UInt8>, _ key: SecretBytes) -> [UInt8] {
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
