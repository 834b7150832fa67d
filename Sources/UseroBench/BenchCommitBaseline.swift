import ArgumentParser
import Feedback
import Foundation
import StoreSQLite

/// The baseline the feedback benchmark compares against: one committed `synchronous=FULL` transaction per row, on
/// the same disk and schema as the service, with no batching.
struct BenchCommitBaseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commit-baseline", abstract: "Benchmark baseline: one durable commit per row.")

    @Option(help: "SQLite file to create (on the disk under test).") var database: String
    @Option(help: "How long to insert, in seconds.") var seconds: Double = 5

    func run() async throws {
        let store = try await SQLiteStore(path: database, dataDirectory: NSTemporaryDirectory())
        let (client, _) = try await store.createClient(name: "baseline", plan: .paid, allowedOrigins: [], at: Date())
        let start = Date()
        var rows = 0
        while Date().timeIntervalSince(start) < seconds {
            let item = FeedbackItem(
                newAt: Date(), draft: FeedbackDraft(clientId: client.id, source: .api, rating: 3, comment: "baseline row"))
            try await store.insertUnbatched(item)
            rows += 1
        }
        let elapsed = Date().timeIntervalSince(start)
        print(String(format: "baseline_rows=%d baseline_seconds=%.3f baseline_rows_per_second=%.1f", rows, elapsed,
                     Double(rows) / elapsed))
    }
}

/// Seeds expired feedback for one client of an existing store, for the retention benchmark.
struct SeedRetention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed-retention", abstract: "Seed expired feedback rows for a benchmark.")

    @Option(help: "The client id.") var client: String
    @Option(help: "How many rows.") var rows: Int = 1_000_000
    @Option(name: .customLong("age-days"), help: "Age of the newest seeded row, in days.") var ageDays: Int = 31

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let path = environment["USERO_DATABASE"].flatMap { $0.isEmpty ? nil : $0 } ?? "data/usero.sqlite"
        let dataDirectory = environment["USERO_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "data"
        guard (1...100_000_000).contains(rows), (0...36_500).contains(ageDays) else {
            throw ValidationError("--rows must be 1 to 100,000,000 and --age-days 0 to 36,500")
        }
        let store = try await SQLiteStore(path: path, dataDirectory: dataDirectory)
        guard try await store.client(id: client) != nil else { throw ValidationError("no client \(client)") }
        let newest = epochMillis(Date()) - Int64(ageDays) * 86_400_000
        try await store.seedFeedback(clientID: client, count: rows, newest: newest)
        print(#"{"seeded":\#(rows)}"#)
    }
}
