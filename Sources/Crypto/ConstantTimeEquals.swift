internal import COpenSSL

/// Constant-time equality (CRYPTO_memcmp); false for different lengths without comparing contents.
public func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    withContiguousBytes(a) { aPointer, aCount in
        withContiguousBytes(b) { bPointer, bCount in
            constantTimeEquals(UnsafeBufferPointer(start: aPointer, count: aCount),
                               UnsafeBufferPointer(start: bPointer, count: bCount))
        }
    }
}

/// The same for arrays, with no generic code at the call site (see `HMACSHA256.authenticationCode(for:key:)`).
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBufferPointer { aBuffer in b.withUnsafeBufferPointer { bBuffer in constantTimeEquals(aBuffer, bBuffer) } }
}

private func constantTimeEquals(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    // Lengths aren't secret here (MACs and tags have fixed sizes), so an early exit leaks nothing useful.
    guard a.count == b.count else { return false }
    return withContiguousBytes(a) { aPointer, count in
        withContiguousBytes(b) { bPointer, _ in CRYPTO_memcmp(aPointer, bPointer, count) == 0 }
    }
}
