import Feedback
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Plain submissions that wait at the same time become one multi-row `INSERT` in a transaction of their own: BEGIN,
/// one statement for the whole batch, COMMIT, where the group-commit writer pays a statement per piece. Plain means
/// what `POST /api/feedback` stores most: no screenshots to link and no Slack capture (those keep the writer's path).
/// When new items are posted to Slack, the transaction also reads the batch's clients' notifying installations and
/// adds their post jobs: an item and its job commit together, as on the writer's path.
///
/// The statement only inserts rows whose client exists and is not being closed, and skips a row whose id exists
/// (`ON CONFLICT DO NOTHING`); `RETURNING id` says which rows it wrote. A row it left out, and every row of a batch
/// the server refused as a whole, is handed back to the caller, which stores it one by one and reports its own
/// error there. Durability: sessions run with `synchronous_commit=on`, and nothing is answered before COMMIT's own
/// answer, which PostgreSQL sends once the commit is flushed. (Not the statement's: see `run`.)
final class PostgresFeedbackInserter: Sendable {
    private struct Pending: Sendable {
        let item: FeedbackItem
        /// The request's `Origin`, checked against the client's allowlist before the batch is written.
        let origin: String?
        let notifies: Bool
        let finish: @Sendable (Result<Bool, any Error>) -> Void
    }

    /// At most this many rows in one statement (one array per column).
    static let maxBatch = 256

    private let client: PostgresClient
    private let logger: Logger
    private let queue: LaneQueue<Pending>
    private let counts = Mutex(PostgresWriterStatistics())
    private let watch = ConnectionWatch()

    init(client: PostgresClient, lanes: Int, logger: Logger) {
        self.client = client
        self.queue = LaneQueue(lanes: lanes, maxBatch: Self.maxBatch)
        self.logger = logger
    }

    /// Statements committed and rows they carried.
    var statistics: PostgresWriterStatistics { counts.withLock { $0 } }

    /// Whether `item` may go this way.
    static func accepts(_ item: FeedbackItem) -> Bool {
        item.draft.slack == nil && item.draft.screenshots.isEmpty
    }

    /// Stores `item` with whatever other plain submissions wait now. True once committed; false when the batch
    /// left it out (its client is unknown or closing, its id exists, or the server refused the batch): nothing of
    /// it was written, and the caller stores it one by one. Throws when the connection failed: nothing is known to
    /// be durable then. So does a FATAL error (the server ending the session, as at an immediate shutdown).
    /// With an `origin` the client's allowlist refuses, throws `FeedbackError.originNotAllowed` and writes nothing:
    /// the batch reads the allowlists of all its clients in one statement, right before its insert.
    /// With `notifies`, its Slack post jobs (if its client has a channel set) commit with it.
    func insert(_ item: FeedbackItem, origin: String?, notifies: Bool) async throws -> Bool {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
            let pending = Pending(
                item: item, origin: origin, notifies: notifies, finish: { continuation.resume(with: $0) })
            queue.submit(pending) { batch in
                await self.run(batch)
            }
        }
    }

    private func run(_ batch: [Pending]) async {
        // Ids the statement wrote, and ids whose Origin was refused (nothing written for them).
        var outcome: Result<(written: Set<String>, refused: Set<String>), any Error>
        do {
            outcome = .success(
                try await client.withConnection { connection in
                    if connection.isClosed { throw PostgresWriterError.connectionLost }
                    let tx = PostgresTransaction(connection: connection, logger: logger, watch: watch)
                    let refused = try await Self.refusedOrigins(in: batch, tx: tx)
                    let rows = batch.filter { !refused.contains($0.item.id) }
                    if rows.isEmpty { return ([], refused) }
                    let statement = InsertPlainFeedback(items: rows.map(\.item))
                    let notifying = rows.filter(\.notifies).map(\.item)
                    // In a transaction of its own, never in autocommit: postgres-nio ends a statement at its
                    // CommandComplete, and in autocommit PostgreSQL commits after that (at the Sync that follows), so
                    // the rows would be answered before they are durable. COMMIT's answer comes after the commit.
                    try await tx.query("BEGIN")
                    do {
                        let ids = Set(try await tx.rows(statement))
                        if !notifying.isEmpty {
                            try await PostgresStore.enqueueNotifications(
                                for: notifying.filter { ids.contains($0.id) }, in: tx)
                        }
                        // COMMIT of a transaction that an error left aborted answers ROLLBACK, not an error.
                        let result = try await tx.query("COMMIT")
                        guard result.metadata.command == "COMMIT" else { throw PostgresWriterError.transactionAborted }
                        return (ids, refused)
                    } catch {
                        try PostgresGroupCommitWriter.rethrowIfConnectionLost(error, connection)
                        _ = try? await tx.query("ROLLBACK")
                        throw error
                    }
                })
        } catch let error as PSQLError where error.isStatementError {
            // Refused as a whole (a value the one-by-one path reports precisely): nothing was written.
            logger.debug(
                "PostgreSQL refused a batch of submissions; storing them one by one",
                metadata: ["error": "\(PostgresErrorText.describe(error))"])
            outcome = .success(([], []))
        } catch {
            logger.warning(
                "PostgreSQL batch insert failed", metadata: ["error": "\(PostgresErrorText.describe(error))"])
            outcome = .failure(error)
        }
        let written = (try? outcome.get().written.count) ?? 0
        counts.withLock { statistics in
            if written > 0 { statistics.commits += 1 }
            statistics.writes += written
            statistics.largestBatch = max(statistics.largestBatch, batch.count)
        }
        for pending in batch {
            pending.finish(
                outcome.flatMap { ids in
                    ids.refused.contains(pending.item.id)
                        ? .failure(FeedbackError.originNotAllowed) : .success(ids.written.contains(pending.item.id))
                })
        }
    }

    /// The ids of the pieces whose `Origin` their client's allowlist refuses. One read for the whole batch: the live
    /// clients of the pieces that carry an `Origin`. A piece whose client it does not find is not refused here: the
    /// insert leaves it out, and the caller reports it.
    private static func refusedOrigins(in batch: [Pending], tx: PostgresTransaction) async throws -> Set<String> {
        let checked = batch.filter { !($0.origin ?? "").isEmpty }
        if checked.isEmpty { return [] }
        let clients = try await tx.rows(LiveClients(ids: Array(Set(checked.map(\.item.clientId)))))
        let byID = Dictionary(clients.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return Set(
            checked.filter { piece in byID[piece.item.clientId].map { !$0.allows(origin: piece.origin) } ?? false }
                .map(\.item.id))
    }

    /// The live clients among `ids`, prepared on each connection once.
    struct LiveClients: PostgresPreparedStatement {
        static let name = "usero_live_clients"
        static let sql = "\(PGClientRecord.select) AND id = ANY($1)"
        static let bindingDataTypes: [PostgresDataType] = [.textArray]
        typealias Row = Client

        let ids: [String]

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(ids)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Client { try PGClientRecord.client(row.makeRandomAccess()) }
    }

    /// The batch's statement, prepared on each connection once: PostgreSQL parses and plans it there once instead
    /// of for every batch (parsing, analysis and planning were a third of the server's CPU for it). The rows come as
    /// one binary array per column, zipped back into rows by `unnest`: no text to build here nor to parse there.
    /// (One JSON array through `json_to_recordset` cost 3.5 % of usero's CPU to build and about 9 % of the server's
    /// to parse on this route; the arrays cost 2 % and 3 %.)
    struct InsertPlainFeedback: PostgresPreparedStatement {
        static let name = "usero_insert_plain_feedback"
        static let sql = """
            INSERT INTO feedback (id, client_id, source, created_at, rating, comment, user_email, page_url,
                page_title, referrer, environment, metadata, session_replay_id, replay_offset_ms, user_id)
            SELECT v.* FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::integer[], $6::text[],
                $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[],
                $15::text[])
                AS v(id, client_id, source, created_at, rating, comment, user_email, page_url, page_title, referrer,
                environment, metadata, session_replay_id, replay_offset_ms, user_id)
            WHERE EXISTS (SELECT 1 FROM client c WHERE c.id = v.client_id COLLATE "C")
            AND NOT EXISTS (SELECT 1 FROM account_deletion d WHERE d.client_id = v.client_id COLLATE "C")
            ON CONFLICT DO NOTHING
            RETURNING id
            """
        static let bindingDataTypes: [PostgresDataType] = [
            .textArray, .textArray, .textArray, .int8Array, .int4Array, .textArray, .textArray, .textArray,
            .textArray, .textArray, .textArray, .textArray, .textArray, .int8Array, .textArray,
        ]
        typealias Row = String

        let items: [FeedbackItem]

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 15)
            func text(_ value: (FeedbackItem) -> String?) {
                bindings.append(PostgresColumnArray(items.map(value)))
            }
            text { $0.id }
            text { $0.clientId }
            text { $0.draft.source.rawValue }
            bindings.append(PostgresColumnArray(items.map { Optional(epochMillis($0.createdAt)) }))
            bindings.append(PostgresColumnArray(items.map { $0.draft.rating.map { Int32(clamping: $0) } }))
            text { $0.draft.comment }
            text { $0.draft.userEmail }
            text { $0.draft.pageUrl }
            text { $0.draft.pageTitle }
            text { $0.draft.referrer }
            text { $0.draft.environment }
            text { $0.draft.metadata?.jsonText }
            text { $0.draft.sessionReplayId }
            bindings.append(PostgresColumnArray(items.map { $0.draft.replayOffsetMs }))
            text { $0.draft.userId }
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
    }
}
