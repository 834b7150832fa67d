public import Foundation
public import GRDB

/// The embedded backend: one SQLite file through `AppDatabase`.
public struct SQLiteFeedbackStore: FeedbackStore {
    /// The shared database.
    public let database: AppDatabase
    /// Where screenshot bytes live.
    public let files: ScreenshotFiles

    /// Creates the store.
    public init(database: AppDatabase, files: ScreenshotFiles) {
        self.database = database
        self.files = files
    }

    // MARK: Clients

    public func createClient(name: String, plan: Plan, allowedOrigins: [String], at date: Date) async throws
        -> (Client, String)
    {
        let client = Client(
            id: Identifiers.newClientID(), name: name, plan: plan, allowedOrigins: allowedOrigins, createdAt: date)
        let key = Identifiers.newAdminKey()
        let hash = Data(Identifiers.adminKeyHash(key))
        let origins = JSONValue.array(allowedOrigins.map(JSONValue.string)).jsonText
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
        try await database.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "\(Self.clientSelect) AND c.id = ?"), arguments: [id])
                .flatMap(Self.client(from:))
        }
    }

    public func client(adminKey: String) async throws -> Client? {
        let hash = Data(Identifiers.adminKeyHash(adminKey))
        return try await database.read { db in
            try Row.fetchOne(db, sql: "\(Self.clientSelect) AND c.admin_key_hash = ?", arguments: [hash])
                .flatMap(Self.client(from:))
        }
    }

    public func updatePlan(clientID: String, plan: Plan) async throws -> Client? {
        let changed = try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE client SET plan = ? WHERE id = ?
                    AND id NOT IN (SELECT client_id FROM account_deletion)
                    """,
                arguments: [plan.rawValue, clientID])
            return db.changesCount > 0
        }
        return changed ? try await client(id: clientID) : nil
    }

    /// Clients being closed are invisible everywhere.
    private static let clientSelect = """
        SELECT c.id, c.name, c.plan, c.allowed_origins, c.created_at FROM client c
        WHERE c.id NOT IN (SELECT client_id FROM account_deletion)
        """

    private static func client(from row: Row) -> Client? {
        guard let plan = Plan(rawValue: row[2]) else { return nil }
        let origins: [String]
        if case .array(let values)? = JSONValue.parse(Array((row[3] as String).utf8)) {
            origins = values.compactMap { if case .string(let s) = $0 { s } else { nil } }
        } else {
            origins = []
        }
        return Client(id: row[0], name: row[1], plan: plan, allowedOrigins: origins,
                      createdAt: dateFromEpochMillis(row[4]))
    }

    // MARK: Feedback

    public func insert(_ draft: FeedbackDraft, at date: Date, origin: String?) async throws -> FeedbackItem {
        let item = FeedbackItem(id: Identifiers.newFeedbackID(), clientId: draft.clientId, createdAt: date, draft: draft)
        // The client check rides in the write: one hop to the writer instead of a read hop and then a write hop.
        try await database.write { db in
            let row = try Row.fetchOne(db.cachedStatement(sql: "\(Self.clientSelect) AND c.id = ?"), arguments: [item.clientId])
            guard let client = row.flatMap(Self.client(from:)) else { throw FeedbackError.unknownClient }
            guard client.allows(origin: origin) else { throw FeedbackError.originNotAllowed }
            try Self.insert(item, into: db)
        }
        return item
    }

    /// Inserts an item and links the uploaded screenshots it names, in the caller's transaction.
    public static func insert(_ item: FeedbackItem, into db: Database) throws {
        let d = item.draft
        let screenshots =
            d.screenshots.isEmpty ? "[]" : String(decoding: try JSONEncoder().encode(d.screenshots), as: UTF8.self)
        var arguments: StatementArguments = [
            item.id, item.clientId, d.source.rawValue, epochMillis(item.createdAt), d.rating, d.comment, d.userEmail,
            d.pageUrl, d.pageTitle, d.referrer, d.environment, d.metadata?.jsonText, screenshots, d.sessionReplayId,
            d.replayOffsetMs, d.userId,
        ]
        arguments += [
            d.slack?.teamId, d.slack?.channelId, d.slack?.messageTs, d.slack?.threadTs, d.slack?.authorId,
            d.slack?.forwardedBy, d.slack?.capturedVia.rawValue, d.slack?.permalink,
        ]
        // A cached statement: preparing this 24-column insert on every request costs more than running it.
        try db.cachedStatement(
            sql: """
                INSERT INTO feedback (id, client_id, source, created_at, rating, comment, user_email, page_url,
                    page_title, referrer, environment, metadata, screenshots, session_replay_id, replay_offset_ms,
                    user_id, slack_team_id, slack_channel_id, slack_message_ts, slack_thread_ts, slack_author_id,
                    slack_forwarded_by, slack_captured_via, slack_permalink)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: arguments)
        for shot in d.screenshots {
            try db.cachedStatement(
                sql: "UPDATE screenshot SET feedback_id = ? WHERE file_name = ? AND client_id = ? AND feedback_id IS NULL"
            ).execute(arguments: [item.id, shot.fileName, item.clientId])
        }
    }

    public func feedback(id: String, clientID: String) async throws -> FeedbackItem? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "\(Self.feedbackSelect) WHERE client_id = ? AND id = ?", arguments: [clientID, id])
                .map(Self.item(from:))
        }
    }

    public func listFeedback(clientID: String, filter: FeedbackFilter, limit: Int, after cursor: FeedbackCursor?)
        async throws -> FeedbackPage
    {
        var conditions = ["client_id = ?"]
        var arguments: StatementArguments = [clientID]
        if let source = filter.source {
            conditions.append("source = ?")
            arguments += [source.rawValue]
        }
        if let environment = filter.environment {
            if let environment {
                conditions.append("environment = ?")
                arguments += [environment]
            } else {
                conditions.append("environment IS NULL")
            }
        }
        if let cursor {
            conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
            arguments += [cursor.createdAtMillis, cursor.createdAtMillis, cursor.id]
        }
        let sql = """
            \(Self.feedbackSelect) WHERE \(conditions.joined(separator: " AND "))
            ORDER BY created_at DESC, id DESC LIMIT \(limit + 1)
            """
        let finalArguments = arguments
        var items = try await database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: finalArguments).map(Self.item(from:))
        }
        var next: FeedbackCursor?
        if items.count > limit {
            items.removeLast(items.count - limit)
            if let last = items.last {
                next = FeedbackCursor(createdAtMillis: epochMillis(last.createdAt), id: last.id)
            }
        }
        return FeedbackPage(items: items, next: next)
    }

    public func deleteFeedback(id: String, clientID: String) async throws -> Bool {
        let deleted = try await database.write { db in
            let millis = epochMillis(Date())
            try db.queueScreenshotFiles(
                ofFeedbackWhere: "f.client_id = ? AND f.id = ?", arguments: [clientID, id], at: millis)
            try db.execute(sql: "DELETE FROM feedback WHERE client_id = ? AND id = ?", arguments: [clientID, id])
            return db.changesCount > 0
        }
        try await files.purgeQueued(in: database)
        return deleted
    }

    /// Every column of an item, in the order `item(from:)` reads them.
    public static let feedbackSelect = """
        SELECT id, client_id, source, created_at, rating, comment, user_email, page_url, page_title, referrer,
            environment, metadata, screenshots, session_replay_id, replay_offset_ms, user_id, slack_team_id,
            slack_channel_id, slack_message_ts, slack_thread_ts, slack_author_id, slack_forwarded_by,
            slack_captured_via, slack_permalink
        FROM feedback
        """

    /// Decodes a row selected with `feedbackSelect`.
    public static func item(from row: Row) -> FeedbackItem {
        let metadataText: String? = row[11]
        let screenshotsText: String = row[12]
        let screenshots =
            screenshotsText == "[]"
            ? [] : (try? JSONDecoder().decode([ScreenshotRef].self, from: Data(screenshotsText.utf8))) ?? []
        var slack: SlackCapture?
        if let team: String = row[16] {
            slack = SlackCapture(
                teamId: team, channelId: row[17], messageTs: row[18], threadTs: row[19], authorId: row[20],
                forwardedBy: row[21], capturedVia: SlackCaptureMethod(rawValue: row[22] ?? "") ?? .command,
                permalink: row[23])
        }
        let draft = FeedbackDraft(
            clientId: row[1], source: FeedbackSource(rawValue: row[2]) ?? .api, rating: row[4], comment: row[5],
            userEmail: row[6], pageUrl: row[7], pageTitle: row[8], referrer: row[9], environment: row[10],
            metadata: metadataText.flatMap { JSONValue.parse(Array($0.utf8)) }, screenshots: screenshots,
            sessionReplayId: row[13], replayOffsetMs: row[14], userId: row[15], slack: slack)
        return FeedbackItem(id: row[0], clientId: row[1], createdAt: dateFromEpochMillis(row[3]), draft: draft)
    }

    // MARK: Screenshots

    public func insertScreenshot(_ s: StoredScreenshot) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO screenshot (file_name, client_id, mime_type, file_size, width, height, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [s.fileName, s.clientId, s.mimeType, s.fileSize, s.width, s.height, epochMillis(s.createdAt)])
        }
    }

    public func screenshot(fileName: String) async throws -> StoredScreenshot? {
        try await database.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT s.file_name, s.client_id, s.mime_type, s.file_size, s.width, s.height, s.created_at
                    FROM screenshot s JOIN client c ON c.id = s.client_id
                    WHERE s.file_name = ? AND c.id NOT IN (SELECT client_id FROM account_deletion)
                    """,
                arguments: [fileName]
            ).map { row in
                StoredScreenshot(
                    fileName: row[0], clientId: row[1], mimeType: row[2], fileSize: row[3], width: row[4],
                    height: row[5], createdAt: dateFromEpochMillis(row[6]))
            }
        }
    }
}
