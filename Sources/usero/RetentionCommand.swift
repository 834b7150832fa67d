import ArgumentParser
import Feedback
import Foundation
import GRDB
import Retention

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Retention sweeps.", subcommands: [Run.self, SeedBench.self])

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
            let (database, store) = try openStore()
            try printJSON(try await RetentionCommand.runOnce(database: database, files: store.files, asOf: instant))
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
    static func runOnce(database: AppDatabase, files: ScreenshotFiles, asOf: Date) async throws -> Report {
        let clock = SystemClock()
        let closed = try await AccountCloser(database: database, files: files, clock: clock).finishPending()
        let summary = try await RetentionSweeper(database: database, files: files, clock: clock).sweep(asOf: asOf)
        return Report(
            asOf: iso8601(summary.asOf), clients: summary.clients, feedback: summary.feedback,
            screenshots: summary.screenshots, orphanScreenshots: summary.orphanScreenshots,
            accountClosuresFinished: closed)
    }
}

extension RetentionCommand {
    /// Benchmark support (hidden): seeds expired feedback for one client in one transaction.
    struct SeedBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seed-bench", abstract: "Seed expired feedback rows for a benchmark.", shouldDisplay: false)

        @Option(help: "The client id.") var client: String
        @Option(help: "How many rows.") var rows: Int = 1_000_000
        @Option(name: .customLong("age-days"), help: "Age of the newest seeded row, in days.") var ageDays: Int = 31

        func run() async throws {
            let (database, store) = try openStore()
            guard try await store.client(id: client) != nil else { throw ValidationError("no client \(client)") }
            let newest = epochMillis(Date()) - Int64(ageDays) * 86_400_000
            let (clientID, count) = (client, rows)
            try await database.write { db in
                try db.execute(
                    sql: """
                        WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
                        INSERT INTO feedback (id, client_id, source, created_at, rating, comment, environment)
                        SELECT 'fb_seed' || printf('%013d', x), ?, 'api', ? - x, 1 + x % 4,
                               'Seeded feedback row ' || x || ' for the retention benchmark', 'production'
                        FROM n
                        """,
                    arguments: [count, clientID, newest])
            }
            try printJSON(["seeded": count])
        }
    }
}
