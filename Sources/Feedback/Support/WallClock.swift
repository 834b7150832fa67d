public import Foundation

/// The time source every rule reads, so tests and `--as-of` can move it.
public protocol WallClock: Sendable {
    /// The current instant.
    func now() -> Date
}

/// The system's real-time clock.
public struct SystemClock: WallClock {
    /// Creates the system clock.
    public init() {}
    /// The current instant.
    public func now() -> Date { Date() }
}

/// Milliseconds since 1970, the unit the store keeps instants in: the nearest one, so an instant parsed from
/// `…00.354Z` (a binary fraction a hair under .354) is the millisecond it names, not the one before.
public func epochMillis(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded())
}

/// The instant for a count of milliseconds since 1970.
public func dateFromEpochMillis(_ millis: Int64) -> Date {
    Date(timeIntervalSince1970: Double(millis) / 1000)
}

/// ISO 8601 in UTC with milliseconds, the one timestamp format of the JSON API: the instant's nearest millisecond,
/// so a stored instant reads back as the millisecond it is (Foundation's style cuts the binary fraction, one
/// millisecond early for about half of them).
public func iso8601(_ date: Date) -> String {
    iso8601(millis: epochMillis(date))
}

/// ISO 8601 in UTC with milliseconds for a count of milliseconds since 1970 (years 0000-9999; outside them,
/// Foundation's style).
public func iso8601(millis: Int64) -> String {
    // Days since 1970 to a civil date (Howard Hinnant's `civil_from_days`), in whole numbers: exact.
    let days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
    let inDay = millis - days * 86_400_000
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    guard (0...9999).contains(year) else {
        return Date(timeIntervalSince1970: Double(millis) / 1000)
            .formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
    var text = [UInt8]()
    text.reserveCapacity(24)
    func digits(_ value: Int64, _ count: Int) {
        var divisor: Int64 = 1
        for _ in 1..<count { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            text.append(UInt8(truncatingIfNeeded: 48 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
    digits(year, 4)
    text.append(UInt8(ascii: "-"))
    digits(month, 2)
    text.append(UInt8(ascii: "-"))
    digits(day, 2)
    text.append(UInt8(ascii: "T"))
    digits(inDay / 3_600_000, 2)
    text.append(UInt8(ascii: ":"))
    digits(inDay / 60_000 % 60, 2)
    text.append(UInt8(ascii: ":"))
    digits(inDay / 1_000 % 60, 2)
    text.append(UInt8(ascii: "."))
    digits(inDay % 1_000, 3)
    text.append(UInt8(ascii: "Z"))
    return String(decoding: text, as: UTF8.self)
}

/// Parses an ISO 8601 instant, with or without fractional seconds: `YYYY-MM-DDThh:mm:ss[.fff…](Z|±hh:mm|±hhmm)` and
/// nothing else. Foundation's parser takes more (`+0:99`, `+00:99:00`, a trailing space) and reads any two digits as
/// an offset's hours or minutes (`+99:00` moved an instant by four days), so the text is held to that grammar first,
/// with an offset a clock can show (hours 00-23, minutes 00-59, as RFC 3339 says).
public func parseISO8601(_ text: String) -> Date? {
    guard isInternetDateTime(Array(text.utf8)) else { return nil }
    if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
    return try? Date.ISO8601FormatStyle().parse(text)
}

/// Whether `b` is `YYYY-MM-DDThh:mm:ss[.f…](Z|±hh:mm|±hhmm)` with an offset of at most 23:59.
private func isInternetDateTime(_ b: [UInt8]) -> Bool {
    func digits(_ range: Range<Int>) -> Bool { range.upperBound <= b.count && b[range].allSatisfy { (48...57).contains($0) } }
    func value(_ at: Int) -> Int { Int(b[at] - 48) * 10 + Int(b[at + 1] - 48) }
    guard b.count >= 20, b.count <= 64, digits(0..<4), b[4] == UInt8(ascii: "-"), digits(5..<7), b[7] == UInt8(ascii: "-"),
        digits(8..<10), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"), digits(11..<13),
        b[13] == UInt8(ascii: ":"), digits(14..<16), b[16] == UInt8(ascii: ":"), digits(17..<19)
    else { return false }
    var i = 19
    if b[i] == UInt8(ascii: ".") {
        i += 1
        let start = i
        while i < b.count, (48...57).contains(b[i]) { i += 1 }
        guard i > start, i - start <= 9 else { return false }
    }
    guard i < b.count else { return false }
    switch b[i] {
    case UInt8(ascii: "Z"), UInt8(ascii: "z"):
        return i + 1 == b.count
    case UInt8(ascii: "+"), UInt8(ascii: "-"):
        let rest = b.count - i - 1
        if rest == 5, digits(i + 1..<i + 3), b[i + 3] == UInt8(ascii: ":"), digits(i + 4..<i + 6) {
            return value(i + 1) <= 23 && value(i + 4) <= 59
        }
        if rest == 4, digits(i + 1..<i + 5) { return value(i + 1) <= 23 && value(i + 3) <= 59 }
        return false
    default:
        return false
    }
}
