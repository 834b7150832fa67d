import Feedback
import Foundation
import GRDB
@testable import StoreSQLite
import Testing
import UseroTestSupport

/// The source side of `usero database copy`: a usero SQLite file read as it is, never changed.
@Suite struct SQLiteExportTests {
    let folder = TestFolders.make("usero-export")
    var path: String { folder.appendingPathComponent("usero.sqlite").path }

    /// Every byte of the file and its WAL.
    func bytes() -> [Data?] { [path, path + "-wal"].map { FileManager.default.contents(atPath: $0) } }

    func rows(of export: SQLiteExport) async throws -> [String: Int] {
        var rows: [String: Int] = [:]
        try await export.exportRows(batchRows: 2, chunkBytes: 4) { rows[$0.table, default: 0] += $0.rows.count }
        return rows
    }

    @Test func anExportReadsEveryRowAndChangesNothing() async throws {
        let store = try await SQLiteStore(path: path, dataDirectory: folder.path)
        let (client, _) = try await store.createClient(name: "A", plan: .free, allowedOrigins: [], at: Date())
        for n in 0..<5 {
            _ = try await store.insert(FeedbackDraft(clientId: client.id, source: .api, comment: "c\(n)"), at: Date(), origin: nil)
        }
        let shot = StoredScreenshot(
            fileName: "\(client.id)/1700000000000-abcdefgh.png", clientId: client.id, mimeType: "image/png", fileSize: 10,
            width: nil, height: nil, createdAt: Date())
        try await store.saveScreenshot(shot, bytes: Array(0..<10))
        // A table without a rowid, paged by offset: five rows in pages of two, each once
        try await store.database.write { db in
            for n in 0..<5 {
                try db.execute(
                    sql: "INSERT INTO removed_capture (client_id, team_id, channel_id, message_ts, removed_at) VALUES (?, 'T1', 'C1', ?, 0)",
                    arguments: [client.id, "17000000\(4 - n).000100"])
            }
        }
        let before = bytes()

        let export = try SQLiteExport(path: path, dataDirectory: folder.path)
        let counts = try await rows(of: export)
        #expect(counts["client"] == 1)
        #expect(counts["feedback"] == 5)  // in pages of two
        #expect(counts["screenshot"] == 1)
        #expect(counts["screenshot_chunk"] == 3)  // 10 bytes in chunks of 4
        var removed: [CopiedValue] = []
        try await export.exportRows(batchRows: 2, chunkBytes: 4) { batch in
            guard batch.table == "removed_capture", let ts = batch.columns.firstIndex(of: "message_ts") else { return }
            removed += batch.rows.map { $0[ts] }
        }
        #expect(Set(removed.map { "\($0)" }).count == 5)
        try await export.confirmUnchanged()
        #expect(bytes() == before)

        // A write to the file meanwhile (a serve still running on it) is noticed before the copy commits
        _ = try await store.insert(FeedbackDraft(clientId: client.id, source: .api, comment: "late"), at: Date(), origin: nil)
        await #expect(throws: StoreCopyRefused.self) { try await export.confirmUnchanged() }

        // A file whose size is not its row's is refused, not copied under the wrong length
        let file = try #require(store.files.url(for: shot.fileName))
        try Data(repeating: 1, count: 11).write(to: file)
        let refusal = await #expect(throws: StoreCopyRefused.self) {
            try await rows(of: try SQLiteExport(path: path, dataDirectory: folder.path))
        }
        #expect(refusal?.description.contains("holds 11 bytes where its row says 10") == true)
    }

    @Test func aFileThatHoldsNoUseroStoreIsRefusedAndLeftAsItWas() throws {
        let other = folder.appendingPathComponent("other.sqlite").path
        let queue = try DatabaseQueue(path: other)
        try queue.write { try $0.execute(sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)") }
        try queue.close()
        let empty = folder.appendingPathComponent("empty.sqlite").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let text = folder.appendingPathComponent("text.sqlite").path
        #expect(FileManager.default.createFile(atPath: text, contents: Data("not a database at all, just text".utf8)))
        for file in [other, empty, text] {
            let before = FileManager.default.contents(atPath: file)
            #expect(throws: StoreCopyRefused.self) { try SQLiteExport(path: file, dataDirectory: folder.path) }
            #expect(FileManager.default.contents(atPath: file) == before, "\(file)")
            #expect(!FileManager.default.fileExists(atPath: file + "-wal"))
        }
    }
}
