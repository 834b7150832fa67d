/// Calls `body` with a pointer to `bytes` laid out contiguously (copying only if the collection isn't) and its count.
///
/// The pointer is never NULL, even for an empty collection: some OpenSSL calls reject NULL with a zero length.
/// `Result` carries the typed error out of the standard library's untyped `rethrows` closures.
func withContiguousBytes<R, E: Error>(
    _ bytes: some Collection<UInt8>,
    _ body: (UnsafePointer<UInt8>, Int) throws(E) -> R
) throws(E) -> R {
    func call(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<R, E> {
        guard let base = buffer.baseAddress else {
            var empty: UInt8 = 0
            return withUnsafePointer(to: &empty) { pointer in Result { () throws(E) in try body(pointer, 0) } }
        }
        return Result { () throws(E) in try body(base, buffer.count) }
    }
    if let result = bytes.withContiguousStorageIfAvailable(call) { return try result.get() }
    return try Array(bytes).withUnsafeBufferPointer(call).get()
}
