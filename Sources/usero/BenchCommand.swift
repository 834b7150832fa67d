import ArgumentParser
import Feedback
import Foundation
import GRDB

/// Hidden: the baseline the feedback benchmark compares against — one committed `synchronous=FULL` transaction per
/// row, on the same disk and schema as the service, with no batching.
struct BenchCommitBaseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-commit-baseline", abstract: "Benchmark baseline: one durable commit per row.",
        shouldDisplay: false)

    @Option(help: "SQLite file to create (on the disk under test).") var database: String
    @Option(help: "How long to insert, in seconds.") var seconds: Double = 5

    func run() async throws {
        let db = try AppDatabase(path: database)
        let store = SQLiteFeedbackStore(database: db, files: ScreenshotFiles(dataDirectory: NSTemporaryDirectory()))
        let (client, _) = try await store.createClient(name: "baseline", plan: .paid, allowedOrigins: [], at: Date())
        let start = Date()
        var rows = 0
        while Date().timeIntervalSince(start) < seconds {
            let item = FeedbackItem(
                id: Identifiers.newFeedbackID(), clientId: client.id, createdAt: Date(),
                draft: FeedbackDraft(clientId: client.id, source: .api, rating: 3, comment: "baseline row"))
            // pool.write commits each row in its own transaction: one fsync per row.
            try await db.pool.write { db in try SQLiteFeedbackStore.insert(item, into: db) }
            rows += 1
        }
        let elapsed = Date().timeIntervalSince(start)
        print(String(format: "baseline_rows=%d baseline_seconds=%.3f baseline_rows_per_second=%.1f", rows, elapsed,
                     Double(rows) / elapsed))
    }
}
