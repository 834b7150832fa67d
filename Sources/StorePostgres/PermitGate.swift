import Feedback
import Synchronization

/// At most `limit` holders at once; the others wait their turn, in order, for a bounded time (no thread blocked).
/// What `PostgresBackend.transaction(lockTimeout:)` holds while it may wait on another instance's lock, so that such
/// waits never take more than their share of the pool's connections.
final class PermitGate: Sendable {
    private struct State: ~Copyable {
        var available: Int
        var nextWaiter = 0
        /// Waiters in arrival order: their number and what resumes them (true: the permit is theirs).
        var waiters: [(id: Int, resume: CheckedContinuation<Bool, Never>)] = []
    }

    private let state: Mutex<State>

    init(limit: Int) {
        state = Mutex(State(available: max(1, limit)))
    }

    /// Runs `body` holding a permit, waiting at most `timeout` for one (`StoreUnavailable` then: nothing ran).
    func withPermit<T>(waitingAtMost timeout: Duration, _ body: () async throws -> T) async throws -> T {
        guard await acquire(waitingAtMost: timeout) else { throw StoreUnavailable() }
        defer { release() }
        return try await body()
    }

    private func acquire(waitingAtMost timeout: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let waiter = state.withLock { state -> Int? in
                if state.available > 0 {
                    state.available -= 1
                    return nil
                }
                state.nextWaiter += 1
                state.waiters.append((state.nextWaiter, continuation))
                return state.nextWaiter
            }
            guard let waiter else {
                continuation.resume(returning: true)
                return
            }
            Task { [self] in
                try? await Task.sleep(for: timeout)
                let expired = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == waiter }) else { return nil }
                    return state.waiters.remove(at: index).resume
                }
                expired?.resume(returning: false)
            }
        }
    }

    /// Hands the permit to the longest waiter, or back to the gate.
    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard !state.waiters.isEmpty else {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst().resume
        }
        next?.resume(returning: true)
    }
}
