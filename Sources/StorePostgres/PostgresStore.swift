public import Feedback
import Foundation
public import Logging
import PostgresNIO
public import SlackGateway

/// The PostgreSQL backend: every module's store protocol over one database that any number of `usero serve`
/// processes share. Its SQL lives here (and in `PostgresSchema`); the modules never see a table.
///
/// Durable writes go through the group-commit writer (`PostgresBackend.write`): a piece may run more than once, so
/// each computes everything it returns from what it reads inside its transaction. The exceptions never share a
/// transaction: those that may wait on a lock another instance holds (uploads, recovery requests) or must never
/// wait behind other writes (the heartbeat) run in transactions of their own (`PostgresBackend.transaction`), and
/// single statements that must not leave a row locked while this instance stalls (the job claim, lease renewals,
/// the event record) run in autocommit, which the server commits on its own. Reads run on pooled sessions in
/// autocommit, or in one read-only snapshot where they must agree with each other.
///
/// Unlike the SQLite store, opening it releases no job lease: other instances may be holding theirs. A lease of an
/// instance that died simply runs out (`SlackJobWorker`'s lease), and another instance takes the job.
public final class PostgresStore: Sendable {
    public let backend: PostgresBackend
    /// Whether accepting an `api`/`widget` item also enqueues its Slack post, in the item's own transaction.
    let postsNewFeedbackToSlack: Bool
    /// Signalled when an accepted item enqueued Slack post jobs, so that this instance's job worker posts them at once.
    let newJobs: JobWakeup?
    let logger: Logger

    public init(
        backend: PostgresBackend, postsNewFeedbackToSlack: Bool = false, newJobs: JobWakeup? = nil, logger: Logger
    ) {
        self.backend = backend
        self.postsNewFeedbackToSlack = postsNewFeedbackToSlack
        self.newJobs = newJobs
        self.logger = logger
    }

    /// Every row of a read on a pooled session, in memory (for the small results the store reads). Waits for a
    /// connection no longer than the backend's lease timeout (`StoreUnavailable`).
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await backend.withConnection { session in try await session.rows(query) }
    }

    /// The first row of a read, if any.
    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? {
        try await rows(query).first
    }

    /// The first column of the first row of a read.
    func scalar<T: PostgresDecodable>(_ query: PostgresQuery, as type: T.Type = T.self) async throws -> T? {
        guard let row = try await row(query) else { return nil }
        return try row[0].decode(T.self)
    }

    /// A durable write, sharing its commit with concurrent ones.
    @discardableResult
    func write<T: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) async throws -> T) async throws -> T {
        try await backend.write(body)
    }
}

extension PostgresStore: StoreHealth {
    public func isHealthy() async -> Bool { await backend.isHealthy() }

    public var commitStatistics: (commits: Int, writes: Int) {
        let statistics = backend.commitStatistics
        return (statistics.commits, statistics.writes)
    }
}

extension PostgresTransaction {
    /// Every row a statement returned.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query).rows.map { $0.makeRandomAccess() }
    }

    /// The first row a statement returned, if any.
    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? {
        try await self.query(query).rows.first?.makeRandomAccess()
    }

    /// The first column of the first row.
    func scalar<T: PostgresDecodable>(_ query: PostgresQuery, as type: T.Type = T.self) async throws -> T? {
        guard let row = try await self.query(query).rows.first else { return nil }
        return try row.makeRandomAccess()[0].decode(T.self)
    }
}

extension PostgresRandomAccessRow {
    /// The value of a column, decoded by name.
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }

    /// A column holding one of an enum's raw values; a decoding error naming the column otherwise.
    func enumValue<T: RawRepresentable>(_ column: String, table: String, as type: T.Type = T.self) throws -> T
    where T.RawValue == String {
        guard let value = T(rawValue: try self.value(column, as: String.self)) else {
            throw PostgresStoreDecodingError(table: table, column: column)
        }
        return value
    }
}

/// A stored value that does not decode: an error naming the table and column, never a silent default.
public struct PostgresStoreDecodingError: Error, CustomStringConvertible, Sendable {
    public let table: String
    public let column: String

    public var description: String { "unreadable \(table).\(column)" }
}

/// A statement put together from fixed fragments, with every value bound (`$1`, `$2`, …), never spliced in.
struct SQLBuilder {
    private(set) var text: String
    private var binds = PostgresBindings()
    private var count = 0

    init(_ text: String = "") { self.text = text }

    mutating func append(_ fragment: String) { text += fragment }

    /// Binds a value and returns its placeholder.
    mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T) -> String {
        binds.append(value)
        count += 1
        return "$\(count)"
    }

    /// Binds a value or NULL and returns its placeholder.
    mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T?) -> String {
        binds.append(value)
        count += 1
        return "$\(count)"
    }

    /// Binds bytes (`bytea`) and returns the placeholder.
    mutating func bind(bytes value: Data) throws -> String {
        try binds.append(value)
        count += 1
        return "$\(count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: text, binds: binds) }
}

/// The one rule every client lookup applies: a client whose account closure began is unknown.
let pgLiveClientCondition = "id NOT IN (SELECT client_id FROM account_deletion)"

/// SQLSTATE of a unique violation.
let uniqueViolation = "23505"
