import Feedback
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Plain submissions that wait at the same time become one multi-row `INSERT`, committed on its own: one call of a
/// procedure that inserts the batch and commits, where the group-commit writer pays a statement per piece. Plain means
/// what `POST /api/feedback` stores most: no screenshots to link and no Slack capture (those keep the writer's path).
/// When new items are posted to Slack and a client of the batch has a channel set for them, the call runs in a
/// transaction that also reads the batch's clients' notifying installations and adds their post jobs: an item and its
/// job commit together, as on the writer's path. (The call itself finds out, and stands back, in its one round trip.)
///
/// The statement only inserts rows whose client exists and is not being closed, and skips a row whose id exists
/// (`ON CONFLICT DO NOTHING`); `RETURNING id` says which rows it wrote. A row it left out, and every row of a batch
/// the server refused as a whole, is handed back to the caller, which stores it one by one and reports its own
/// error there. Durability: sessions run with `synchronous_commit=on`, and nothing is answered before the answer of
/// the call that committed (or of COMMIT), which PostgreSQL sends once the commit is flushed. (Never an autocommit
/// statement's: see `run`.)
final class PostgresFeedbackInserter: Sendable {
    private struct Pending: Sendable {
        let item: FeedbackItem
        /// The request's `Origin`, checked against the client's allowlist before the batch is written.
        let origin: String?
        let notifies: Bool
        let finish: @Sendable (Result<Outcome, any Error>) -> Void
    }

    /// What became of one submission.
    struct Outcome: Sendable {
        /// Committed by the batch; false: nothing of it was written, and the caller stores it one by one.
        let written: Bool
        /// The batch committed Slack post jobs (of this item or a neighbour's): the job worker should look now.
        let enqueuedJobs: Bool
    }

    /// At most this many rows in one statement (one array per column).
    static let maxBatch = 256

    private let pool: PostgresPool
    private let logger: Logger
    private let queue: LaneQueue<Pending>
    private let counts = Mutex(PostgresWriterStatistics())
    private let watch: ConnectionWatch
    /// One warning a second at most for failed batches.
    private let warnings = WarningThrottle()
    /// Allowlists read before, by client id (see `originDecisions`). Never trusted alone: a row checked against one
    /// is inserted only if its client's `allowed_origins` still reads the same.
    private let allowlists = Mutex([String: Allowlist]())
    /// At most this many clients' allowlists are kept; past it the cache starts over.
    static let maxCachedAllowlists = 4096

    /// A client's `allowed_origins` as stored, and parsed.
    struct Allowlist: Sendable {
        let text: String
        let origins: [String]
    }

    /// How long a batch waits for a connection before its submissions fail with `StoreUnavailable`.
    let leaseTimeout: Duration

    init(pool: PostgresPool, lanes: Int, leaseTimeout: Duration, watch: ConnectionWatch, logger: Logger) {
        self.pool = pool
        self.watch = watch
        self.leaseTimeout = leaseTimeout
        self.queue = LaneQueue(lanes: lanes, maxBatch: Self.maxBatch)
        self.logger = logger
    }

    /// What a batch came to: the ids the statement wrote, the ids whose `Origin` was refused (nothing written for
    /// them), and whether post jobs committed with them.
    private typealias BatchResult = (written: Set<String>, refused: Set<String>, enqueuedJobs: Bool)

    /// Statements committed and rows they carried.
    var statistics: PostgresWriterStatistics { counts.withLock { $0 } }

    /// Whether `item` may go this way.
    static func accepts(_ item: FeedbackItem) -> Bool {
        item.draft.slack == nil && item.draft.screenshots.isEmpty
    }

    /// Stores `item` with whatever other plain submissions wait now. Written once committed; not when the batch
    /// left it out (its client is unknown or closing, its id exists, or the server refused the batch): nothing of
    /// it was written, and the caller stores it one by one. Throws when the connection failed (or the server ended
    /// the session with a FATAL error, as at an immediate shutdown): `StoreUnavailable` before the committing call
    /// went out, `PostgresWriterError.commitInDoubt` after it.
    /// With an `origin` the client's allowlist refuses, throws `FeedbackError.originNotAllowed` and writes nothing:
    /// the batch reads the allowlists of all its clients in one statement, right before its insert.
    /// With `notifies`, its Slack post jobs (if its client has a channel set) commit with it.
    func insert(_ item: FeedbackItem, origin: String?, notifies: Bool) async throws -> Outcome {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Outcome, any Error>) in
            let pending = Pending(
                item: item, origin: origin, notifies: notifies, finish: { continuation.resume(with: $0) })
            queue.submit(pending) { next in
                await self.pool.runBatches(
                    leaseTimeout: self.leaseTimeout, next: next, run: { batch, connection in
                        await self.run(batch, on: connection)
                    }, failed: { batch, error in self.finish(batch, with: .failure(error)) })
            }
        }
    }

    /// Writes `batch` on `connection` and answers each of its pieces.
    private func run(_ batch: [Pending], on connection: PostgresConnection) async {
        var outcome: Result<BatchResult, any Error>
        // Whether a statement that commits went out: before that, a lost connection has written nothing.
        var commitSent = false
        do {
            if connection.isClosed { throw PostgresWriterError.connectionLost }
            let tx = PostgresTransaction(connection: connection, logger: logger, watch: watch)
            outcome = .success(try await insert(batch, in: tx, commitSent: &commitSent))
        } catch let error as PSQLError where error.isStatementError {
            // Refused as a whole (a value the one-by-one path reports precisely): nothing was written.
            logger.debug(
                "PostgreSQL refused a batch of submissions; storing them one by one",
                metadata: ["error": "\(PostgresErrorText.describe(error))"])
            outcome = .success(([], [], false))
        } catch {
            // Lost before the committing call went out: nothing was written, and a retry is safe (a 503). Lost
            // after: the batch may have committed (`commitInDoubt`), and the caller stores each piece again under
            // its id, which finds it if it did.
            outcome = .failure(
                PostgresGroupCommitWriter.lostConnectionError(error, commitSent: commitSent) ?? error)
        }
        finish(batch, with: outcome)
    }

    private func finish(
        _ batch: [Pending], with outcome: Result<BatchResult, any Error>
    ) {
        if case .failure(let error) = outcome {
            warnings.warn("PostgreSQL batch insert failed", error: error, on: logger)
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
                        ? .failure(FeedbackError.originNotAllowed)
                        : .success(
                            Outcome(written: ids.written.contains(pending.item.id), enqueuedJobs: ids.enqueuedJobs))
                })
        }
    }

    /// The batch's statements on `tx`: ids written, ids whose `Origin` was refused, and whether post jobs committed
    /// with them. Sets `commitSent` once a statement that commits went out.
    private func insert(_ batch: [Pending], in tx: PostgresTransaction, commitSent: inout Bool) async throws
        -> BatchResult
    {
        let (refused, checkedAgainst) = try await originDecisions(in: batch, tx: tx)
        let rows = batch.filter { !refused.contains($0.item.id) }
        if rows.isEmpty { return ([], refused, false) }
        let notifying = rows.filter(\.notifies).map(\.item)
        func insert(commits: Bool, unlessNotifying: Bool = false) async throws -> Set<String>? {
            let statement = InsertPlainFeedback(
                items: rows.map(\.item), allowlists: rows.map { checkedAgainst[$0.item.id] },
                commits: commits, unlessNotifying: unlessNotifying)
            // No row: nothing written. A NULL: the call stood back for the transaction path.
            guard let written = try await tx.rows(statement).first ?? [] else { return nil }
            let ids = Set(written)
            forgetAllowlists(ofClientsOf: rows.filter {
                checkedAgainst[$0.item.id] != nil && !ids.contains($0.item.id)
            })
            return ids
        }
        // One round trip: the procedure commits before the call answers. Never a bare INSERT in autocommit:
        // postgres-nio ends a statement at its CommandComplete, and PostgreSQL commits an autocommit statement after
        // that (at the Sync that follows), so the rows could be answered before they are durable. A call that fails
        // (its insert or its commit) leaves nothing written. With Slack on, the call does nothing when one of the
        // batch's clients posts new feedback to a channel (nil): those batches take the transaction below, where the
        // post jobs commit with them.
        commitSent = true
        if let ids = try await insert(commits: true, unlessNotifying: !notifying.isEmpty) {
            return (ids, refused, false)
        }
        // The call stood back and wrote nothing: until this transaction's COMMIT goes out, a lost connection has
        // written nothing of the batch either.
        commitSent = false
        try await tx.query("BEGIN")
        do {
            let ids = try await insert(commits: false) ?? []
            let enqueued = try await PostgresStore.enqueueNotifications(
                for: notifying.filter { ids.contains($0.id) }, in: tx)
            commitSent = true
            try await tx.commit()
            return (ids, refused, enqueued)
        } catch {
            await tx.rollBackIfOpen()
            throw error
        }
    }

    /// Which pieces' `Origin` their client's allowlist refuses (nothing is written for them), and for each allowed
    /// piece with an `Origin`, the allowlist text it was allowed by. A piece whose client is unknown or closing is in
    /// neither: the insert leaves it out, and the caller reports it.
    ///
    /// Allowlists read by earlier batches are reused, so a batch of a known client's widget traffic costs one round
    /// trip, not two. That is safe because the insert takes a piece only while its client's `allowed_origins` still
    /// reads as the text it was checked against: after a change the piece is left out, and the caller's one-by-one
    /// path checks it afresh. A refusal is never taken from the cache: the batch reads those clients (and the ones
    /// not cached) in one statement before its insert, so an origin just added is allowed at once.
    private func originDecisions(in batch: [Pending], tx: PostgresTransaction) async throws
        -> (refused: Set<String>, checkedAgainst: [String: String])
    {
        let checked = batch.filter { !($0.origin ?? "").isEmpty }
        if checked.isEmpty { return ([], [:]) }
        let clientIDs = Set(checked.map(\.item.clientId))
        var known = allowlists.withLock { cache in
            var known = [String: Allowlist]()
            for id in clientIDs { known[id] = cache[id] }
            return known
        }
        let toRead = Set(
            checked.filter { piece in
                known[piece.item.clientId].map { !OriginPattern.allowlist($0.origins, allows: piece.origin) } ?? true
            }.map(\.item.clientId))
        if !toRead.isEmpty {
            let read = try await tx.rows(LiveClientAllowlists(ids: Array(toRead)))
            for id in toRead { known[id] = nil }
            for (id, allowlist) in read { known[id] = allowlist }
            allowlists.withLock { cache in
                if cache.count + read.count > Self.maxCachedAllowlists { cache.removeAll(keepingCapacity: true) }
                for id in toRead { cache[id] = nil }
                for (id, allowlist) in read { cache[id] = allowlist }
            }
        }
        var refused = Set<String>()
        var checkedAgainst = [String: String]()
        for piece in checked {
            guard let allowlist = known[piece.item.clientId] else { continue }
            if OriginPattern.allowlist(allowlist.origins, allows: piece.origin) {
                checkedAgainst[piece.item.id] = allowlist.text
            } else {
                refused.insert(piece.item.id)
            }
        }
        return (refused, checkedAgainst)
    }

    /// Drops the remembered allowlists of the clients of `pieces`, rows the insert left out although their `Origin`
    /// was allowed: their allowlist may have changed, and the next batch reads it again instead of leaving out every
    /// row of that client.
    private func forgetAllowlists(ofClientsOf pieces: [Pending]) {
        if pieces.isEmpty { return }
        allowlists.withLock { cache in
            for piece in pieces { cache[piece.item.clientId] = nil }
        }
    }

    /// The allowlists of the live clients among `ids`, prepared on each connection once.
    struct LiveClientAllowlists: PostgresPreparedStatement {
        static let name = "usero_live_client_allowlists"
        static let sql = "SELECT id, allowed_origins FROM client WHERE \(pgLiveClientCondition) AND id = ANY($1)"
        static let bindingDataTypes: [PostgresDataType] = [.textArray]
        typealias Row = (String, Allowlist)

        let ids: [String]

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(ids)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> (String, Allowlist) {
            let (id, text) = try row.decode((String, String).self)
            guard let origins = StoredColumns.origins(text) else {
                throw PostgresStoreDecodingError(table: "client", column: "allowed_origins")
            }
            return (id, Allowlist(text: text, origins: origins))
        }
    }

    /// The batch's statement: a call of `usero_insert_feedback_batch` (migrations `v11-pg-insert-plain-feedback` and
    /// `v20-submission-key`),
    /// prepared on each connection once, so PostgreSQL parses it there once instead of for every batch (parsing,
    /// analysis and planning were a third of the server's CPU for the insert when it was sent afresh). The rows go as
    /// one binary array per column, zipped back into rows by `unnest`: no text to build here nor to parse there.
    /// (One JSON array through `json_to_recordset` cost 3.5 % of usero's CPU to build and about 9 % of the server's
    /// to parse on this route; the arrays cost 2 % and 3 %.) With `commits`, the procedure commits before the call
    /// answers, and the call must run outside a transaction; without, it runs in the caller's.
    struct InsertPlainFeedback: PostgresPreparedStatement {
        static let name = "usero_call_insert_feedback_batch"
        static let sql = """
            CALL usero_insert_feedback_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                $17, $18, $19, $20, NULL)
            """
        static let bindingDataTypes: [PostgresDataType] = [
            .textArray, .textArray, .textArray, .int8Array, .int4Array, .textArray, .textArray, .textArray,
            .textArray, .textArray, .textArray, .textArray, .textArray, .int8Array, .textArray, .textArray,
            .byteaArray, .byteaArray, .bool, .bool,
        ]
        /// The ids the call inserted; nil when it did nothing because a client of the batch posts to Slack.
        typealias Row = [String]?

        let items: [FeedbackItem]
        /// Per item, the allowlist text its `Origin` was checked against (nil: no `Origin`): the row is inserted only
        /// if its client's `allowed_origins` still reads the same.
        let allowlists: [String?]
        /// Whether the call commits (outside a transaction) or leaves that to the caller's transaction.
        let commits: Bool
        /// Whether the call does nothing (and answers nil) when a client of the batch has an installation that posts
        /// new feedback to a channel.
        let unlessNotifying: Bool

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 20)
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
            bindings.append(PostgresColumnArray(allowlists))
            bindings.append(PostgresColumnArray(items.map { $0.draft.submissionKey.map { ByteBuffer(bytes: $0.key) } }))
            bindings.append(
                PostgresColumnArray(items.map { $0.draft.submissionKey.map { ByteBuffer(bytes: $0.content) } }))
            bindings.append(commits)
            bindings.append(unlessNotifying)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> [String]? { try row.decode([String]?.self) }
    }
}
