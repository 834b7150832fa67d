public import Feedback
public import Foundation
import NIOCore
import PostgresNIO
import SlackGateway

extension PostgresStore: FeedbackStore {
    // MARK: Clients

    public func createClient(name: String, plan: Plan, allowedOrigins: [String], at date: Date) async throws
        -> (Client, String)
    {
        let client = Client(
            id: Identifiers.newClientID(), name: name, plan: plan, allowedOrigins: allowedOrigins, createdAt: date)
        let key = Identifiers.newAdminKey()
        let hash = Data(Identifiers.adminKeyHash(key))
        let origins = StoredColumns.originsText(allowedOrigins)
        let millis = epochMillis(date)
        try await write { tx in
            try await tx.execute(
                """
                INSERT INTO client (id, name, plan, admin_key_hash, allowed_origins, created_at)
                VALUES (\(client.id), \(name), \(plan.rawValue), \(hash), \(origins), \(millis))
                """)
        }
        return (client, key)
    }

    public func client(id: String) async throws -> Client? {
        try await row(PGClientRecord.byID(id)).map { try PGClientRecord.client($0) }
    }

    public func client(adminKey: String) async throws -> Client? {
        let hash = Data(Identifiers.adminKeyHash(adminKey))
        var sql = SQLBuilder(PGClientRecord.select)
        sql.append(" AND admin_key_hash = \(try sql.bind(bytes: hash))")
        return try await row(sql.query).map { try PGClientRecord.client($0) }
    }

    public func updateClient(clientID: String, plan: Plan?, allowedOrigins: [String]?) async throws -> Client? {
        let origins = allowedOrigins.map(StoredColumns.originsText)
        return try await write { tx in
            let changed = try await tx.execute(
                """
                UPDATE client SET plan = COALESCE(\(plan?.rawValue), plan),
                    allowed_origins = COALESCE(\(origins), allowed_origins)
                WHERE id = \(clientID) AND id NOT IN (SELECT client_id FROM account_deletion)
                """)
            guard changed > 0 else { return nil }
            return try await Self.liveClient(id: clientID, in: tx)
        }
    }

    public func liveClients() async throws -> [Client] {
        try await rows(PostgresQuery(unsafeSQL: "\(PGClientRecord.select) ORDER BY created_at, id")).map {
            try PGClientRecord.client($0)
        }
    }

    public func rotateAdminKey(clientID: String) async throws -> String? {
        let key = Identifiers.newAdminKey()
        let hash = Data(Identifiers.adminKeyHash(key))
        return try await write { tx in
            let changed = try await tx.execute(
                """
                UPDATE client SET admin_key_hash = \(hash) WHERE id = \(clientID)
                AND id NOT IN (SELECT client_id FROM account_deletion)
                """)
            return changed > 0 ? key : nil
        }
    }

    static func liveClient(id: String, in tx: PostgresTransaction) async throws -> Client? {
        try await tx.row(PGClientRecord.byID(id)).map { try PGClientRecord.client($0) }
    }

    /// The live client, its row held (`FOR KEY SHARE`) until the transaction ends: a row inserted for it later in
    /// the transaction cannot then fail its foreign key (a 500) because an account closure deleted the client in
    /// between; the closure's delete waits instead, and takes what the transaction wrote with it.
    static func heldLiveClient(id: String, in tx: PostgresTransaction) async throws -> Client? {
        var query = PGClientRecord.byID(id)
        query.sql += " FOR KEY SHARE"
        return try await tx.row(query).map { try PGClientRecord.client($0) }
    }

    // MARK: Feedback

    public func insert(_ draft: FeedbackDraft, at date: Date, origin: String?) async throws -> FeedbackItem {
        let item = FeedbackItem(newAt: date, draft: draft)
        let notifies = postsNewFeedbackToSlack
        // A commit whose answer never came (the connection failed after it went out) may have written the item or
        // not. Either way it is stored again under the same id, on a fresh connection: the insert waits (up to
        // `lockWaitAfterDoubt`) for the lost transaction if the server is still finishing it, and finds its row if it
        // committed. So the client gets its 201 and one item, where a 500 would have it send the item again and make
        // two. Fails with `commitInDoubt` (a 500, not a 503: it may be written) when that cannot be found out.
        var inDoubt: PostgresWriterError?
        // Most submissions share one multi-row statement with their neighbours, which also checks their Origin
        // against their client's allowlist; what it leaves out (an unknown client, say) takes the one-by-one path
        // below, which says why.
        if PostgresFeedbackInserter.accepts(item) {
            do {
                let outcome = try await backend.inserter.insert(item, origin: origin, notifies: notifies)
                // Committed, with post jobs: the worker posts them now rather than at its next poll.
                if outcome.enqueuedJobs { newJobs?.signal() }
                if outcome.written { return item }
            } catch PostgresWriterError.commitInDoubt {
                inDoubt = PostgresWriterError.commitInDoubt
            }
        }
        // Tries after a commit in doubt that found no connection: the first may lease a pooled one that the same
        // failure closed. A second commit in doubt ends it: the server is failing (or hanging up to the statement
        // timeout, which a third wait would add to).
        var triesLeft = 3
        while true {
            do {
                let (enqueued, stored) = try await insertOneByOne(
                    item, origin: origin, notifies: notifies, afterDoubt: inDoubt != nil)
                if enqueued { newJobs?.signal() }
                return stored ?? item
            } catch PostgresWriterError.commitInDoubt where inDoubt == nil {
                inDoubt = PostgresWriterError.commitInDoubt
            } catch is StoreUnavailable where inDoubt != nil {
                triesLeft -= 1
                if triesLeft == 0 { throw PostgresWriterError.commitInDoubt }
            } catch where inDoubt != nil && PostgresErrorText.sqlState(of: error) == "55P03" {
                // The lost transaction still holds what the item needs (the server is hanging it): still in doubt.
                throw PostgresWriterError.commitInDoubt
            }
        }
    }

    /// How long a try after a commit in doubt waits for a lock (the lost transaction's, on the item's id, when the
    /// server is still running it): a transaction the server hangs would otherwise hold the request for another
    /// statement timeout.
    static let lockWaitAfterDoubt = "5s"

    /// Stores `item` in a shared transaction of the writer, checking its `Origin` first; whether post jobs committed
    /// with it, and the item stored before under its submission key (nothing written) if there is one. An item whose
    /// id is stored already was written by an earlier try whose commit's answer was lost.
    /// `afterDoubt`: such a try; its statements wait at most `lockWaitAfterDoubt` for a lock.
    private func insertOneByOne(_ item: FeedbackItem, origin: String?, notifies: Bool, afterDoubt: Bool)
        async throws -> (enqueued: Bool, stored: FeedbackItem?)
    {
        // An Origin is checked against the client's list before the write, on a pooled connection of its own:
        // the shared transaction then carries one statement per submission, which is what its lane serialises.
        if let origin, !origin.isEmpty {
            guard let client = try await client(id: item.clientId) else { throw FeedbackError.unknownClient }
            guard client.allows(origin: origin) else { throw FeedbackError.originNotAllowed }
        }
        return try await write { tx -> (enqueued: Bool, stored: FeedbackItem?) in
            // The transaction is shared: the bound holds for this piece's statements only (a failing piece's is
            // undone with it).
            guard afterDoubt else { return try await Self.insertOneByOne(item, notifies: notifies, in: tx) }
            try await tx.query("SET LOCAL lock_timeout = '\(unescaped: Self.lockWaitAfterDoubt)'")
            let outcome = try await Self.insertOneByOne(item, notifies: notifies, in: tx)
            try await tx.query("SET LOCAL lock_timeout TO DEFAULT")
            return outcome
        }
    }

    /// `insertOneByOne`'s piece of the shared transaction.
    private static func insertOneByOne(_ item: FeedbackItem, notifies: Bool, in tx: PostgresTransaction)
        async throws -> (enqueued: Bool, stored: FeedbackItem?)
    {
        // The insert itself requires a live client (one that exists and is not being closed), so a client closed
        // since the Origin's check gets nothing written.
        guard try await insert(item, in: tx, onlyForLiveClient: true) else {
            // Its own id: an earlier try committed it (with its post jobs), and its answer was lost.
            if try await tx.row("SELECT 1 FROM feedback WHERE id = \(item.id) AND client_id = \(item.clientId)") != nil {
                return (true, nil)
            }
            guard try await liveClient(id: item.clientId, in: tx) != nil else { throw FeedbackError.unknownClient }
            // Its key: a repeat of an item stored before (the insert waited for it if it was being stored).
            if let key = item.draft.submissionKey, let stored = try await Self.item(keyed: key, of: item, in: tx) {
                return (false, stored)
            }
            // The same Slack message twice for one client is refused, as the unique index has it.
            throw PostgresStoreConflict()
        }
        // Accepted means durable for the Slack post too: it commits with the item, or neither does.
        return (notifies ? try await enqueueNotifications(for: [item], in: tx) : false, nil)
    }

    /// The item of `item`'s client stored under `key`, as `item` with that item's id and time; nil when there is
    /// none. Throws `submissionKeyReused` when it was stored with other content.
    static func item(keyed key: SubmissionKey, of item: FeedbackItem, in tx: PostgresTransaction) async throws
        -> FeedbackItem?
    {
        var sql = SQLBuilder("SELECT id, created_at, submission_content FROM feedback")
        let clientID = sql.bind(item.clientId)
        let digest = sql.bind(ByteBuffer(bytes: key.key))
        sql.append(" WHERE client_id = \(clientID) AND submission_key = \(digest) AND submission_key IS NOT NULL")
        guard let row = try await tx.row(sql.query) else { return nil }
        return try key.repeated(
            item, storedAs: try row[0].decode(String.self), createdAtMillis: try row[1].decode(Int64.self),
            storedContent: try row[2].decode(Data?.self).map(Array.init))
    }

    /// Inserts an item and links the uploaded screenshots it names, in the caller's transaction. False when a row
    /// with the same Slack message (or id) exists already, or, with `onlyForLiveClient`, when its client does not
    /// exist or is being closed: nothing was written.
    static func insert(_ item: FeedbackItem, in tx: PostgresTransaction, onlyForLiveClient: Bool = false)
        async throws -> Bool
    {
        let d = item.draft
        let screenshots =
            try StoredColumns.screenshotsText(d.screenshots)
        let recovered = (d.slack?.recovered ?? false) ? 1 : 0
        var sql = SQLBuilder(
            """
            INSERT INTO feedback (id, client_id, source, created_at, rating, comment, user_email, page_url,
                page_title, referrer, environment, metadata, screenshots, session_replay_id, replay_offset_ms,
                user_id, slack_team_id, slack_channel_id, slack_message_ts, slack_thread_ts, slack_captured_via,
                slack_permalink, slack_recovered, submission_key, submission_content)
            SELECT
            """)
        let clientID = sql.bind(item.clientId)
        let values = [
            sql.bind(item.id), clientID, sql.bind(d.source.rawValue), sql.bind(epochMillis(item.createdAt)),
            sql.bind(d.rating), sql.bind(d.comment), sql.bind(d.userEmail), sql.bind(d.pageUrl),
            sql.bind(d.pageTitle), sql.bind(d.referrer), sql.bind(d.environment), sql.bind(d.metadata?.jsonText),
            sql.bind(screenshots), sql.bind(d.sessionReplayId), sql.bind(d.replayOffsetMs), sql.bind(d.userId),
            sql.bind(d.slack?.teamId), sql.bind(d.slack?.channelId), sql.bind(d.slack?.messageTs),
            sql.bind(d.slack?.threadTs), sql.bind(d.slack?.capturedVia.rawValue), sql.bind(d.slack?.permalink),
            sql.bind(recovered), sql.bind(d.submissionKey.map { ByteBuffer(bytes: $0.key) }),
            sql.bind(d.submissionKey.map { ByteBuffer(bytes: $0.content) }),
        ]
        sql.append(" " + values.joined(separator: ", "))
        if onlyForLiveClient {
            sql.append(
                """
                 WHERE EXISTS (SELECT 1 FROM client WHERE id = \(clientID))
                AND NOT EXISTS (SELECT 1 FROM account_deletion WHERE client_id = \(clientID))
                """)
        }
        sql.append(" ON CONFLICT DO NOTHING")
        let inserted = try await tx.execute(sql.query)
        guard inserted > 0 else { return false }
        if let slack = d.slack, slack.authorId != nil || slack.forwardedBy != nil {
            try await tx.execute(
                """
                INSERT INTO feedback_slack_person (feedback_id, slack_team, slack_author_id, slack_forwarded_by)
                VALUES (\(item.id), \(slack.teamId), \(slack.authorId), \(slack.forwardedBy))
                """)
        }
        if !d.screenshots.isEmpty {
            // The item claims the client's uploads it names that no item has claimed yet, and is one of those that
            // name each of them (`feedback_screenshot`, see `screenshotsOfDoomed`).
            let names = d.screenshots.map(\.fileName)
            try await tx.execute(
                """
                WITH named AS (
                    SELECT file_name, feedback_id FROM screenshot
                    WHERE file_name = ANY(\(names)) AND client_id = \(item.clientId) FOR NO KEY UPDATE
                ), claimed AS (
                    UPDATE screenshot s SET feedback_id = \(item.id) FROM named
                    WHERE s.file_name = named.file_name AND named.feedback_id IS NULL
                )
                INSERT INTO feedback_screenshot (feedback_id, file_name) SELECT \(item.id), file_name FROM named
                ON CONFLICT DO NOTHING
                """)
        }
        return true
    }

    public func feedback(id: String, clientID: String) async throws -> FeedbackItem? {
        var sql = SQLBuilder(PGFeedbackRecord.select)
        sql.append(" WHERE client_id = \(sql.bind(clientID)) AND id = \(sql.bind(id))")
        return try await row(sql.query).map { try PGFeedbackRecord.item($0) }
    }

    public func listFeedback(clientID: String, filter: FeedbackFilter, limit: Int, after cursor: FeedbackCursor?)
        async throws -> FeedbackPage
    {
        var sql = Self.listed(clientID: clientID, filter: filter, select: PGFeedbackRecord.select)
        if let cursor {
            let at = sql.bind(cursor.createdAtMillis)
            sql.append(" AND (created_at < \(at) OR (created_at = \(at) AND id < \(sql.bind(cursor.id))))")
        }
        sql.append(" ORDER BY created_at DESC, id DESC LIMIT \(sql.bind(Int64(limit) + 1))")
        let items = try await rows(sql.query).map { try PGFeedbackRecord.item($0) }
        return FeedbackPage(fetched: items, limit: limit)
    }

    public func newerPageCursor(clientID: String, filter: FeedbackFilter, limit: Int, before cursor: FeedbackCursor)
        async throws -> FeedbackCursor?
    {
        var sql = Self.listed(clientID: clientID, filter: filter, select: "SELECT created_at, id FROM feedback")
        let at = sql.bind(cursor.createdAtMillis)
        sql.append(" AND (created_at > \(at) OR (created_at = \(at) AND id > \(sql.bind(cursor.id))))")
        sql.append(" ORDER BY created_at, id LIMIT 1 OFFSET \(sql.bind(Int64(max(0, limit - 1))))")
        return try await rows(sql.query).first.map {
            FeedbackCursor(createdAtMillis: try $0.value("created_at", as: Int64.self), id: try $0.value("id", as: String.self))
        }
    }

    /// `select` and the conditions that pick the client's items `filter` selects.
    private static func listed(clientID: String, filter: FeedbackFilter, select: String) -> SQLBuilder {
        var sql = SQLBuilder(select)
        sql.append(" WHERE client_id = \(sql.bind(clientID))")
        if let source = filter.source { sql.append(" AND source = \(sql.bind(source.rawValue))") }
        switch filter.environment {
        case .some(.some(let environment)): sql.append(" AND environment = \(sql.bind(environment))")
        case .some(.none): sql.append(" AND environment IS NULL")
        case .none: break
        }
        if let pattern = filter.likePattern {
            // A backslash is ILIKE's escape character by default (no ESCAPE clause: its literal would read otherwise
            // on a server with `standard_conforming_strings` off).
            let bound = sql.bind(pattern)
            sql.append(" AND (comment ILIKE \(bound) OR user_email ILIKE \(bound)")
            if let slack = filter.slackLikePattern { sql.append(" OR comment ILIKE \(sql.bind(slack))") }
            sql.append(")")
        }
        return sql
    }

    public func environments(clientID: String, limit: Int) async throws -> [String] {
        // A skip-scan over the `(client_id, environment, …)` index: one index seek per distinct name.
        try await rows(
            """
            WITH RECURSIVE env(name) AS (
                SELECT MIN(environment) FROM feedback WHERE client_id = \(clientID) AND environment IS NOT NULL
                UNION ALL
                SELECT (SELECT MIN(environment) FROM feedback WHERE client_id = \(clientID)
                    AND environment > env.name)
                FROM env WHERE env.name IS NOT NULL
            )
            SELECT name FROM env WHERE name IS NOT NULL LIMIT \(Int64(limit))
            """
        ).map { try $0.value("name", as: String.self) }
    }

    public func deleteFeedback(id: String, clientID: String) async throws -> Bool {
        // Screenshot rows (and their bytes, by cascade) go with the item; a capture from Slack leaves its message's
        // address (`RemovedCaptures`). Both dated by the database's clock, as the rest of the store is (the
        // caller's instants come from `PostgresClock`): every instance of a deployment then dates alike.
        try await write { tx in
            let now = try await tx.scalar(Self.databaseTimeQuery, as: Int64.self) ?? epochMillis(Date())
            var lock = SQLBuilder()
            let condition = "client_id = \(lock.bind(clientID)) AND id = \(lock.bind(id))"
            guard try await !Self.lockDoomed(where: condition, limit: 1, in: lock, tx: tx).isEmpty else { return false }
            var sql = SQLBuilder()
            sql.append(
                """
                WITH doomed AS (
                    SELECT id FROM feedback WHERE client_id = \(sql.bind(clientID)) AND id = \(sql.bind(id))
                ), \(Self.screenshotsOfDoomed), gone AS (
                    DELETE FROM feedback WHERE id IN (SELECT id FROM doomed)
                    RETURNING created_at, client_id, slack_team_id, slack_channel_id, slack_message_ts
                ), remembered AS (
                    \(Self.rememberRemovedCaptures(from: "gone", at: now, in: &sql))
                )
                SELECT count(*) AS rows FROM gone
                """)
            guard (try await tx.row(sql.query)?.value("rows", as: Int64.self) ?? 0) > 0 else { return false }
            try await Self.queueUnposts(ofFeedback: [id], at: now, in: tx)
            return true
        }
    }

    /// Locks the feedback rows `condition` (of `sql`'s bindings) selects, `limit` at most, the screenshots they
    /// claimed, and the other items naming those screenshots (the heirs `screenshotsOfDoomed` may hand them to);
    /// returns their ids. A statement of its own, before the one that deletes them: an item naming one of those
    /// screenshots that was being inserted meanwhile (it holds the screenshot's row until it commits) is waited for
    /// here, so the deleting statement's snapshot, taken after, sees that the item names it and hands the screenshot
    /// on; in one statement, the item's claim was missed and the screenshot deleted from under it. And an heir being
    /// deleted meanwhile (an admin's delete on another instance, a sweep) is waited for here too: once it is gone it
    /// is no heir, where the hand-over to it failed its foreign key and answered 500 (found by a review).
    static func lockDoomed(where condition: String, limit: Int64, in sql: SQLBuilder, tx: PostgresTransaction)
        async throws -> [String]
    {
        var sql = sql
        sql.append(
            """
            WITH doomed AS (
                SELECT id FROM feedback WHERE \(condition) LIMIT \(sql.bind(limit)) FOR UPDATE
            ), claimed AS (
                SELECT file_name FROM screenshot WHERE feedback_id IN (SELECT id FROM doomed) FOR UPDATE
            )
            -- `claimed` is read so that it runs: a WITH query nothing reads is not run, and its rows not locked.
            SELECT (SELECT array_agg(id) FROM doomed) AS ids, (SELECT count(*) FROM claimed) AS screenshots
            """)
        guard let row = try await tx.row(sql.query), let ids = try row.value("ids", as: [String]?.self) else { return [] }
        if try row.value("screenshots", as: Int64.self) > 0 {
            // The heirs, in a statement of its own, after the one above: its snapshot sees an item naming one of
            // those screenshots whose insert the statement above waited for (committed after that one's snapshot).
            try await tx.execute(
                """
                SELECT f.id FROM feedback f JOIN feedback_screenshot c ON c.feedback_id = f.id
                JOIN screenshot s ON s.file_name = c.file_name
                WHERE s.feedback_id = ANY(\(ids)) AND f.id <> ALL(\(ids))
                FOR KEY SHARE OF f
                """)
        }
        return ids
    }

    /// The members of a `WITH`, after one named `doomed` that holds the ids of feedback rows about to go, that deal
    /// with the screenshots those rows claimed: each one another item still names (`feedback_screenshot`) is handed
    /// to that item, the others are deleted (their bytes by cascade), a row of `shots` for each. Every item that
    /// names an upload is in `feedback_screenshot`; only the first claimer is in `screenshot.feedback_id`, which
    /// keeps the upload attached, so the screenshot goes with the last item that names it, not the first.
    static let screenshotsOfDoomed = """
        heirs AS (
            SELECT s.file_name, min(c.feedback_id) AS heir
            FROM screenshot s JOIN feedback_screenshot c ON c.file_name = s.file_name
            WHERE s.feedback_id IN (SELECT id FROM doomed) AND c.feedback_id NOT IN (SELECT id FROM doomed)
            GROUP BY s.file_name
        ), handed AS (
            UPDATE screenshot s SET feedback_id = heirs.heir FROM heirs WHERE s.file_name = heirs.file_name
            RETURNING 1
        ), shots AS (
            DELETE FROM screenshot WHERE feedback_id IN (SELECT id FROM doomed)
                AND file_name NOT IN (SELECT file_name FROM heirs)
            RETURNING 1
        )
        """

    /// The statement, for a `WITH` of deleted rows (`source`, with their Slack columns), that records the addresses
    /// of those captured from Slack lately, so that a recovery sweep does not capture them again
    /// (`RemovedCaptures`).
    static func rememberRemovedCaptures(from source: String, at now: Int64, in sql: inout SQLBuilder) -> String {
        """
        INSERT INTO removed_capture (client_id, team_id, channel_id, message_ts, removed_at)
        SELECT client_id, slack_team_id, slack_channel_id, slack_message_ts, \(sql.bind(now)) FROM \(source)
        WHERE slack_message_ts IS NOT NULL AND slack_team_id IS NOT NULL AND slack_channel_id IS NOT NULL
            AND created_at >= \(sql.bind(RemovedCaptures.horizon(at: now)))
        ON CONFLICT (client_id, team_id, channel_id, message_ts)
            DO UPDATE SET removed_at = GREATEST(removed_capture.removed_at, excluded.removed_at)
        RETURNING 1
        """
    }

    /// After the feedback rows `ids` were deleted in `tx`: turns their posts to a notify channel into `slack.unpost`
    /// jobs (the payload as `UnpostJob` encodes it) and forgets where they went. A statement of its own, after the
    /// deletion's: a post recorded while the deletion waited for the item's row (`recordPost` holds it `FOR SHARE`)
    /// committed before this statement's snapshot, so it is seen here, where the deletion's own snapshot missed it.
    static func queueUnposts(ofFeedback ids: [String], at now: Int64, in tx: PostgresTransaction) async throws {
        guard !ids.isEmpty else { return }
        try await tx.execute(
            """
            WITH unposted AS (
                DELETE FROM slack_post WHERE feedback_id = ANY(\(ids))
                RETURNING client_id, team_id, channel_id, message_ts
            )
            INSERT INTO job (kind, client_id, team_id, payload, run_at, attempts, created_at)
            SELECT \(SlackJob.Kind.unpost.rawValue), client_id, team_id,
                json_build_object('channel', channel_id, 'ts', message_ts)::text, \(now), 0, \(now)
            FROM unposted
            """)
    }

    // MARK: Screenshots

    /// Most bytes in one `screenshot_chunk` row: what an upload or a download holds of a file at a time.
    static let chunkBytes = 1024 * 1024

    public func saveScreenshot(_ s: StoredScreenshot, bytes: [UInt8], quota: Int64) async throws {
        let whole = ByteBuffer(bytes: bytes)
        try await saveScreenshot(s, quota: quota) { index in
            let start = index * Self.chunkBytes
            return start < whole.readableBytes
                ? whole.getSlice(at: whole.readerIndex + start, length: min(Self.chunkBytes, whole.readableBytes - start))
                : nil
        }
    }

    /// Reads the spool file a chunk at a time into the statements that store it: an upload holds about one chunk
    /// in memory, never the whole file.
    public func saveScreenshot(_ s: StoredScreenshot, spooledFile path: String, quota: Int64) async throws {
        try await saveScreenshot(s, quota: quota) { index in
            try SpooledFile.chunk(of: path, at: Int64(index) * Int64(Self.chunkBytes), upTo: Self.chunkBytes, size: s.fileSize)
        }
    }

    /// Inserts the record, then chunk after chunk (`chunk(i)` until it gives nil), in one transaction: every
    /// instance can serve the file once the upload is acknowledged, and a failure leaves none of it. A transaction of
    /// its own, not the shared writer's: an upload is megabytes that other writes should not wait to commit behind,
    /// and it may wait for another upload of its client (`lockUploadQuota`), which in the writer would hold every
    /// other write of the instance too. A failed upload is simply sent again (a new file), so the connection lost
    /// after COMMIT went out is a 503 like any other (an upload that did commit then goes with the unclaimed ones).
    private func saveScreenshot(
        _ s: StoredScreenshot, quota: Int64, chunk: @escaping @Sendable (Int) throws -> ByteBuffer?
    ) async throws {
        try await backend.transaction(lockTimeout: quota > 0 ? Self.uploadQuotaWait : nil) { tx in
            guard try await Self.liveClient(id: s.clientId, in: tx) != nil else { throw FeedbackError.unknownClient }
            if quota > 0 {
                try await Self.lockUploadQuota(client: s.clientId, in: tx)
                let held = try await tx.scalar(
                    """
                    SELECT COALESCE(SUM(file_size), 0)::bigint FROM screenshot
                    WHERE client_id = \(s.clientId) AND feedback_id IS NULL
                    """, as: Int64.self) ?? 0
                guard held + s.fileSize <= quota else {
                    throw FeedbackError.uploadQuotaExceeded(megabytes: quota / (1024 * 1024))
                }
            }
            // Held from here to the commit (not while waiting for the upload lock above, which would hold a closure's
            // delete, and the shared writer's batch behind it, as long): a closure that finished meanwhile is seen
            // now, and one that comes later waits for these inserts.
            guard try await Self.heldLiveClient(id: s.clientId, in: tx) != nil else { throw FeedbackError.unknownClient }
            try await tx.execute(
                """
                INSERT INTO screenshot (file_name, client_id, mime_type, file_size, width, height, created_at)
                VALUES (\(s.fileName), \(s.clientId), \(s.mimeType), \(s.fileSize), \(s.width), \(s.height),
                    \(epochMillis(s.createdAt)))
                """)
            var index = 0
            while let bytes = try chunk(index) {
                try await tx.execute(
                    "INSERT INTO screenshot_chunk (file_name, seq, bytes) VALUES (\(s.fileName), \(index), \(bytes))")
                index += 1
            }
        }
    }

    /// How long an upload waits for another upload of its client to end before it gives up (`StoreUnavailable`, a
    /// 503 the client may try again).
    static let uploadQuotaWait: Duration = .seconds(10)

    /// Takes the client's upload lock for the rest of the upload's transaction: uploads of one client, on every
    /// instance, check the quota and insert one transaction at a time, so the sum each reads sees every upload
    /// committed before it. A key for each client (derived from `PostgresLocks.uploadQuota`): an instance that stalls
    /// inside an upload (a paused process, its transaction left open) holds up only its client's uploads, each for
    /// `uploadQuotaWait` at most (the transaction's lock timeout), never every client's.
    static func lockUploadQuota(client: String, in tx: PostgresTransaction) async throws {
        try await PostgresLocks.lock(PostgresLocks.uploadQuota, key: client, in: tx)
    }

    public func screenshot(fileName: String) async throws -> StoredScreenshot? {
        try await row(
            """
            SELECT file_name, client_id, mime_type, file_size, width, height, created_at FROM screenshot
            WHERE file_name = \(fileName)
            AND client_id NOT IN (SELECT client_id FROM account_deletion)
            """
        ).map { row in
            StoredScreenshot(
                fileName: try row.value("file_name"), clientId: try row.value("client_id"),
                mimeType: try row.value("mime_type"), fileSize: try row.value("file_size"),
                width: try row.value("width"), height: try row.value("height"),
                createdAt: dateFromEpochMillis(try row.value("created_at")))
        }
    }

    public func unattachedScreenshotBytes(clientID: String) async throws -> Int64 {
        try await scalar(
            """
            SELECT COALESCE(SUM(file_size), 0)::bigint FROM screenshot
            WHERE client_id = \(clientID) AND feedback_id IS NULL
            """, as: Int64.self) ?? 0
    }

    public func screenshotBytes(fileName: String) async throws -> Data? {
        let chunks = try await rows("SELECT bytes FROM screenshot_chunk WHERE file_name = \(fileName) ORDER BY seq")
        guard !chunks.isEmpty else { return nil }
        var data = Data()
        for row in chunks { data.append(try row[0].decode(Data.self)) }
        return data
    }

    public func screenshotPieces(fileName: String) async throws -> ScreenshotPieces? {
        guard let count = try await scalar(
            "SELECT COUNT(*)::bigint FROM screenshot_chunk WHERE file_name = \(fileName)", as: Int64.self),
            count > 0
        else { return nil }
        return ScreenshotPieces(count: Int(count)) { [self] index in
            try await scalar(
                "SELECT bytes FROM screenshot_chunk WHERE file_name = \(fileName) AND seq = \(index)", as: ByteBuffer.self)
        }
    }

    /// The bytes are rows that go with their screenshot (a cascade): nothing is left to remove outside the
    /// database. Clears the queue table kept for parity with SQLite.
    public func purgeDeletedScreenshots() async throws {
        try await write { tx in try await tx.execute("DELETE FROM file_deletion") }
    }
}

/// `client` rows.
enum PGClientRecord {
    /// Clients being closed are invisible everywhere.
    static let select = """
        SELECT id, name, plan, allowed_origins, created_at FROM client WHERE \(pgLiveClientCondition)
        """

    static func byID(_ id: String) -> PostgresQuery {
        var sql = SQLBuilder(select)
        sql.append(" AND id = \(sql.bind(id))")
        return sql.query
    }

    static func client(_ row: PostgresRandomAccessRow) throws -> Client {
        guard let origins = StoredColumns.origins(try row.value("allowed_origins")) else {
            throw PostgresStoreDecodingError(table: "client", column: "allowed_origins")
        }
        return Client(
            id: try row.value("id"), name: try row.value("name"), plan: try row.enumValue("plan", table: "client"),
            allowedOrigins: origins, createdAt: dateFromEpochMillis(try row.value("created_at")))
    }
}

/// `feedback` rows.
enum PGFeedbackRecord {
    /// Every column of an item.
    static let columns = """
        id, client_id, source, created_at, rating, comment, user_email, page_url, page_title, referrer,
            environment, metadata, screenshots, session_replay_id, replay_offset_ms, user_id, slack_team_id,
            slack_channel_id, slack_message_ts, slack_thread_ts, slack_author_id, slack_forwarded_by,
            slack_captured_via, slack_permalink, slack_recovered
        """
    /// The Slack member ids live in `feedback_slack_person` (see the migration `v8-pg-slack-person`); its column
    /// names are unique across both tables, so conditions on `feedback`'s columns read the same after the join.
    static let select = "SELECT \(columns) FROM feedback LEFT JOIN feedback_slack_person ON feedback_id = id"

    static func item(_ row: PostgresRandomAccessRow) throws -> FeedbackItem {
        guard let screenshots = StoredColumns.screenshots(try row.value("screenshots")) else {
            throw PostgresStoreDecodingError(table: "feedback", column: "screenshots")
        }
        var metadata: JSONValue?
        if let text: String = try row.value("metadata") {
            guard let parsed = StoredColumns.json(text) else {
                throw PostgresStoreDecodingError(table: "feedback", column: "metadata")
            }
            metadata = parsed
        }
        var slack: SlackCapture?
        if let team: String = try row.value("slack_team_id") {
            slack = SlackCapture(
                teamId: team, channelId: try row.value("slack_channel_id"),
                messageTs: try row.value("slack_message_ts"), threadTs: try row.value("slack_thread_ts"),
                authorId: try row.value("slack_author_id"), forwardedBy: try row.value("slack_forwarded_by"),
                capturedVia: try row.enumValue("slack_captured_via", table: "feedback"),
                permalink: try row.value("slack_permalink"),
                recovered: try row.value("slack_recovered", as: Int.self) != 0)
        }
        let clientId: String = try row.value("client_id")
        let draft = FeedbackDraft(
            clientId: clientId, source: try row.enumValue("source", table: "feedback"), rating: try row.value("rating"),
            comment: try row.value("comment"), userEmail: try row.value("user_email"),
            pageUrl: try row.value("page_url"), pageTitle: try row.value("page_title"),
            referrer: try row.value("referrer"), environment: try row.value("environment"), metadata: metadata,
            screenshots: screenshots, sessionReplayId: try row.value("session_replay_id"),
            replayOffsetMs: try row.value("replay_offset_ms"), userId: try row.value("user_id"), slack: slack)
        return FeedbackItem(
            id: try row.value("id"), clientId: clientId, createdAt: dateFromEpochMillis(try row.value("created_at")),
            draft: draft)
    }
}
