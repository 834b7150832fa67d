/// SHA-256 through OpenSSL's EVP digest interface.
public enum SHA256 {
    /// The 32-byte SHA-256 digest of `data`.
    public static func hash(_ data: some Collection<UInt8>) -> [UInt8] {
        do {
            let context = try DigestContext()
            try context.update(data)
            return try context.finalize()
        } catch {
            // Only an allocation failure inside OpenSSL gets here; a hash has no input-dependent failure,
            // so the signature stays non-throwing, as in swift-crypto.
            fatalError("SHA-256 failed: \(error)")
        }
    }
}
