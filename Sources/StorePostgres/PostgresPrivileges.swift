import Logging
import PostgresNIO

/// What the role `serve` connects as must be allowed on usero's tables, checked once at startup (after the
/// migrations): a role that may not write one of them (a least-privilege role granted before an upgrade added the
/// table, since `GRANT … ON ALL TABLES` covers only the tables that exist) would otherwise start, answer `/healthz`,
/// and fail every request that touches that table with a 500.
enum PostgresPrivileges {
    /// What the connected role lacks, in words ("INSERT, UPDATE on feedback_screenshot; DELETE on job"), or nil when
    /// it has everything. Tables that do not exist (a database migrated by a test's own list) are not asked about.
    /// No sequence: usero's keys are identity columns, whose sequences an `INSERT` uses without a grant of its own.
    static func missing(on session: PostgresTransaction) async throws -> String? {
        var lacking: [String] = []
        let rows = try await session.query(
            """
            SELECT c.relname,
                array_remove(ARRAY[
                    CASE WHEN NOT has_table_privilege(c.oid, 'SELECT') THEN 'SELECT' END,
                    CASE WHEN NOT has_table_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
                    CASE WHEN NOT has_table_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
                    CASE WHEN NOT has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END], NULL) AS lacking
            FROM pg_class c
            WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
            AND c.relname = ANY(\(PostgresSchema.tables))
            ORDER BY c.relname
            """
        ).rows
        for row in rows {
            let (table, privileges) = try row.decode((String, [String]).self)
            if !privileges.isEmpty { lacking.append("\(privileges.joined(separator: ", ")) on \(table)") }
        }
        return lacking.isEmpty ? nil : lacking.joined(separator: "; ")
    }
}
