import Logging
import PostgresNIO

/// What the role `serve` (or a command) connects as must be allowed on usero's tables and functions, checked once at
/// startup (after the migrations): a role that may not write one of them (a least-privilege role granted before an
/// upgrade added the table, since `GRANT … ON ALL TABLES` covers only the tables that exist), or may not call the
/// batch insert, would otherwise start, answer `/healthz`, and fail every request that touches it with a 500.
enum PostgresPrivileges {
    /// The functions and procedures usero calls (`EXECUTE`, which PUBLIC has unless a hardened database revoked it).
    static let routines = ["usero_insert_feedback_batch", "usero_claim_jobs"]

    /// What the connected role lacks, in words ("INSERT, UPDATE on feedback_screenshot; EXECUTE on usero_claim_jobs"),
    /// or nil when it has everything. Each name is looked up as usero's statements find it (the search path); one
    /// that does not exist (a database migrated by a test's own list) is not asked about. No sequence: usero's keys
    /// are identity columns, whose sequences an `INSERT` uses without a grant of its own.
    static func missing(on session: PostgresTransaction) async throws -> String? {
        var lacking: [String] = []
        let tables = try await session.query(
            """
            SELECT t.name, array_remove(ARRAY[
                    CASE WHEN NOT has_table_privilege(t.oid, 'SELECT') THEN 'SELECT' END,
                    CASE WHEN NOT has_table_privilege(t.oid, 'INSERT') THEN 'INSERT' END,
                    CASE WHEN NOT has_table_privilege(t.oid, 'UPDATE') THEN 'UPDATE' END,
                    CASE WHEN NOT has_table_privilege(t.oid, 'DELETE') THEN 'DELETE' END], NULL)
            FROM (SELECT name, to_regclass(quote_ident(name)) AS oid FROM unnest(\(PostgresSchema.tables)) AS name) t
            WHERE t.oid IS NOT NULL
            ORDER BY t.name
            """
        ).rows
        for row in tables {
            let (table, privileges) = try row.decode((String, [String]).self)
            if !privileges.isEmpty { lacking.append("\(privileges.joined(separator: ", ")) on \(table)") }
        }
        let routines = try await session.query(
            """
            SELECT DISTINCT p.proname FROM pg_proc p
            WHERE p.proname = ANY(\(Self.routines)) AND pg_function_is_visible(p.oid)
            AND NOT has_function_privilege(p.oid, 'EXECUTE')
            ORDER BY p.proname
            """
        ).rows
        for row in routines { lacking.append("EXECUTE on \(try row.decode(String.self))") }
        return lacking.isEmpty ? nil : lacking.joined(separator: "; ")
    }
}
