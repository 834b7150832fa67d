public import Feedback
import Foundation
import PostgresNIO
public import Retention

extension PostgresStore: RetentionStore {
    // MARK: Sweeps

    public func clientPlans() async throws -> [ClientPlan] {
        try await rows(PostgresQuery(unsafeSQL: "SELECT id, plan FROM client WHERE \(pgLiveClientCondition) ORDER BY id"))
            .map { row in
                ClientPlan(clientID: try row.value("id"), plan: try row.enumValue("plan", table: "client"))
            }
    }

    /// Each batch is one bounded transaction of its own (never a long one holding locks): writers go on between
    /// batches.
    public func deleteFeedbackBatch(_ selection: FeedbackSelection, limit: Int, at now: Int64, record: BatchRecord)
        async throws -> (batch: DeletionBatch, audit: AuditProgress?)?
    {
        let limit = Int64(max(0, limit))
        return try await write { tx in
            guard try await Self.mayRecord(record, in: tx) else { return nil }
            var lock = SQLBuilder()
            guard let condition = Self.condition(for: selection, in: &lock) else {
                return (DeletionBatch(), try await Self.record(DeletionBatch(), as: record, at: now, in: tx))
            }
            let ids = try await Self.lockDoomed(where: condition, limit: limit, in: lock, tx: tx)
            // One statement: the batch's rows go, with the screenshots no other item names (and their bytes, by
            // cascade); the ones captured from Slack lately leave their messages' addresses (`RemovedCaptures`).
            var sql = SQLBuilder()
            sql.append(
                """
                WITH doomed AS (
                    SELECT id FROM feedback WHERE id = ANY(\(sql.bind(ids)))
                ), \(Self.screenshotsOfDoomed), gone AS (
                    DELETE FROM feedback WHERE id IN (SELECT id FROM doomed)
                    RETURNING id, created_at, client_id, slack_team_id, slack_channel_id, slack_message_ts
                ), remembered AS (
                    \(Self.rememberRemovedCaptures(from: "gone", at: now, in: &sql))
                )
                SELECT (SELECT count(*) FROM gone) AS rows, (SELECT count(*) FROM shots) AS screenshots,
                    (SELECT min(created_at) FROM gone) AS oldest, (SELECT array_agg(id) FROM gone) AS ids
                """)
            guard let row = try await tx.row(sql.query) else {
                return (DeletionBatch(), try await Self.record(DeletionBatch(), as: record, at: now, in: tx))
            }
            try await Self.queueUnposts(ofFeedback: try row.value("ids", as: [String]?.self) ?? [], at: now, in: tx)
            let deleted = Int(try row.value("rows", as: Int64.self))
            let batch = DeletionBatch(
                rows: deleted, screenshots: Int(try row.value("screenshots", as: Int64.self)),
                oldestCreatedAt: try row.value("oldest", as: Int64?.self))
            return (batch, try await Self.record(batch, as: record, at: now, in: tx))
        }
    }

    public func deleteUnattachedUploadBatch(
        clientID: String, uploadedBefore cutoff: Int64?, limit: Int, at now: Int64, record: BatchRecord
    ) async throws -> (batch: DeletionBatch, audit: AuditProgress?)? {
        let cutoff = cutoff ?? Int64.max
        let limit = Int64(max(0, limit))
        return try await write { tx in
            guard try await Self.mayRecord(record, in: tx) else { return nil }
            let row = try await tx.row(
                """
                WITH picked AS MATERIALIZED (
                    SELECT file_name FROM screenshot
                    WHERE client_id = \(clientID) AND feedback_id IS NULL AND created_at < \(cutoff)
                    LIMIT \(limit) FOR UPDATE
                ), gone AS (
                    -- Picked once (see `deleteEndUserBatch`).
                    DELETE FROM screenshot s USING picked WHERE s.file_name = picked.file_name
                    RETURNING s.created_at
                )
                SELECT count(*) AS rows, min(created_at) AS oldest FROM gone
                """)
            let batch = DeletionBatch(
                rows: Int(try row?.value("rows", as: Int64.self) ?? 0),
                oldestCreatedAt: try row?.value("oldest", as: Int64?.self) ?? nil)
            return (batch, try await Self.record(batch, as: record, at: now, in: tx))
        }
    }

    /// The `WHERE` of a selection, its values bound in `sql`; nil when it can select nothing.
    static func condition(for selection: FeedbackSelection, in sql: inout SQLBuilder) -> String? {
        switch selection {
        case .createdBefore(let clientID, let cutoff, let plan):
            let client = sql.bind(clientID)
            return """
                client_id = \(client) AND created_at < \(sql.bind(cutoff))
                AND EXISTS (SELECT 1 FROM client c WHERE c.id = \(client) AND c.plan = \(sql.bind(plan.rawValue)))
                """
        case .client(let clientID):
            return "client_id = \(sql.bind(clientID))"
        case .subject(let scope):
            if let member = scope.slackMember {
                return """
                    client_id = \(sql.bind(scope.clientID)) AND id IN (
                        SELECT feedback_id FROM feedback_slack_person WHERE slack_author_id = \(sql.bind(member)))
                    """
            }
            let client = sql.bind(scope.clientID)
            var alternatives: [String] = []
            if !scope.emails.isEmpty {
                // `user_email` is COLLATE "C": its lower() lowers A-Z only, as the bound side is lowered here.
                let emails = scope.emails.map(\.asciiLowercased)
                alternatives.append("lower(user_email) = ANY(\(sql.bind(emails)))")
            }
            if !scope.userIDs.isEmpty {
                alternatives.append("user_id = ANY(\(sql.bind(scope.userIDs)))")
            }
            if alternatives.isEmpty { return nil }
            return "client_id = \(client) AND (\(alternatives.joined(separator: " OR ")))"
        }
    }

    /// A closure record needs its closure still pending.
    static func mayRecord(_ record: BatchRecord, in tx: PostgresTransaction) async throws -> Bool {
        guard case .closure(let clientID, _) = record else { return true }
        return try await isClosing(clientID, in: tx)
    }

    /// Records a batch as asked, in the batch's transaction; returns the audit progress after it.
    static func record(_ batch: DeletionBatch, as record: BatchRecord, at now: Int64, in tx: PostgresTransaction)
        async throws -> AuditProgress?
    {
        switch record {
        case .none:
            return nil
        case .closure(let clientID, let counts):
            try await addProgress(counts(batch), clientID: clientID, in: tx)
            return nil
        case .audit(var progress, let counts, let dueAt):
            let batchCounts = counts(batch)
            guard !batchCounts.isEmpty else { return progress }
            progress.counts.add(batchCounts)
            let due = dueAt(batch)
            if let entryID = progress.entryID {
                try await tx.execute(
                    """
                    UPDATE audit_entry SET due_at = COALESCE(LEAST(due_at, \(due)), due_at, \(due)),
                        finished_at = \(now), counts = \(progress.counts.jsonText)
                    WHERE id = \(entryID)
                    """)
            } else {
                progress.entryID = try await insertAudit(
                    kind: progress.kind.rawValue, clientID: progress.clientID, dueAt: due, finishedAt: now,
                    counts: progress.counts, in: tx)
            }
            return progress
        }
    }

    // MARK: Account closure

    public func beginAccountClosure(clientID: String, at now: Int64) async throws -> Bool {
        try await write { tx in
            // The client row is locked (key share) before the closure's row goes in: a completion of this client's
            // closure on another session, deleting it, is waited for and the client found gone. Without the lock the
            // insert waited only on the closure row's key and then began a closure of a client already deleted.
            try await tx.execute(
                """
                INSERT INTO account_deletion (client_id, requested_at)
                SELECT id, \(now) FROM client WHERE id = \(clientID) FOR KEY SHARE ON CONFLICT DO NOTHING
                """) > 0
        }
    }

    public func pendingAccountClosures() async throws -> [String] {
        try await rows("SELECT client_id FROM account_deletion ORDER BY requested_at").map {
            try $0.value("client_id", as: String.self)
        }
    }

    public func addClosureProgress(clientID: String, counts: DeletionCounts) async throws -> Bool {
        try await write { tx in
            guard try await Self.isClosing(clientID, in: tx) else { return false }
            try await Self.addProgress(counts, clientID: clientID, in: tx)
            return true
        }
    }

    public func deleteEndUserBatch(clientID: String, limit: Int) async throws -> Int? {
        let limit = Int64(max(0, limit))
        return try await write { tx in
            guard try await Self.isClosing(clientID, in: tx) else { return nil }
            // Rows another instance finishing the same closure is deleting are skipped, not waited for: waiting, the
            // batch found them gone and came back empty while others remained, and the closure completed with the
            // rest cascading away uncounted (the audit entry said 500 end users of 3,000).
            // The batch is picked once, in a materialised CTE: as `user_id IN (SELECT … LIMIT n …)` on a table newer
            // than its statistics, PostgreSQL ran the subquery again for every row it looked at and deleted them all.
            let deleted = try await tx.execute(
                """
                WITH picked AS MATERIALIZED (
                    SELECT user_id FROM end_user WHERE client_id = \(clientID) LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                DELETE FROM end_user e USING picked
                WHERE e.client_id = \(clientID) AND e.user_id = picked.user_id
                """)
            try await Self.addProgress(DeletionCounts(["endUsers": deleted]), clientID: clientID, in: tx)
            return deleted
        }
    }

    public func completeAccountClosure(clientID: String, at now: Int64) async throws -> DeletionCounts? {
        try await write { tx in
            guard
                let row = try await tx.row(
                    "SELECT requested_at, counts FROM account_deletion WHERE client_id = \(clientID) FOR UPDATE")
            else { return nil }
            let counts = DeletionCounts(jsonText: try row.value("counts"))
            // The client row's foreign keys take any row a race left behind, screenshot bytes included.
            try await tx.execute("DELETE FROM client WHERE id = \(clientID)")
            try await tx.execute("DELETE FROM account_deletion WHERE client_id = \(clientID)")
            _ = try await Self.insertAudit(
                kind: AuditKind.accountClosure.rawValue, clientID: clientID, dueAt: try row.value("requested_at"),
                finishedAt: now, counts: counts, in: tx)
            return counts
        }
    }

    /// Whether the client is being closed, holding its closure's row until the transaction ends. Every closure step
    /// takes that row first, before any row it deletes: a batch that took its rows first and the row last (to add its
    /// counts) deadlocked with the completion, which takes the row first and then, deleting the client, every row
    /// left, the batch's among them.
    static func isClosing(_ clientID: String, in tx: PostgresTransaction) async throws -> Bool {
        try await tx.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM account_deletion WHERE client_id = \(clientID) FOR UPDATE) AS held",
            as: Int64.self) ?? 0 > 0
    }

    static func addProgress(_ counts: DeletionCounts, clientID: String, in tx: PostgresTransaction) async throws {
        guard !counts.isEmpty else { return }
        let stored = try await tx.scalar(
            "SELECT counts FROM account_deletion WHERE client_id = \(clientID) FOR UPDATE", as: String.self)
        var total = DeletionCounts(jsonText: stored ?? "{}")
        total.add(counts)
        try await tx.execute("UPDATE account_deletion SET counts = \(total.jsonText) WHERE client_id = \(clientID)")
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
        let userID = identification.userId
        try await write { tx in
            // A closure that began (or even finished) after the client lookup wins: nothing is added to an account
            // being deleted, and one already gone is unknown, not a foreign key's failure (a 500). Held until the
            // commit, so that a closure cannot delete the client between this check and the insert.
            guard try await Self.heldLiveClient(id: clientID, in: tx) != nil else { throw FeedbackError.unknownClient }
            try await tx.execute(
                """
                INSERT INTO end_user (client_id, user_id, email, name, traits, created_at, updated_at)
                VALUES (\(clientID), \(userID), \(email.value), \(name.value), \(traitsText), \(now), \(now))
                ON CONFLICT (client_id, user_id) DO UPDATE SET
                    email = CASE WHEN \(email.isSet) THEN excluded.email ELSE end_user.email END,
                    name = CASE WHEN \(name.isSet) THEN excluded.name ELSE end_user.name END,
                    traits = CASE WHEN \(traits.isSet) THEN excluded.traits ELSE end_user.traits END,
                    updated_at = excluded.updated_at
                """)
        }
    }

    public func endUser(clientID: String, userID: String) async throws -> EndUser? {
        var sql = SQLBuilder(PGEndUserRecord.select)
        sql.append(" WHERE client_id = \(sql.bind(clientID)) AND user_id = \(sql.bind(userID))")
        return try await row(sql.query).map { try PGEndUserRecord.endUser($0) }
    }

    // MARK: Data subjects

    public func resolve(_ subject: DataSubject, clientID: String) async throws -> SubjectScope {
        switch subject {
        case .email(let email):
            let userIDs = try await rows(
                "SELECT user_id FROM end_user WHERE client_id = \(clientID) AND lower(email) = \(email.asciiLowercased)"
            ).map { try $0.value("user_id", as: String.self) }
            return SubjectScope(clientID: clientID, emails: [email], userIDs: userIDs, endUserEmail: email)
        case .userID(let userID):
            let emails = try await rows(
                """
                SELECT email FROM end_user WHERE client_id = \(clientID) AND user_id = \(userID) AND email IS NOT NULL
                """
            ).map { try $0.value("email", as: String.self) }
            return SubjectScope(clientID: clientID, emails: emails, userIDs: [userID], endUserID: userID)
        case .slackUser(let member):
            return SubjectScope(clientID: clientID, slackMember: member)
        }
    }

    public func exportEndUsers(_ scope: SubjectScope) async throws -> [EndUser] {
        var users = SQLBuilder(PGEndUserRecord.select)
        guard let condition = Self.endUserCondition(scope, in: &users) else { return [] }
        users.append(" WHERE \(condition) ORDER BY user_id")
        return try await backend.read { session in
            try await session.rows(users.query).map { try PGEndUserRecord.endUser($0) }
        }
    }

    public func exportPage(_ scope: SubjectScope, after position: SubjectItemPosition?, limit: Int) async throws -> (
        feedback: [FeedbackItem], screenshots: [StoredScreenshotLink]
    ) {
        // One snapshot: the page's screenshots are those its items name.
        try await backend.read { session in
            var items = SQLBuilder(PGFeedbackRecord.select)
            var conditions: [String] = []
            if let condition = Self.condition(for: .subject(scope), in: &items) { conditions.append("(\(condition))") }
            if let condition = Self.forwardedCondition(scope, in: &items) { conditions.append("(\(condition))") }
            guard !conditions.isEmpty else { return ([], []) }
            items.append(" WHERE (\(conditions.joined(separator: " OR ")))")
            if let position {
                items.append(
                    " AND (created_at, id) < (\(items.bind(position.createdAt)), \(items.bind(position.id)))")
            }
            items.append(" ORDER BY created_at DESC, id DESC LIMIT \(items.bind(Int64(max(0, limit))))")
            let feedback = try await session.rows(items.query).map { try PGFeedbackRecord.item($0) }
            guard !feedback.isEmpty else { return ([], []) }
            // By the items that name each screenshot, and by the one that claimed it (an item an older binary wrote
            // names it only there).
            let ids = feedback.map(\.id)
            let shots = try await session.rows(
                """
                WITH links AS (
                    SELECT feedback_id, file_name FROM feedback_screenshot WHERE feedback_id = ANY(\(ids))
                    UNION
                    SELECT feedback_id, file_name FROM screenshot WHERE feedback_id = ANY(\(ids))
                )
                SELECT l.feedback_id, s.file_name, s.mime_type, s.file_size, s.created_at
                FROM links l JOIN screenshot s ON s.file_name = l.file_name
                ORDER BY s.created_at, s.file_name, l.feedback_id
                """)
            let screenshots = try shots.map { row in
                StoredScreenshotLink(
                    feedbackId: try row.value("feedback_id"), fileName: try row.value("file_name"),
                    mimeType: try row.value("mime_type"), fileSize: try row.value("file_size"),
                    createdAt: try row.value("created_at"))
            }
            return (feedback, screenshots)
        }
    }

    public func finishErasure(_ scope: SubjectScope, audit: AuditProgress, dueAt: Int64, at now: Int64) async throws
        -> DeletionCounts
    {
        try await write { tx in
            var last = DeletionCounts()
            // The end users the request resolved to when it began, by id (see the SQLite store's `finishErasure`).
            if scope.endUserEmail != nil || scope.endUserID != nil {
                var users = SQLBuilder("DELETE FROM end_user WHERE ")
                users.append("client_id = \(users.bind(scope.clientID)) AND user_id = ANY(\(users.bind(scope.userIDs)))")
                last["endUsers"] = try await tx.execute(users.query)
            }
            // The member only forwarded these: a row that also names its author keeps the author; one that
            // named only the forwarder loses its person row.
            var forwards = SQLBuilder(
                "UPDATE feedback_slack_person SET slack_forwarded_by = NULL WHERE slack_author_id IS NOT NULL AND ")
            var alone = SQLBuilder("DELETE FROM feedback_slack_person WHERE slack_author_id IS NULL AND ")
            if let condition = Self.forwardedCondition(scope, in: &forwards),
                let sameCondition = Self.forwardedCondition(scope, in: &alone)
            {
                forwards.append("feedback_id IN (SELECT id FROM feedback WHERE \(condition))")
                alone.append("feedback_id IN (SELECT id FROM feedback WHERE \(sameCondition))")
                last["slackForwardsScrubbed"] = try await tx.execute(forwards.query) + tx.execute(alone.query)
            }
            let counted = last
            let progress =
                try await Self.record(
                    DeletionBatch(), as: .audit(audit, counts: { _ in counted }, dueAt: { _ in dueAt }), at: now, in: tx)
                ?? audit
            if progress.entryID == nil {
                // Nothing was held: the request is still on record.
                _ = try await Self.insertAudit(
                    kind: AuditKind.privacyErasure.rawValue, clientID: scope.clientID, dueAt: dueAt, finishedAt: now,
                    counts: progress.counts, in: tx)
            }
            return progress.counts
        }
    }

    /// End users of the subject.
    static func endUserCondition(_ scope: SubjectScope, in sql: inout SQLBuilder) -> String? {
        if let email = scope.endUserEmail {
            return "client_id = \(sql.bind(scope.clientID)) AND lower(email) = \(sql.bind(email.asciiLowercased))"
        }
        if let userID = scope.endUserID {
            return "client_id = \(sql.bind(scope.clientID)) AND user_id = \(sql.bind(userID))"
        }
        return nil
    }

    /// Rows the Slack member only forwarded (someone else wrote them).
    static func forwardedCondition(_ scope: SubjectScope, in sql: inout SQLBuilder) -> String? {
        guard let member = scope.slackMember else { return nil }
        let bound = sql.bind(member)
        return """
            client_id = \(sql.bind(scope.clientID)) AND id IN (
                SELECT feedback_id FROM feedback_slack_person
                WHERE slack_forwarded_by = \(bound) AND (slack_author_id IS NULL OR slack_author_id <> \(bound)))
            """
    }

    // MARK: Audit trail

    public func recordAudit(kind: String, clientID: String?, dueAt: Int64?, finishedAt: Int64, counts: DeletionCounts)
        async throws
    {
        try await write { tx in
            _ = try await Self.insertAudit(
                kind: kind, clientID: clientID, dueAt: dueAt, finishedAt: finishedAt, counts: counts, in: tx)
        }
    }

    public func auditPage(clientID: String, limit: Int, after cursor: AuditCursor?) async throws -> AuditPage {
        // Newest first, and entries of the same millisecond in the order they were written. Without a cursor the
        // first page starts after the largest possible key.
        let (finishedAt, id) = cursor.map { ($0.finishedAtMillis, $0.id) } ?? (Int64.max, Int64.max)
        let fetched = try await rows(
            """
            SELECT id, kind, client_id, due_at, finished_at, counts FROM audit_entry WHERE client_id = \(clientID)
            AND (finished_at, id) < (\(finishedAt), \(id))
            ORDER BY finished_at DESC, id DESC LIMIT \(Int64(AuditPage.fetchCount(limit: limit)))
            """
        ).map { row in
            (
                entry: AuditEntry(
                    kind: try row.value("kind"), clientId: try row.value("client_id"), dueAtMillis: try row.value("due_at"),
                    finishedAtMillis: try row.value("finished_at"), countsJSON: try row.value("counts")),
                id: try row.value("id", as: Int64.self)
            )
        }
        return AuditPage(fetched: fetched, limit: limit)
    }

    // MARK: Scheduled work

    public func claimScheduledRun(task: String, now: Int64, period: Int64) async throws -> Bool {
        let due = now.subtractingReportingOverflow(max(0, period)).overflow ? Int64.min : now - max(0, period)
        return try await write { tx in
            // A second instance's upsert waits for the first one's row lock, then finds the start too recent.
            try await tx.execute(
                """
                INSERT INTO scheduled_run (task, started_at) VALUES (\(task), \(now))
                ON CONFLICT (task) DO UPDATE SET started_at = excluded.started_at
                WHERE scheduled_run.started_at <= \(due)
                """) > 0
        }
    }

    static func insertAudit(
        kind: String, clientID: String?, dueAt: Int64?, finishedAt: Int64, counts: DeletionCounts,
        in tx: PostgresTransaction
    ) async throws -> Int64 {
        try await tx.scalar(
            """
            INSERT INTO audit_entry (client_id, kind, due_at, finished_at, counts)
            VALUES (\(clientID), \(kind), \(dueAt), \(finishedAt), \(counts.jsonText)) RETURNING id
            """, as: Int64.self) ?? 0
    }
}

/// `end_user` rows.
enum PGEndUserRecord {
    static let select = "SELECT user_id, email, name, traits, created_at, updated_at FROM end_user"

    static func endUser(_ row: PostgresRandomAccessRow) throws -> EndUser {
        var traits: [String: JSONValue]?
        if let text: String = try row.value("traits") {
            guard let object = StoredColumns.object(text) else {
                throw PostgresStoreDecodingError(table: "end_user", column: "traits")
            }
            traits = object
        }
        return EndUser(
            userId: try row.value("user_id"), email: try row.value("email"), name: try row.value("name"),
            traits: traits, createdAt: dateFromEpochMillis(try row.value("created_at")),
            updatedAt: dateFromEpochMillis(try row.value("updated_at")))
    }
}
