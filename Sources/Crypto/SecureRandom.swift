internal import COpenSSL

/// Random bytes from OpenSSL's CSPRNG, for nonces and other non-secret values (use `SecretBytes.random` for keys).
public enum SecureRandom {
    /// `count` bytes from RAND_bytes.
    public static func bytes(count: Int) throws(CryptoError) -> [UInt8] {
        precondition(count >= 0 && count <= Int(Int32.max), "SecureRandom count out of range")
        var rc: Int32 = 1
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress, count > 0 { rc = RAND_bytes(base, Int32(count)) }
            // Always report the buffer as initialized, zero-filling first if RAND_bytes failed.
            if rc != 1 { buffer.initialize(repeating: 0) }
            initialized = count
        }
        try check(rc, "RAND_bytes")
        return bytes
    }
}
