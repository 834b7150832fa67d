import Feedback
import Foundation
import PostgresNIO
import StorePostgres
import StoreSQLite
import Testing
import UseroTestSupport

/// `usero database copy` when the connection fails as its COMMIT goes out: the copy asks afterwards whether it
/// committed, instead of telling the operator that nothing was written (they would copy again and be refused, the
/// database now holding data, or believe a finished copy failed).
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresCopyTests {
    /// A SQLite store in a folder of its own with one client and three items; removed after `body`.
    func withSQLiteSource(_ body: (_ path: String, _ folder: String) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("usero-copy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("usero.sqlite").path
        let sqlite = try await SQLiteStore(path: path, dataDirectory: folder.path)
        let (client, _) = try await sqlite.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: Date())
        for n in 0..<3 {
            _ = try await sqlite.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Item \(n)"), at: Date(), origin: nil)
        }
        try await body(path, folder.path)
    }

    @Test(.timeLimit(.minutes(2)))
    func aCopyWhoseCommitAnswerIsLostReportsWhatItWrote() async throws {
        try await withSQLiteSource { path, folder in try await TestPostgres.withFreshDatabase { settings in
            _ = try await AnswerDroppingProxy.withProxy(to: settings) { proxied, proxy in
                let backend = try await PostgresBackend.open(proxied, logger: TestPostgres.logger)
                let store = PostgresStore(backend: backend, logger: TestPostgres.logger)

                proxy.dropAnswers(afterClientSends: "COMMIT")
                let copy = Task {
                    try await store.importStore(from: try SQLiteExport(path: path, dataDirectory: folder))
                }
                // Once the copy committed, the connection it committed on is cut before its answer arrives.
                try await TestPostgres.withConnection(to: settings) { connection in
                    while try await TestPostgres.all("SELECT id FROM client", as: String.self, on: connection).isEmpty {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                proxy.cutAll()
                let counts = try await copy.value
                await backend.close()

                #expect(counts.first { $0.table == "client" }?.rows == 1)
                #expect(counts.first { $0.table == "feedback" }?.rows == 3)
                let comments: [String] = try await TestPostgres.withConnection(to: settings) { connection in
                    try await TestPostgres.all("SELECT comment FROM feedback ORDER BY comment", as: String.self, on: connection)
                }
                #expect(comments == ["Item 0", "Item 1", "Item 2"])
            }
        } }
    }

    /// The server ends the copy's session while it commits (here a check at commit sleeps, and the copy's backend is
    /// terminated meanwhile): the transaction did not commit, and the copy says nothing was written
    /// (`StoreUnavailable`: copy again) after asking, with the tables empty.
    @Test(.timeLimit(.minutes(2)))
    func aCopyWhoseCommitFailsWithItsSessionSaysNothingWasWritten() async throws {
        try await withSQLiteSource { path, folder in try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            try await TestPostgres.sleepAtCommit(into: "client", seconds: 5, on: settings)
            let copy = Task { try await store.importStore(from: try SQLiteExport(path: path, dataDirectory: folder)) }
            try await TestPostgres.withConnection(to: settings) { connection in
                var pids: [String] = []
                while pids.isEmpty {
                    try await Task.sleep(for: .milliseconds(20))
                    pids = try await TestPostgres.all(TestPostgres.sleepingAtCommit, as: String.self, on: connection)
                }
                _ = try await TestPostgres.all(
                    "SELECT pg_terminate_backend(\(Int32(pids[0]) ?? 0))", as: Bool.self, on: connection)
            }
            await #expect(throws: StoreUnavailable.self) { try await copy.value }
            await backend.close()
            let clients: [String] = try await TestPostgres.withConnection(to: settings) { connection in
                try await TestPostgres.all("SELECT id FROM client", as: String.self, on: connection)
            }
            #expect(clients.isEmpty)
        } }
    }
}
