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
    private let scanQueue = DispatchQueue(label: "usero.sqlite-scan")

    /// Reader connections: one per cooperative thread that may read inline, one for `scan`, and a spare (GRDB's
    /// default of 5 when there are fewer cores).
    static var readerCount: Int { max(5, ProcessInfo.processInfo.activeProcessorCount + 2) }

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
        configuration.maximumReaderCount = Self.readerCount
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

    /// Reads a consistent snapshot on the calling thread: for reads bounded by a key or a small `LIMIT` (a lookup
    /// by admin key, a page of at most 100 items), which take microseconds.
    ///
    /// GRDB's async read hops three times (to the pool's semaphore queue, to the reader's queue, back to the
    /// caller's executor); on this kind of request that costs more than the read itself (a request with two
    /// lookups: 2.3 ms of CPU through GRDB's async read, 1.5 ms inline; BENCHMARKS.md). Inline reads never wait
    /// on one another for a connection: at most one per cooperative thread plus the one `scan` run at a time, and
    /// the pool holds more readers than that (`readerCount`). Whoever holds a reader holds it in synchronous code
    /// that ends on its own, so a read waiting for a connection never waits on a suspended task.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try readHere(body)
    }

    /// Reads a consistent snapshot whose size the caller does not bound (an export, every installation, the
    /// sweep's lists): on a queue of its own, one at a time, so a long read never holds a thread the request
    /// handlers share. The reader is handed back before the caller resumes.
    func scan<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            scanQueue.async { continuation.resume(with: Result { try self.readHere(body) }) }
        }
    }

    /// GRDB's synchronous read: takes a reader, runs `body` in a read transaction on this thread, hands it back.
    private func readHere<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }

    /// Whether the database answers a trivial query.
    func isHealthy() async -> Bool {
        (try? await read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }
}
