import Foundation
import GRDB
import UseroTestSupport

/// Another process's hold on a SQLite file, as a backup, a `sqlite3` session or a long write would take it, from a
/// thread of its own until the semaphore returned is signalled.
enum SQLiteHolds {
    /// A reader holding a snapshot of the file.
    static func snapshot(of path: String) async throws -> DispatchSemaphore {
        let reader = try DatabasePool(path: path)
        return try await hold { held in
            try? reader.read { db in
                _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM feedback")
                held()
            }
        }
    }

    /// A transaction holding the file's write lock (`BEGIN IMMEDIATE`).
    static func writeLock(on path: String) async throws -> DispatchSemaphore {
        let writer = try DatabaseQueue(path: path)
        return try await hold { held in
            try? writer.inTransaction(.immediate) { _ in
                held()
                return .rollback
            }
        }
    }

    /// Runs `body` on a thread of its own; `body` calls the function it is given once it holds, which returns when
    /// the semaphore this returns is signalled.
    private static func hold(_ body: @escaping @Sendable (_ held: () -> Void) -> Void) async throws -> DispatchSemaphore {
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            body {
                holding.signal()
                release.wait()
            }
        }
        try await offPool { holding.wait() }
        return release
    }
}
