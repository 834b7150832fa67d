import Feedback
import Foundation
import Inbox
import Retention
import SlackGateway
import Logging
import StorePostgres
import StoreSQLite

/// The stores every module talks to, opened from `USERO_DATABASE`: the one place that knows which backends exist.
///
/// Each module receives only its own protocol; one backend object implements them all, so work that must commit
/// together (a Slack capture and its follow-up job) is one transaction inside the adapter.
struct Backend: Sendable {
    let feedback: any FeedbackStore
    let slack: any SlackStore
    let retention: any RetentionStore
    let health: any StoreHealth
    let inboxSessions: any InboxSessionStore
    /// The embedded store, when that is the backend (tests inspect its file).
    let sqlite: SQLiteStore?
    /// The PostgreSQL store, when that is the backend.
    let postgres: PostgresStore?
    /// Signalled by the store when an accepted item enqueued Slack post jobs; the job worker waits on it.
    let newJobs: JobWakeup
    /// `serve`'s claim on its SQLite file, held while the backend lives.
    var serveLock: SQLiteServeLock? = nil

    /// Opens (and migrates) the configured store: PostgreSQL for a `postgres://` `USERO_DATABASE`, else SQLite.
    ///
    /// A PostgreSQL server that cannot be reached, refuses the credentials or fails a migration is an
    /// `AppConfig.Invalid`: one line naming `USERO_DATABASE`, never the password (`serve` exits 78).
    ///
    /// With `creating` false (the commands that work on data that must already be there), a SQLite file that does
    /// not exist is such a mistake too, rather than a new empty store: a mistyped path in a cron job's
    /// `usero retention run` would otherwise sweep nothing and report success.
    ///
    /// `serving`: opened by `serve`, which alone may release the job leases a stopped process left (SQLite), and
    /// waits `USERO_DATABASE_WAIT_SECONDS` for a PostgreSQL server that is not reachable yet.
    static func open(
        _ config: AppConfig, creating: Bool = true, serving: Bool = false, logger: Logger = makeLogger(label: "usero.store")
    ) async throws -> Backend {
        // With Slack configured, an accepted api/widget item commits together with its Slack post job.
        let postsToSlack = config.slackSigningSecret != nil
        let newJobs = JobWakeup()
        if let settings = config.postgres {
            let database: PostgresBackend
            var options = PostgresBackend.Options()
            options.maximumConnections = config.databaseMaxConnections
            // `serve` may start before the server does (a reboot, a restart of the database); a command fails at once.
            if serving { options.waitForServer = config.databaseWait }
            options.requireExistingStore = !creating
            do {
                database = try await PostgresBackend.open(settings, options: options, logger: logger)
            } catch {
                throw AppConfig.Invalid(description: error.description)
            }
            let store = PostgresStore(
                backend: database, postsNewFeedbackToSlack: postsToSlack, newJobs: newJobs, logger: logger)
            return Backend(
                feedback: store, slack: store, retention: store, health: store, inboxSessions: store, sqlite: nil,
                postgres: store, newJobs: newJobs)
        }
        if !creating, !FileManager.default.fileExists(atPath: config.databasePath) {
            throw AppConfig.Invalid(
                description:
                    "USERO_DATABASE: no SQLite file at \(config.databasePath) (`usero serve` or `usero clients create` makes one)")
        }
        let isNew = !FileManager.default.fileExists(atPath: config.databasePath)
        // serve's claim on the file, before it is opened (migrations, the screenshot purge) and its leases released; a
        // new file is claimed once made.
        func claim() throws -> SQLiteServeLock {
            do {
                return try SQLiteServeLock(path: config.databasePath)
            } catch let refused as SQLiteServeLock.Refused {
                throw AppConfig.Invalid(description: "USERO_DATABASE: \(refused.description)")
            }
        }
        var serveLock = serving && !isNew ? try claim() : nil
        let store: SQLiteStore
        do {
            store = try await SQLiteStore(
                path: config.databasePath, dataDirectory: config.dataDirectory, postsNewFeedbackToSlack: postsToSlack,
                busyTimeoutMilliseconds: config.sqliteBusyTimeoutMilliseconds, newJobs: newJobs,
                checkpointRetryDelays: config.sqliteCheckpointRetryDelays)
        } catch let error as SQLiteOpenError {
            throw AppConfig.Invalid(description: "USERO_DATABASE: \(error.description)")
        }
        let unknown = try await store.migrationsUnknownToThisVersion()
        if !unknown.isEmpty {
            // As on PostgreSQL (`PostgresMigrator.newerVersionWarning`): a rollback onto a file a newer usero used.
            logger.warning("\(PostgresMigrator.newerVersionWarning)", metadata: ["migrations": "\(unknown)"])
        }
        if serving {
            if serveLock == nil { serveLock = try claim() }
            try await store.releaseJobLeases()
        }
        if isNew, !serving {
            // A command run without serve's environment (a second terminal, a cron job) would otherwise make a store
            // of its own and succeed: a project created where serve never looks.
            logger.notice(
                "created a new SQLite database; if usero serve uses another store, run this command with its USERO_DATABASE",
                metadata: ["path": "\(config.databasePath)"])
        }
        return Backend(
            feedback: store, slack: store, retention: store, health: store, inboxSessions: store, sqlite: store,
            postgres: nil, newJobs: newJobs, serveLock: serveLock)
    }

    /// Where uploads are written as they arrive: inside the data folder, beside `screenshots/`, so that a finished
    /// upload is renamed into place.
    static func uploadSpoolDirectory(_ config: AppConfig) -> String {
        URL(fileURLWithPath: config.dataDirectory).appendingPathComponent("incoming").path
    }

    /// How old a file of an unfinished upload must be before a start removes it: no upload outlives the request
    /// deadline, which starts before its files are made.
    static func unfinishedUploadAge(_ config: AppConfig) -> Duration { config.requestTimeout + .seconds(60) }

    /// SQLite: removes stored screenshot files whose rows a crash kept from committing (older than
    /// `unfinishedUploadAge`); PostgreSQL writes the bytes in the row's transaction and has none.
    func removeUnfinishedScreenshotFiles(_ config: AppConfig, logger: Logger) async throws {
        guard let sqlite else { return }
        let (removed, leftAlone) = try await sqlite.removeOrphanedScreenshotFiles(
            writtenBefore: Date().addingTimeInterval(-Double(Self.unfinishedUploadAge(config).components.seconds)))
        if removed > 0 { logger.info("screenshot files that no upload finished storing, removed: \(removed)") }
        if leftAlone > 0 {
            logger.warning(
                "USERO_DATA_DIR holds screenshot files of which this store (USERO_DATABASE) has none at all: left alone; if USERO_DATABASE names another store than the one these belong to, stop and correct it",
                metadata: ["files_at_least": "\(leftAlone)", "path": "\(config.dataDirectory)"])
        }
    }

    /// The folders whose free space the disk watermark watches: the data folder, and the SQLite file's.
    static func localFolders(_ config: AppConfig) -> [String] {
        guard config.postgres == nil else { return [config.dataDirectory] }
        return [URL(fileURLWithPath: config.databasePath).deletingLastPathComponent().path, config.dataDirectory]
    }
}
