import Feedback
import Foundation
import Testing
import UseroTestSupport

/// The JSON API's one timestamp format: every stored millisecond reads back as itself, and what a user copies back
/// (`--as-of`, `since`) names the same millisecond.
@Suite struct TimestampTests {
    /// The calendar's own answer for a whole second, plus the millisecond digits: no binary fraction involved.
    static func reference(_ millis: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let c = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(seconds)))
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!,
            Int(millis - seconds * 1000))
    }

    @Test func aStoredMillisecondReadsBackAsItself() {
        // The review's case: stored 1796401898518, shown as .517.
        #expect(iso8601(dateFromEpochMillis(1_796_401_898_518)) == "2026-12-04T16:31:38.518Z")
        // Two seconds of consecutive milliseconds, then days across leap years, centuries and the epoch.
        var samples: [Int64] = Array(1_796_401_897_000...1_796_401_899_000)
        var generator = SplitMix64(seed: 9)
        for _ in 0..<20_000 { samples.append(Int64(generator.next() % 253_402_300_799_999)) }
        samples += [0, 1, 999, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 253_402_300_799_999, -1, -86_400_001]
        for millis in samples {
            let text = iso8601(dateFromEpochMillis(millis))
            #expect(text == Self.reference(millis), "\(millis)")
            #expect(parseISO8601(text).map(epochMillis) == millis, "\(millis)")
        }
    }

    /// Offsets as RFC 3339 has them: hours 00-23, minutes 00-59.
    @Test func anOffsetNoClockShowsIsNoInstant() throws {
        let utc = try #require(parseISO8601("2026-12-04T19:00:00Z"))
        #expect(parseISO8601("2026-12-04T19:00:00+01:00") == utc.addingTimeInterval(-3_600))
        #expect(parseISO8601("2026-12-04T19:00:00.500-09:30") == utc.addingTimeInterval(9 * 3_600 + 30 * 60 + 0.5))
        #expect(parseISO8601("2026-12-04T19:00:00+0100") == utc.addingTimeInterval(-3_600))
        for odd in [
            "+99:00", "-24:00", "+05:60", "+0a:00", "+0099", "-0075", "+2400", "+00:99:00", "+0099:00", "+0:99",
            "+009900", "Z ", "+00:99Z", "",
        ] {
            #expect(parseISO8601("2026-12-04T19:00:00\(odd)") == nil, "\(odd)")
        }
    }

    /// Every field in its range, on the calendar `iso8601` writes: nothing rolls over into a later instant (an hour of
    /// 99 was read as four days later), and the service's own output before 1582 reads back (Foundation read it on the
    /// Julian calendar, ten days off).
    @Test func everyFieldInItsRangeOnTheGregorianCalendar() throws {
        for odd in [
            "2026-11-26T99:00:00Z", "2026-11-26T20:99:00Z", "2026-11-26T20:00:60Z", "2026-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z", "2026-11-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
            "2026-11-00T00:00:00Z", "2026-11-26t20:00:00Z", "2026-11-26T20:00:00z", "2026-11-26T20:00:00.Z",
            "2026-11-26T20:00:00.1234567890Z", "20261-11-26T20:00:00Z",
        ] {
            #expect(parseISO8601(odd) == nil, "\(odd)")
        }
        #expect(parseISO8601("2024-02-29T00:00:00Z").map(epochMillis) == 1_709_164_800_000)
        #expect(parseISO8601("2000-02-29T23:59:59.999Z").map(epochMillis) == 951_868_799_999)
        for millis: Int64 in [-62_135_596_800_000, -30_610_224_000_000, -12_219_292_800_001, -12_219_292_800_000, -1] {
            let text = iso8601(millis: millis)
            #expect(parseISO8601(text).map(epochMillis) == millis, "\(text)")
        }
    }

    @Test func anInstantTypedWithMillisecondsIsThatMillisecond() throws {
        for fraction in ["001", "123", "353", "354", "517", "518", "998", "999"] {
            let date = try #require(parseISO8601("2026-12-10T00:00:00.\(fraction)Z"))
            #expect(epochMillis(date) == 1_796_860_800_000 + Int64(fraction)!)
            #expect(iso8601(date) == "2026-12-10T00:00:00.\(fraction)Z")
        }
    }
}
