public import Feedback
import Foundation
public import Logging
public import ServiceLifecycle

/// Runs beside the server: finishes account closures a previous process left half-way, then sweeps now and every
/// `interval`, judging ages by the injected clock. Graceful shutdown cuts a sleep or a sweep short; a sweep cut
/// short finishes at the next run.
public struct RetentionService: Service {
    /// The sweep.
    public let sweeper: RetentionSweeper
    /// Pending account closures.
    public let closer: AccountCloser
    /// What "now" is for each sweep.
    public let clock: any WallClock
    /// Time between the end of one sweep and the start of the next.
    public let interval: Duration
    /// Logs counts, durations and error types only.
    public let logger: Logger
    /// The sweep's name in the store's record of scheduled runs.
    public static let sweepTask = "retention.sweep"

    /// Creates the service.
    public init(
        sweeper: RetentionSweeper, closer: AccountCloser, clock: any WallClock, interval: Duration, logger: Logger
    ) {
        self.sweeper = sweeper
        self.closer = closer
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await runOnce()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Pending closures first (they are promised to finish), then one sweep as of the clock's now.
    func runOnce() async {
        do {
            let closed = try await closer.finishPending()
            if closed > 0 {
                logger.info("Finished pending account closures", metadata: ["retention.closures": "\(closed)"])
            }
            // Once per period across every process sharing the store: the others skip this round.
            let now = clock.now()
            let period = Int64(interval.components.seconds) * 1000 - 1000
            guard try await sweeper.store.claimScheduledRun(task: Self.sweepTask, now: epochMillis(now), period: period)
            else {
                logger.debug("Retention sweep left to the process that started it this period")
                return
            }
            let start = ContinuousClock.now
            let summary = try await sweeper.sweep(asOf: now)
            try await closer.forgetExpiredRecords(asOf: now)
            let elapsed = ContinuousClock.now - start
            let metadata: Logger.Metadata = [
                "retention.clients": "\(summary.clients)", "retention.feedback": "\(summary.feedback)",
                "retention.screenshots": "\(summary.screenshots)",
                "retention.orphan_screenshots": "\(summary.orphanScreenshots)",
                "retention.duration_ms":
                    "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ]
            if summary.total > 0 {
                logger.info("Retention sweep", metadata: metadata)
            } else {
                logger.debug("Retention sweep", metadata: metadata)
            }
        } catch is CancellationError {
            logger.debug("Retention sweep interrupted by shutdown")
        } catch {
            logger.error("Retention sweep failed", metadata: errorMetadata(error))
        }
    }
}
