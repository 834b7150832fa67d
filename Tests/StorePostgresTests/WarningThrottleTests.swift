import Testing

@testable import StorePostgres
import Feedback

/// A failure repeated for every batch (PostgreSQL down while requests keep coming) logs one warning a second, with
/// the count of those held back, not one per batch.
@Suite struct WarningThrottleTests {
    @Test func oneWarningASecondCountingTheOnesHeldBack() {
        let throttle = WarningThrottle(interval: .seconds(1))
        let start = ContinuousClock.now
        // Given a thousand failures in the first second, then one 1.5 s in and one 2.6 s in
        let first = throttle.admit(at: start)
        let rest = (1..<1000).map { throttle.admit(at: start + .milliseconds($0)) }
        let later = throttle.admit(at: start + .milliseconds(1500))
        let heldAgain = throttle.admit(at: start + .milliseconds(2000))
        let last = throttle.admit(at: start + .milliseconds(2600))

        // Then the first is let through, the rest of that second held back and counted in the next let through
        #expect(first == 0)
        #expect(rest.allSatisfy { $0 == nil })
        #expect(later == 999)
        #expect(heldAgain == nil)
        #expect(last == 1)
    }
}
