import Foundation
import Logging
import PostgresNIO
import StorePostgres
import Testing
import UseroTestSupport

/// Which backend the integration tests run on. scripts/test.sh runs the suites once on SQLite (the default) and
/// once more with `USERO_TEST_BACKEND=postgres` on the throwaway cluster of `USERO_TEST_POSTGRES_URL`.
enum TestBackend {
    static let environment = ProcessInfo.processInfo.environment

    static var postgresURL: String? {
        environment["USERO_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether this run's test servers use PostgreSQL.
    static var usesPostgres: Bool { environment["USERO_TEST_BACKEND"] == "postgres" && postgresURL != nil }

    /// For tests that read the SQLite file or the screenshot folder themselves: why they do not run on PostgreSQL.
    static let sqliteOnly = Comment(
        rawValue: "reads the SQLite file or the screenshot folder directly; PostgreSQL keeps both in the database")

    static let logger = Logger(label: "usero.test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The settings of the database that belongs to `folder` (created empty the first time).
    static func database(for folder: URL) async throws -> PostgresSettings {
        let admin = try settings()
        await staleDatabasesDropped.value
        let name = "usero_it_" + folder.lastPathComponent.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(40)
        do {
            try await run("CREATE DATABASE \(name)", on: admin)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P04" {
            // It exists: a restart of the same folder.
        }
        var settings = admin.database(String(name))
        // The whole PostgreSQL pass starts dozens of servers at once on two cores; an opening (TCP, SCRAM) under
        // that load once took longer than the 10 s default.
        settings.connectTimeout = .seconds(30)
        return settings
    }

    /// The URL of `folder`'s database (`database(for:)`), with the test cluster's server and credentials: what a
    /// user puts in `USERO_DATABASE`.
    static func databaseURL(for folder: URL) async throws -> String {
        let settings = try await database(for: folder)
        guard let base = postgresURL else { throw MissingServer() }
        let query = base.firstIndex(of: "?") ?? base.endIndex
        guard let slash = base[..<query].lastIndex(of: "/") else { throw MissingServer() }
        return String(base[..<slash]) + "/" + settings.database + String(base[query...])
    }

    /// The server's settings, for tests that talk to it directly.
    static func settings() throws -> PostgresSettings {
        guard let url = postgresURL else { throw MissingServer() }
        return try PostgresSettings(url: url, variable: "USERO_TEST_POSTGRES_URL")
    }

    /// Drops, once per test process, what earlier runs left on the server (`StaleTestDatabases`).
    static let staleDatabasesDropped = Task {
        guard let server = try? settings().connectionConfiguration() else { return }
        await StaleTestDatabases.drop(prefix: "usero_it_", server: server)
    }

    static func run(_ sql: String, on settings: PostgresSettings) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(), id: 1, logger: logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The first column of the first row of a count.
    /// `feedback` as one table on PostgreSQL: its rows with their Slack member ids (kept apart so that the
    /// uninstall scrub is a delete).
    static let feedbackWithSlackPeople =
        "(SELECT * FROM feedback LEFT JOIN feedback_slack_person ON feedback_id = id) AS feedback"

    static func count(_ sql: String, in store: PostgresStore) async throws -> Int {
        try await store.backend.withConnection { session in
            let value = try await session.query(PostgresQuery(unsafeSQL: sql)).rows.first?.decode(Int64.self)
            return Int(value ?? 0)
        }
    }

    /// Runs one statement.
    static func execute(_ sql: String, in store: PostgresStore) async throws {
        _ = try await store.backend.withConnection { session in
            try await session.query(PostgresQuery(unsafeSQL: sql))
        }
    }

    /// The text of every row of every table (bytea as hex), for searching canaries and secrets.
    static func everyRow(in store: PostgresStore) async throws -> Data {
        try await store.backend.withConnection { session in
            let tables = try await session.query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .rows.map { try $0.decode(String.self) }
            var data = Data()
            for table in tables {
                let rows = try await session.query(PostgresQuery(unsafeSQL: "SELECT t::text FROM \"\(table)\" t")).rows
                for row in rows { data.append(contentsOf: Array(try row.decode(String.self).utf8)) }
            }
            return data
        }
    }

    struct MissingServer: Error, CustomStringConvertible {
        var description: String { "USERO_TEST_POSTGRES_URL is not set" }
    }
}
