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

    /// Why the lock was not taken: another process's `serve` holds it, or the lock file cannot be made or locked
    /// (a folder usero may not write in, a file a restore left another user's, a file system without locks).
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Takes the lock for the SQLite file at `path` (through any link to it), whose folder exists.
    public init(path: String) throws {
        var real = path
        if let resolved = realpath(path, nil) {
            real = String(cString: resolved)
            free(resolved)
        }
        let lockPath = real + "-serve.lock"
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Refused(description: "cannot open \(lockPath) (\(String(cString: strerror(errno)))): serve keeps a lock there")
        }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        guard fcntl(fd, F_SETLK, &lock) == 0 else {
            let code = errno
            defer { Glibc.close(fd) }
            guard code == EAGAIN || code == EACCES else {
                throw Refused(description: "cannot lock \(lockPath) (\(String(cString: strerror(code))))")
            }
            var holder = flock()
            holder.l_type = Int16(F_WRLCK)
            holder.l_whence = Int16(SEEK_SET)
            let process = fcntl(fd, F_GETLK, &holder) == 0 && holder.l_pid > 0 ? " (process \(holder.l_pid))" : ""
            throw Refused(
                description: "another usero serve\(process) is running on this SQLite file: one serve per SQLite file "
                    + "(several instances need PostgreSQL)")
        }
        descriptor = fd
    }

    /// Lets the lock go (at the end of `serve`).
    deinit {
        Glibc.close(descriptor)
    }
}
