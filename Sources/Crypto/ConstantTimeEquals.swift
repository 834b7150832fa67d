internal import COpenSSL

/// Constant-time equality (CRYPTO_memcmp); false for different lengths without comparing contents.
public func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    // Lengths aren't secret here (MACs and tags have fixed sizes), so an early exit leaks nothing useful.
    guard a.count == b.count else { return false }
    return withContiguousBytes(a) { aPointer, count in
        withContiguousBytes(b) { bPointer, _ in CRYPTO_memcmp(aPointer, bPointer, count) == 0 }
    }
}
