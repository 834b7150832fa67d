import ArgumentParser
import Feedback
import Foundation
import Retention
import SlackGateway
import StorePostgres

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Retention sweeps.", subcommands: [Run.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one retention sweep now and print what it deleted as JSON counts.")

        @Option(
            name: .customLong("as-of"),
            help: "Sweep as of this ISO 8601 instant, or date (its midnight, UTC) (default: now).")
        var asOf: String?

        /// Checked here, not in `run`, so that a bad value prints this command's usage, as other mistakes do.
        func validate() throws {
            if let asOf, RetentionCommand.parseAsOf(asOf) == nil {
                throw ValidationError(
                    "--as-of must be an ISO 8601 instant with its zone (2026-12-01T09:30:00Z) or date (2026-12-01: its midnight, UTC)")
            }
        }

        func run() async throws {
            let (_, backend) = try await openBackend()
            // On PostgreSQL, the database's time, as `serve` dates by it (`PostgresClock`).
            var clock: any WallClock = SystemClock()
            if let postgres = backend.postgres { clock = await PostgresClock.measured(store: postgres) }
            let now = clock.now()
            let instant = asOf.flatMap(RetentionCommand.parseAsOf) ?? now
            if instant.timeIntervalSince(now) > 60 {
                // Deliberate (what a sweep will do then) or a typo (2027 for 2026, which a review found sweeping a
                // year ahead without a word): either way the operator hears it. It is swept as asked, everything as
                // of that instant, as the contract says.
                let ahead = instant.timeIntervalSince(now)
                let distance = ahead >= 86_400 ? "\(Int((ahead / 86_400).rounded())) days" : "\(Int((ahead / 3600).rounded(.up))) hours"
                printNote("--as-of is \(distance) ahead: deleting what will be due by \(iso8601(instant))")
            }
            try printJSON(try await RetentionCommand.runOnce(backend: backend, asOf: instant, clock: clock))
        }
    }

    /// What `usero retention run` prints: the sweep's counts plus the account closures it finished.
    struct Report: Encodable {
        var asOf: String
        var clients: Int
        var feedback: Int
        var screenshots: Int
        var orphanScreenshots: Int
        var accountClosuresFinished: Int
    }

    /// `--as-of`: an ISO 8601 instant, or a calendar date (`2026-12-01`), read as that day's midnight in UTC.
    static func parseAsOf(_ text: String) -> Date? {
        if let instant = parseISO8601(text) { return instant }
        guard text.utf8.count == 10 else { return nil }
        return parseISO8601(text + "T00:00:00Z")
    }

    /// Finishes pending account closures, then sweeps once as of `asOf`.
    static func runOnce(backend: Backend, asOf: Date, clock: any WallClock = SystemClock()) async throws -> Report {
        // No Slack worker runs in a command: revoke jobs it hands over wait for the next `serve`.
        let closer = AccountCloser(
            store: backend.retention, feedback: backend.feedback,
            owners: [SlackAccountData(store: backend.slack, wakeup: nil)], clock: clock)
        let closed = try await closer.finishPending()
        let summary = try await RetentionSweeper(store: backend.retention, feedback: backend.feedback, clock: clock)
            .sweep(asOf: asOf)
        try await closer.forgetExpiredRecords(asOf: asOf)
        return Report(
            asOf: iso8601(summary.asOf), clients: summary.clients, feedback: summary.feedback,
            screenshots: summary.screenshots, orphanScreenshots: summary.orphanScreenshots,
            accountClosuresFinished: closed)
    }
}
