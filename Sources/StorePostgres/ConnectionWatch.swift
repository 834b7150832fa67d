import PostgresNIO
import Synchronization

/// Fails the queries of a connection that closed, instead of leaving their callers waiting.
///
/// postgres-nio drops a query written to a channel that already closed (its pipeline is gone) without failing it:
/// a write racing with a server crash would wait for ever, and with it every request of its batch. The watch
/// registers one close callback per connection and fails whatever is still in flight on it when it fires.
final class ConnectionWatch: Sendable {
    private struct State {
        var nextWaiter = 0
        var waiters: [PostgresConnection.ID: [Int: CheckedContinuation<PostgresQueryResult, any Error>]] = [:]
    }

    private let state = Mutex(State())

    /// Runs `query` on `connection`, collecting its rows; fails with `PostgresWriterError.connectionLost` if the
    /// connection closes first.
    func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws
        -> PostgresQueryResult
    {
        if connection.isClosed { throw PostgresWriterError.connectionLost }
        let id = connection.id
        return try await withCheckedThrowingContinuation { continuation in
            let (waiter, firstForConnection) = state.withLock { state -> (Int, Bool) in
                let waiter = state.nextWaiter
                state.nextWaiter &+= 1
                let first = state.waiters[id] == nil
                state.waiters[id, default: [:]][waiter] = continuation
                return (waiter, first)
            }
            if firstForConnection {
                connection.closeFuture.whenComplete { _ in
                    let orphans = self.state.withLock { $0.waiters.removeValue(forKey: id) ?? [:] }
                    for continuation in orphans.values { continuation.resume(throwing: PostgresWriterError.connectionLost) }
                }
            }
            let future: EventLoopFuture<PostgresQueryResult> = connection.query(query, logger: logger)
            future.whenComplete { result in
                let continuation = self.state.withLock { state -> CheckedContinuation<PostgresQueryResult, any Error>? in
                    guard let continuation = state.waiters[id]?.removeValue(forKey: waiter) else { return nil }
                    return continuation
                }
                continuation?.resume(with: result)
            }
        }
    }
}
