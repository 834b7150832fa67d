public import Feedback
import NIOCore
import PostgresNIO

extension PostgresStore {
    /// What a copy wrote: rows per table, in the order the tables were filled.
    public typealias CopyCounts = [(table: String, rows: Int)]

    /// Service bookkeeping a `serve` started on this database may have written already, and that the source's
    /// replaces: when the Slack app was last alive, when scheduled tasks last ran, replay protection.
    static let replacedOnCopy = ["slack_heartbeat", "scheduled_run", "slack_event_seen", "slack_request_seen"]
    /// Source columns that live in a table of their own here: a captured row's Slack member ids
    /// (`feedback_slack_person`, migration v8).
    static let slackPersonColumns: Set<String> = ["slack_author_id", "slack_forwarded_by"]

    /// Copies everything `source` holds into this database, in one transaction: on any failure nothing of it stays
    /// (the tables, made by the migrations before, stay empty).
    /// Refused when the database already holds data (a copy never merges two stores). Identity sequences continue
    /// after the copied ids.
    ///
    /// A connection lost after COMMIT went out leaves the outcome unknown on that connection: the copy then asks on a
    /// fresh one, once its transaction has ended, whether its rows are there, and returns their counts if they are.
    /// Throws `StoreUnavailable` when nothing was written (copy again), `PostgresWriterError.commitInDoubt` when the
    /// server could not be asked.
    public func importStore(from source: some StoreExporter, batchRows: Int = 500) async throws -> CopyCounts {
        var filled: CopyCounts?
        do {
            return try await backend.withConnection { session in
                try await session.query("BEGIN")
                do {
                    let counts = try await Self.fill(from: source, batchRows: batchRows, on: session)
                    try await source.confirmUnchanged()
                    filled = counts
                    try await session.commit()
                    return counts
                } catch {
                    await session.rollBackIfOpen()
                    throw error
                }
            }
        } catch let error as StoreUnavailable {
            guard let filled else { throw error }
            return try await committedCopy(filled)
        }
    }

    /// Whether the copy whose COMMIT's answer was lost committed: `counts` when every table it filled holds what it
    /// wrote; `StoreUnavailable` (nothing written) when they are all empty. The lock the copy took on `client` is
    /// taken first, so the answer waits for the copy's transaction to end if the server is still finishing it.
    private func committedCopy(_ counts: CopyCounts) async throws -> CopyCounts {
        let found: [Int64]
        do {
            found = try await backend.withConnection { session in
                try await session.query("BEGIN")
                do {
                    try await session.query("LOCK TABLE client IN SHARE ROW EXCLUSIVE MODE")
                    var found: [Int64] = []
                    for (table, _) in counts where !Self.replacedOnCopy.contains(table) {
                        found.append(
                            try await session.scalar(
                                PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), as: Int64.self) ?? 0)
                    }
                    try await session.query("ROLLBACK")
                    return found
                } catch {
                    await session.rollBackIfOpen()
                    throw error
                }
            }
        } catch is StoreUnavailable {
            throw PostgresWriterError.commitInDoubt
        }
        let wrote = counts.filter { !Self.replacedOnCopy.contains($0.table) }.map { Int64($0.rows) }
        if found == wrote { return counts }
        if found.allSatisfy({ $0 == 0 }) { throw StoreUnavailable() }
        throw PostgresWriterError.commitInDoubt
    }

    private static func fill(from source: some StoreExporter, batchRows: Int, on session: PostgresTransaction)
        async throws -> CopyCounts
    {
        // No client can be created here while the copy checks and fills (another process on this database).
        // Another copy at once (or a service creating a client) holds it: refused at once, not after the statement
        // timeout.
        do {
            try await session.query("LOCK TABLE client IN SHARE ROW EXCLUSIVE MODE NOWAIT")
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55P03" {
            throw StoreCopyRefused("another process is writing to the PostgreSQL database (another copy?): copy refused")
        }
        for table in PostgresSchema.tables where !replacedOnCopy.contains(table) {
            let any = try await session.scalar(PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(table))"), as: Bool.self)
            if any == true {
                throw StoreCopyRefused(
                    "the PostgreSQL database already holds data (table \(table)): copy into a new, empty database")
            }
        }
        for table in replacedOnCopy { try await session.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table)")) }
        var types: [String: [String: String]] = [:]
        for row in try await session.query(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()"
        ).rows {
            let (table, column, type) = try row.decode((String, String, String).self)
            types[table, default: [:]][column] = type
        }
        var counts: CopyCounts = []
        try await source.exportRows(batchRows: batchRows, chunkBytes: chunkBytes) { batch in
            guard let target = types[batch.table], PostgresSchema.tables.contains(batch.table) else {
                throw StoreCopyRefused("the source's table \(batch.table) has no place on PostgreSQL")
            }
            var (columns, rows) = (batch.columns, batch.rows)
            var people: (columns: [String], rows: [[CopiedValue]])?
            if batch.table == "feedback" { (columns, rows, people) = try splitSlackPeople(columns: columns, rows: rows) }
            for column in columns where target[column] == nil {
                throw StoreCopyRefused("the source's column \(batch.table).\(column) has no place on PostgreSQL")
            }
            try await insert(rows, into: batch.table, columns: columns, types: target, on: session)
            count(batch.rows.count, of: batch.table, in: &counts)
            if let people {
                try await insert(
                    people.rows, into: "feedback_slack_person", columns: people.columns,
                    types: types["feedback_slack_person"] ?? [:], on: session)
                count(people.rows.count, of: "feedback_slack_person", in: &counts)
            }
        }
        // Identity columns continue after the largest copied id.
        for table in ["job", "audit_entry"] {
            try await session.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT setval(pg_get_serial_sequence('\(table)', 'id'), coalesce(max(id), 0) + 1, false) FROM \(table)
                        """))
        }
        return counts
    }

    private static func count(_ rows: Int, of table: String, in counts: inout CopyCounts) {
        if let index = counts.firstIndex(where: { $0.table == table }) {
            counts[index].rows += rows
        } else {
            counts.append((table, rows))
        }
    }

    /// Takes a captured row's Slack member ids out of `feedback` rows: the rows without them, and the
    /// `feedback_slack_person` rows that hold them (one per row that has either id and a workspace).
    static func splitSlackPeople(columns: [String], rows: [[CopiedValue]]) throws
        -> ([String], [[CopiedValue]], (columns: [String], rows: [[CopiedValue]])?)
    {
        let moved = columns.indices.filter { slackPersonColumns.contains(columns[$0]) }
        guard !moved.isEmpty else { return (columns, rows, nil) }
        guard let id = columns.firstIndex(of: "id"), let team = columns.firstIndex(of: "slack_team_id") else {
            throw StoreCopyRefused("the source's feedback rows lack id or slack_team_id")
        }
        let kept = columns.indices.filter { !moved.contains($0) }
        let people = rows.compactMap { row -> [CopiedValue]? in
            let ids = moved.map { row[$0] }
            guard row[team] != .null, ids.contains(where: { $0 != .null }) else { return nil }
            return [row[id], row[team]] + ids
        }
        return (
            kept.map { columns[$0] }, rows.map { row in kept.map { row[$0] } },
            (["feedback_id", "slack_team"] + moved.map { columns[$0] }, people)
        )
    }

    /// One multi-row `INSERT` per slice of rows (at most 65,535 parameters a statement), each value bound in its
    /// column's type here.
    private static func insert(
        _ rows: [[CopiedValue]], into table: String, columns: [String], types: [String: String],
        on session: PostgresTransaction
    ) async throws {
        guard !rows.isEmpty, !columns.isEmpty else { return }
        let perStatement = max(1, 60_000 / columns.count)
        let names = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        var start = rows.startIndex
        while start < rows.endIndex {
            let slice = rows[start..<min(start + perStatement, rows.endIndex)]
            var binds = PostgresBindings(capacity: slice.count * columns.count)
            var values: [String] = []
            values.reserveCapacity(slice.count)
            var number = 0
            for row in slice {
                var placeholders: [String] = []
                for (index, value) in row.enumerated() {
                    try bind(value, as: types[columns[index]] ?? "", into: &binds, at: "\(table).\(columns[index])")
                    number += 1
                    placeholders.append("$\(number)")
                }
                values.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            try await session.query(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \(table) (\(names)) VALUES " + values.joined(separator: ", "), binds: binds))
            start += slice.count
        }
    }

    /// Binds `value` as a `type` column takes it; a value that does not fit (text in a number column, a number out of
    /// an `integer`'s range) is a refusal naming the column.
    private static func bind(_ value: CopiedValue, as type: String, into binds: inout PostgresBindings, at column: String)
        throws
    {
        func mismatch() -> StoreCopyRefused {
            StoreCopyRefused("a value of \(column) does not fit its PostgreSQL type \(type)")
        }
        switch (type, value) {
        case ("bigint", .null): binds.append(Int64?.none)
        case ("bigint", .integer(let integer)): binds.append(integer)
        case ("integer", .null): binds.append(Int32?.none)
        case ("integer", .integer(let integer)):
            guard let small = Int32(exactly: integer) else { throw mismatch() }
            binds.append(small)
        case ("text", .null): binds.append(String?.none)
        case ("text", .text(let text)): binds.append(text)
        case ("text", .integer(let integer)): binds.append(String(integer))
        case ("bytea", .null): binds.append(ByteBuffer?.none)
        case ("bytea", .blob(let bytes)): binds.append(ByteBuffer(bytes: bytes))
        case ("bytea", .text(let text)): binds.append(ByteBuffer(string: text))
        default: throw mismatch()
        }
    }
}
