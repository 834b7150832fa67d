import Logging
import PostgresNIO
import Synchronization

/// Fails the statements of a connection that closed, instead of leaving their callers waiting.
///
/// postgres-nio drops a statement written to a channel that already closed (its pipeline is gone) without failing
/// it: a write racing with a server crash would wait for ever, and with it every request of its batch. The watch
/// registers one close callback per connection and fails whatever is still in flight on it when it fires.
///
/// With a `statementTimeout`, a statement still unanswered after it closes its connection, which fails it and whatever
/// else waits on that connection: a server that stops answering without closing the connection (a machine gone from
/// the network, a process stopped) would otherwise hold the statement, and the lane or request behind it, until the
/// kernel gives the connection up, a quarter of an hour later. The pool then opens a fresh connection. A sweep once
/// a second finds such statements by their numbers, which only grow: one numbered below what was the next number
/// `statementTimeout` ago has waited that long. (Nothing per statement: a timer each would wake the connection's
/// event loop to schedule it and again to cancel it, and even a clock read each cost measurably.)
final class ConnectionWatch: Sendable {
    private struct State {
        var nextWaiter = 0
        var waiters: [ObjectIdentifier: [Int: @Sendable (any Error) -> Void]] = [:]
        /// The connections with statements in flight, to close when one of them is overdue.
        var connections: [ObjectIdentifier: PostgresConnection] = [:]
    }

    private let state = Mutex(State())
    private let statementTimeout: Duration?
    private let logger: Logger?

    init(statementTimeout: Duration? = nil, logger: Logger? = nil) {
        self.statementTimeout = statementTimeout
        self.logger = logger
        if let statementTimeout { sweep(every: .seconds(1), timeout: statementTimeout) }
    }

    /// Closes, every `interval`, the connections with a statement unanswered for longer than `timeout`; ends once
    /// the watch is gone.
    private func sweep(every interval: Duration, timeout: Duration) {
        Task { [weak self] in
            // When each sweep ran, and the number the next statement would get then; oldest first.
            var marks: [(at: ContinuousClock.Instant, next: Int)] = []
            while true {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                let now = ContinuousClock.now
                let overdue = self.state.withLock { state -> [PostgresConnection] in
                    marks.append((now, state.nextWaiter))
                    // The newest mark at least `timeout` old: statements numbered below it have waited that long.
                    while marks.count > 1, now - marks[1].at >= timeout { marks.removeFirst() }
                    guard let mark = marks.first, now - mark.at >= timeout else { return [] }
                    return state.waiters.compactMap { id, waiters in
                        waiters.keys.contains { $0 < mark.next } ? state.connections[id] : nil
                    }
                }
                for connection in overdue {
                    self.logger?.warning(
                        "PostgreSQL did not answer a statement in time; closing its connection",
                        metadata: ["timeout": "\(timeout)"])
                    connection.close().whenComplete { _ in }
                }
            }
        }
    }

    /// Runs `query` on `connection`, collecting its rows; fails with `PostgresWriterError.connectionLost` if the
    /// connection closes first.
    func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws
        -> PostgresQueryResult
    {
        try await watching(connection) { finish in
            connection.query(query, logger: logger).whenComplete(finish)
        }
    }

    /// Runs `statement` on `connection` (prepared there on its first use, so the server parses and plans it once
    /// per connection), collecting its rows; fails with `PostgresWriterError.connectionLost` if the connection
    /// closes first.
    func run<Statement: PostgresPreparedStatement>(_ statement: Statement, on connection: PostgresConnection,
        logger: Logger) async throws -> [Statement.Row] where Statement.Row: Sendable
    {
        try await watching(connection) { finish in
            Task {
                do {
                    var rows: [Statement.Row] = []
                    for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
                    finish(.success(rows))
                } catch {
                    finish(.failure(error))
                }
            }
        }
    }

    /// Starts an operation on `connection` with a `finish` callback; returns what it finishes with, or throws
    /// `connectionLost` when the connection closes before it finished (a later `finish` is then ignored).
    private func watching<Value: Sendable>(
        _ connection: PostgresConnection,
        start: (@escaping @Sendable (Result<Value, any Error>) -> Void) -> Void
    ) async throws -> Value {
        if connection.isClosed { throw PostgresWriterError.connectionLost }
        // The connection itself, not its `id`: ids are numbered per pool, and the pool is replaced after an outage,
        // so a connection of the old pool closing late must not fail the statements of a new one with its number.
        let id = ObjectIdentifier(connection)
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let (waiter, firstForConnection) = state.withLock { state -> (Int, Bool) in
                let waiter = state.nextWaiter
                state.nextWaiter &+= 1
                let first = state.waiters[id] == nil
                state.waiters[id, default: [:]][waiter] = { continuation.resume(throwing: $0) }
                if first, statementTimeout != nil { state.connections[id] = connection }
                return (waiter, first)
            }
            if firstForConnection {
                connection.closeFuture.whenComplete { _ in
                    let orphans = self.state.withLock { state in
                        state.connections[id] = nil
                        return state.waiters.removeValue(forKey: id) ?? [:]
                    }
                    for fail in orphans.values { fail(PostgresWriterError.connectionLost) }
                }
            }
            start { result in
                // Whoever removes the waiter resumes the continuation: this completion or the close callback.
                let mine = self.state.withLock { $0.waiters[id]?.removeValue(forKey: waiter) != nil }
                if mine { continuation.resume(with: result) }
            }
        }
    }
}
