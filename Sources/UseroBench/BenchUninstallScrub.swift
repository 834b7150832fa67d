import ArgumentParser
import Feedback
import Foundation
import Logging
import Retention
import SlackGateway
import StoreSQLite
import UseroCrypto

/// Times the uninstall scrub of a workspace with many captured rows (`scripts/bench-slack.sh`).
///
/// Seeds ROWS Slack rows (default 1,000,000) for one team with plain SQL in one transaction, plus 10% rows of another
/// team that must stay untouched, then runs the real `slack.uninstall` job through `SlackJobRunner` and prints the
/// seconds it took as JSON.
struct BenchUninstallScrub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall-scrub", abstract: "Benchmark: the Slack uninstall scrub.")

    @Option(help: "Captured rows of the uninstalled workspace.") var rows: Int = 1_000_000

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("usero-bench-slack-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let store = try await SQLiteStore(
            path: folder.appendingPathComponent("bench.sqlite").path, dataDirectory: folder.path)
        let (client, _) = try await store.createClient(name: "bench", plan: .paid, allowedOrigins: [], at: Date())

        let seedStart = ContinuousClock.now
        for (team, count) in [("T0001", rows), ("T0002", rows / 10)] {
            try await store.seedSlackRows(team: team, count: count, clientID: client.id)
        }
        let seedSeconds = (ContinuousClock.now - seedStart).seconds
        try await store.enqueue(
            NewSlackJob(
                clientId: nil, teamId: "T0001", work: .uninstall(UninstallJob(clientId: client.id)), runAt: 0,
                deadlineAt: epochMillis(Date()) + 60_000))
        let jobs = try await store.claimDueJobs(now: epochMillis(Date()) + 1, limit: 1, lease: 60_000, kinds: [.uninstall])
        guard let job = jobs.first else { throw ValidationError("no scrub job was queued") }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let runner = SlackJobRunner(
            store: store, auditor: AuditLog(store: store),
            api: HTTPSlackWebAPI(baseURL: URL(string: "http://127.0.0.1:1/api/")!),
            keyRing: KeyRing(current: try TokenKey(try SecretBytes.random(count: 32))), clock: SystemClock(),
            logger: logger, wakeup: JobWakeup())

        let start = ContinuousClock.now
        let result = await runner.run(job)
        let scrubSeconds = (ContinuousClock.now - start).seconds

        let left = try await store.unscrubbedRows(team: "T0001")
        let untouched = try await store.unscrubbedRows(team: "T0002")
        let counts = try await store.auditEntries(clientID: client.id, limit: 1).first?.counts.jsonText ?? ""
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
