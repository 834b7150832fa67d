import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `USERO_DATA_DIR`, checked when `serve` starts: a folder usero cannot write in would otherwise let it start and
/// answer every upload 500 (uploads are spooled into `incoming/` there, and on SQLite kept in `screenshots/`).
enum DataFolder {
    /// Creates the data folder when it is missing (0700, each new folder's entry synced into its parent, as the
    /// screenshot store makes its folders) and checks that a file can be created, then removed, in it and in those of
    /// its `incoming/` and (SQLite) `screenshots/` folders that exist; the missing ones are made in it when needed.
    /// A failure is an `AppConfig.Invalid` naming `USERO_DATA_DIR` and the system's reason, never the path.
    static func prepare(_ config: AppConfig) throws {
        let root = config.dataDirectory
        try create(root)
        var folders = [(root, "the data folder"), (Backend.uploadSpoolDirectory(config), "its incoming/ folder")]
        if config.postgres == nil {
            folders.append(
                (URL(fileURLWithPath: root).appendingPathComponent("screenshots").path, "its screenshots/ folder"))
        }
        for (folder, name) in folders where folder == root || access(folder, F_OK) == 0 {
            try probe(folder, name: name)
        }
        if config.postgres == nil { try checkClientFolders(URL(fileURLWithPath: root).appendingPathComponent("screenshots").path) }
    }

    /// Each client's folder under `screenshots/` must take new files too: one a restore left owned by another user
    /// passed the start, and every upload of that client then answered 500, logged as `CocoaError 512` (found by a
    /// review). A permission check per folder (thousands take milliseconds), not a file written in each.
    static func checkClientFolders(_ screenshots: String) throws {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: screenshots) else { return }
        for name in names.sorted() where !name.hasPrefix(".") {
            let folder = screenshots + "/" + name
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else { continue }
            if access(folder, W_OK | X_OK) != 0 {
                throw AppConfig.Invalid(
                    description: "USERO_DATA_DIR: usero cannot create files in its screenshots/\(name)/ folder (\(reason(errno))): give it to the user serve runs as")
            }
        }
    }

    /// Makes `path` and whatever of its parents is missing; a failure names `USERO_DATA_DIR`.
    static func create(_ path: String) throws {
        var missing: [String] = []
        var candidate = URL(fileURLWithPath: path).standardizedFileURL
        while access(candidate.path, F_OK) != 0, candidate.path != "/" {
            missing.append(candidate.path)
            candidate = candidate.deletingLastPathComponent()
        }
        for folder in missing.reversed() {
            if mkdir(folder, 0o700) != 0, errno != EEXIST {
                throw AppConfig.Invalid(description: "USERO_DATA_DIR: the data folder cannot be created (\(reason(errno)))")
            }
            syncFolder(URL(fileURLWithPath: folder).deletingLastPathComponent().path)
        }
    }

    /// Creates and removes a file in `folder`.
    private static func probe(_ folder: String, name: String) throws {
        let path = folder + "/.usero-write-check-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw AppConfig.Invalid(
                description: "USERO_DATA_DIR: usero cannot create files in \(name) (\(reason(errno)))")
        }
        close(fd)
        unlink(path)
    }

    private static func syncFolder(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// The system's words for `code` ("Permission denied", "Read-only file system", ...).
    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}
