import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The mark of the one `serve` on a SQLite file: a write lock on a file beside it (`<file>-serve.lock`), held for
/// as long as that `serve` runs and let go by the kernel when its process ends, however it ends.
///
/// SQLite takes writes from several processes, so a second `serve` on the file started without a word, and its
/// start released the job leases of the first, whose running jobs could then run twice (found by a review). The
/// commands (`clients create`, `retention run`, …) open the file beside a running `serve` as before; only `serve`
/// takes this lock. A POSIX record lock belongs to the process: a second store of the same process on the file
/// (a test's restart) takes it again.
public final class SQLiteServeLock: Sendable {
    private let descriptor: Int32

    /// Another process's `serve` holds the lock.
    public struct Held: Error, CustomStringConvertible {
        public let process: Int32
        public var description: String {
            "another usero serve (process \(process)) is running on this SQLite file: one serve per SQLite file "
                + "(several instances need PostgreSQL)"
        }
    }

    /// Takes the lock for the SQLite file at `path`, whose folder exists; throws `Held` when another process has it.
    public init(path: String) throws {
        let lockPath = path + "-serve.lock"
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: lockPath]) }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        guard fcntl(fd, F_SETLK, &lock) == 0 else {
            var holder = flock()
            holder.l_type = Int16(F_WRLCK)
            holder.l_whence = Int16(SEEK_SET)
            let process = fcntl(fd, F_GETLK, &holder) == 0 ? holder.l_pid : 0
            Glibc.close(fd)
            throw Held(process: process)
        }
        descriptor = fd
    }

    /// Lets the lock go (at the end of `serve`).
    deinit {
        Glibc.close(descriptor)
    }
}
