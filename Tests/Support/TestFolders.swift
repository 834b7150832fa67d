public import Foundation

/// Temporary folders for tests: all inside one folder of this test process, removed when the process exits, so a run
/// leaves nothing behind in the temporary directory (a run that crashes leaves that one folder).
public enum TestFolders {
    /// This process's folder, created on first use; its removal is registered with `atexit` then.
    private static let root: URL = {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("usero-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(
            at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        atexit { try? FileManager.default.removeItem(at: TestFolders.root) }
        return url
    }()

    /// A new, empty folder named `prefix` and a UUID.
    public static func make(_ prefix: String) -> URL {
        let url = path(prefix)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A fresh path named `prefix` and a UUID, not created (for a file, or a folder the code under test creates).
    public static func path(_ prefix: String) -> URL {
        root.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    }
}
