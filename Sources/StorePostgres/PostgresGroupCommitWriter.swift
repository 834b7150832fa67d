import Feedback
public import Logging
public import PostgresNIO
import Synchronization

/// What one piece of write work sees: the connection of the transaction it shares with its neighbours. Reads get
/// one too (`PostgresBackend.read` and `withConnection`), on a pooled session of their own: every statement goes
/// through it, never straight to the connection (see `query`).
///
/// Write work must only touch the database through it, and may run more than once (see
/// `PostgresGroupCommitWriter`): everything it returns is computed again on a retry.
public struct PostgresTransaction: Sendable {
    /// The transaction's connection. Use `query`/`execute` rather than querying it directly: they fail when the
    /// connection dies mid-statement, where a direct query may wait for ever. Never COMMIT, ROLLBACK or swallow a
    /// server error and carry on: it must be thrown (the writer rolls back only that piece).
    public let connection: PostgresConnection
    public let logger: Logger
    let watch: ConnectionWatch

    /// Runs a statement and returns its rows (all of them, in memory: for the small results the store reads).
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresQueryResult {
        try await watch.run(query, on: connection, logger: logger)
    }

    /// Runs a statement and returns how many rows it inserted, updated or deleted.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await watch.run(query, on: connection, logger: logger).metadata.rows ?? 0
    }

    /// Commits the transaction the writer or the batch inserter opened, and returns once it is durable: COMMIT's
    /// answer comes after the commit is flushed (a statement's own answer may come before: never acknowledge on that).
    /// Throws `transactionAborted` when an error left the transaction aborted: COMMIT then answers ROLLBACK, not an
    /// error.
    func commit() async throws {
        let result = try await query("COMMIT")
        guard result.metadata.command == "COMMIT" else { throw PostgresWriterError.transactionAborted }
    }

    /// Rolls back whatever transaction the session may be in, when its connection is still open (a ROLLBACK outside
    /// a transaction only warns).
    func rollBackIfOpen() async {
        if !connection.isClosed { _ = try? await query("ROLLBACK") }
    }

    /// Runs a prepared statement (parsed and planned once per connection) and returns its rows.
    func rows<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await watch.run(statement, on: connection, logger: logger)
    }
}

/// Batches concurrent writes into shared transactions, committed with `synchronous_commit=on`: many requests per
/// WAL flush (group commit), and nothing acknowledged before its commit returned. The PostgreSQL counterpart of
/// the SQLite `GroupCommitWriter`, with the same promise: a failing piece fails alone, never its neighbours.
///
/// Waiting pieces are drained by up to `lanes` concurrent loops, each on its own pooled connection: while one lane
/// waits for its commit to reach disk, another fills its next transaction, and PostgreSQL flushes the commits that
/// arrive together once. Under light load a piece rides alone (no added latency); under load, batches grow up to
/// `maxBatch`.
///
/// A batch first runs optimistically: BEGIN, every piece, COMMIT, one round trip per statement and nothing more.
/// When a piece fails, the transaction is rolled back (a server error aborts the whole transaction in PostgreSQL),
/// that piece gets its error, and the others run again: optimistically once more, then, after a second failure in
/// the same batch, each in its own savepoint. Savepoints cost two round trips a piece, so they are only paid when
/// failures are frequent; and `maxBatch` stays within PostgreSQL's 64 cached subtransactions per transaction, past
/// which every concurrent snapshot has to look subtransactions up on disk. A piece that loses a deadlock (two
/// batches whose pieces take the same locks in opposite orders: an upload under the quota and a job claim, say) or a
/// serialisation race is not at fault: the batch (or, with savepoints, the piece) runs again, a few times at most.
public final class PostgresGroupCommitWriter: Sendable {
    private struct Pending: Sendable {
        let work: @Sendable (PostgresTransaction) async throws -> Void
        let finish: @Sendable ((any Error)?) -> Void
    }

    /// At most this many pieces in one transaction.
    public static let maxBatch = 64

    private let pool: PostgresPool
    private let logger: Logger
    private let queue: LaneQueue<Pending>
    /// Transactions filled and committed at once.
    let lanes: Int
    private let counts = Mutex(PostgresWriterStatistics())
    private let watch: ConnectionWatch
    /// One warning a second at most for failed batches.
    private let warnings = WarningThrottle()

    /// How long a batch waits for a connection before its writes fail with `StoreUnavailable`.
    let leaseTimeout: Duration

    /// - Parameters:
    ///   - lanes: transactions filled and committed at once, each on its own connection of `pool`.
    ///   - watch: fails the statements of a connection that closes or stops answering (the backend's one watch).
    init(
        pool: PostgresPool, lanes: Int = 4, leaseTimeout: Duration = .seconds(10), watch: ConnectionWatch,
        logger: Logger
    ) {
        self.pool = pool
        self.watch = watch
        self.leaseTimeout = leaseTimeout
        self.lanes = max(1, lanes)
        self.queue = LaneQueue(lanes: lanes, maxBatch: Self.maxBatch)
        self.logger = logger
    }

    /// Transactions, pieces and retries since start.
    public var statistics: PostgresWriterStatistics { counts.withLock { $0 } }
    /// Writes queued and not yet taken into a batch.
    public var waitingWrites: Int { queue.waiting }

    /// Runs `body` in a transaction shared with whatever other writes are waiting, and returns once that transaction
    /// committed. `body` may run more than once; only its last run's changes are committed.
    @discardableResult
    public func write<T: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) async throws -> T)
        async throws -> T
    {
        let box = ResultBox<T>()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let pending = Pending(
                work: { transaction in box.set(try await body(transaction)) },
                finish: { error in
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                }
            )
            queue.submit(pending) { next in
                await self.pool.runBatches(
                    leaseTimeout: self.leaseTimeout, next: next, run: { batch, connection in
                        await self.commit(batch, on: connection)
                    }, failed: { batch, error in self.fail(batch, with: error) })
            }
        }
        return box.take()
    }

    /// Fails every piece of `batch`, which no connection could be leased for (`StoreUnavailable`): nothing of it was
    /// sent.
    private func fail(_ batch: [Pending], with error: any Error) {
        warnings.warn("PostgreSQL group commit failed", error: error, on: logger)
        counts.withLock { statistics in
            statistics.failedWrites += batch.count
            statistics.largestBatch = max(statistics.largestBatch, batch.count)
        }
        for item in batch { item.finish(error) }
    }

    private func commit(_ batch: [Pending], on connection: PostgresConnection) async {
        var errors = [(any Error)?](repeating: nil, count: batch.count)
        var remaining = Array(batch.indices)
        var optimisticFailuresLeft = 2
        // A piece chosen as a deadlock's victim (or failing to serialise) has done nothing wrong: the batch runs again,
        // this many times at most, and the piece with it.
        var transientRetriesLeft = Self.transientRetries
        var retries = 0
        var committed = false
        // Whether COMMIT went out: before that, a lost connection has written nothing of the batch.
        var commitSent = false
        func attempts() async throws {
            let transaction = PostgresTransaction(connection: connection, logger: logger, watch: watch)
            do {
                attempts: while !remaining.isEmpty {
                    // A pooled connection that died while idle: never write to it (see rethrowIfConnectionLost).
                    if connection.isClosed { throw PostgresWriterError.connectionLost }
                    try await transaction.query("BEGIN")
                    if optimisticFailuresLeft > 0 {
                        for (position, index) in remaining.enumerated() {
                            do {
                                try await batch[index].work(transaction)
                            } catch {
                                try Self.rethrowIfConnectionLost(error, connection)
                                try await transaction.query("ROLLBACK")
                                if Self.isTransient(error), transientRetriesLeft > 0 {
                                    transientRetriesLeft -= 1
                                    retries += 1
                                    continue attempts
                                }
                                errors[index] = error
                                remaining.remove(at: position)
                                optimisticFailuresLeft -= 1
                                retries += 1
                                continue attempts
                            }
                        }
                    } else {
                        for index in remaining {
                            while true {
                                try await transaction.query("SAVEPOINT piece")
                                do {
                                    try await batch[index].work(transaction)
                                    try await transaction.query("RELEASE SAVEPOINT piece")
                                    errors[index] = nil
                                    break
                                } catch {
                                    try Self.rethrowIfConnectionLost(error, connection)
                                    errors[index] = error
                                    // Undoing the piece releases the locks it took, so its rival can finish.
                                    try await transaction.query("ROLLBACK TO SAVEPOINT piece")
                                    try await transaction.query("RELEASE SAVEPOINT piece")
                                    guard Self.isTransient(error), transientRetriesLeft > 0 else { break }
                                    transientRetriesLeft -= 1
                                    retries += 1
                                }
                            }
                        }
                    }
                    commitSent = true
                    try await transaction.commit()
                    committed = true
                    return
                }
            } catch {
                // Never give a connection back inside a transaction (an error that is not the server's answer,
                // the connection still open): it would hold its locks, and the next BEGIN would not start afresh.
                await transaction.rollBackIfOpen()
                throw error
            }
        }
        do {
            try await attempts()
        } catch {
            // The connection failed, or COMMIT did: nothing of this batch is known to be durable. Lost before COMMIT
            // went out, nothing of it was written, and its pieces may simply be tried again (a 503); lost after, it
            // may have committed.
            let error = Self.lostConnectionError(error, commitSent: commitSent) ?? error
            for index in remaining where errors[index] == nil { errors[index] = error }
            committed = false
            warnings.warn("PostgreSQL group commit failed", error: error, on: logger)
        }
        // In savepoint mode a piece that failed stays in `remaining` with its error: it is not acknowledged.
        let acknowledged = committed ? remaining.filter { errors[$0] == nil }.count : 0
        counts.withLock { statistics in
            if committed { statistics.commits += 1 }
            statistics.writes += acknowledged
            statistics.failedWrites += batch.count - acknowledged
            statistics.retries += retries
            statistics.largestBatch = max(statistics.largestBatch, batch.count)
        }
        for (index, item) in batch.enumerated() { item.finish(errors[index]) }
    }
}

extension PostgresGroupCommitWriter {
    /// How often one batch runs again for pieces that lost a deadlock or a serialisation race.
    static let transientRetries = 3

    /// Whether the server refused a statement for what ran beside it, not for what it is: a deadlock (pieces of
    /// transactions shared by unrelated writes take advisory and row locks in whatever order they arrive) or a
    /// serialisation failure. Running it again after the rival committed succeeds.
    static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server else { return false }
        return ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "")
    }

    /// What a batch's writes fail with when `error` is its connection's failure: `StoreUnavailable` while nothing
    /// that commits went out (nothing was written), `commitInDoubt` once it had. Nil for any other error.
    static func lostConnectionError(_ error: any Error, commitSent: Bool) -> (any Error)? {
        guard isConnectionFailure(error) else { return nil }
        return commitSent ? PostgresWriterError.commitInDoubt : StoreUnavailable()
    }

    /// Whether `error` ended the connection: it closed, failed, or the server ended the session (FATAL or PANIC).
    public static func isConnectionFailure(_ error: any Error) -> Bool {
        if case PostgresWriterError.connectionLost = error { return true }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed:
            return true
        case .server:
            return ["FATAL", "PANIC"].contains(error.serverInfo?[.severity] ?? "")
        default:
            return false
        }
    }

    /// A piece failed: if the connection is gone (anything but an error the server answered with), nothing more is
    /// sent on it; the batch fails with the original error.
    static func rethrowIfConnectionLost(_ error: any Error, _ connection: PostgresConnection) throws {
        if connection.isClosed { throw error }
        if case PostgresWriterError.connectionLost = error { throw error }
        if let error = error as? PSQLError, !error.isStatementError { throw error }
    }
}

/// What the writer has done since it started.
public struct PostgresWriterStatistics: Sendable, Equatable {
    /// Transactions committed.
    public var commits = 0
    /// Pieces acknowledged (committed).
    public var writes = 0
    /// Pieces that got an error.
    public var failedWrites = 0
    /// Batches run again because a piece failed.
    public var retries = 0
    /// The most pieces one batch carried.
    public var largestBatch = 0
}

public enum PostgresWriterError: Error, CustomStringConvertible {
    /// A piece caught a server error and carried on; the transaction could not commit.
    case transactionAborted
    /// The connection closed before the transaction could start.
    case connectionLost
    /// The connection failed after COMMIT (or a call that commits) went out, before its answer came: the transaction
    /// may have committed or not. Not a 503 (`StoreUnavailable`, "nothing written, try again"): a retry could write
    /// it twice. A write that can be repeated without that (an insert under an id chosen before it) is run again and
    /// finds its first run's rows if they committed (see `PostgresStore.insert`).
    case commitInDoubt

    public var description: String {
        switch self {
        case .transactionAborted: "a write swallowed a PostgreSQL error; its transaction was rolled back"
        case .connectionLost: "the connection to PostgreSQL was lost"
        case .commitInDoubt: "the connection to PostgreSQL was lost after COMMIT went out; it may have committed"
        }
    }
}

/// Carries a value out of the writer's closure. Written by the lane before the commit, read by the waiter after the
/// commit resumed it: the continuation orders the two.
private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private var value: T?
    func set(_ newValue: T) { value = newValue }
    func take() -> T { value! }
}
