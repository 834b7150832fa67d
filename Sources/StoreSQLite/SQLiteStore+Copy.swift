public import Feedback
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

extension SQLiteStore: StoreExporter {
    /// Tables that go first, in this order: every other table refers to `client` at most, and `screenshot` to
    /// `feedback`.
    static let parentsFirst = ["client", "feedback", "screenshot"]
    /// Kept out of a copy: the files a deletion left to remove (their rows are gone, and the destination has no
    /// files of this store).
    static let notCopied: Set<String> = ["file_deletion"]

    /// Every table from one snapshot of the file (a `serve` writing meanwhile changes nothing of what is read),
    /// paged by rowid; screenshot bytes read from their files, a chunk at a time, as `screenshot_chunk` rows.
    public func exportRows(batchRows: Int, chunkBytes: Int, _ receive: (CopiedRows) async throws -> Void)
        async throws
    {
        let snapshot = try database.pool.makeSnapshot()
        let tables = try await snapshot.read { db in
            try Row.fetchAll(
                db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid"
            ).compactMap { row -> (name: String, hasRowid: Bool)? in
                let name: String = row["name"]
                guard !name.hasPrefix("sqlite_"), !name.hasPrefix("grdb_"), !Self.notCopied.contains(name) else {
                    return nil
                }
                let sql: String? = row["sql"]
                return (name, !(sql ?? "").uppercased().contains("WITHOUT ROWID"))
            }
        }
        let ordered =
            Self.parentsFirst.compactMap { name in tables.first { $0.name == name } }
            + tables.filter { !Self.parentsFirst.contains($0.name) }
        for table in ordered {
            let columns = try await snapshot.read { db in try db.columns(in: table.name).map(\.name) }
            let list = columns.map { $0.quotedDatabaseIdentifier }.joined(separator: ", ")
            let name = table.name.quotedDatabaseIdentifier
            var after: Int64 = .min
            var offset = 0
            while true {
                // Keyset paging on the rowid; a table without one is small (`removed_capture`) and pages by offset.
                let (rows, last) = try await snapshot.read { [after, offset] db -> ([[CopiedValue]], Int64) in
                    let sql =
                        table.hasRowid
                        ? "SELECT rowid, \(list) FROM \(name) WHERE rowid > ? ORDER BY rowid LIMIT ?"
                        : "SELECT 0, \(list) FROM \(name) ORDER BY 1 LIMIT ? OFFSET ?"
                    let arguments: StatementArguments =
                        table.hasRowid ? [after, batchRows] : [batchRows, offset]
                    var last = after
                    let rows = try Row.fetchAll(db, sql: sql, arguments: arguments).map { row -> [CopiedValue] in
                        last = row[0]
                        return (1...columns.count).map { Self.copied(row[$0] as DatabaseValue) }
                    }
                    return (rows, last)
                }
                if rows.isEmpty { break }
                (after, offset) = (last, offset + rows.count)
                try await receive(CopiedRows(table: table.name, columns: columns, rows: rows))
                if table.name == "screenshot", let index = columns.firstIndex(of: "file_name") {
                    for row in rows {
                        guard case .text(let fileName) = row[index] else { continue }
                        try await exportBytes(of: fileName, chunkBytes: chunkBytes, receive)
                    }
                }
            }
        }
    }

    /// One screenshot file's bytes as `screenshot_chunk` rows. A file its row names that is not there is a refusal:
    /// the row would be copied without its image.
    private func exportBytes(of fileName: String, chunkBytes: Int, _ receive: (CopiedRows) async throws -> Void)
        async throws
    {
        guard let path = files.existingPath(fileName) else {
            throw StoreCopyRefused(
                "screenshot \(fileName) has no file under \(files.root.path) (is USERO_DATA_DIR the folder this "
                    + "SQLite file's service used, and is that service stopped?)")
        }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreCopyRefused("screenshot file \(path) cannot be read (errno \(errno))") }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: chunkBytes)
        var seq: Int64 = 0
        while true {
            var filled = 0
            while filled < chunkBytes {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, chunkBytes - filled) }
                if n < 0, errno == EINTR { continue }
                guard n >= 0 else { throw StoreCopyRefused("screenshot file \(path) cannot be read (errno \(errno))") }
                if n == 0 { break }
                filled += n
            }
            // An empty file is one empty chunk, as an empty upload is stored.
            if filled == 0, seq > 0 { return }
            try await receive(
                CopiedRows(
                    table: "screenshot_chunk", columns: ["file_name", "seq", "bytes"],
                    rows: [[.text(fileName), .integer(seq), .blob(Array(buffer[..<filled]))]]))
            seq += 1
            if filled < chunkBytes { return }
        }
    }

    static func copied(_ value: DatabaseValue) -> CopiedValue {
        switch value.storage {
        case .null: .null
        case .int64(let integer): .integer(integer)
        case .double(let real): .real(real)
        case .string(let text): .text(text)
        case .blob(let data): .blob(Array(data))
        }
    }
}
