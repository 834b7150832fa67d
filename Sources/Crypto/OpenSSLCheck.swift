internal import COpenSSL

/// Turns an OpenSSL return code other than 1 into `.openSSL`, draining the thread's error queue.
func check(_ rc: Int32, _ call: StaticString) throws(CryptoError) {
    guard rc == 1 else { throw .openSSL(call: "\(call)", codes: drainErrorQueue()) }
}

/// Unwraps a pointer returned by an OpenSSL allocator, throwing `.openSSL` for NULL.
func checkNotNull<T>(_ pointer: T?, _ call: StaticString) throws(CryptoError) -> T {
    guard let pointer else { throw .openSSL(call: "\(call)", codes: drainErrorQueue()) }
    return pointer
}

/// Empties OpenSSL's per-thread error queue, oldest first, so a later failure doesn't report stale codes.
@discardableResult
func drainErrorQueue() -> [UInt] {
    var codes: [UInt] = []
    while case let code = ERR_get_error(), code != 0 { codes.append(UInt(code)) }
    return codes
}
