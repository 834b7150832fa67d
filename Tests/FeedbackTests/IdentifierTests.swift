@testable import Feedback
import Foundation
import Testing

@Suite struct FeedbackIdentifierTests {
    /// `fb_` and 20 lowercase letters and digits, as ids have always looked.
    private func hasTheShape(_ id: String) -> Bool {
        id.hasPrefix("fb_") && id.utf8.count == 23
            && id.utf8.dropFirst(3).allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }
    }

    @Test func idsKeepTheirShapeAndSortByCreationTime() {
        // Across a digit carry, a day, and years apart: text order is time order.
        let times: [Date] = [
            Date(timeIntervalSince1970: 1_700_000_000),
            Date(timeIntervalSince1970: 1_700_000_000.035),
            Date(timeIntervalSince1970: 1_700_000_000.036),
            Date(timeIntervalSince1970: 1_700_086_400),
            Date(timeIntervalSince1970: 1_900_000_000),
            Date(timeIntervalSince1970: 4_000_000_000),
        ]
        let ids = times.map { Identifiers.newFeedbackID(createdAt: $0) }
        for id in ids { #expect(hasTheShape(id), "\(id)") }
        #expect(ids == ids.sorted())
    }

    @Test func idsMadeInTheSameMillisecondDiffer() {
        let now = Date(timeIntervalSince1970: 1_800_000_000.5)
        let ids = (0..<1000).map { _ in Identifiers.newFeedbackID(createdAt: now) }
        #expect(Set(ids).count == ids.count)
        #expect(Set(ids.map { $0.prefix(12) }).count == 1)
    }

    @Test func theTimePrefixIsBase36MillisecondsClampedToNineDigits() {
        #expect(Identifiers.timePrefix(epochMillis: 0) == "000000000")
        #expect(Identifiers.timePrefix(epochMillis: 35) == "00000000z")
        #expect(Identifiers.timePrefix(epochMillis: 36) == "000000010")
        #expect(Identifiers.timePrefix(epochMillis: 1_700_000_000_000) == "0loyw3v28")
        #expect(Identifiers.timePrefix(epochMillis: -5) == "000000000")
        #expect(Identifiers.timePrefix(epochMillis: .max) == "zzzzzzzzz")
    }
}
