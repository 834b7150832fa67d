import Feedback
import Foundation
import Logging
import PostgresNIO
import Retention
import SlackGateway
import StorePostgres
import UseroTestSupport

extension StoreFactory {
    /// PostgreSQL on the server of `USERO_TEST_POSTGRES_URL` (scripts/test.sh starts a throwaway cluster and sets
    /// it): a fresh database per store, copied from a template migrated once per test run.
    static let postgreSQL = StoreFactory(
        name: "PostgreSQL",
        unavailable: {
            ConformancePostgres.url == nil
                ? "USERO_TEST_POSTGRES_URL is not set (scripts/test.sh starts a PostgreSQL cluster and sets it)" : nil
        },
        storesRawJobPayloads: true
    ) {
        let settings = try await ConformancePostgres.shared.freshDatabase()
        var options = PostgresBackend.Options()
        // Many stores live at once in a test run: small pools that let go of idle sessions quickly.
        options.maximumConnections = 4
        options.writerLanes = 2
        options.idleTimeout = .seconds(2)
        let backend = try await PostgresBackend.open(settings, options: options, logger: ConformancePostgres.logger)
        let store = PostgresStore(backend: backend, postsNewFeedbackToSlack: true, logger: ConformancePostgres.logger)
        let jobs = UndecodableJobs(
            insert: { team, runAt, kind in
                try await backend.withConnection { session in
                    let rows = try await session.query(
                        """
                        INSERT INTO job (kind, client_id, team_id, payload, run_at, attempts, created_at)
                        VALUES (\(kind.rawValue), NULL, \(team), '{"channel":7}', \(runAt), 0, \(runAt)) RETURNING id
                        """
                    ).rows
                    return try rows.first?.decode(Int64.self) ?? -1
                }
            },
            lastError: { id in
                try await backend.withConnection { session in
                    let rows = try await session.query("SELECT last_error FROM job WHERE id = \(id)").rows
                    return try rows.first?.decode(String?.self) ?? nil
                }
            },
            runAt: { id in
                try await backend.withConnection { session in
                    let rows = try await session.query("SELECT run_at FROM job WHERE id = \(id)").rows
                    return try rows.first?.decode(Int64.self)
                }
            })
        return StoreUnderTest(
            feedback: store, slack: store, retention: store, auditor: AuditLog(store: store), undecodableJobs: jobs,
            postgres: settings)
    }
}

/// The test server, and a migrated template database that each fresh database is copied from (a copy takes a
/// fraction of what running every migration takes).
actor ConformancePostgres {
    static let shared = ConformancePostgres()
    static let logger = Logger(label: "usero.test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    static var url: String? {
        ProcessInfo.processInfo.environment["USERO_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The template, made once: by the first caller, whom every other waits for. (Each caller that came before
    /// the first had finished used to make a template of its own: 126 migrations at once at the start of a full run,
    /// which held every conformance test on PostgreSQL for about 90 s.)
    private var template: Task<PostgresSettings, any Error>?

    func freshDatabase() async throws -> PostgresSettings {
        guard let url = Self.url else { throw MissingServer() }
        let admin = try PostgresSettings(url: url, variable: "USERO_TEST_POSTGRES_URL")
        if template == nil { template = Task { try await Self.makeTemplate(admin) } }
        let template: PostgresSettings
        do {
            template = try await self.template!.value
        } catch {
            // Not kept: the next store tries again rather than every later one failing with this error.
            self.template = nil
            throw error
        }
        let name = "usero_conf_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await Self.run("CREATE DATABASE \(name) TEMPLATE \(template.database)", on: admin)
        return admin.database(name)
    }

    private static func makeTemplate(_ admin: PostgresSettings) async throws -> PostgresSettings {
        if let server = try? admin.connectionConfiguration() {
            await StaleTestDatabases.drop(prefix: "usero_conf_", server: server)
        }
        let name = "usero_conf_template_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await Self.run("CREATE DATABASE \(name)", on: admin)
        let settings = admin.database(name)
        // Migrate with one session and close it: a template must have no sessions when it is copied.
        let connection = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(), id: 1, logger: Self.logger)
        try await PostgresMigrator().migrate(on: connection, logger: Self.logger)
        try await connection.close()
        return settings
    }

    private static func run(_ sql: String, on settings: PostgresSettings) async throws {
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

    struct MissingServer: Error, CustomStringConvertible {
        var description: String { "USERO_TEST_POSTGRES_URL is not set" }
    }
}
