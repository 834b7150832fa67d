public import Feedback
import Foundation
import GRDB
public import SlackGateway

/// The embedded backend: one SQLite file (WAL, `synchronous=FULL`, group commit) and screenshot bytes in files
/// under `DATA_DIR/screenshots`. It implements every module's store protocol, and holds all of the service's SQL
/// for this backend: the modules never see a table.
///
/// One process per file: a SQLite store is opened by one `usero serve` (and short-lived administration commands).
/// Opening it releases job leases a previous process left behind, since no other process can still hold them.
public final class SQLiteStore: Sendable {
    /// How long a write waits for a lock another process holds on the file (GRDB's busy mode), unless told otherwise.
    public static let defaultBusyTimeoutMilliseconds = 10_000

    let database: AppDatabase
    let files: ScreenshotFiles
    /// Whether accepting an `api`/`widget` item also enqueues its Slack post (`SlackNotificationRules`), in the
    /// item's own transaction. The executable turns it on when Slack is configured.
    let postsNewFeedbackToSlack: Bool
    /// Signalled when an accepted item enqueued Slack post jobs, so that the job worker posts them at once.
    let newJobs: JobWakeup?

    /// Opens (creating if needed) the database at `path`, migrates it, and finishes deleting screenshot files a
    /// previous process left queued. Job leases stay as they are: a `usero` command opens the file beside a running
    /// `serve`, whose leases are its own (`releaseJobLeases()` is for `serve`'s start). With `postsNewFeedbackToSlack`, every accepted item commits together with the
    /// jobs that post it to its workspaces' notify channels. `busyTimeoutMilliseconds`: how long a write waits for
    /// a lock another process holds on the file. `newJobs` is signalled after an item's post jobs committed.
    /// `checkpointRetryDelays`: the waits between tries to empty the WAL after an erasure while a reader is in the
    /// way, the last repeated (empty: 1, 2, 4, 8, 15 s, then every 30 s).
    public init(
        path: String, dataDirectory: String, postsNewFeedbackToSlack: Bool = false,
        busyTimeoutMilliseconds: Int = defaultBusyTimeoutMilliseconds, newJobs: JobWakeup? = nil,
        checkpointRetryDelays: [Duration] = []
    ) async throws {
        do {
            database = try AppDatabase(
                path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds, checkpointRetryDelays: checkpointRetryDelays)
        } catch let error as DatabaseError where SQLiteOpenError.isAboutTheFile(error.resultCode) {
            throw SQLiteOpenError(description: "cannot open the SQLite file: \(error.message ?? "\(error.resultCode)")")
        } catch let error as CocoaError {
            // A file where one of the folders should be (`data` a file, not a folder) was "error 516" or "error 512".
            if let file = Self.fileInTheWay(of: URL(fileURLWithPath: path).deletingLastPathComponent().path) {
                throw SQLiteOpenError(description: "cannot create the SQLite file's folder: \(file) is a file, not a folder")
            }
            let why = error.code == .fileWriteNoPermission ? "permission denied" : "error \(error.code.rawValue)"
            throw SQLiteOpenError(description: "cannot create the SQLite file's folder (\(why))")
        }
        files = ScreenshotFiles(dataDirectory: dataDirectory)
        self.postsNewFeedbackToSlack = postsNewFeedbackToSlack
        self.newJobs = newJobs
        try await purgeDeletedScreenshots()
    }

    /// The nearest of `folder` and its parents that is there, when it is not a folder.
    static func fileInTheWay(of folder: String) -> String? {
        var candidate = URL(fileURLWithPath: folder).standardizedFileURL
        while candidate.path != "/" {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isFolder) {
                return isFolder.boolValue ? nil : candidate.path
            }
            candidate = candidate.deletingLastPathComponent()
        }
        return nil
    }

    /// At `serve`'s start: jobs leased by a process that is gone (the one serve on this file, stopped or killed) are
    /// due again at once rather than when their leases run out. Only `serve` may: a command that did this beside a
    /// running serve made the jobs that serve was running claimable, and run twice.
    public func releaseJobLeases() async throws {
        try await database.write { db in try db.execute(sql: "UPDATE job SET lease_until = NULL WHERE lease_until IS NOT NULL") }
    }
}

extension SQLiteStore: StoreHealth {
    public func isHealthy() async -> Bool { await database.isHealthy() }

    public var commitStatistics: (commits: Int, writes: Int) { database.commitStatistics }
}

/// The SQLite file cannot be opened or created where it is configured: a folder in its place, a file that is not a
/// database, no permission. A configuration mistake, not a fault: `serve` names `USERO_DATABASE` and stops (exit 78).
public struct SQLiteOpenError: Error, CustomStringConvertible, Sendable {
    public let description: String

    /// SQLite's answers that are about the file itself rather than what runs in it.
    static func isAboutTheFile(_ code: ResultCode) -> Bool {
        [.SQLITE_CANTOPEN, .SQLITE_NOTADB, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH, .SQLITE_CORRUPT]
            .contains(code.primaryResultCode)
    }
}

/// A stored value that does not decode: an error naming the table and column, never a silent default.
public struct StoreDecodingError: Error, CustomStringConvertible, Sendable {
    public let table: String
    public let column: String

    public var description: String { "unreadable \(table).\(column)" }
}

/// The one rule every client lookup applies: a client whose account closure began is unknown.
let liveClientCondition = "id NOT IN (SELECT client_id FROM account_deletion)"

extension Row {
    /// The value of a column, decoded by name.
    func value<T: DatabaseValueConvertible>(_ column: String, as type: T.Type = T.self) throws -> T {
        try decode(type, forColumn: column)
    }

    /// The same for the types SQLite hands over directly (strings, integers, their optionals): GRDB's overload for
    /// them reads the statement's column as it is, where the one above builds a `DatabaseValue` first and converts
    /// that through generic code (9 % of an admin list's samples).
    func value<T: DatabaseValueConvertible & StatementColumnConvertible>(_ column: String, as type: T.Type = T.self)
        throws -> T
    {
        try decode(type, forColumn: column)
    }

    /// A column holding one of an enum's raw values; `StoreDecodingError` otherwise.
    func enumValue<T: RawRepresentable>(_ column: String, table: String, as type: T.Type = T.self) throws -> T
    where T.RawValue == String {
        guard let value = T(rawValue: try self.value(column, as: String.self)) else {
            throw StoreDecodingError(table: table, column: column)
        }
        return value
    }
}

extension SQLiteStore {
    /// Migrations applied to the file that this version does not have: a newer usero used it last (a rollback).
    public func migrationsUnknownToThisVersion() async throws -> [String] {
        let known = Set(AppDatabase.migrator.migrations)
        return try await database.pool.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations").filter { !known.contains($0) }.sorted()
        }
    }
}
