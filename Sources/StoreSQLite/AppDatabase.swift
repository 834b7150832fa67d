import Feedback
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// The one SQLite database of the process: a WAL-mode pool, its migrations, and the group-commit writer.
///
/// Only this adapter sees it: every write goes through `write(_:)`, so concurrent requests share one `synchronous=FULL` commit (accepted
/// means durable) instead of paying one fsync each.
final class AppDatabase: Sendable {
    /// The GRDB pool; readers run concurrently with the writer. Internal: tests reach it with `@testable`.
    let pool: DatabasePool
    private let committer: GroupCommitWriter

    /// Opens (creating if needed) the database at `path` and migrates it.
    init(path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !directory.isEmpty {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        // Owner-only from the first byte: SQLite gives the -wal and -shm files the database file's mode.
        if path != ":memory:" { close(open(path, O_RDONLY | O_CREAT, 0o600)) }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // Keep comments and emails out of SQL error messages.
        configuration.publicStatementArguments = false
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB switches a pool's writer to synchronous=NORMAL when it enables WAL (after `prepareDatabase` runs), and
        // in WAL mode NORMAL skips the fsync at commit: a crash could lose acknowledged rows. FULL syncs the WAL at
        // every commit; the group-commit writer is what keeps that affordable.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try Self.migrator.migrate(pool)
        committer = GroupCommitWriter(pool: pool)
    }

    /// Runs `body` in a transaction shared with whatever other writes are waiting, and returns once it is committed.
    ///
    /// A failing `body` rolls back only its own changes (a savepoint), never its neighbours'.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await committer.write(body)
    }

    /// Group-commit transactions so far and the writes they carried (their ratio is the mean batch size).
    var commitStatistics: (commits: Int, writes: Int) {
        let stats = committer.statistics
        return (stats.commits, stats.items)
    }

    /// Reads a consistent snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    /// Whether the database answers a trivial query.
    func isHealthy() async -> Bool {
        (try? await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }
}
