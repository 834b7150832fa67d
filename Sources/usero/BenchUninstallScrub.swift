import ArgumentParser
import Feedback
import Foundation
import GRDB
import Logging
import SlackGateway
import UseroCrypto

/// Hidden: times the uninstall scrub of a workspace with many captured rows (`scripts/bench-slack.sh`).
///
/// Seeds ROWS Slack rows (default 1,000,000) for one team with plain SQL in one transaction, plus 10% rows of another
/// team that must stay untouched, then runs the real `slack.uninstall` job through `SlackJobRunner` and prints the
/// seconds it took as JSON.
struct BenchUninstallScrub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-uninstall-scrub", abstract: "Benchmark: the Slack uninstall scrub.", shouldDisplay: false)

    @Option(help: "Captured rows of the uninstalled workspace.") var rows: Int = 1_000_000

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("usero-bench-slack-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let database = try AppDatabase(path: folder.appendingPathComponent("bench.sqlite").path)
        let store = SQLiteFeedbackStore(database: database, files: ScreenshotFiles(dataDirectory: folder.path))
        let (client, _) = try await store.createClient(name: "bench", plan: .paid, allowedOrigins: [], at: Date())

        let seedStart = ContinuousClock.now
        try await database.write { db in
            for (team, count) in [("T0001", rows), ("T0002", rows / 10)] {
                try db.execute(
                    sql: """
                        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                        INSERT INTO feedback (id, client_id, source, created_at, comment, screenshots, slack_team_id,
                            slack_channel_id, slack_message_ts, slack_author_id, slack_forwarded_by, slack_captured_via)
                        SELECT 'fb_' || ? || '_' || i, ?, 'slack', 1700000000000 + i, 'Captured message ' || i, '[]', ?,
                            'C0001', (1700000000 + i) || '.000100', 'U' || (i % 5000), 'U0001', 'reaction:wrench' FROM n
                        """,
                    arguments: [count, team, client.id, team])
            }
        }
        let seedSeconds = (ContinuousClock.now - seedStart).seconds
        try await database.write { db in
            try JobQueue.enqueue(
                .uninstall, clientId: nil, teamId: "T0001", payload: ["clientId": client.id], runAt: 0,
                deadlineAt: epochMillis(Date()) + 60_000, in: db)
        }
        let jobs = try await database.read { db in try JobQueue.due(at: .max, limit: 1, in: db) }
        guard let job = jobs.first else { throw ValidationError("no scrub job was queued") }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let runner = SlackJobRunner(
            database: database, api: HTTPSlackWebAPI(baseURL: URL(string: "http://127.0.0.1:1/api/")!),
            keyRing: KeyRing(current: try TokenKey(try SecretBytes.random(count: 32))), clock: SystemClock(), logger: logger,
            wakeup: JobWakeup())

        let start = ContinuousClock.now
        let result = await runner.run(job)
        let scrubSeconds = (ContinuousClock.now - start).seconds

        let (left, untouched, counts) = try await database.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM feedback WHERE slack_team_id = 'T0001' AND slack_author_id IS NOT NULL") ?? -1,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM feedback WHERE slack_team_id = 'T0002' AND slack_author_id IS NOT NULL") ?? -1,
                try String.fetchOne(db, sql: "SELECT counts FROM audit_entry") ?? ""
            )
        }
        guard result == .finished, left == 0, untouched == rows / 10 else {
            FileHandle.standardError.write(Data("scrub incomplete: left=\(left) untouched=\(untouched)\n".utf8))
            throw ExitCode(1)
        }
        print(#"{"rows":\#(rows),"seedSeconds":\#(String(format: "%.2f", seedSeconds)),"scrubSeconds":\#(String(format: "%.3f", scrubSeconds)),"audit":\#(counts)}"#)
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
