public import Feedback
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// A usero SQLite file (and its screenshot files) opened only to be read, for `usero database copy`: nothing in it
/// is migrated or changed, and a file that is not a usero store is refused rather than turned into one. (SQLite
/// itself creates the empty `-wal` and `-shm` files of a database in WAL mode beside it when they are missing, so
/// the folder must be writable for the user who copies.)
public final class SQLiteExport: StoreExporter {
    let pool: DatabasePool
    let files: ScreenshotFiles
    let path: String
    /// The file and its WAL as they were when the export began (`confirmUnchanged()`).
    private let fingerprint: [FileFingerprint?]

    /// Opens `path` read-only. Refused (`StoreCopyRefused`) when it is not a SQLite file, holds no usero store, or
    /// was left by another version of usero than this one (its migrations differ: `serve` of this version migrates
    /// it).
    public init(path: String, dataDirectory: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.publicStatementArguments = false
        // The file itself, not a link to it: SQLite follows the link, and its `-wal` and `-shm` files, which tell
        // whether a `serve` has it open, lie beside the target.
        guard let real = realpath(path, nil) else {
            // Not echoed when it reads as a URL: it may hold a password.
            if SQLitePaths.looksLikeDatabaseURL(path) {
                throw StoreCopyRefused(
                    "--from takes the SQLite file to copy from, not a URL (the PostgreSQL store to copy into is USERO_DATABASE)")
            }
            throw StoreCopyRefused("--from: no SQLite file at \(path)")
        }
        let path = String(cString: real)
        free(real)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw StoreCopyRefused("--from: \(path) is a folder; name the SQLite file in it (usero.sqlite, say)")
        }
        self.path = path
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            let current = AppDatabase.migrator.migrations
            let applied = try pool.read { db -> [String]? in
                guard try db.tableExists("grdb_migrations"), try db.tableExists("client") else { return nil }
                return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            }
            guard let applied else { throw StoreCopyRefused("--from: \(path) holds no usero store") }
            guard Set(applied) == Set(current) else {
                // A newer usero's migration here: this version cannot know its tables, and its serve would not undo
                // it. Otherwise the file is older, and this version's serve brings it up to date.
                if !Set(applied).isSubset(of: Set(current)) {
                    throw StoreCopyRefused(
                        "--from: \(path) was last used by a newer version of usero: copy it with that version")
                }
                throw StoreCopyRefused(
                    "--from: \(path) was last used by an older version of usero: run this version's `usero serve` on "
                        + "it once (it migrates the file), stop it, and copy again")
            }
        } catch let error as DatabaseError
            where [ResultCode.SQLITE_READONLY, .SQLITE_CANTOPEN].contains(error.resultCode.primaryResultCode)
        {
            throw StoreCopyRefused(
                "--from: \(path) cannot be opened: SQLite needs to create its -wal and -shm files beside it; run the "
                    + "copy as the user who owns its folder")
        } catch let error as DatabaseError {
            throw StoreCopyRefused("--from: \(path) cannot be read as a SQLite file (\(error.message ?? "\(error.resultCode)"))")
        }
        files = ScreenshotFiles(dataDirectory: dataDirectory)
        fingerprint = Self.fingerprint(of: path)
    }

    /// Throws when the file changed since the export began (a `serve` still running on it accepted writes the copy
    /// does not hold), or when another process has it open now.
    public func confirmUnchanged() async throws {
        guard Self.fingerprint(of: path) == fingerprint else {
            throw StoreCopyRefused(
                "the SQLite file changed while it was copied: stop `usero serve` on it, then copy again")
        }
        try refuseWhileOpenElsewhere()
    }

    /// A `serve` still running on the file, even an idle one, would go on accepting what the copy leaves behind.
    /// SQLite's unix VFS holds a shared lock on byte 128 of the `-shm` file (its "dead man switch") for as long as a
    /// connection has the database open in WAL mode; asking for that lock sees other processes' locks, not this one's.
    func refuseWhileOpenElsewhere() throws {
        let fd = Glibc.open(path + "-shm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 128
        lock.l_len = 1
        guard fcntl(fd, F_GETLK, &lock) == 0, lock.l_type != Int16(F_UNLCK) else { return }
        throw StoreCopyRefused(
            "the SQLite file is open in another process (process \(lock.l_pid); `usero serve` still running on it?): "
                + "stop it, then copy")
    }

    /// Size and modification time of the file and its WAL: a commit grows or rewrites the WAL, a checkpoint writes
    /// the file.
    struct FileFingerprint: Equatable {
        var size: Int64
        var modified: Date
    }

    static func fingerprint(of path: String) -> [FileFingerprint?] {
        [path, path + "-wal"].map { file in
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
                let size = attributes[.size] as? NSNumber, let modified = attributes[.modificationDate] as? Date
            else { return nil }
            return FileFingerprint(size: size.int64Value, modified: modified)
        }
    }

    /// Tables that go first, in this order: every other table refers to `client` at most, and `screenshot` to
    /// `feedback`.
    static let parentsFirst = ["client", "feedback", "screenshot"]
    /// Kept out of a copy: the files a deletion left to remove (their rows are gone, and the destination has no
    /// files of this store).
    public static let notCopied: Set<String> = ["file_deletion"]

    /// Every table from one snapshot of the file, paged by rowid; screenshot bytes read from their files, a chunk at
    /// a time, as `screenshot_chunk` rows.
    public func exportRows(batchRows: Int, chunkBytes: Int, _ receive: (CopiedRows) async throws -> Void)
        async throws
    {
        try refuseWhileOpenElsewhere()
        let snapshot = try pool.makeSnapshot()
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
                        : "SELECT 0, \(list) FROM \(name) ORDER BY \(list) LIMIT ? OFFSET ?"
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
                if table.name == "screenshot", let name = columns.firstIndex(of: "file_name"),
                    let size = columns.firstIndex(of: "file_size")
                {
                    for row in rows {
                        guard case .text(let fileName) = row[name], case .integer(let fileSize) = row[size] else {
                            continue
                        }
                        try await exportBytes(of: fileName, size: fileSize, chunkBytes: chunkBytes, receive)
                    }
                }
            }
        }
    }

    /// One screenshot file's bytes as `screenshot_chunk` rows. A file its row names that is not there, or whose
    /// size is not the row's, is a refusal: the row would be copied without its image, or with bytes a download
    /// would send under another `Content-Length`.
    private func exportBytes(
        of fileName: String, size: Int64, chunkBytes: Int, _ receive: (CopiedRows) async throws -> Void
    ) async throws {
        guard let path = files.existingPath(fileName) else {
            throw StoreCopyRefused(
                "screenshot \(fileName) has no file under \(files.root.path) (is USERO_DATA_DIR the folder this "
                    + "SQLite file's service used, and is that service stopped?)")
        }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreCopyRefused("screenshot file \(path) cannot be read (errno \(errno))") }
        defer { Glibc.close(fd) }
        let fileSize = Int64(lseek(fd, 0, SEEK_END))
        guard fileSize == size, lseek(fd, 0, SEEK_SET) == 0 else {
            throw StoreCopyRefused(
                "screenshot \(fileName)'s file holds \(fileSize) bytes where its row says \(size): copy refused")
        }
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
