public import Foundation
public import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// The screenshot files under `DATA_DIR/screenshots/CLIENT_ID/FILE`.
public struct ScreenshotFiles: Sendable {
    /// The folder holding one sub-folder per client.
    public let root: URL

    /// Files in the store are `client_<alnum>/<digits>-<alnum>.<ext>`; nothing else is ever opened.
    static func isStoredName(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].hasPrefix("client_"), parts[0].count <= 71 else { return false }
        let lowerAlnum: (Character) -> Bool = { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        guard parts[0].dropFirst(7).allSatisfy(lowerAlnum), parts[0].count > 7 else { return false }
        let file = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard file.count == 2, ["png", "jpg", "gif", "webp"].contains(file[1]) else { return false }
        let stem = file[0].split(separator: "-", omittingEmptySubsequences: false)
        guard stem.count == 2, (1...20).contains(stem[0].count), (1...32).contains(stem[1].count) else { return false }
        return stem[0].allSatisfy { ("0"..."9").contains($0) } && stem[1].allSatisfy(lowerAlnum)
    }

    /// Creates the store at `dataDirectory/screenshots`.
    public init(dataDirectory: String) {
        root = URL(fileURLWithPath: dataDirectory).appendingPathComponent("screenshots", isDirectory: true)
    }

    /// The file for a stored name, or nil for any name that is not one of ours (so no path can leave the store).
    public func url(for fileName: String) -> URL? {
        guard Self.isStoredName(fileName) else { return nil }
        return root.appendingPathComponent(fileName)
    }

    /// Writes bytes to a temporary file, fsyncs it, renames it into place and fsyncs the folder.
    public func writeDurably(_ bytes: [UInt8], fileName: String) throws {
        guard let url = url(for: fileName) else { throw CocoaError(.fileWriteInvalidFileName) }
        let folder = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).tmp")
        try Self.writeAndSync(bytes, path: temporary.path)
        guard rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw CocoaError(.fileWriteUnknown)
        }
        Self.syncDirectory(folder.path)
    }

    /// Reads a stored file.
    public func read(_ fileName: String) -> Data? {
        guard let url = url(for: fileName) else { return nil }
        return FileManager.default.contents(atPath: url.path)
    }

    /// Removes a stored file; a missing file is not an error.
    public func remove(_ fileName: String) {
        guard let url = url(for: fileName) else { return }
        unlink(url.path)
    }

    /// Deletes the files whose rows are gone (queued in `file_deletion`), then forgets them.
    ///
    /// Called after every commit that queues files and at startup, so a crash between the commit and the unlink
    /// leaves no file behind for long.
    public func purgeQueued(in database: AppDatabase) async throws {
        let names = try await database.read { db in
            try String.fetchAll(db, sql: "SELECT file_name FROM file_deletion LIMIT 10000")
        }
        guard !names.isEmpty else { return }
        for name in names { remove(name) }
        try await database.write { db in
            for name in names { try db.execute(sql: "DELETE FROM file_deletion WHERE file_name = ?", arguments: [name]) }
        }
    }

    private static func writeAndSync(_ bytes: [UInt8], path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            guard written > 0 else {
                throw CocoaError(errno == ENOSPC || errno == EDQUOT ? .fileWriteOutOfSpace : .fileWriteUnknown)
            }
            offset += written
        }
        guard fsync(fd) == 0 else {
            throw CocoaError(errno == ENOSPC || errno == EDQUOT ? .fileWriteOutOfSpace : .fileWriteUnknown)
        }
    }

    private static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

extension Database {
    /// Queues the screenshot files of the rows about to be deleted by `whereSQL` on `feedback`, then deletes the
    /// screenshot rows, in the caller's transaction.
    public func queueScreenshotFiles(ofFeedbackWhere whereSQL: String, arguments: StatementArguments, at millis: Int64)
        throws
    {
        try execute(
            sql: """
                INSERT OR IGNORE INTO file_deletion (file_name, queued_at)
                SELECT s.file_name, ? FROM screenshot s JOIN feedback f ON f.id = s.feedback_id WHERE \(whereSQL)
                """,
            arguments: [millis] + arguments)
        try execute(
            sql: "DELETE FROM screenshot WHERE feedback_id IN (SELECT f.id FROM feedback f WHERE \(whereSQL))",
            arguments: arguments)
    }
}
