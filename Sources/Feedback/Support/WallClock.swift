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
/// nothing else, every field in its range (a month's own days, hours 00-23, minutes and seconds 00-59, an offset up
/// to 23:59), read on the proleptic Gregorian calendar as `iso8601` writes it. Foundation's parser took more and
/// rolled what overflowed forward (`T99:00:00Z` four days later, `+99:00` four days earlier, `02-30` as March) and read
/// dates before 1582 on the Julian calendar, so the service's own output did not read back.
public func parseISO8601(_ text: String) -> Date? {
    let b = Array(text.utf8)
    func digits(_ range: Range<Int>) -> Int? {
        guard range.upperBound <= b.count else { return nil }
        var value = 0
        for byte in b[range] {
            guard (48...57).contains(byte) else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
    guard b.count >= 20, b.count <= 64, let year = digits(0..<4), b[4] == UInt8(ascii: "-"), let month = digits(5..<7),
        b[7] == UInt8(ascii: "-"), let day = digits(8..<10), b[10] == UInt8(ascii: "T"), let hour = digits(11..<13),
        b[13] == UInt8(ascii: ":"), let minute = digits(14..<16), b[16] == UInt8(ascii: ":"),
        let second = digits(17..<19), (1...12).contains(month), hour <= 23, minute <= 59, second <= 59
    else { return nil }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    guard (1...monthDays).contains(day) else { return nil }
    var i = 19
    var nanos = 0
    if b[i] == UInt8(ascii: ".") {
        i += 1
        let start = i
        while i < b.count, (48...57).contains(b[i]) { i += 1 }
        guard i > start, i - start <= 9, let fraction = digits(start..<i) else { return nil }
        nanos = fraction * [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000][9 - (i - start)]
    }
    guard i < b.count else { return nil }
    var offsetMinutes = 0
    switch b[i] {
    case UInt8(ascii: "Z"):
        guard i + 1 == b.count else { return nil }
    case UInt8(ascii: "+"), UInt8(ascii: "-"):
        let sign = b[i] == UInt8(ascii: "+") ? 1 : -1
        let rest = b.count - i - 1
        let hours: Int?, minutes: Int?
        if rest == 5, b[i + 3] == UInt8(ascii: ":") {
            (hours, minutes) = (digits(i + 1..<i + 3), digits(i + 4..<i + 6))
        } else if rest == 4 {
            (hours, minutes) = (digits(i + 1..<i + 3), digits(i + 3..<i + 5))
        } else {
            return nil
        }
        guard let hours, let minutes, hours <= 23, minutes <= 59 else { return nil }
        offsetMinutes = sign * (hours * 60 + minutes)
    default:
        return nil
    }
    // Days since 1970 of a civil date (Howard Hinnant's `days_from_civil`), in whole numbers.
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    let days = era * 146_097 + dayOfEra - 719_468
    let seconds = Int64(days) * 86_400 + Int64(hour * 3_600 + minute * 60 + second) - Int64(offsetMinutes * 60)
    return Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1e9)
}
