import Feedback
public import Logging
import PostgresNIO
import Synchronization

/// The PostgreSQL database of the process: a postgres-nio connection pool, migrated at open, and the group-commit
/// writer durable writes go through, but those that may wait on another instance or must never wait behind others
/// (`transaction(lockTimeout:_:)`).
public final class PostgresBackend: Sendable {
    public struct Options: Sendable {
        /// Sessions the pool may open (readers and writer lanes together).
        public var maximumConnections = 16
        /// Transactions the writer fills and commits at once. Two: since a batch of submissions is one round trip,
        /// four lanes split 32 waiting requests into batches of about 6 rows, two into batches of about 9, and
        /// PostgreSQL's work per commit then spreads over more rows (its CPU per row fell by a quarter, usero's rate
        /// rose by about a tenth and its p99 fell, in alternating runs; BENCHMARKS.md, run 18). One lane leaves no
        /// batch filling while another commits, and its p99 swung up to 85 ms.
        public var writerLanes = 2
        /// How long an idle pooled session stays open.
        public var idleTimeout: Duration = .seconds(60)
        /// How long `open` keeps trying, about once a second, a server that is not reachable yet (refused, timed out,
        /// host not found, starting up); wrong credentials, a missing database or a TLS mismatch fail at once.
        /// Zero: one attempt.
        public var waitForServer: Duration = .zero
        /// How long a statement waits for a pooled connection before the request is refused with 503
        /// (`StoreUnavailable`): the server down or unreachable, not a busy pool (leases take milliseconds).
        public var leaseTimeout: Duration = .seconds(10)
        /// How long a statement may go unanswered before its connection is closed and the statement fails (see
        /// `ConnectionWatch`): a server that stops answering without closing the connection. Far above any statement
        /// usero sends (its largest, a 25,000-row scrub batch, takes milliseconds); migrations are not bounded.
        public var statementTimeout: Duration = .seconds(60)
        /// The migrations to apply at open.
        public var migrations: [PostgresMigration] = PostgresSchema.migrations
        /// Refuse a database that holds no usero store yet (no `schema_migrations`) rather than make one: for the
        /// commands that work on data that must be there, where a mistyped database name in a cron job's URL
        /// otherwise got usero's schema and an empty sweep reported as success (found by a review).
        public var requireExistingStore = false

        public init() {}
    }

    public let settings: PostgresSettings
    /// The pool. Reads use it through `read(_:)` and `withConnection(_:)`; writes go through `write(_:)`.
    private let pool: PostgresPool
    private let writer: PostgresGroupCommitWriter
    /// Plain submissions, many rows per statement (see `PostgresFeedbackInserter`).
    let inserter: PostgresFeedbackInserter
    /// Fails every statement (reads, the writer's, the inserter's) whose connection closes or that goes unanswered
    /// for the statement timeout (see `ConnectionWatch`): one watch, one sweep, for the whole pool.
    private let watch: ConnectionWatch
    /// How many transactions that may wait for a lock (`transaction(lockTimeout:)`) run at once: half the pool, so
    /// that requests piling up behind a lock another instance holds (a stalled one) leave the other half of the
    /// connections to everything else. More wait their turn here, holding no connection.
    private let waitingTransactions: PermitGate
    private let logger: Logger

    private init(
        settings: PostgresSettings, pool: PostgresPool, writer: PostgresGroupCommitWriter, watch: ConnectionWatch,
        waitingTransactions: PermitGate, logger: Logger
    ) {
        self.waitingTransactions = waitingTransactions
        self.settings = settings
        self.pool = pool
        self.writer = writer
        self.inserter = PostgresFeedbackInserter(
            pool: pool, lanes: writer.lanes, leaseTimeout: writer.leaseTimeout, watch: watch, logger: logger)
        self.watch = watch
        self.logger = logger
    }

    /// The oldest PostgreSQL usero runs on (`server_version_num`): procedures that commit (11) and `MATERIALIZED`
    /// common table expressions (12).
    public static let oldestServerVersion = 120_000

    /// Why a server of `serverVersionNum` (`server_version_num`: 150018 for 15.18) will not do, or nil when it will.
    /// (A server before 11 does not get this far: it refuses the session's `jit` setting as the connection opens,
    /// which `PostgresErrorText.startupFailure` says the same way.)
    public static func versionProblem(serverVersionNum: Int) -> String? {
        guard serverVersionNum < oldestServerVersion else { return nil }
        return "PostgreSQL \(serverVersionNum / 10_000) is too old: usero needs PostgreSQL 12 or later"
    }

    /// Why a database of `encoding` (`server_encoding`) will not do, or nil when it will. usero's text is Unicode:
    /// in another encoding a comment with an emoji is refused (a 500 where SQLite stores it), and in `SQL_ASCII`
    /// lengths, case folding and search work on bytes.
    public static func encodingProblem(serverEncoding encoding: String) -> String? {
        guard encoding.uppercased() != "UTF8" else { return nil }
        return "the database's encoding is \(encoding.prefix(64)); usero needs UTF8 (CREATE DATABASE … ENCODING 'UTF8')"
    }

    /// Connects, checks the credentials, applies pending migrations (under the migration lock) and starts the pool.
    ///
    /// Any failure is one line naming `variable` (the server unreachable, the password wrong, the database missing,
    /// a migration failing) and never shows the password. A server not reachable yet is tried again for
    /// `options.waitForServer`, with a notice line per attempt.
    ///
    /// postgres-nio gets `logger` at debug at most, whatever its level: at trace it logs every message of the wire
    /// protocol, the rows read (ids, emails) and the values bound included.
    public static func open(
        _ settings: PostgresSettings, options: Options = Options(), logger: Logger,
        variable: String = "USERO_DATABASE"
    ) async throws(PostgresStartupError) -> PostgresBackend {
        let logger = Self.cappedForPostgresNIO(logger)
        // The pool runs from the start (it opens no connection until one is asked for), so that by the time the
        // first caller leases one, `run()` has long begun: a lease before it only waits, but postgres-nio warns on
        // stderr, which a short command such as `retention run` met now and then.
        let pool = PostgresPool(
            settings: settings,
            configuration: settings.clientConfiguration(
                maximumConnections: options.maximumConnections, idleTimeout: options.idleTimeout),
            logger: logger)
        // One plain connection first: its errors say exactly what is wrong, where the pool would retry for ever.
        let connection: PostgresConnection
        do {
            connection = try await connect(settings, options: options, logger: logger)
        } catch {
            await pool.close()
            throw PostgresErrorText.startupFailure(error, settings: settings, variable: variable)
        }
        // The checks' statements go through a session of the connection (see `ConnectionWatch`).
        let session = PostgresTransaction(connection: connection, logger: logger, watch: ConnectionWatch())
        // The server's version first: on one too old, the migrations would mostly pass and some statements fail
        // only when they first run, a sweep or a batch later.
        let version = try? await session.scalar("SELECT current_setting('server_version_num')::int", as: Int.self)
        let encoding = try? await session.scalar("SELECT current_setting('server_encoding')", as: String.self)
        if let problem = version.flatMap(Self.versionProblem) ?? encoding.flatMap(Self.encodingProblem) {
            try? await connection.close()
            await pool.close()
            throw PostgresStartupError(description: "\(variable): \(problem)")
        }
        if options.requireExistingStore,
            (try? await session.scalar("SELECT to_regclass('schema_migrations') IS NOT NULL", as: Bool.self)) != true
        {
            try? await connection.close()
            await pool.close()
            throw PostgresStartupError(
                description: "\(variable): this database holds no usero store (check its name; `usero serve` or "
                    + "`usero clients create` makes one)")
        }
        do {
            try await PostgresMigrator(options.migrations).migrate(on: connection, logger: logger)
        } catch {
            try? await connection.close()
            await pool.close()
            let text =
                (error as? PostgresMigrationError)?.description
                ?? "PostgreSQL migrations failed: \(PostgresErrorText.describe(error))"
            throw PostgresStartupError(description: "\(variable): \(text)")
        }
        // Then what the role may do: one that may not write a table would start and fail every request touching it.
        let lacking: String?
        do {
            lacking = try await PostgresPrivileges.missing(on: session)
        } catch {
            lacking = nil  // Not knowing is no reason to refuse: the requests say what they meet.
            logger.warning(
                "Could not check the role's privileges on usero's tables",
                metadata: ["error": "\(PostgresErrorText.describe(error))"])
        }
        try? await connection.close()
        if let lacking {
            await pool.close()
            throw PostgresStartupError(
                description: "\(variable): the role \(settings.user) lacks \(lacking); grant it SELECT, INSERT, UPDATE and "
                    + "DELETE on usero's tables and EXECUTE on its functions (README: On PostgreSQL)")
        }

        let watch = ConnectionWatch(statementTimeout: options.statementTimeout, logger: logger)
        let writer = PostgresGroupCommitWriter(
            pool: pool, lanes: options.writerLanes, leaseTimeout: options.leaseTimeout, watch: watch, logger: logger)
        return PostgresBackend(
            settings: settings, pool: pool, writer: writer, watch: watch,
            waitingTransactions: PermitGate(limit: max(1, options.maximumConnections / 2)), logger: logger)
    }

    /// `logger` at debug at most: what postgres-nio is given (see `open`).
    static func cappedForPostgresNIO(_ logger: Logger) -> Logger {
        var capped = logger
        if capped.logLevel < .debug { capped.logLevel = .debug }
        return capped
    }

    /// Opens the startup connection; while the server is not reachable yet and `options.waitForServer` lasts, tries
    /// again about once a second (an attempt that timed out has waited already), saying so at notice level.
    private static func connect(_ settings: PostgresSettings, options: Options, logger: Logger) async throws
        -> PostgresConnection
    {
        let deadline = ContinuousClock.now + options.waitForServer
        var attempt = 1
        while true {
            let started = ContinuousClock.now
            // Waiting, an attempt ends by the deadline (but gets a few seconds: connecting is a TCP and TLS handshake
            // and authentication, which a loaded server can be slow to finish).
            let timeout =
                options.waitForServer == .zero
                ? settings.connectTimeout : min(settings.connectTimeout, max(deadline - started, .seconds(3)))
            do {
                return try await PostgresConnection.connect(
                    configuration: settings.connectionConfiguration(connectTimeout: timeout), id: 0, logger: logger)
            } catch {
                let left = deadline - ContinuousClock.now
                guard PostgresErrorText.isUnreachable(error), left > .zero, !Task.isCancelled else { throw error }
                let secondsLeft = Int(
                    (Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18).rounded(.up))
                logger.notice(
                    "PostgreSQL is not reachable yet; trying again",
                    metadata: [
                        "server": "\(settings.user)@\(settings.location)/\(settings.database)",
                        "reason": "\(PostgresErrorText.describe(error))", "attempt": "\(attempt)",
                        "seconds_left": "\(secondsLeft)",
                    ])
                try? await Task.sleep(until: min(started + .seconds(1), deadline))
                attempt += 1
            }
        }
    }

    /// Runs `body` in a transaction shared with whatever other writes are waiting; returns once it is committed
    /// (`synchronous_commit=on`). A failing `body` fails alone. `body` may run more than once.
    @discardableResult
    public func write<T: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) async throws -> T)
        async throws -> T
    {
        try await writer.write(body)
    }

    /// Shared-transaction writes queued and not yet taken into a batch.
    public var waitingWrites: Int { writer.waitingWrites }

    /// Commits and the writes they carried so far: the writer's transactions and the batch inserts together.
    public var commitStatistics: PostgresWriterStatistics {
        let (shared, bulk) = (writer.statistics, inserter.statistics)
        var sum = shared
        sum.commits += bulk.commits
        sum.writes += bulk.writes
        sum.largestBatch = max(shared.largestBatch, bulk.largestBatch)
        return sum
    }

    /// Runs `body`, which reads, on a pooled connection (autocommit: each statement sees the latest commits). Its
    /// statements go through the session's `query`, which fails when the connection closes under them: a statement
    /// sent straight to a connection the server just closed can wait for ever (see `ConnectionWatch`). A read that
    /// lost its connection wrote nothing and may simply be tried again: it fails with `StoreUnavailable` (a 503).
    ///
    /// Also for single-statement writes the server must commit without waiting on this instance (the job claim, a
    /// lease renewal, the record of a workspace's events): a statement is answered at its completion, which may come
    /// just before its commit is flushed, so only writes whose loss in a crash of the server is harmless (a lease or
    /// claim then simply runs out, or is fenced by its number) go this way; anything acknowledged to a user goes
    /// through `write` or `transaction`.
    public func withConnection<T: Sendable>(_ body: (PostgresTransaction) async throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(leaseTimeout: writer.leaseTimeout) { connection in
                try await body(PostgresTransaction(connection: connection, logger: logger, watch: watch))
            }
        } catch where PostgresGroupCommitWriter.isConnectionFailure(error) {
            throw StoreUnavailable()
        }
    }

    /// Runs `body` in a transaction of its own on a pooled connection, never shared with other writes, and returns
    /// once it is committed (`synchronous_commit=on`). For the writes that may wait on a lock another instance holds
    /// (a client's uploads, a workspace's recovery request) and for the job worker's own bookkeeping (its heartbeat):
    /// in the shared writer, a piece that waits holds its whole batch, and with it the lane, so every other write of
    /// the instance (a Slack job's lease renewal among them) waits too. A statement that waits more than
    /// `lockTimeout` for a lock fails the write with `StoreUnavailable` (a 503: try again); nothing is written. A
    /// lost connection is `StoreUnavailable` too, even after COMMIT went out: use it where the caller's retry is safe.
    ///
    /// Such writes (with a `lockTimeout`) hold a connection each while they wait, so at most half the pool's run at
    /// once; more wait their turn without one, within the same `lockTimeout`, then fail with `StoreUnavailable`: an
    /// outside tester's 26 recovery requests for one workspace, waiting on another instance that stalled holding its
    /// lock, took every connection of their instance, and all its other requests waited 5 s for one.
    public func transaction<T: Sendable>(lockTimeout: Duration? = nil, _ body: (PostgresTransaction) async throws -> T)
        async throws -> T
    {
        guard let lockTimeout else { return try await ownTransaction(lockTimeout: nil, body) }
        // One bound for both waits: for a turn here, then for the lock.
        let deadline = ContinuousClock.now + lockTimeout
        return try await waitingTransactions.withPermit(waitingAtMost: lockTimeout) {
            let left = deadline - ContinuousClock.now
            guard left > .milliseconds(1) else { throw StoreUnavailable() }
            return try await ownTransaction(lockTimeout: left, body)
        }
    }

    /// `transaction(lockTimeout:_:)` without the gate.
    private func ownTransaction<T: Sendable>(lockTimeout: Duration?, _ body: (PostgresTransaction) async throws -> T)
        async throws -> T
    {
        try await withConnection { session in
            try await session.query("BEGIN")
            do {
                if let lockTimeout {
                    let milliseconds = max(1, lockTimeout.components.seconds * 1000
                        + lockTimeout.components.attoseconds / 1_000_000_000_000_000)
                    try await session.query("SELECT set_config('lock_timeout', \("\(milliseconds)ms"), true)")
                }
                let value = try await body(session)
                try await session.commit()
                return value
            } catch {
                await session.rollBackIfOpen()
                if PostgresErrorText.meansLockTimeout(error) { throw StoreUnavailable() }
                throw error
            }
        }
    }

    /// Runs `body` in one REPEATABLE READ, READ ONLY transaction: every statement sees the same snapshot.
    public func read<T: Sendable>(_ body: (PostgresTransaction) async throws -> T) async throws -> T {
        try await withConnection { session in
            try await session.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            do {
                let value = try await body(session)
                try await session.query("COMMIT")
                return value
            } catch {
                await session.rollBackIfOpen()
                throw error
            }
        }
    }

    /// Whether the server answers on a pooled connection (within the lease timeout) and takes writes: a server that
    /// answers read-only (a standby after a failover, `default_transaction_read_only`) can store nothing, so a load
    /// balancer should send nothing here either.
    public func isHealthy() async -> Bool {
        do {
            return try await withConnection { session in
                let row = try await session.query("SELECT current_setting('transaction_read_only') = 'off'").rows.first
                return try row?.decode(Bool.self) == true
            }
        } catch {
            return false
        }
    }

    /// Closes the pool; queries after this fail.
    public func close() async {
        await pool.close()
    }
}
