public import Feedback
import Foundation
import GRDB

/// A screenshot in an export: where to fetch it, and which item it belongs to.
public struct ExportedScreenshot: Sendable, Equatable, Encodable {
    public var feedbackId: String
    public var url: String
    public var mimeType: String
    public var fileSize: Int64
    public var uploadedAt: String
}

/// Everything held about one person, as one JSON document.
public struct PrivacyExport: Sendable, Encodable {
    /// The key the request named, echoed back (`{"email": …}`).
    public var subject: [String: String]
    public var exportedAt: String
    /// The identified end-user records (none, or one per matching user id).
    public var endUsers: [EndUser]
    /// Items the person sent, or authored or forwarded in Slack, in the admin API's shape.
    public var feedback: [FeedbackItem]
    /// The screenshots attached to those items.
    public var screenshots: [ExportedScreenshot]
}

/// Access and erasure requests, for the customer's team acting on a person's request.
public struct DataSubjectService: Sendable {
    /// The shared database.
    public let database: AppDatabase
    /// Screenshot files.
    public let files: ScreenshotFiles
    /// The time source.
    public let clock: any WallClock
    /// External base URL, for screenshot URLs.
    public let publicURL: String
    /// Batch sizes.
    public let policy: RetentionPolicy

    /// Creates the service.
    public init(
        database: AppDatabase, files: ScreenshotFiles, clock: any WallClock, publicURL: String,
        policy: RetentionPolicy = .standard
    ) {
        self.database = database
        self.files = files
        self.clock = clock
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.policy = policy
    }

    /// Everything this client holds about `subject`, read from one snapshot.
    public func export(clientID: String, subject: DataSubject) async throws -> PrivacyExport {
        let base = publicURL
        let (endUsers, items, screenshots) = try await database.read { db in
            let scope = try SubjectScope.resolve(subject, clientID: clientID, in: db)
            var endUsers: [EndUser] = []
            if let condition = scope.endUsers {
                endUsers = try Row.fetchAll(
                    db, sql: "\(EndUser.select) WHERE \(condition.sql) ORDER BY user_id", arguments: condition.arguments
                ).map(EndUser.init(row:))
            }
            var condition = "(\(scope.feedback.sql))"
            var arguments = scope.feedback.arguments
            if let forwarded = scope.forwarded {
                condition += " OR (\(forwarded.sql))"
                arguments += forwarded.arguments
            }
            let items = try Row.fetchAll(
                db,
                sql: "\(SQLiteFeedbackStore.feedbackSelect) WHERE \(condition) ORDER BY created_at DESC, id DESC",
                arguments: arguments
            ).map(SQLiteFeedbackStore.item(from:))
            let screenshots = try Row.fetchAll(
                db,
                sql: """
                    SELECT feedback_id, file_name, mime_type, file_size, created_at FROM screenshot
                    WHERE feedback_id IN (SELECT id FROM feedback WHERE \(condition)) ORDER BY created_at, file_name
                    """,
                arguments: arguments
            ).map { row in
                ExportedScreenshot(
                    feedbackId: row[0], url: "\(base)/api/screenshots/\(row[1] as String)", mimeType: row[2],
                    fileSize: row[3], uploadedAt: iso8601(dateFromEpochMillis(row[4])))
            }
            return (endUsers, items, screenshots)
        }
        let pair = subject.pair
        return PrivacyExport(
            subject: [pair.key: pair.value], exportedAt: iso8601(clock.now()), endUsers: endUsers, feedback: items,
            screenshots: screenshots)
    }

    /// Deletes what this client holds about `subject`: the items they sent or authored (with screenshot files),
    /// their end-user records; in Slack rows they only forwarded, their id is set to null and the author's text
    /// stays. Batched like a sweep; the audit entry (`privacy_erasure`) is written with the batches.
    public func erase(clientID: String, subject: DataSubject) async throws -> DeletionCounts {
        let requestedAt = epochMillis(clock.now())
        let scope = try await database.read { db in try SubjectScope.resolve(subject, clientID: clientID, in: db) }
        var audit = AuditProgress(kind: .privacyErasure, clientID: clientID)
        let limit = policy.batchSize
        let clock = self.clock
        while true {
            let progress = audit
            let (updated, deleted) = try await database.write { db in
                let now = epochMillis(clock.now())
                let batch = try db.deleteFeedbackBatch(
                    where: scope.feedback.sql, arguments: scope.feedback.arguments, limit: limit, at: now)
                var next = progress
                try next.record(
                    DeletionCounts(["feedback": batch.feedback, "screenshots": batch.screenshots]),
                    dueAt: requestedAt, at: now, in: db)
                return (next, batch.feedback)
            }
            audit = updated
            if deleted < limit { break }
        }
        let progress = audit
        let counts = try await database.write { db in
            let now = epochMillis(clock.now())
            var last = DeletionCounts()
            if let endUsers = scope.endUsers {
                try db.execute(sql: "DELETE FROM end_user WHERE \(endUsers.sql)", arguments: endUsers.arguments)
                last["endUsers"] = db.changesCount
            }
            if let forwarded = scope.forwarded {
                try db.execute(
                    sql: "UPDATE feedback SET slack_forwarded_by = NULL WHERE \(forwarded.sql)",
                    arguments: forwarded.arguments)
                last["slackForwardsScrubbed"] = db.changesCount
            }
            var next = progress
            try next.record(last, dueAt: requestedAt, at: now, in: db)
            if next.entryID == nil {
                // Nothing was held: the request is still on record.
                _ = try db.insertAuditEntry(
                    kind: .privacyErasure, clientID: clientID, dueAt: requestedAt, finishedAt: now, counts: next.counts)
            }
            return next.counts
        }
        try await files.purgeAllQueued(in: database)
        return counts
    }
}
