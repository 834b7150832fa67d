import ArgumentParser
import Feedback
import Foundation
import Retention
import SlackGateway

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Retention sweeps.", subcommands: [Run.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one retention sweep now and print what it deleted as JSON counts.")

        @Option(name: .customLong("as-of"), help: "Sweep as of this ISO 8601 instant (default: now).")
        var asOf: String?

        func run() async throws {
            var instant = Date()
            if let asOf {
                guard let parsed = parseISO8601(asOf) else {
                    throw ValidationError("--as-of must be an ISO 8601 instant")
                }
                instant = parsed
            }
            let (_, backend) = try await openBackend()
            try printJSON(try await RetentionCommand.runOnce(backend: backend, asOf: instant))
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

    /// Finishes pending account closures, then sweeps once as of `asOf`.
    static func runOnce(backend: Backend, asOf: Date) async throws -> Report {
        let clock = SystemClock()
        // No Slack worker runs in a command: revoke jobs it hands over wait for the next `serve`.
        let closer = AccountCloser(
            store: backend.retention, feedback: backend.feedback,
            owners: [SlackAccountData(store: backend.slack, wakeup: nil)], clock: clock)
        let closed = try await closer.finishPending()
        let summary = try await RetentionSweeper(store: backend.retention, feedback: backend.feedback, clock: clock)
            .sweep(asOf: asOf)
        return Report(
            asOf: iso8601(summary.asOf), clients: summary.clients, feedback: summary.feedback,
            screenshots: summary.screenshots, orphanScreenshots: summary.orphanScreenshots,
            accountClosuresFinished: closed)
    }
}
