public import Feedback
public import Foundation
import Synchronization

/// A clock tests set by hand: the one every suite uses.
public final class TestClock: WallClock, Sendable {
    private let instant: Mutex<Date>

    /// Starts at `date` (now by default).
    public init(_ date: Date = Date()) {
        instant = Mutex(date)
    }

    public func now() -> Date { instant.withLock { $0 } }

    /// Moves the clock to `date`.
    public func set(_ date: Date) { instant.withLock { $0 = date } }

    /// Moves the clock forward.
    public func advance(by interval: TimeInterval) { instant.withLock { $0 = $0.addingTimeInterval(interval) } }
}
