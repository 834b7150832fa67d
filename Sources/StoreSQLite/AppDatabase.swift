import Feedback
import Foundation
import GRDB
import Synchronization

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
    /// Bounded reads, several at once.
    private let readQueue = DispatchQueue(label: "usero.sqlite-read", attributes: .concurrent)

    /// Reader connections: about one per core for `readQueue`, one for `scan`, and a spare (GRDB's default of 5
    /// when there are fewer cores). A read that finds them all taken waits in GRDB for one to be handed back.
    static var readerCount: Int { max(5, ProcessInfo.processInfo.activeProcessorCount + 2) }

    /// How long a connection waits for a lock another one holds (GRDB's busy mode).
    let busyTimeoutMilliseconds: Int

    /// How long `dropErasedPages` waits between its tries while a reader is in the way; the last is repeated until
    /// one succeeds. Given empty, the defaults.
    let checkpointRetryDelays: [Duration]
    static let defaultCheckpointRetryDelays: [Duration] = [1, 2, 4, 8, 15, 30].map { .seconds($0) }
    /// Erasures whose pages may still be in the WAL (`wanted`), and whether a task is retrying the checkpoint.
    private let pendingCheckpoint = Mutex<(wanted: Int, retrying: Bool)>((0, false))

    /// Opens (creating if needed) the database at `path` and migrates it.
    init(
        path: String, busyTimeoutMilliseconds: Int = SQLiteStore.defaultBusyTimeoutMilliseconds,
        checkpointRetryDelays: [Duration] = []
    ) throws {
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.checkpointRetryDelays = checkpointRetryDelays.isEmpty ? Self.defaultCheckpointRetryDelays : checkpointRetryDelays
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
        configuration.busyMode = .timeout(Double(busyTimeoutMilliseconds) / 1000)
        configuration.maximumReaderCount = Self.readerCount
        // Deleted content is overwritten with zeros in the page that held it, whatever the library's build default
        // (Debian's happens to have it on): a deleted comment does not linger in the file's free pages.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA secure_delete = ON") }
        pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB switches a pool's writer to synchronous=NORMAL when it enables WAL (after `prepareDatabase` runs), and
        // in WAL mode NORMAL skips the fsync at commit: a crash could lose acknowledged rows. FULL syncs the WAL at
        // every commit; the group-commit writer is what keeps that affordable.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try Self.migrator.migrate(pool)
        // Each write of a group commit runs in its own savepoint, and SQLite keeps the pages a savepoint changes in
        // a sub-journal: in memory up to 64 KiB, then in a temporary file for the rest of the transaction. One
        // write that splits a few index pages crossed that line, and every later write of the batch then wrote its
        // pages to that file: four times the WAL's own writes, the largest cost of a durable submission. In memory
        // the sub-journal is a copy, dropped at each savepoint's release. Its size is bounded by what one write
        // changes (every bulk change here goes in batches: 25,000 rows for the uninstall scrub, 250 for retention).
        // Set after the migrations, which may change a whole table in one statement and keep the spill to a file.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA temp_store = MEMORY") }
        committer = GroupCommitWriter(pool: pool)
    }

    /// Runs `body` in a transaction shared with whatever other writes are waiting, and returns once it is committed.
    ///
    /// A failing `body` rolls back only its own changes (a savepoint), never its neighbours'. With `savepoint`
    /// false, `body` keeps that promise itself: it changes the database in at most one statement, after everything
    /// in it that may throw (SQLite undoes a failing statement by itself), or opens its own savepoint around
    /// several. That spares the common write two statements GRDB prepares each time.
    func write<T: Sendable>(savepoint: Bool = true, _ body: @escaping @Sendable (Database) throws -> T)
        async throws -> T
    {
        try await committer.write(savepoint: savepoint, body)
    }

    /// After an erasure (an item, a data subject, a closed account, a scrubbed workspace, a sweep): folds the WAL
    /// into the database file and empties it. The WAL keeps the pages as they were before the deletion until a
    /// checkpoint overwrites them, which under light traffic can be hours; this makes "deleted" true of the files
    /// at once.
    ///
    /// A reader holding an older snapshot (a long export, a backup, `sqlite3` beside the service) keeps the
    /// checkpoint from finishing. It never waits for one: it runs on the writer's connection, and waiting there (up
    /// to the 10 s busy timeout) held every write of the service that long. One task tries again in the background
    /// (after 1, 2, 4, 8, 15 s, then every 30 s) until a checkpoint that began after the last erasure succeeds,
    /// however long the reader stays: one that gave up after a minute left a deletion's bytes in the WAL and the
    /// file until the next deletion, after a `sqlite3` session held open for longer (found by a review).
    func dropErasedPages() async {
        if await truncateWAL() { return }
        let startsRetrying = pendingCheckpoint.withLock { state in
            state.wanted += 1
            defer { state.retrying = true }
            return !state.retrying
        }
        guard startsRetrying else { return }
        let delays = checkpointRetryDelays
        Task.detached { [weak self] in
            var attempt = 0
            while true {
                try? await Task.sleep(for: delays[min(attempt, delays.count - 1)])
                attempt += 1
                // Gone with the process's store (a test's server that stopped): nothing left to retry on.
                guard let self else { return }
                let covers = self.pendingCheckpoint.withLock { $0.wanted }
                guard await self.truncateWAL() else { continue }
                // An erasure that asked after this checkpoint began may have left pages it did not fold in.
                let done = self.pendingCheckpoint.withLock { state in
                    if state.wanted == covers { state.retrying = false }
                    return !state.retrying
                }
                if done { return }
                attempt = 0
            }
        }
    }

    /// One TRUNCATE checkpoint that gives up at once when a reader is in the way; whether it emptied the WAL.
    private func truncateWAL() async -> Bool {
        (try? await pool.writeWithoutTransaction { db -> Bool in
            try db.execute(sql: "PRAGMA busy_timeout = 0")
            defer { try? db.execute(sql: "PRAGMA busy_timeout = \(busyTimeoutMilliseconds)") }
            let result = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            return result?[0] as Int? == 0
        }) ?? false
    }

    /// Group-commit transactions so far and the writes they carried (their ratio is the mean batch size).
    var commitStatistics: (commits: Int, writes: Int) {
        let stats = committer.statistics
        return (stats.commits, stats.items)
    }

    /// Reads a consistent snapshot: for reads bounded by a key or a small `LIMIT` (a lookup by admin key, a page of
    /// at most 100 items), which take microseconds.
    ///
    /// GRDB's synchronous read on a thread of `readQueue`: one hop there and one back. GRDB's async read hops three
    /// times (to the pool's semaphore queue, to the reader's queue, back to the caller's executor), which on such
    /// reads cost more than the reads (an admin list: 6.3 ms of CPU per request before this and the JSON writer,
    /// 2.1 ms after; BENCHMARKS.md). Running the read right on the caller's thread measured the same as this, but
    /// would hold one of Swift's cooperative threads (one per core) whenever a read waits for the disk. Whoever
    /// holds a reader holds it in synchronous code that ends on its own, so a read waiting for a connection never
    /// waits on a suspended task.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await read(on: readQueue, body)
    }

    /// Reads a consistent snapshot whose size the caller does not bound (an export, every installation, the
    /// sweep's lists): on a queue of its own, one at a time, so long reads never crowd out the bounded ones. The
    /// reader is handed back before the caller resumes.
    func scan<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await read(on: scanQueue, body)
    }

    /// GRDB's synchronous read on a thread of `queue`: takes a reader, runs `body` in a read transaction, hands the
    /// reader back, then resumes the caller.
    private func read<T: Sendable>(on queue: DispatchQueue, _ body: @escaping @Sendable (Database) throws -> T)
        async throws -> T
    {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try self.pool.read(body) }) }
        }
    }

    /// Whether the database answers a trivial query.
    func isHealthy() async -> Bool {
        (try? await read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }
}
