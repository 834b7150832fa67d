import Dispatch
import Feedback
import GRDB
import Synchronization

/// Batches concurrent writes into one transaction: one fsync for many requests (group commit).
///
/// Writers enqueue work and wait; a single drain loop on a dedicated queue takes everything pending, runs each piece
/// in its own savepoint inside one IMMEDIATE transaction, commits, and only then resumes the waiters. Nothing is
/// acknowledged before its commit returned. A piece whose only change is one statement may skip its savepoint:
/// SQLite undoes a failing statement by itself, so the savepoint (two more statements, which GRDB prepares each
/// time) would only repeat that.
final class GroupCommitWriter: Sendable {
    private struct Pending {
        let savepoint: Bool
        let work: @Sendable (Database) throws -> Void
        let finish: @Sendable ((any Error)?) -> Void
    }

    private struct State {
        var pending: [Pending] = []
        var draining = false
        var commits = 0
        var items = 0
    }

    /// Transactions committed and pieces of work they carried, since start.
    var statistics: (commits: Int, items: Int) { state.withLock { ($0.commits, $0.items) } }

    /// Upper bound on the work one transaction takes, so one commit never grows without limit.
    private static let maxBatch = 1024

    private let pool: DatabasePool
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "usero.group-commit")

    init(pool: DatabasePool) {
        self.pool = pool
    }

    /// Runs `body` in the next group commit and returns once that committed. With `savepoint` false, `body` must
    /// leave nothing behind when it throws by itself: change the database in at most one statement, after
    /// everything that may throw (reads and checks may come first), or open its own savepoint around several.
    func write<T: Sendable>(savepoint: Bool = true, _ body: @escaping @Sendable (Database) throws -> T) async throws
        -> T
    {
        let box = ResultBox<T>()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let pending = Pending(
                savepoint: savepoint,
                work: { db in box.set(try body(db)) },
                finish: { error in
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                }
            )
            let startDrain = state.withLock { state -> Bool in
                state.pending.append(pending)
                if state.draining { return false }
                state.draining = true
                return true
            }
            if startDrain { queue.async { self.drain() } }
        }
        return box.take()
    }

    private func drain() {
        while true {
            let batch = state.withLock { state -> [Pending] in
                if state.pending.isEmpty {
                    state.draining = false
                    return []
                }
                let count = min(state.pending.count, Self.maxBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                state.commits += 1
                state.items += count
                return batch
            }
            if batch.isEmpty { return }
            commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) {
        var errors = [(any Error)?](repeating: nil, count: batch.count)
        // The error that made SQLite roll the whole transaction back, when one did.
        var cause: (any Error)?
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    for (index, item) in batch.enumerated() {
                        // Some failures (a full disk, an I/O error) make SQLite roll the whole transaction back.
                        // Every piece then fails with the commit; none may run on in autocommit and commit alone.
                        guard db.isInsideTransaction else { throw GroupCommitError.transactionRolledBack }
                        do {
                            if item.savepoint {
                                try db.inSavepoint {
                                    try item.work(db)
                                    return .commit
                                }
                            } else {
                                try item.work(db)
                            }
                        } catch {
                            errors[index] = error
                            if !db.isInsideTransaction { cause = cause ?? error }
                        }
                    }
                    guard db.isInsideTransaction else { throw GroupCommitError.transactionRolledBack }
                    return .commit
                }
            }
        } catch {
            // Every piece gets what rolled the transaction back (a full disk is a 503 the client retries), or, when
            // no piece saw why, `StoreUnavailable` (also a 503: nothing was written); not the writer's own word.
            let reported: any Error = cause ?? (error is GroupCommitError ? StoreUnavailable() : error)
            errors = Array(repeating: reported, count: batch.count)
        }
        for (index, item) in batch.enumerated() { item.finish(errors[index]) }
    }
}

/// SQLite rolled a group commit's transaction back on its own (after a full disk or an I/O error): nothing of it
/// was written. Pieces get the error that caused it when one of them met it, else `StoreUnavailable`.
enum GroupCommitError: Error {
    case transactionRolledBack
}

/// Carries a value out of the writer's closure. Written on the writer queue before the commit, read by the waiter
/// after the commit resumed it: the continuation orders the two, so no lock is needed.
private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private var value: T?
    func set(_ newValue: T) { value = newValue }
    func take() -> T { value! }
}
