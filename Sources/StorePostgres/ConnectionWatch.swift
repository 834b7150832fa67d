import PostgresNIO
import Synchronization

/// Fails the statements of a connection that closed, instead of leaving their callers waiting.
///
/// postgres-nio drops a statement written to a channel that already closed (its pipeline is gone) without failing
/// it: a write racing with a server crash would wait for ever, and with it every request of its batch. The watch
/// registers one close callback per connection and fails whatever is still in flight on it when it fires.
final class ConnectionWatch: Sendable {
    private struct State {
        var nextWaiter = 0
        var waiters: [PostgresConnection.ID: [Int: @Sendable (any Error) -> Void]] = [:]
    }

    private let state = Mutex(State())

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
        let id = connection.id
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let (waiter, firstForConnection) = state.withLock { state -> (Int, Bool) in
                let waiter = state.nextWaiter
                state.nextWaiter &+= 1
                let first = state.waiters[id] == nil
                state.waiters[id, default: [:]][waiter] = { continuation.resume(throwing: $0) }
                return (waiter, first)
            }
            if firstForConnection {
                connection.closeFuture.whenComplete { _ in
                    let orphans = self.state.withLock { $0.waiters.removeValue(forKey: id) ?? [:] }
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
