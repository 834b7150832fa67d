import Feedback
import Foundation
import GRDB
import Hummingbird
import StorePostgres

/// The store has (nearly) no room left: below `USERO_MIN_FREE_DISK_MB`, or a write that met a full disk.
struct StorageFull: Error {}

extension ErrorMapping {
    /// What `Retry-After` says on a 503 for a full disk: time for an operator or the retention sweep to make room.
    static let storageRetryAfterSeconds = 60

    /// A full disk, however it shows: our own watermark, SQLite's `SQLITE_FULL` (the transaction rolled back whole,
    /// so nothing acknowledged is lost and nothing is half-written), or a screenshot file that did not fit.
    static func isStorageFull(_ error: any Error) -> Bool {
        switch error {
        case is StorageFull: true
        case let error as DatabaseError: error.resultCode == .SQLITE_FULL
        case let error as CocoaError: error.code == .fileWriteOutOfSpace
        default: false
        }
    }

    /// What `Retry-After` says on a 503 for a store that cannot be reached: a database restart takes seconds.
    static let unavailableRetryAfterSeconds = 5

    /// The store cannot be reached or written now, and nothing was written: PostgreSQL down (`StoreUnavailable`) or
    /// read-only (a standby after a failover: its transaction refused the first write), or the SQLite file locked
    /// past the busy timeout by a process that is not this service (SQLite rolled the transaction back whole).
    static func isStoreUnavailable(_ error: any Error) -> Bool {
        switch error {
        case is StoreUnavailable: true
        case _ where isSQLiteBusy(error): true
        default: PostgresErrorText.meansReadOnly(error)
        }
    }

    /// The SQLite file stayed locked by another process past the busy timeout; SQLite rolled back whole.
    static func isSQLiteBusy(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return [.SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode.primaryResultCode)
    }

    static func storage(_ error: any Error) -> (HTTPResponse.Status, ErrorBody)? {
        if isStorageFull(error) { return (.serviceUnavailable, ErrorBody("Storage is nearly full")) }
        if isStoreUnavailable(error) {
            return (.serviceUnavailable, ErrorBody("Storage is unavailable, try again shortly"))
        }
        return nil
    }
}
