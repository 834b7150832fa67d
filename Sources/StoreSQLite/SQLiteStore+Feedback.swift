public import Feedback
public import Foundation
import GRDB
import SlackGateway
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

extension SQLiteStore: FeedbackStore {
    // MARK: Clients

    public func createClient(name: String, plan: Plan, allowedOrigins: [String], at date: Date) async throws
        -> (Client, String)
    {
        let client = Client(
            id: Identifiers.newClientID(), name: name, plan: plan, allowedOrigins: allowedOrigins, createdAt: date)
        let key = Identifiers.newAdminKey()
        let hash = Data(Identifiers.adminKeyHash(key))
        let origins = StoredColumns.originsText(allowedOrigins)
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO client (id, name, plan, admin_key_hash, allowed_origins, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [client.id, name, plan.rawValue, hash, origins, epochMillis(date)])
        }
        return (client, key)
    }

    public func client(id: String) async throws -> Client? {
        try await database.read { db in try Self.liveClient(id: id, in: db) }
    }

    public func client(adminKey: String) async throws -> Client? {
        let hash = Data(Identifiers.adminKeyHash(adminKey))
        return try await database.read { db in
            try ClientRecord.fetchOne(
                db.cachedStatement(sql: "\(ClientRecord.select) AND admin_key_hash = ?"), arguments: [hash]
            )?.client
        }
    }

    public func updateClient(clientID: String, plan: Plan?, allowedOrigins: [String]?) async throws -> Client? {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE client SET plan = coalesce(?, plan), allowed_origins = coalesce(?, allowed_origins)
                    WHERE id = ? AND \(liveClientCondition)
                    """,
                arguments: [plan?.rawValue, allowedOrigins.map(StoredColumns.originsText), clientID])
            return db.changesCount > 0 ? try Self.liveClient(id: clientID, in: db) : nil
        }
    }

    public func liveClients() async throws -> [Client] {
        try await database.read { db in
            try ClientRecord.fetchAll(db, sql: "\(ClientRecord.select) ORDER BY created_at, id").map(\.client)
        }
    }

    static func liveClient(id: String, in db: Database) throws -> Client? {
        try ClientRecord.fetchOne(db.cachedStatement(sql: "\(ClientRecord.select) AND id = ?"), arguments: [id])?.client
    }

    /// The allowlist of the live client `id`, nil when there is no such client: the read every submission's write
    /// makes, one column instead of a whole client (decoding the client cost about as much as the insert).
    static func liveClientOrigins(id: String, in db: Database) throws -> [String]? {
        let statement = try db.cachedStatement(
            sql: "SELECT allowed_origins FROM client WHERE \(liveClientCondition) AND id = ?")
        guard let text = try String.fetchOne(statement, arguments: [id]) else { return nil }
        guard let origins = StoredColumns.origins(text) else {
            throw StoreDecodingError(table: "client", column: "allowed_origins")
        }
        return origins
    }

    // MARK: Feedback

    public func insert(_ draft: FeedbackDraft, at date: Date, origin: String?) async throws -> FeedbackItem {
        let item = FeedbackItem(newAt: date, draft: draft)
        // The client check rides in the write: one hop to the writer instead of a read hop and then a write hop.
        let notifies = postsNewFeedbackToSlack
        let (enqueuedJobs, stored) = try await database.write(savepoint: false) { db -> (Bool, FeedbackItem?) in
            guard let origins = try Self.liveClientOrigins(id: item.clientId, in: db) else {
                throw FeedbackError.unknownClient
            }
            guard OriginPattern.allowlist(origins, allows: origin) else { throw FeedbackError.originNotAllowed }
            // A repeat: the writer is the only one, so the item it names is there now or not at all.
            if let key = draft.submissionKey, let stored = try Self.item(keyed: key, of: item, in: db) {
                return (false, stored)
            }
            // Accepted means durable for the Slack post too: it commits with the item, or neither does.
            let jobs = notifies ? try Self.notificationJobs(for: item, in: db) : []
            if jobs.isEmpty && item.draft.screenshots.isEmpty {
                // The insert alone, the common case: one statement, which SQLite undoes by itself if it fails.
                try Self.insert(item, into: db)
                return (false, nil)
            }
            try db.inSavepoint {
                try Self.insert(item, into: db)
                for job in jobs { try Self.enqueue(job, in: db) }
                return .commit
            }
            return (!jobs.isEmpty, nil)
        }
        // Committed: the worker posts it now rather than at its next poll.
        if enqueuedJobs { newJobs?.signal() }
        return stored ?? item
    }

    /// The item of `item`'s client stored under `key`, as `item` with that item's id and time; nil when there is
    /// none. Throws `submissionKeyReused` when it was stored with other content.
    static func item(keyed key: SubmissionKey, of item: FeedbackItem, in db: Database) throws -> FeedbackItem? {
        let statement = try db.cachedStatement(
            sql: """
                SELECT id, created_at, submission_content FROM feedback
                WHERE client_id = ? AND submission_key = ? AND submission_key IS NOT NULL
                """)
        guard let row = try Row.fetchOne(statement, arguments: [item.clientId, Data(key.key)]) else { return nil }
        return try key.repeated(
            item, storedAs: row["id"], createdAtMillis: row["created_at"],
            storedContent: (row["submission_content"] as Data?).map(Array.init))
    }

    /// Inserts an item and links the uploaded screenshots it names, in the caller's transaction.
    static func insert(_ item: FeedbackItem, into db: Database) throws {
        let d = item.draft
        let screenshots =
            try StoredColumns.screenshotsText(d.screenshots)
        var arguments: StatementArguments = [
            item.id, item.clientId, d.source.rawValue, epochMillis(item.createdAt), d.rating, d.comment, d.userEmail,
            d.pageUrl, d.pageTitle, d.referrer, d.environment, d.metadata?.jsonText, screenshots, d.sessionReplayId,
            d.replayOffsetMs, d.userId,
        ]
        arguments += [
            d.slack?.teamId, d.slack?.channelId, d.slack?.messageTs, d.slack?.threadTs, d.slack?.authorId,
            d.slack?.forwardedBy, d.slack?.capturedVia.rawValue, d.slack?.permalink, d.slack?.recovered ?? false,
            d.submissionKey.map { Data($0.key) }, d.submissionKey.map { Data($0.content) },
        ]
        // A cached statement: preparing this 25-column insert on every request costs more than running it.
        try db.cachedStatement(
            sql: """
                INSERT INTO feedback (id, client_id, source, created_at, rating, comment, user_email, page_url,
                    page_title, referrer, environment, metadata, screenshots, session_replay_id, replay_offset_ms,
                    user_id, slack_team_id, slack_channel_id, slack_message_ts, slack_thread_ts, slack_author_id,
                    slack_forwarded_by, slack_captured_via, slack_permalink, slack_recovered, submission_key,
                    submission_content)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: arguments)
        for shot in d.screenshots {
            try db.cachedStatement(
                sql: "UPDATE screenshot SET feedback_id = ? WHERE file_name = ? AND client_id = ? AND feedback_id IS NULL"
            ).execute(arguments: [item.id, shot.fileName, item.clientId])
            try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO feedback_screenshot (feedback_id, file_name)
                    SELECT ?, file_name FROM screenshot WHERE file_name = ? AND client_id = ?
                    """
            ).execute(arguments: [item.id, shot.fileName, item.clientId])
        }
    }

    public func feedback(id: String, clientID: String) async throws -> FeedbackItem? {
        try await database.read { db in
            try FeedbackRecord.fetchOne(
                db.cachedStatement(sql: "\(FeedbackRecord.select) WHERE client_id = ? AND id = ?"),
                arguments: [clientID, id]
            )?.item
        }
    }

    public func listFeedback(clientID: String, filter: FeedbackFilter, limit: Int, after cursor: FeedbackCursor?)
        async throws -> FeedbackPage
    {
        var (sql, arguments) = Self.listed(clientID: clientID, filter: filter, select: FeedbackRecord.select)
        if let cursor {
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            arguments += [cursor.createdAtMillis, cursor.createdAtMillis, cursor.id]
        }
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        arguments += [limit + 1]
        let (statement, bound) = (sql, arguments)
        let items = try await database.read { db in
            try FeedbackRecord.fetchAll(db.cachedStatement(sql: statement), arguments: bound).map(\.item)
        }
        return FeedbackPage(fetched: items, limit: limit)
    }

    public func newerPageCursor(clientID: String, filter: FeedbackFilter, limit: Int, before cursor: FeedbackCursor)
        async throws -> FeedbackCursor?
    {
        var (sql, arguments) = Self.listed(clientID: clientID, filter: filter, select: "SELECT created_at, id FROM feedback")
        sql += " AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT 1 OFFSET ?"
        arguments += [cursor.createdAtMillis, cursor.createdAtMillis, cursor.id, max(0, limit - 1)]
        let (statement, bound) = (sql, arguments)
        return try await database.read { db in
            try Row.fetchOne(db.cachedStatement(sql: statement), arguments: bound).map {
                FeedbackCursor(createdAtMillis: $0["created_at"], id: $0["id"])
            }
        }
    }

    /// `select` and the conditions that pick the client's items `filter` selects. The statement is put together
    /// from fixed fragments only (values are always bound), so each filter combination is one cached statement that
    /// its own index serves.
    private static func listed(clientID: String, filter: FeedbackFilter, select: String) -> (String, StatementArguments) {
        var sql = "\(select) WHERE client_id = ?"
        var arguments: StatementArguments = [clientID]
        if let source = filter.source {
            sql += " AND source = ?"
            arguments += [source.rawValue]
        }
        switch filter.environment {
        case .some(.some(let environment)):
            sql += " AND environment = ?"
            arguments += [environment]
        case .some(.none):
            sql += " AND environment IS NULL"
        case .none:
            break
        }
        if let pattern = filter.likePattern {
            // SQLite's LIKE ignores the case of ASCII letters (usero never sets `case_sensitive_like`).
            sql += " AND (comment LIKE ? ESCAPE '\\' OR user_email LIKE ? ESCAPE '\\'"
            arguments += [pattern, pattern]
            if let slack = filter.slackLikePattern {
                sql += " OR comment LIKE ? ESCAPE '\\'"
                arguments += [slack]
            }
            sql += ")"
        }
        return (sql, arguments)
    }

    public func environments(clientID: String, limit: Int) async throws -> [String] {
        // A skip-scan over the `(client_id, environment, …)` index: one index seek per distinct name, so the cost
        // follows the number of environments, not the number of items.
        try await database.read { db in
            try String.fetchAll(
                db,
                sql: """
                    WITH RECURSIVE env(name) AS (
                        SELECT MIN(environment) FROM feedback WHERE client_id = :client AND environment IS NOT NULL
                        UNION ALL
                        SELECT (SELECT MIN(environment) FROM feedback WHERE client_id = :client
                            AND environment > env.name)
                        FROM env WHERE env.name IS NOT NULL
                    )
                    SELECT name FROM env WHERE name IS NOT NULL LIMIT :limit
                    """,
                arguments: ["client": clientID, "limit": limit])
        }
    }

    public func deleteFeedback(id: String, clientID: String) async throws -> Bool {
        let deleted = try await database.write { db in
            // The client's own item, or nothing at all: its screenshots are found by the item's id alone.
            let owned = try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM feedback WHERE client_id = ? AND id = ?)",
                arguments: [clientID, id]) ?? false
            guard owned else { return false }
            let now = epochMillis(Date())
            try Self.queueScreenshotFiles(ofFeedback: [id], at: now, in: db)
            try Self.rememberRemovedCapture(ofFeedback: id, at: now, in: db)
            try Self.queueUnposts(ofFeedback: id, at: now, in: db)
            try db.execute(sql: "DELETE FROM feedback WHERE client_id = ? AND id = ?", arguments: [clientID, id])
            return db.changesCount > 0
        }
        // The deletion is committed: a purge that fails now leaves the files queued for the next one (the next
        // deletion, sweep or start), and must not answer the delete with an error (a retry would then say 404).
        try? await purgeDeletedScreenshots()
        if deleted { await database.dropErasedPages() }
        return deleted
    }

    /// Before a row is deleted on purpose: when it was captured from Slack lately, records its message's address so
    /// that a recovery sweep does not capture it again (`RemovedCaptures`).
    static func rememberRemovedCapture(ofFeedback id: String, at now: Int64, in db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO removed_capture (client_id, team_id, channel_id, message_ts, removed_at)
                SELECT client_id, slack_team_id, slack_channel_id, slack_message_ts, ? FROM feedback
                WHERE id = ? AND slack_message_ts IS NOT NULL AND slack_team_id IS NOT NULL
                    AND slack_channel_id IS NOT NULL AND created_at >= ?
                ON CONFLICT (client_id, team_id, channel_id, message_ts)
                    DO UPDATE SET removed_at = max(removed_at, excluded.removed_at)
                """
        ).execute(arguments: [now, id, RemovedCaptures.horizon(at: now)])
    }

    // MARK: Screenshots

    public func saveScreenshot(_ s: StoredScreenshot, bytes: [UInt8], quota: Int64) async throws {
        try bytes.withUnsafeBytes { try files.writeDurably($0, fileName: s.fileName) }
        try await insertScreenshotRecord(s, quota: quota)
    }

    /// Moves the spool file into place (synced, then renamed): an upload is never read back into memory.
    public func saveScreenshot(_ s: StoredScreenshot, spooledFile path: String, quota: Int64) async throws {
        try files.adoptDurably(path, fileName: s.fileName)
        try await insertScreenshotRecord(s, quota: quota)
    }

    public func unattachedScreenshotBytes(clientID: String) async throws -> Int64 {
        try await database.read { db in try Self.unattachedBytes(clientID, in: db) }
    }

    private static func unattachedBytes(_ clientID: String, in db: Database) throws -> Int64 {
        try Int64.fetchOne(
            db, sql: "SELECT COALESCE(SUM(file_size), 0) FROM screenshot WHERE client_id = ? AND feedback_id IS NULL",
            arguments: [clientID]) ?? 0
    }

    public func screenshotFilePath(fileName: String) async throws -> String? {
        files.existingPath(fileName)
    }

    /// The row that makes an already durable file visible. A failed insert (or a client whose closure began since
    /// the request checked it) takes the file back.
    private func insertScreenshotRecord(_ s: StoredScreenshot, quota: Int64) async throws {
        do {
            try await database.write { db in
                guard try Self.liveClient(id: s.clientId, in: db) != nil else { throw FeedbackError.unknownClient }
                // One writer at a time: the sum read here cannot change before this insert commits.
                if quota > 0, try Self.unattachedBytes(s.clientId, in: db) + s.fileSize > quota {
                    throw FeedbackError.uploadQuotaExceeded(megabytes: quota / (1024 * 1024))
                }
                try db.execute(
                    sql: """
                        INSERT INTO screenshot (file_name, client_id, mime_type, file_size, width, height, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        s.fileName, s.clientId, s.mimeType, s.fileSize, s.width, s.height, epochMillis(s.createdAt),
                    ])
            }
        } catch {
            files.remove(s.fileName)
            throw error
        }
    }

    public func rotateAdminKey(clientID: String) async throws -> String? {
        let key = Identifiers.newAdminKey()
        let hash = Data(Identifiers.adminKeyHash(key))
        return try await database.write { db in
            try db.execute(
                sql: "UPDATE client SET admin_key_hash = ? WHERE id = ? AND \(liveClientCondition)",
                arguments: [hash, clientID])
            return db.changesCount > 0 ? key : nil
        }
    }

    public func screenshot(fileName: String) async throws -> StoredScreenshot? {
        try await database.read { db in
            try ScreenshotRecord.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT file_name, client_id, mime_type, file_size, width, height, created_at FROM screenshot
                        WHERE file_name = ? AND client_id IN (SELECT id FROM client WHERE \(liveClientCondition))
                        """),
                arguments: [fileName]
            )?.screenshot
        }
    }

    public func screenshotBytes(fileName: String) async throws -> Data? {
        files.read(fileName)
    }

    /// Deletes the files whose rows are gone (queued in `file_deletion`), then forgets them; every chunk, however
    /// many there are.
    public func purgeDeletedScreenshots() async throws {
        while true {
            let names = try await database.scan { db in
                try String.fetchAll(db, sql: "SELECT file_name FROM file_deletion LIMIT 10000")
            }
            guard !names.isEmpty else { return }
            for name in names { files.remove(name) }
            try await database.write { db in
                for name in names {
                    try db.execute(sql: "DELETE FROM file_deletion WHERE file_name = ?", arguments: [name])
                }
            }
        }
    }

    /// Removes the closed account's folder (`screenshots/CLIENT_ID`), once its files are gone: an empty folder named
    /// after the client stayed behind. A folder still holding a file (a purge that failed) stays for the next try.
    public func removeFilesOfClosedAccount(clientID: String) async throws {
        guard ScreenshotName.isClientFolder(clientID) else { return }
        rmdir(files.root.appendingPathComponent(clientID, isDirectory: true).path)
    }

    /// Removes the files a crash between an upload's rename into `screenshots/` and its row's commit left behind:
    /// files no `screenshot` row names, last written before `cutoff` (a running upload wrote its file since: pass
    /// a cutoff before the oldest request still running), and leftovers of cut-off writes. Account closure and
    /// erasure work from rows and would never find such a file. Returns how many files went.
    ///
    /// A store with no screenshot at all removes nothing and answers how many such files its walk's first batch
    /// found (it stops there: whether there are any is what counts): those are another store's (a `serve` started
    /// on a mistyped or new `USERO_DATABASE` beside a data folder in use deleted every screenshot in it, found by a
    /// review), or of uploads that crashed before a first one committed.
    public func removeOrphanedScreenshotFiles(writtenBefore cutoff: Date) async throws
        -> (removed: Int, leftAlone: Int)
    {
        let hasScreenshots = try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM screenshot)") ?? false
        }
        guard hasScreenshots else {
            struct Found: Error { let count: Int }
            do {
                try await files.forEachNameWritten(before: cutoff, batch: 500) { throw Found(count: $0.count) }
            } catch let found as Found {
                return (0, found.count)
            }
            return (0, 0)
        }
        var removed = 0
        try await files.forEachNameWritten(before: cutoff, batch: 500) { batch in
            let known = try await database.scan { db in
                Set(
                    try String.fetchAll(
                        db, sql: "SELECT file_name FROM screenshot WHERE file_name IN (\(Self.marks(batch.count, "?")))",
                        arguments: StatementArguments(batch)))
            }
            for name in batch where !known.contains(name) {
                files.remove(name)
                removed += 1
            }
        }
        return (removed, 0)
    }

    /// Deletes the screenshot records of these feedback rows that no other item names and queues their files for
    /// unlinking after the commit; hands each other one to an item that still names it (`feedback_screenshot`). In
    /// the caller's transaction, before the rows themselves go; returns how many records went.
    @discardableResult
    static func queueScreenshotFiles(ofFeedback ids: [String], at millis: Int64, in db: Database) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        // One item at a time, its claims removed as it goes: a screenshot two of these items name goes with the
        // second.
        let unclaimedElsewhere = """
            feedback_id = ?1 AND NOT EXISTS (
                SELECT 1 FROM feedback_screenshot c WHERE c.file_name = screenshot.file_name AND c.feedback_id <> ?1)
            """
        var total = 0
        for id in ids {
            try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO file_deletion (file_name, queued_at)
                    SELECT file_name, ?2 FROM screenshot WHERE \(unclaimedElsewhere)
                    """
            ).execute(arguments: [id, millis])
            try db.cachedStatement(sql: "DELETE FROM screenshot WHERE \(unclaimedElsewhere)").execute(arguments: [id])
            total += db.changesCount
            try db.cachedStatement(
                sql: """
                    UPDATE screenshot SET feedback_id = (
                        SELECT min(c.feedback_id) FROM feedback_screenshot c
                        WHERE c.file_name = screenshot.file_name AND c.feedback_id <> ?1)
                    WHERE feedback_id = ?1
                    """
            ).execute(arguments: [id])
            try db.cachedStatement(sql: "DELETE FROM feedback_screenshot WHERE feedback_id = ?").execute(arguments: [id])
        }
        return total
    }
}

/// A `client` row, decoded by column name.
struct ClientRecord: FetchableRecord {
    /// Clients being closed are invisible everywhere.
    static let select = """
        SELECT id, name, plan, allowed_origins, created_at FROM client WHERE \(liveClientCondition)
        """

    var client: Client

    init(row: Row) throws {
        guard let origins = StoredColumns.origins(try row.value("allowed_origins")) else {
            throw StoreDecodingError(table: "client", column: "allowed_origins")
        }
        client = Client(
            id: try row.value("id"), name: try row.value("name"), plan: try row.enumValue("plan", table: "client"),
            allowedOrigins: origins, createdAt: dateFromEpochMillis(try row.value("created_at")))
    }
}

/// A `feedback` row, decoded by column name.
struct FeedbackRecord: FetchableRecord {
    /// Every column of an item.
    static let select = """
        SELECT id, client_id, source, created_at, rating, comment, user_email, page_url, page_title, referrer,
            environment, metadata, screenshots, session_replay_id, replay_offset_ms, user_id, slack_team_id,
            slack_channel_id, slack_message_ts, slack_thread_ts, slack_author_id, slack_forwarded_by,
            slack_captured_via, slack_permalink, slack_recovered
        FROM feedback
        """

    var item: FeedbackItem

    init(row: Row) throws {
        guard let screenshots = StoredColumns.screenshots(try row.value("screenshots")) else {
            throw StoreDecodingError(table: "feedback", column: "screenshots")
        }
        var metadata: JSONValue?
        if let text: String = try row.value("metadata") {
            guard let parsed = StoredColumns.json(text) else {
                throw StoreDecodingError(table: "feedback", column: "metadata")
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
                permalink: try row.value("slack_permalink"), recovered: try row.value("slack_recovered"))
        }
        let clientId: String = try row.value("client_id")
        let draft = FeedbackDraft(
            clientId: clientId, source: try row.enumValue("source", table: "feedback"), rating: try row.value("rating"),
            comment: try row.value("comment"), userEmail: try row.value("user_email"),
            pageUrl: try row.value("page_url"), pageTitle: try row.value("page_title"),
            referrer: try row.value("referrer"), environment: try row.value("environment"), metadata: metadata,
            screenshots: screenshots, sessionReplayId: try row.value("session_replay_id"),
            replayOffsetMs: try row.value("replay_offset_ms"), userId: try row.value("user_id"), slack: slack)
        item = FeedbackItem(
            id: try row.value("id"), clientId: clientId, createdAt: dateFromEpochMillis(try row.value("created_at")),
            draft: draft)
    }
}

/// A `screenshot` row, decoded by column name.
struct ScreenshotRecord: FetchableRecord {
    var screenshot: StoredScreenshot

    init(row: Row) throws {
        screenshot = StoredScreenshot(
            fileName: try row.value("file_name"), clientId: try row.value("client_id"),
            mimeType: try row.value("mime_type"), fileSize: try row.value("file_size"), width: try row.value("width"),
            height: try row.value("height"), createdAt: dateFromEpochMillis(try row.value("created_at")))
    }
}
