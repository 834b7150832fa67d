public import Foundation
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

    /// A new feedback id: `fb_` and 20 characters, the first 9 the creation time in milliseconds (base 36, so ids
    /// sort by time as text) and 11 random (57 bits).
    ///
    /// Time first keeps each new id at the right edge of the primary-key index, as the other indexes on time are: a
    /// batch of inserts then dirties one or two of its pages instead of one page per row (a random id lands on a
    /// random page), and every dirtied page is written again to the write-ahead log at each commit. The time is
    /// no secret: every item carries its `createdAt`.
    public static func newFeedbackID(createdAt: Date) -> String {
        "fb_" + timePrefix(epochMillis: epochMillis(createdAt)) + random(11)
    }

    /// `millis` as 9 base-36 digits, zero-padded; clamped to what 9 digits hold (0 to year 5138).
    static func timePrefix(epochMillis millis: Int64) -> String {
        var value = min(max(millis, 0), 101_559_956_668_415)  // 36^9 - 1
        var digits = [UInt8](repeating: alphabet[0], count: 9)
        for index in stride(from: 8, through: 0, by: -1) {
            digits[index] = alphabet[Int(value % 36)]
            value /= 36
        }
        return String(decoding: digits, as: UTF8.self)
    }

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
