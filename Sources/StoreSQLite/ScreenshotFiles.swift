import Feedback
public import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif
// For `stat`: a whole-module (release) build of this module takes `struct stat` as CDispatch's (its headers include
// <sys/stat.h>, and Dispatch brings them in), and MemberImportVisibility then refuses `stat`'s members in a file that
// does not import CDispatch. The debug build, file by file, never met it; without this line `make run` fails.
#if canImport(CDispatch)
import CDispatch
#endif

/// The screenshot files under `DATA_DIR/screenshots/CLIENT_ID/FILE`.
public struct ScreenshotFiles: Sendable {
    /// The folder holding one sub-folder per client.
    public let root: URL

    /// Creates the store at `dataDirectory/screenshots`.
    public init(dataDirectory: String) {
        root = URL(fileURLWithPath: dataDirectory).appendingPathComponent("screenshots", isDirectory: true)
    }

    /// The file for a stored name, or nil for any name that is not one of ours (so no path can leave the store).
    public func url(for fileName: String) -> URL? {
        guard ScreenshotName.isValid(fileName) else { return nil }
        return root.appendingPathComponent(fileName)
    }

    /// Writes bytes to a temporary file, fsyncs it, renames it into place and fsyncs the folder.
    public func writeDurably(_ bytes: [UInt8], fileName: String) throws {
        try bytes.withUnsafeBytes { try writeDurably($0, fileName: fileName) }
    }

    /// Writes bytes where they lie (a request buffer's slice) as `writeDurably(_:fileName:)` does.
    public func writeDurably(_ bytes: UnsafeRawBufferPointer, fileName: String) throws {
        guard let url = url(for: fileName) else { throw CocoaError(.fileWriteInvalidFileName) }
        let folder = url.deletingLastPathComponent()
        try makeFolderDurably(folder)
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).tmp")
        do {
            try Self.writeAndSync(bytes, path: temporary.path)
        } catch {
            // A full disk part-way: its partial bytes go now, not at the next start.
            unlink(temporary.path)
            throw error
        }
        guard rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw CocoaError(.fileWriteUnknown)
        }
        Self.syncDirectory(folder.path)
    }

    /// Makes `path` (a finished spool file) the stored file `fileName`: fsyncs it, renames it into place and fsyncs
    /// the folder. A spool on another file system is copied instead (then removed).
    public func adoptDurably(_ path: String, fileName: String) throws {
        guard let url = url(for: fileName) else { throw CocoaError(.fileWriteInvalidFileName) }
        let folder = url.deletingLastPathComponent()
        try makeFolderDurably(folder)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CocoaError(.fileReadNoSuchFile) }
        let synced = fsync(fd) == 0
        let syncError = errno
        close(fd)
        guard synced else { throw FileWrites.error(syncError) }
        guard rename(path, url.path) == 0 else {
            guard errno == EXDEV else { throw CocoaError(.fileWriteUnknown) }
            var info = stat()
            guard stat(path, &info) == 0 else { throw CocoaError(.fileReadUnknown) }
            let bytes = try SpooledFile.contents(of: path, size: Int(info.st_size))
            try bytes.withUnsafeReadableBytes { try writeDurably($0, fileName: fileName) }
            unlink(path)
            return
        }
        Self.syncDirectory(folder.path)
    }

    /// Creates a client's folder (and `screenshots/` itself) when missing, and syncs the folder that received each
    /// new entry: a file renamed into a folder whose own entry never reached the disk is lost with it at a power
    /// cut, while its row (committed with a full sync) stays, a 200 for bytes that are gone.
    private func makeFolderDurably(_ folder: URL) throws {
        var missing: [URL] = []
        var candidate = folder
        while access(candidate.path, F_OK) != 0, candidate.path != "/" {
            missing.append(candidate)
            candidate = candidate.deletingLastPathComponent()
        }
        guard !missing.isEmpty else { return }
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for created in missing { Self.syncDirectory(created.deletingLastPathComponent().path) }
    }

    /// Reads a stored file.
    public func read(_ fileName: String) -> Data? {
        guard let url = url(for: fileName) else { return nil }
        return FileManager.default.contents(atPath: url.path)
    }

    /// The path of a stored file, if it exists.
    public func existingPath(_ fileName: String) -> String? {
        guard let url = url(for: fileName), access(url.path, F_OK) == 0 else { return nil }
        return url.path
    }

    /// Removes a stored file; a missing file is not an error.
    public func remove(_ fileName: String) {
        guard let url = url(for: fileName) else { return }
        unlink(url.path)
    }

    /// Hands `body` the stored names (`CLIENT/FILE`) of files last written before `cutoff`, every client folder's,
    /// `batch` at a time; removes the `.FILE.tmp` files of writes a crash cut off, written before `cutoff`, as it
    /// goes. Stops when cancelled. Each batch is a short piece of blocking work (a `stat` a file), so a walk of a
    /// large folder does not hold a thread of the cooperative pool for long.
    public func forEachNameWritten(
        before cutoff: Date, batch: Int, _ body: ([String]) async throws -> Void
    ) async throws {
        let manager = FileManager.default
        guard let folders = try? manager.contentsOfDirectory(atPath: root.path) else { return }
        let limit = cutoff.timeIntervalSince1970
        for folder in folders where folder.hasPrefix("client_") {
            let path = root.path + "/" + folder
            guard let entries = try? manager.contentsOfDirectory(atPath: path) else { continue }
            for start in stride(from: 0, to: entries.count, by: max(1, batch)) {
                try Task.checkCancellation()
                var names: [String] = []
                for entry in entries[start..<min(start + max(1, batch), entries.count)] {
                    var info = stat()
                    let file = path + "/" + entry
                    guard lstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
                        Double(info.st_mtim.tv_sec) < limit
                    else { continue }
                    if entry.hasPrefix("."), entry.hasSuffix(".tmp") {
                        unlink(file)
                    } else if ScreenshotName.isValid(folder + "/" + entry) {
                        names.append(folder + "/" + entry)
                    }
                }
                if !names.isEmpty { try await body(names) }
                await Task.yield()
            }
        }
    }

    private static func writeAndSync(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        try FileWrites.writeAll(fd, bytes)
        guard fsync(fd) == 0 else { throw FileWrites.error(errno) }
    }

    private static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
