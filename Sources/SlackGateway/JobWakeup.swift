import Synchronization

/// Wakes the job worker as soon as a job is enqueued, so it never waits out a poll interval needlessly.
public final class JobWakeup: Sendable {
    private struct State {
        var isSignalled = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Creates a wakeup with no pending signal.
    public init() {}

    /// Wakes the waiter now, or the next one to wait if none is waiting.
    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.isSignalled = true
            return nil
        }
        waiter?.resume()
    }

    /// Whether a signal is waiting for the next waiter (tests check that an enqueue woke the worker).
    var hasPendingSignal: Bool { state.withLock { $0.isSignalled } }

    /// Whether a task is suspended in `wait(upTo:)` right now (tests signal only once it is).
    var hasWaiter: Bool { state.withLock { $0.waiter != nil } }

    /// Returns after `duration`, on a signal, or on cancellation, whichever comes first.
    public func wait(upTo duration: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // A cancelled sleep throws and must not leave a stray signal behind.
                if (try? await Task.sleep(for: duration)) != nil { self.signal() }
            }
            group.addTask { await self.waitForSignal() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.isSignalled || Task.isCancelled {
                        state.isSignalled = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            signal()
        }
    }
}
