public import Logging
public import PostgresNIO

/// One schema change: an id recorded in `schema_migrations` once applied, and its statements, run in one transaction.
///
/// Shipped migrations are never edited; a change is a new migration appended to the list. The ids follow the SQLite
/// migrations' (Sources/Feedback/Store/Migrations.swift) so the two schemas can be compared step by step.
public struct PostgresMigration: Sendable {
    public let id: String
    /// Separate statements: the extended query protocol takes one statement per query.
    public let statements: [String]

    public init(_ id: String, _ statements: [String]) {
        self.id = id
        self.statements = statements
    }
}

/// Applies migrations under a session-level advisory lock, so that any number of processes starting at once on an
/// empty database apply each migration exactly once: the first one migrates, the others wait for the lock, then find
/// nothing left to do. The lock is tied to the session, so a process that dies half-way releases it; its migration's
/// transaction is rolled back with it, and the next process starts that migration again.
public struct PostgresMigrator: Sendable {
    /// Said when the store holds migrations this version does not have: a newer usero used it last (a rollback, or
    /// instances of two versions on one database). Older code on a newer schema may miss what the newer wrote.
    public static let newerVersionWarning =
        "USERO_DATABASE was last migrated by a newer version of usero; this version does not know what those "
        + "migrations added: run the newer version"

    /// `pg_advisory_lock` key: "usero:mg" in ASCII, unlikely to collide with another application's keys.
    public static let lockKey: Int64 = 0x7573_6572_6f3a_6d67

    public let migrations: [PostgresMigration]

    public init(_ migrations: [PostgresMigration] = PostgresSchema.migrations) {
        precondition(Set(migrations.map(\.id)).count == migrations.count, "migration ids must be unique")
        self.migrations = migrations
    }

    /// Applies every migration not yet recorded, in order, and returns the ids it applied.
    @discardableResult
    public func migrate(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        // Statements go through a session, so that one sent as the connection closes fails instead of waiting.
        let session = PostgresTransaction(connection: connection, logger: logger, watch: ConnectionWatch())
        // A store every migration of this version was applied to (a migration's record commits with it) needs no
        // lock: commands and instances starting together beside a migrated store said they waited for a migration
        // that no process was running (found by a review).
        if try await isUpToDate(session, logger: logger) { return [] }
        let free = try await session.query("SELECT pg_try_advisory_lock(\(Self.lockKey))").rows.first?.decode(Bool.self)
        if free != true {
            // Said once, before the wait: a process that holds the lock and never finishes (a migration stuck behind
            // another session's lock on a table) would otherwise leave this one waiting without a word.
            logger.notice(
                """
                Waiting for another process to finish migrating the database: it holds PostgreSQL's advisory lock \
                \(Self.lockKey) (pg_locks names its session)
                """)
            try await session.query("SELECT pg_advisory_lock(\(Self.lockKey))")
        }
        do {
            let applied = try await applyPending(on: session, logger: logger)
            try await session.query("SELECT pg_advisory_unlock(\(Self.lockKey))")
            return applied
        } catch {
            // Best effort: if the session is broken, ending it releases the lock anyway.
            if !session.connection.isClosed { _ = try? await session.query("SELECT pg_advisory_unlock(\(Self.lockKey))") }
            throw error
        }
    }

    /// Whether every migration of this version is recorded (warning, as `applyPending` does, of any it does not know).
    private func isUpToDate(_ session: PostgresTransaction, logger: Logger) async throws -> Bool {
        let exists = try await session.query("SELECT to_regclass('schema_migrations') IS NOT NULL").rows.first?
            .decode(Bool.self)
        guard exists == true else { return false }
        var done: Set<String> = []
        for row in try await session.query("SELECT id FROM schema_migrations").rows {
            done.insert(try row.decode(String.self))
        }
        guard done.isSuperset(of: migrations.map(\.id)) else { return false }
        let unknown = done.subtracting(migrations.map(\.id)).sorted()
        if !unknown.isEmpty { logger.warning("\(Self.newerVersionWarning)", metadata: ["migrations": "\(unknown)"]) }
        return true
    }

    private func applyPending(on session: PostgresTransaction, logger: Logger) async throws -> [String] {
        // Created under the lock: CREATE TABLE IF NOT EXISTS itself is not safe to race. Only when missing: even with
        // IF NOT EXISTS, PostgreSQL asks for the CREATE privilege on the schema, which a role that only reads and
        // writes the tables of a migrated database (least privilege) does not have.
        let exists = try await session.query("SELECT to_regclass('schema_migrations') IS NOT NULL").rows.first?
            .decode(Bool.self)
        if exists != true {
            try await session.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    id TEXT COLLATE "C" PRIMARY KEY,
                    applied_at BIGINT NOT NULL
                )
                """)
        }
        var done: Set<String> = []
        for row in try await session.query("SELECT id FROM schema_migrations").rows {
            done.insert(try row.decode(String.self))
        }
        let unknown = done.subtracting(migrations.map(\.id)).sorted()
        if !unknown.isEmpty { logger.warning("\(Self.newerVersionWarning)", metadata: ["migrations": "\(unknown)"]) }
        var applied: [String] = []
        for migration in migrations where !done.contains(migration.id) {
            try await session.query("BEGIN")
            do {
                for statement in migration.statements {
                    try await session.query(PostgresQuery(unsafeSQL: statement))
                }
                try await session.query(
                    """
                    INSERT INTO schema_migrations (id, applied_at)
                    VALUES (\(migration.id), (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                    """)
                try await session.commit()
            } catch {
                await session.rollBackIfOpen()
                throw PostgresMigrationError(migration: migration.id, underlying: error)
            }
            logger.info("applied PostgreSQL migration", metadata: ["migration": "\(migration.id)"])
            applied.append(migration.id)
        }
        return applied
    }
}

/// A migration that failed; its transaction was rolled back.
public struct PostgresMigrationError: Error, CustomStringConvertible {
    public let migration: String
    public let underlying: any Error

    public var description: String {
        "PostgreSQL migration \(migration) failed: \(PostgresErrorText.describe(underlying))"
    }
}
