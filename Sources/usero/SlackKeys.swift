import Foundation
import Logging
import SlackGateway
import UseroCrypto

#if canImport(Glibc)
import Glibc
#endif

/// The token key ring: `USERO_TOKEN_KEY` (or `DATA_DIR/token.key`, generated once) seals, and
/// `USERO_PREVIOUS_TOKEN_KEYS` still open envelopes sealed before a rotation.
enum SlackKeys {
    /// The ring and the current key's bytes (from which the OAuth state key is derived).
    static func load(config: AppConfig, createIfMissing: Bool, logger: Logger?) throws -> (KeyRing, SecretBytes) {
        let current: SecretBytes
        if let base64 = config.tokenKeyBase64 {
            current = try AppConfig.decodeKey(base64.value, variable: "USERO_TOKEN_KEY")
            warnOfLooseKeyFile(in: config.dataDirectory, logger: logger)
        } else {
            current = try keyFile(in: config.dataDirectory, create: createIfMissing, logger: logger)
        }
        let previous = try config.previousTokenKeysBase64.map {
            try TokenKey(try AppConfig.decodeKey($0.value, variable: "USERO_PREVIOUS_TOKEN_KEYS"))
        }
        return (KeyRing(current: try TokenKey(current), previous: previous), current)
    }

    /// The state keys of `USERO_PREVIOUS_TOKEN_KEYS`: install links made before a rotation (or by an instance not
    /// yet restarted with the new key) keep working.
    static func previousStateKeys(config: AppConfig) throws -> [SecretBytes] {
        try config.previousTokenKeysBase64.map {
            stateKey(from: try AppConfig.decodeKey($0.value, variable: "USERO_PREVIOUS_TOKEN_KEYS"))
        }
    }

    /// A key for signing OAuth states, derived from the token key with its own label: stable across restarts,
    /// useless for opening tokens.
    static func stateKey(from tokenKey: SecretBytes) -> SecretBytes {
        SecretBytes(copying: HMACSHA256.authenticationCode(for: Array("usero-oauth-state-v1".utf8), key: tokenKey))
    }

    /// Where a SQLite deployment keeps its generated key: `DATA_DIR/token.key`.
    static func keyFilePath(in dataDirectory: String) -> String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("token.key").path
    }

    /// Reads `DATA_DIR/token.key`, creating it (mode 0600, 32 random bytes, base64) when asked and absent.
    static func keyFile(in dataDirectory: String, create: Bool, logger: Logger?) throws -> SecretBytes {
        let path = keyFilePath(in: dataDirectory)
        if !FileManager.default.fileExists(atPath: path) {
            guard create else {
                throw AppConfig.Invalid(description: "USERO_TOKEN_KEY is unset and \(path) does not exist")
            }
            try DataFolder.create(dataDirectory)
            // Drawn into wiped storage, and its text written from a buffer wiped after (found by a review: the key
            // came from the helper meant for nonces, its copies never wiped).
            let key = try SecretBytes.random(count: 32)
            var text = Data(count: 45)
            defer { text.resetBytes(in: 0..<text.count) }
            key.withUnsafeBytes { bytes in text.withUnsafeMutableBytes { Self.base64Line(of: bytes, into: $0) } }
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            // Another process made it meanwhile (EEXIST): read below.
            if fd < 0, errno != EEXIST {
                throw AppConfig.Invalid(
                    description: "USERO_TOKEN_KEY is unset and token.key cannot be created in USERO_DATA_DIR "
                        + "(\(DataFolder.reason(errno)))")
            }
            if fd >= 0 {
                let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                guard written == text.count else {
                    throw AppConfig.Invalid(description: "USERO_TOKEN_KEY is unset and \(path) could not be written")
                }
                logger?.warning(
                    "USERO_TOKEN_KEY is unset: generated a token key file; back it up or set USERO_TOKEN_KEY",
                    metadata: ["path": "\(path)"])
            }
        }
        try refuseLoosePermissions(path)
        guard var contents = FileManager.default.contents(atPath: path) else {
            throw AppConfig.Invalid(description: "USERO_TOKEN_KEY is unset and \(path) cannot be read")
        }
        defer { contents.resetBytes(in: 0..<contents.count) }
        // Decoded from the file's bytes, each copy wiped: never a String, which cannot be.
        let isSpace: (UInt8) -> Bool = { [9, 10, 13, 32].contains($0) }
        let start = contents.firstIndex { !isSpace($0) } ?? contents.endIndex
        let end = (contents.lastIndex { !isSpace($0) }).map { contents.index(after: $0) } ?? start
        var trimmed = Data(contents[start..<max(start, end)])
        defer { trimmed.resetBytes(in: 0..<trimmed.count) }
        guard var decoded = Data(base64Encoded: trimmed) else {
            throw AppConfig.Invalid(description: "\(path) must hold base64 of exactly 32 random bytes")
        }
        defer { decoded.resetBytes(in: 0..<decoded.count) }
        guard decoded.count == 32 else {
            throw AppConfig.Invalid(description: "\(path) must hold base64 of exactly 32 random bytes")
        }
        return SecretBytes(copying: decoded)
    }

    /// Writes the base64 of `bytes` and a line end into `out`, which holds exactly that many bytes (45 for a key of
    /// 32): no intermediate copy that would outlive the wipe.
    static func base64Line(of bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var index = 0
        func put(_ byte: UInt8) {
            out[index] = byte
            index += 1
        }
        var offset = 0
        while offset < bytes.count {
            let b0 = UInt32(bytes[offset])
            let b1 = offset + 1 < bytes.count ? UInt32(bytes[offset + 1]) : 0
            let b2 = offset + 2 < bytes.count ? UInt32(bytes[offset + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            put(alphabet[Int(group >> 18 & 63)])
            put(alphabet[Int(group >> 12 & 63)])
            put(offset + 1 < bytes.count ? alphabet[Int(group >> 6 & 63)] : UInt8(ascii: "="))
            put(offset + 2 < bytes.count ? alphabet[Int(group & 63)] : UInt8(ascii: "="))
            offset += 3
        }
        put(UInt8(ascii: "\n"))
    }

    /// With `USERO_TOKEN_KEY` set, a `token.key` left in the data folder is not read, so not refused; but a key
    /// others may read (one from before the move to the variable, say) is still a key: the operator hears of it.
    static func warnOfLooseKeyFile(in dataDirectory: String, logger: Logger?) {
        let path = keyFilePath(in: dataDirectory)
        guard (try? refuseLoosePermissions(path)) == nil else { return }
        logger?.warning(
            "A token key file others may read is in USERO_DATA_DIR (USERO_TOKEN_KEY is used instead): chmod 600 it, or delete it once no deployment needs it",
            metadata: ["path": "\(path)"])
    }

    /// A key file that group or others may read (or write) is refused: it opens every stored bot token. The file name
    /// and its mode are said, never its content.
    /// A link is judged by the file it leads to (a key restored as a link to a safe place, or a Kubernetes secret,
    /// which is mounted as links): the link's own mode, always 777, was refused with advice that could not fix it
    /// (found by a review).
    static func refuseLoosePermissions(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        let mode = Int(info.st_mode) & 0o7777
        if mode & 0o077 != 0 {
            throw AppConfig.Invalid(
                description: "\(path) has mode \(String(mode, radix: 8)); it must be readable by its owner only "
                    + "(chmod 600 \(path))")
        }
    }
}
