import Feedback
import PostgresNIO
import Synchronization

extension PostgresClient {
    /// `withConnection`, waiting at most `leaseTimeout` for the pool to hand a connection over; then (or when the
    /// pool fails the lease) `StoreUnavailable`, with nothing sent. While the server is down or unreachable the pool
    /// keeps trying to connect and a lease would wait for as long (a submission was answered after 43 s, once the
    /// server came back): this turns that into a prompt 503 the client can retry. Only the wait for the lease is
    /// bounded: once `body` has the connection it runs to its end, so a write is never abandoned half-way, and a
    /// request refused here wrote nothing.
    func withConnection<T: Sendable>(
        leaseTimeout: Duration, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        // Exactly one of "leased" and "gave up" happens: a lease that arrives after the timer fired sends nothing.
        let gate = LeaseGate()
        return try await withoutActuallyEscaping(body) { body in
            // The group awaits both of its tasks before returning, so `body` does not outlive this call, and the
            // caller is suspended while `body` runs in the group's task: the box only carries it there.
            let work = UncheckedSendable(body)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    do {
                        return try await self.withConnection { connection in
                            guard gate.settle(.leased) else { throw StoreUnavailable() }
                            return try await work.value(connection)
                        }
                    } catch where !gate.wasLeased {
                        // The lease itself failed or was given up (after many failed connection attempts the pool
                        // fails leases at once for a while): nothing was sent.
                        _ = gate.settle(.gaveUp)
                        throw StoreUnavailable()
                    }
                }
                group.addTask {
                    try await Task.sleep(for: leaseTimeout)
                    if gate.settle(.gaveUp) { throw StoreUnavailable() }
                    return nil
                }
                while let result = try await group.next() {
                    if let value = result {
                        group.cancelAll()
                        return value
                    }
                }
                throw StoreUnavailable()  // unreachable: the lease task returns a value or throws
            }
        }
    }
}

private final class LeaseGate: Sendable {
    enum Outcome { case waiting, leased, gaveUp }

    private let state = Mutex(Outcome.waiting)

    /// Whether the connection was handed over in time (and `body` ran or runs).
    var wasLeased: Bool { state.withLock { $0 == .leased } }

    /// Moves from `waiting` to `outcome`; false when the other outcome came first.
    func settle(_ outcome: Outcome) -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = outcome
            return true
        }
    }
}

/// Carries a value the compiler cannot prove sendable across a task boundary the caller has made safe itself.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
