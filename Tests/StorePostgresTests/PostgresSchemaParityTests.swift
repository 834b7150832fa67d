import Foundation
import GRDB
import PostgresNIO
import StorePostgres
import StoreSQLite
import Testing

/// The PostgreSQL schema has every table and column of the SQLite one, with the same NOT NULLs: a column added to
/// one backend and not the other fails here, not in production.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresSchemaParityTests {
    struct Column: Hashable, CustomStringConvertible {
        var table: String
        var name: String
        var description: String { "\(table).\(name)" }
    }

    func sqliteSchema() async throws -> (columns: Set<Column>, notNull: Set<Column>) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("usero-parity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("usero.sqlite").path
        _ = try await SQLiteStore(path: path, dataDirectory: folder.path)
        return try await DatabaseQueue(path: path).read { db in
            var columns: Set<Column> = []
            var notNull: Set<Column> = []
            let tables = try String.fetchAll(
                db,
                sql: """
                    SELECT name FROM sqlite_master WHERE type = 'table'
                    AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%'
                    """)
            for table in tables {
                for row in try Row.fetchAll(db, sql: "SELECT name, \"notnull\" FROM pragma_table_info(?)", arguments: [table]) {
                    let column = Column(table: table, name: row["name"])
                    columns.insert(column)
                    if (row["notnull"] as Int) == 1 { notNull.insert(column) }
                }
            }
            return (columns, notNull)
        }
    }

    @Test func everySQLiteColumnExistsOnPostgreSQLWithTheSameNotNull() async throws {
        let sqlite = try await sqliteSchema()
        try await TestPostgres.withFreshDatabase { settings in
            let database = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let rows = try await database.withConnection { connection in
                try await TestPostgres.all(
                    """
                    SELECT table_name::text, column_name::text, is_nullable::text FROM information_schema.columns
                    WHERE table_schema = 'public'
                    """, as: (String, String, String).self, on: connection)
            }
            await database.close()
            // PostgreSQL keeps a captured row's Slack member ids in a table of their own (joined on feedback_id, the
            // team repeated for the scrub's index): they count as the feedback columns they are.
            let relocated = rows.compactMap { row -> (String, String, String)? in
                guard row.0 == "feedback_slack_person" else { return row }
                guard row.1 == "slack_author_id" || row.1 == "slack_forwarded_by" else { return nil }
                return ("feedback", row.1, row.2)
            }
            let postgres = Set(relocated.map { Column(table: $0.0, name: $0.1) })
            let postgresNotNull = Set(relocated.filter { $0.2 == "NO" }.map { Column(table: $0.0, name: $0.1) })
            let missing = sqlite.columns.subtracting(postgres)
            #expect(missing.isEmpty, "columns only on SQLite: \(missing.sorted { $0.description < $1.description })")
            let nullable = sqlite.notNull.subtracting(postgresNotNull)
            #expect(nullable.isEmpty, "NOT NULL on SQLite only: \(nullable.sorted { $0.description < $1.description })")
            // And nothing on PostgreSQL that SQLite lacks, but the bytes of screenshots and the migration record.
            let extra = postgres.subtracting(sqlite.columns).filter {
                !["screenshot_chunk", "schema_migrations"].contains($0.table)
            }
            #expect(extra.isEmpty, "columns only on PostgreSQL: \(extra.sorted { $0.description < $1.description })")
        }
    }
}
