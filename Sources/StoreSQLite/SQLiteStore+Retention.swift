public import Feedback
import Foundation
import GRDB
public import Retention

extension SQLiteStore: RetentionStore {
    // MARK: Sweeps

    public func clientPlans() async throws -> [ClientPlan] {
        try await database.scan { db in
            try Row.fetchAll(db, sql: "SELECT id, plan FROM client WHERE \(liveClientCondition) ORDER BY id").map { row in
                ClientPlan(clientID: try row.value("id"), plan: try row.enumValue("plan", table: "client"))
            }
        }
    }

    public func deleteFeedbackBatch(_ selection: FeedbackSelection, limit: Int, at now: Int64, record: BatchRecord)
        async throws -> (batch: DeletionBatch, audit: AuditProgress?)?
    {
        let result = try await database.write { db -> (batch: DeletionBatch, audit: AuditProgress?)? in
            guard try Self.mayRecord(record, in: db) else { return nil }
            guard let (condition, arguments) = Self.condition(for: selection) else {
                return (DeletionBatch(), try Self.record(DeletionBatch(), as: record, at: now, in: db))
            }
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, created_at FROM feedback WHERE \(condition) LIMIT ?",
                arguments: arguments + [limit])
            guard !rows.isEmpty else {
                return (DeletionBatch(), try Self.record(DeletionBatch(), as: record, at: now, in: db))
            }
            let ids: [String] = try rows.map { try $0.value("id") }
            let screenshots = try Self.queueScreenshotFiles(ofFeedback: ids, at: now, in: db)
            var deleted = 0
            for id in ids {
                try Self.rememberRemovedCapture(ofFeedback: id, at: now, in: db)
                try Self.queueUnposts(ofFeedback: id, at: now, in: db)
                try db.cachedStatement(sql: "DELETE FROM feedback WHERE id = ?").execute(arguments: [id])
                deleted += db.changesCount
            }
            let oldest = try rows.map { try $0.value("created_at", as: Int64.self) }.min()
            let batch = DeletionBatch(rows: deleted, screenshots: screenshots, oldestCreatedAt: oldest)
            return (batch, try Self.record(batch, as: record, at: now, in: db))
        }
        // The last batch of a sweep or an erasure that deleted something (it found fewer rows than it could take;
        // its audit entry exists once an earlier batch of the same run deleted rows).
        if let result, result.batch.rows < limit, result.batch.rows > 0 || result.audit?.entryID != nil {
            await database.dropErasedPages()
        }
        return result
    }

    public func deleteUnattachedUploadBatch(
        clientID: String, uploadedBefore cutoff: Int64?, limit: Int, at now: Int64, record: BatchRecord
    ) async throws -> (batch: DeletionBatch, audit: AuditProgress?)? {
        try await database.write { db in
            guard try Self.mayRecord(record, in: db) else { return nil }
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT file_name, created_at FROM screenshot
                    WHERE client_id = ? AND feedback_id IS NULL AND created_at < ? LIMIT ?
                    """,
                arguments: [clientID, cutoff ?? Int64.max, limit])
            var deleted = 0
            for row in rows {
                let name: String = try row.value("file_name")
                try db.execute(
                    sql: "INSERT OR IGNORE INTO file_deletion (file_name, queued_at) VALUES (?, ?)",
                    arguments: [name, now])
                try db.execute(sql: "DELETE FROM screenshot WHERE file_name = ?", arguments: [name])
                deleted += db.changesCount
            }
            let oldest = try rows.map { try $0.value("created_at", as: Int64.self) }.min()
            let batch = DeletionBatch(rows: deleted, oldestCreatedAt: oldest)
            return (batch, try Self.record(batch, as: record, at: now, in: db))
        }
    }

    /// The `WHERE` of a selection, with its arguments; nil when it can select nothing.
    static func condition(for selection: FeedbackSelection) -> (String, StatementArguments)? {
        switch selection {
        case .createdBefore(let clientID, let cutoff, let plan):
            return (
                "client_id = ? AND created_at < ? AND EXISTS (SELECT 1 FROM client c WHERE c.id = ? AND c.plan = ?)",
                [clientID, cutoff, clientID, plan.rawValue]
            )
        case .client(let clientID):
            return ("client_id = ?", [clientID])
        case .subject(let scope):
            if let member = scope.slackMember {
                return ("client_id = ? AND slack_author_id = ?", [scope.clientID, member])
            }
            var alternatives: [String] = []
            var arguments: StatementArguments = [scope.clientID]
            if !scope.emails.isEmpty {
                alternatives.append(
                    "(user_email IS NOT NULL AND lower(user_email) IN (\(marks(scope.emails.count, "lower(?)"))))")
                arguments += StatementArguments(scope.emails)
            }
            if !scope.userIDs.isEmpty {
                alternatives.append("user_id IN \(oneArgumentList)")
                arguments += [jsonArray(scope.userIDs)]
            }
            if alternatives.isEmpty { return nil }
            return ("client_id = ? AND (\(alternatives.joined(separator: " OR ")))", arguments)
        }
    }

    static func marks(_ count: Int, _ mark: String) -> String {
        Array(repeating: mark, count: count).joined(separator: ", ")
    }

    /// A list bound as one argument, a JSON array of text (`jsonArray`): the end users an email resolves to can be
    /// any number, and one parameter each failed past SQLite's limit on bound parameters (a 500 where PostgreSQL,
    /// binding one array, answers).
    static let oneArgumentList = "(SELECT value FROM json_each(?))"

    static func jsonArray(_ values: [String]) -> String { JSONValue.array(values.map(JSONValue.string)).jsonText }

    /// A closure record needs its closure still pending.
    static func mayRecord(_ record: BatchRecord, in db: Database) throws -> Bool {
        guard case .closure(let clientID, _) = record else { return true }
        return try isClosing(clientID, in: db)
    }

    /// Records a batch as asked, in the batch's transaction; returns the audit progress after it.
    static func record(_ batch: DeletionBatch, as record: BatchRecord, at now: Int64, in db: Database) throws
        -> AuditProgress?
    {
        switch record {
        case .none:
            return nil
        case .closure(let clientID, let counts):
            try addProgress(counts(batch), clientID: clientID, in: db)
            return nil
        case .audit(var progress, let counts, let dueAt):
            let batchCounts = counts(batch)
            guard !batchCounts.isEmpty else { return progress }
            progress.counts.add(batchCounts)
            if let entryID = progress.entryID {
                try db.execute(
                    sql: """
                        UPDATE audit_entry SET due_at = COALESCE(MIN(due_at, ?), due_at, ?), finished_at = ?,
                            counts = ?
                        WHERE id = ?
                        """,
                    arguments: [dueAt(batch), dueAt(batch), now, progress.counts.jsonText, entryID])
            } else {
                progress.entryID = try insertAudit(
                    kind: progress.kind.rawValue, clientID: progress.clientID, dueAt: dueAt(batch), finishedAt: now,
                    counts: progress.counts, in: db)
            }
            return progress
        }
    }

    // MARK: Account closure

    public func beginAccountClosure(clientID: String, at now: Int64) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO account_deletion (client_id, requested_at)
                    SELECT id, ? FROM client WHERE id = ? ON CONFLICT DO NOTHING
                    """,
                arguments: [now, clientID])
            return db.changesCount > 0
        }
    }

    public func pendingAccountClosures() async throws -> [String] {
        try await database.scan { db in
            try String.fetchAll(db, sql: "SELECT client_id FROM account_deletion ORDER BY requested_at")
        }
    }

    public func addClosureProgress(clientID: String, counts: DeletionCounts) async throws -> Bool {
        try await database.write { db in
            guard try Self.isClosing(clientID, in: db) else { return false }
            try Self.addProgress(counts, clientID: clientID, in: db)
            return true
        }
    }

    public func deleteEndUserBatch(clientID: String, limit: Int) async throws -> Int? {
        try await database.write { db in
            guard try Self.isClosing(clientID, in: db) else { return nil }
            try db.execute(
                sql: """
                    DELETE FROM end_user WHERE rowid IN (SELECT rowid FROM end_user WHERE client_id = ? LIMIT ?)
                    """,
                arguments: [clientID, limit])
            let deleted = db.changesCount
            try Self.addProgress(DeletionCounts(["endUsers": deleted]), clientID: clientID, in: db)
            return deleted
        }
    }

    public func completeAccountClosure(clientID: String, at now: Int64) async throws -> DeletionCounts? {
        let counts = try await database.write { db -> DeletionCounts? in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT requested_at, counts FROM account_deletion WHERE client_id = ?",
                    arguments: [clientID])
            else { return nil }
            let counts = DeletionCounts(jsonText: try row.value("counts"))
            // The client row's foreign keys take any row a race left behind; the files of its screenshots are
            // queued first, or they would outlive their rows with nothing left to name them.
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO file_deletion (file_name, queued_at)
                    SELECT file_name, ? FROM screenshot WHERE client_id = ?
                    """,
                arguments: [now, clientID])
            try db.execute(sql: "DELETE FROM client WHERE id = ?", arguments: [clientID])
            try db.execute(sql: "DELETE FROM account_deletion WHERE client_id = ?", arguments: [clientID])
            _ = try Self.insertAudit(
                kind: AuditKind.accountClosure.rawValue, clientID: clientID, dueAt: try row.value("requested_at"),
                finishedAt: now, counts: counts, in: db)
            return counts
        }
        if counts != nil { await database.dropErasedPages() }
        return counts
    }

    static func isClosing(_ clientID: String, in db: Database) throws -> Bool {
        try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM account_deletion WHERE client_id = ?)", arguments: [clientID])
            ?? false
    }

    static func addProgress(_ counts: DeletionCounts, clientID: String, in db: Database) throws {
        guard !counts.isEmpty else { return }
        let stored = try String.fetchOne(
            db, sql: "SELECT counts FROM account_deletion WHERE client_id = ?", arguments: [clientID])
        var total = DeletionCounts(jsonText: stored ?? "{}")
        total.add(counts)
        try db.execute(
            sql: "UPDATE account_deletion SET counts = ? WHERE client_id = ?", arguments: [total.jsonText, clientID])
    }

    // MARK: End users

    public func upsertEndUser(clientID: String, _ identification: Identification, at now: Int64) async throws {
        func value<T>(_ update: FieldUpdate<T>) -> (isSet: Bool, value: T?) {
            switch update {
            case .keep: (false, nil)
            case .clear: (true, nil)
            case .set(let value): (true, value)
            }
        }
        let email = value(identification.email)
        let name = value(identification.name)
        let traits = value(identification.traits)
        let traitsText = traits.value.map { JSONValue.object($0).jsonText }
        try await database.write { db in
            // A closure that began (or even finished) after the client lookup wins: nothing is added to an account
            // being deleted, and one already gone is unknown, not a foreign key's failure (a 500).
            guard try Self.liveClientOrigins(id: clientID, in: db) != nil else { throw FeedbackError.unknownClient }
            try db.execute(
                sql: """
                    INSERT INTO end_user (client_id, user_id, email, name, traits, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (client_id, user_id) DO UPDATE SET
                        email = CASE WHEN ? THEN excluded.email ELSE end_user.email END,
                        name = CASE WHEN ? THEN excluded.name ELSE end_user.name END,
                        traits = CASE WHEN ? THEN excluded.traits ELSE end_user.traits END,
                        updated_at = excluded.updated_at
                    """,
                arguments: [
                    clientID, identification.userId, email.value, name.value, traitsText, now, now, email.isSet,
                    name.isSet, traits.isSet,
                ])
        }
    }

    public func endUser(clientID: String, userID: String) async throws -> EndUser? {
        try await database.read { db in
            try EndUserRecord.fetchOne(
                db, sql: "\(EndUserRecord.select) WHERE client_id = ? AND user_id = ?", arguments: [clientID, userID]
            )?.endUser
        }
    }

    // MARK: Data subjects

    public func resolve(_ subject: DataSubject, clientID: String) async throws -> SubjectScope {
        try await database.scan { db in
            switch subject {
            case .email(let email):
                let userIDs = try String.fetchAll(
                    db,
                    sql: """
                        SELECT user_id FROM end_user WHERE client_id = ? AND email IS NOT NULL AND lower(email) = lower(?)
                        """,
                    arguments: [clientID, email])
                return SubjectScope(clientID: clientID, emails: [email], userIDs: userIDs, endUserEmail: email)
            case .userID(let userID):
                let emails = try String.fetchAll(
                    db, sql: "SELECT email FROM end_user WHERE client_id = ? AND user_id = ? AND email IS NOT NULL",
                    arguments: [clientID, userID])
                return SubjectScope(clientID: clientID, emails: emails, userIDs: [userID], endUserID: userID)
            case .slackUser(let member):
                return SubjectScope(clientID: clientID, slackMember: member)
            }
        }
    }

    public func exportEndUsers(_ scope: SubjectScope) async throws -> [EndUser] {
        guard let (condition, arguments) = Self.endUserCondition(scope) else { return [] }
        return try await database.scan { db in
            try EndUserRecord.fetchAll(
                db, sql: "\(EndUserRecord.select) WHERE \(condition) ORDER BY user_id", arguments: arguments
            ).map(\.endUser)
        }
    }

    public func exportPage(_ scope: SubjectScope, after position: SubjectItemPosition?, limit: Int) async throws -> (
        feedback: [FeedbackItem], screenshots: [StoredScreenshotLink]
    ) {
        try await database.scan { db in
            var conditions: [String] = []
            var arguments = StatementArguments()
            if let (condition, bound) = Self.condition(for: .subject(scope)) {
                conditions.append("(\(condition))")
                arguments += bound
            }
            if let (condition, bound) = Self.forwardedCondition(scope) {
                conditions.append("(\(condition))")
                arguments += bound
            }
            guard !conditions.isEmpty else { return ([], []) }
            var condition = "(\(conditions.joined(separator: " OR ")))"
            if let position {
                // A row value: a range of `feedback_by_client_time` from the position down, so that every page reads
                // on from where the last one stopped, not the person's items again.
                condition += " AND (created_at, id) < (?, ?)"
                arguments += [position.createdAt, position.id]
            }
            arguments += [max(0, limit)]
            let items = try FeedbackRecord.fetchAll(
                db, sql: "\(FeedbackRecord.select) WHERE \(condition) ORDER BY created_at DESC, id DESC LIMIT ?",
                arguments: arguments
            ).map(\.item)
            guard !items.isEmpty else { return ([], []) }
            let screenshots = try Row.fetchAll(
                db,
                sql: """
                    SELECT c.feedback_id, s.file_name, s.mime_type, s.file_size, s.created_at
                    FROM feedback_screenshot c JOIN screenshot s ON s.file_name = c.file_name
                    WHERE c.feedback_id IN \(Self.oneArgumentList)
                    ORDER BY s.created_at, s.file_name, c.feedback_id
                    """,
                arguments: [Self.jsonArray(items.map(\.id))]
            ).map { row in
                StoredScreenshotLink(
                    feedbackId: try row.value("feedback_id"), fileName: try row.value("file_name"),
                    mimeType: try row.value("mime_type"), fileSize: try row.value("file_size"),
                    createdAt: try row.value("created_at"))
            }
            return (items, screenshots)
        }
    }

    public func finishErasure(_ scope: SubjectScope, audit: AuditProgress, dueAt: Int64, at now: Int64) async throws
        -> DeletionCounts
    {
        let counts = try await database.write { db -> DeletionCounts in
            var last = DeletionCounts()
            // The end users the request resolved to when it began, by id, not the email's matches now: an identify
            // racing the erasure either came first (its user is among them, with the items the batches took) or
            // after (its user stays, with its items).
            if scope.endUserEmail != nil || scope.endUserID != nil {
                if scope.userIDs.isEmpty {
                    last["endUsers"] = 0
                } else {
                    try db.execute(
                        sql: "DELETE FROM end_user WHERE client_id = ? AND user_id IN \(Self.oneArgumentList)",
                        arguments: [scope.clientID, Self.jsonArray(scope.userIDs)])
                    last["endUsers"] = db.changesCount
                }
            }
            if let (condition, arguments) = Self.forwardedCondition(scope) {
                try db.execute(sql: "UPDATE feedback SET slack_forwarded_by = NULL WHERE \(condition)", arguments: arguments)
                last["slackForwardsScrubbed"] = db.changesCount
            }
            let counted = last
            let progress = try Self.record(
                DeletionBatch(), as: .audit(audit, counts: { _ in counted }, dueAt: { _ in dueAt }), at: now, in: db)
                ?? audit
            if progress.entryID == nil {
                // Nothing was held: the request is still on record.
                _ = try Self.insertAudit(
                    kind: AuditKind.privacyErasure.rawValue, clientID: scope.clientID, dueAt: dueAt, finishedAt: now,
                    counts: progress.counts, in: db)
            }
            return progress.counts
        }
        await database.dropErasedPages()
        return counts
    }

    /// End users of the subject.
    static func endUserCondition(_ scope: SubjectScope) -> (String, StatementArguments)? {
        if let email = scope.endUserEmail {
            return ("client_id = ? AND email IS NOT NULL AND lower(email) = lower(?)", [scope.clientID, email])
        }
        if let userID = scope.endUserID { return ("client_id = ? AND user_id = ?", [scope.clientID, userID]) }
        return nil
    }

    /// Rows the Slack member only forwarded (someone else wrote them).
    static func forwardedCondition(_ scope: SubjectScope) -> (String, StatementArguments)? {
        guard let member = scope.slackMember else { return nil }
        return (
            "client_id = ? AND slack_forwarded_by = ? AND (slack_author_id IS NULL OR slack_author_id <> ?)",
            [scope.clientID, member, member]
        )
    }

    // MARK: Audit trail

    public func recordAudit(kind: String, clientID: String?, dueAt: Int64?, finishedAt: Int64, counts: DeletionCounts)
        async throws
    {
        try await database.write { db in
            _ = try Self.insertAudit(
                kind: kind, clientID: clientID, dueAt: dueAt, finishedAt: finishedAt, counts: counts, in: db)
        }
    }

    public func auditPage(clientID: String, limit: Int, after cursor: AuditCursor?) async throws -> AuditPage {
        try await database.read { db in
            // Newest first, and entries of the same millisecond in the order they were written: the index's
            // (client, instant) with the row number it ends on.
            var sql = "SELECT id, kind, client_id, due_at, finished_at, counts FROM audit_entry WHERE client_id = ?"
            var arguments: StatementArguments = [clientID]
            if let cursor {
                sql += " AND (finished_at < ? OR (finished_at = ? AND id < ?))"
                arguments += [cursor.finishedAtMillis, cursor.finishedAtMillis, cursor.id]
            }
            sql += " ORDER BY finished_at DESC, id DESC LIMIT ?"
            arguments += [AuditPage.fetchCount(limit: limit)]
            let fetched = try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                (
                    entry: AuditEntry(
                        kind: try row.value("kind"), clientId: try row.value("client_id"), dueAtMillis: try row.value("due_at"),
                        finishedAtMillis: try row.value("finished_at"), countsJSON: try row.value("counts")),
                    id: try row.value("id", as: Int64.self)
                )
            }
            return AuditPage(fetched: fetched, limit: limit)
        }
    }

    // MARK: Scheduled work

    public func claimScheduledRun(task: String, now: Int64, period: Int64) async throws -> Bool {
        let due = now.subtractingReportingOverflow(max(0, period)).overflow ? Int64.min : now - max(0, period)
        return try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO scheduled_run (task, started_at) VALUES (?, ?)
                    ON CONFLICT (task) DO UPDATE SET started_at = excluded.started_at
                    WHERE scheduled_run.started_at <= ?
                    """,
                arguments: [task, now, due])
            return db.changesCount > 0
        }
    }

    static func insertAudit(
        kind: String, clientID: String?, dueAt: Int64?, finishedAt: Int64, counts: DeletionCounts, in db: Database
    ) throws -> Int64 {
        try db.execute(
            sql: "INSERT INTO audit_entry (client_id, kind, due_at, finished_at, counts) VALUES (?, ?, ?, ?, ?)",
            arguments: [clientID, kind, dueAt, finishedAt, counts.jsonText])
        return db.lastInsertedRowID
    }
}

/// An `end_user` row, decoded by column name.
struct EndUserRecord: FetchableRecord {
    static let select = "SELECT user_id, email, name, traits, created_at, updated_at FROM end_user"

    var endUser: EndUser

    init(row: Row) throws {
        var traits: [String: JSONValue]?
        if let text: String = try row.value("traits") {
            guard let object = StoredColumns.object(text) else {
                throw StoreDecodingError(table: "end_user", column: "traits")
            }
            traits = object
        }
        endUser = EndUser(
            userId: try row.value("user_id"), email: try row.value("email"), name: try row.value("name"),
            traits: traits, createdAt: dateFromEpochMillis(try row.value("created_at")),
            updatedAt: dateFromEpochMillis(try row.value("updated_at")))
    }
}
