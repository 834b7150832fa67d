public import Logging
import Synchronization

/// Lets a warning through at most once per `interval`, counting the ones it held back meanwhile. A failure that
/// repeats for every batch (the server down while requests keep coming) would otherwise write a line per batch, over
/// a thousand a second, burying what else the log says.
public final class WarningThrottle: Sendable {
    private struct State {
        var lastLogged: ContinuousClock.Instant?
        var heldBack = 0
    }

    private let interval: Duration
    private let state = Mutex(State())

    public init(interval: Duration = .seconds(1)) {
        self.interval = interval
    }

    /// Nil when the warning is to be held back; else how many were held back since the last one let through.
    public func admit(at now: ContinuousClock.Instant = .now) -> Int? {
        state.withLock { state in
            if let last = state.lastLogged, now - last < interval {
                state.heldBack += 1
                return nil
            }
            defer { state = State(lastLogged: now, heldBack: 0) }
            return state.heldBack
        }
    }
}

extension WarningThrottle {
    /// Logs `message` at warning level unless held back; a line let through says how many like it were held back
    /// since the last one (`similar_since_last`).
    public func warn(_ message: Logger.Message, metadata: Logger.Metadata = [:], on logger: Logger) {
        guard let heldBack = admit() else { return }
        logger.warning(message, metadata: metadata.merging(["similar_since_last": "\(heldBack)"]) { $1 })
    }
}
