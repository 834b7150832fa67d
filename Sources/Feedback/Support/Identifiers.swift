import UseroCrypto

/// Random identifiers and admin keys, drawn from OpenSSL's CSPRNG.
public enum Identifiers {
    private static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// `count` random lowercase letters and digits.
    public static func random(_ count: Int) -> String {
        // 36 does not divide 256, so reject bytes >= 252 to keep the choice uniform.
        var out = [UInt8]()
        out.reserveCapacity(count)
        while out.count < count {
            let bytes = (try? SecureRandom.bytes(count: count * 2)) ?? []
            precondition(!bytes.isEmpty, "OpenSSL RAND_bytes failed")
            for byte in bytes where byte < 252 && out.count < count {
                out.append(alphabet[Int(byte) % 36])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A new client id: `client_` and 20 random characters.
    public static func newClientID() -> String { "client_" + random(20) }

    /// A new feedback id: `fb_` and 20 random characters.
    public static func newFeedbackID() -> String { "fb_" + random(20) }

    /// A new admin key: `uak_` and 64 hex characters (256 bits). Shown once, stored only as a hash.
    public static func newAdminKey() -> String {
        let bytes = (try? SecureRandom.bytes(count: 32)) ?? []
        precondition(bytes.count == 32, "OpenSSL RAND_bytes failed")
        return "uak_" + Hex.encode(bytes)
    }

    /// The stored form of an admin key: SHA-256 of its UTF-8 bytes.
    public static func adminKeyHash(_ key: String) -> [UInt8] {
        SHA256.hash(Array(key.utf8))
    }
}
