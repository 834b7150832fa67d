internal import COpenSSL

/// Owned, zeroed-on-deinit (OPENSSL_cleanse) byte buffer for keys and plaintext secrets; prints "<redacted>".
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    // Written only before the instance is handed out (init or `filled(count:_:)`), read-only afterwards:
    // that is what makes the unchecked Sendable sound.
    private let storage: UnsafeMutableBufferPointer<UInt8>
    /// Gives the wiped memory back: `deallocate`, except in the test that checks what is given back is zeroes.
    private let release: @Sendable (UnsafeMutableBufferPointer<UInt8>) -> Void

    /// Copies `bytes` into a fresh buffer that is wiped when the last reference goes away.
    public convenience init(copying bytes: some Collection<UInt8>) {
        self.init(copying: bytes, release: Self.deallocate)
    }

    private static let deallocate: @Sendable (UnsafeMutableBufferPointer<UInt8>) -> Void = { $0.deallocate() }

    /// `init(copying:)` with the release of its memory (after the wipe) in the caller's hands, for tests.
    init(copying bytes: some Collection<UInt8>, release: @escaping @Sendable (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        storage = .allocate(capacity: bytes.count)
        _ = storage.initialize(fromContentsOf: bytes)
        self.release = release
    }

    /// A zero-filled buffer of `count` bytes, for the factories below to write into before returning it.
    private init(zeroedCount count: Int) {
        precondition(count >= 0, "SecretBytes count must not be negative")
        storage = .allocate(capacity: count)
        storage.initialize(repeating: 0)
        release = Self.deallocate
    }

    // A class deinit rather than a defer in each caller: the wipe can't be forgotten, and it also runs when a
    // factory throws half-way through writing a secret.
    deinit {
        if let base = storage.baseAddress { OPENSSL_cleanse(base, storage.count) }
        release(storage)
    }

    /// `count` bytes from OpenSSL's CSPRNG (RAND_bytes), written straight into wiped storage.
    public static func random(count: Int) throws(CryptoError) -> SecretBytes {
        try filled(count: count) { buffer throws(CryptoError) in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            try check(RAND_bytes(base, Int32(buffer.count)), "RAND_bytes")
        }
    }

    /// Makes `count` zeroed bytes and lets `body` write them; if `body` throws, the partial secret is wiped.
    static func filled<E: Error>(
        count: Int,
        _ body: (UnsafeMutableBufferPointer<UInt8>) throws(E) -> Void
    ) throws(E) -> SecretBytes {
        let secret = SecretBytes(zeroedCount: count)
        try body(secret.storage)
        return secret
    }

    /// The number of bytes held.
    public var count: Int { storage.count }

    /// Calls `body` with read-only access to the bytes; the pointer must not escape the closure.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    /// Typed-throws, typed-pointer access for this module's OpenSSL calls; the pointer must not escape.
    func withBytes<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try body(UnsafeBufferPointer(storage))
    }

    /// Always "SecretBytes(<redacted>)": the contents never reach a log.
    public var description: String { "SecretBytes(<redacted>)" }

    /// Same as `description`: the contents never reach a log.
    public var debugDescription: String { description }

    /// A mirror with no children, so `dump` shows neither the bytes nor the buffer's address.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }
}
