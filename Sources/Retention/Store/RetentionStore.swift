public import Feedback
import Foundation

/// What retention and privacy need stored: end users, the deletion audit trail, account closures in progress, and
/// the batched deletions of feedback and uploads that must commit together with their audit record.
///
/// Every method is one transaction. The batch deletions touch rows the Feedback module owns; they are declared here
/// because each batch and its audit (or closure progress) record must commit together, so that a process that dies
/// half-way has recorded exactly what it deleted. Screenshot bytes of deleted rows are removed afterwards by
/// `FeedbackStore.purgeDeletedScreenshots()`.
public protocol RetentionStore: Sendable {
    // MARK: Sweeps

    /// Every client not being deleted, with its plan.
    func clientPlans() async throws -> [ClientPlan]
    /// Deletes up to `limit` feedback rows of `selection` (with their screenshots) and records the batch as
    /// `record` says, in one transaction. Returns the batch and the audit progress after it (unchanged for
    /// records other than `.audit`). A `.closure` record whose closure is no longer pending deletes nothing and
    /// returns nil. Rows captured from Slack lately leave their messages' addresses behind (`RemovedCaptures`).
    func deleteFeedbackBatch(_ selection: FeedbackSelection, limit: Int, at now: Int64, record: BatchRecord)
        async throws -> (batch: DeletionBatch, audit: AuditProgress?)?
    /// The same for uploads never attached to feedback: the client's, or only those uploaded before `cutoff`.
    func deleteUnattachedUploadBatch(
        clientID: String, uploadedBefore cutoff: Int64?, limit: Int, at now: Int64, record: BatchRecord
    ) async throws -> (batch: DeletionBatch, audit: AuditProgress?)?

    // MARK: Account closure

    /// Marks the client as being deleted (from this commit on it is unknown everywhere); false when it is unknown
    /// or already being deleted.
    func beginAccountClosure(clientID: String, at now: Int64) async throws -> Bool
    /// Clients whose closure began and did not finish, oldest first.
    func pendingAccountClosures() async throws -> [String]
    /// Adds what another module erased to the closure's running counts; false when the closure is not pending.
    func addClosureProgress(clientID: String, counts: DeletionCounts) async throws -> Bool
    /// Deletes up to `limit` of the client's end users, counting them into the closure; nil when not pending.
    func deleteEndUserBatch(clientID: String, limit: Int) async throws -> Int?
    /// The last step: the client row, its mark, and the audit entry with everything counted, in one transaction;
    /// nil when no closure of this client is pending.
    func completeAccountClosure(clientID: String, at now: Int64) async throws -> DeletionCounts?

    // MARK: End users

    /// Creates or updates an end user; `FeedbackError.unknownClient` when the client is being deleted.
    func upsertEndUser(clientID: String, _ identification: Identification, at now: Int64) async throws
    /// The end user `userID` of this client.
    func endUser(clientID: String, userID: String) async throws -> EndUser?

    // MARK: Data subjects

    /// Which rows of the client belong to `subject` (an email reaches the end users identified with it, a user id
    /// the email it was identified with).
    func resolve(_ subject: DataSubject, clientID: String) async throws -> SubjectScope
    /// The end users in `scope`, by user id.
    func exportEndUsers(_ scope: SubjectScope) async throws -> [EndUser]
    /// One page of the items in `scope`, newest first (`created_at`, then id, descending): at most `limit`, those
    /// after `position` (nil: from the newest), with the screenshots they name, read from one snapshot. A person's
    /// export reads its items a page at a time: anyone can put a person's email on any number of items.
    func exportPage(_ scope: SubjectScope, after position: SubjectItemPosition?, limit: Int) async throws -> (
        feedback: [FeedbackItem], screenshots: [StoredScreenshotLink]
    )
    /// The last step of an erasure: deletes the subject's end users and nulls their forwarder id on rows they only
    /// forwarded, and records it in `audit` (an entry is written even when nothing was held). Returns all counts.
    func finishErasure(_ scope: SubjectScope, audit: AuditProgress, dueAt: Int64, at now: Int64) async throws
        -> DeletionCounts

    // MARK: Audit trail

    /// Adds a finished deletion.
    func recordAudit(kind: String, clientID: String?, dueAt: Int64?, finishedAt: Int64, counts: DeletionCounts)
        async throws
    /// A page of a client's entries, newest first: up to `limit` entries after `cursor` (from the newest when nil),
    /// with the cursor of the next page when more follow.
    func auditPage(clientID: String, limit: Int, after cursor: AuditCursor?) async throws -> AuditPage

    // MARK: Scheduled work

    /// Whether this process should run the scheduled `task` now: true when no process (of all those sharing the
    /// store) started it within the last `period` ms, and then `now` is recorded as its start. Of several
    /// processes asking in one period, one gets true; when it dies half-way, the next period's run starts over.
    func claimScheduledRun(task: String, now: Int64, period: Int64) async throws -> Bool
}

/// A client as a sweep sees it.
public struct ClientPlan: Sendable, Equatable {
    public var clientID: String
    public var plan: Plan

    /// Creates a value.
    public init(clientID: String, plan: Plan) {
        self.clientID = clientID
        self.plan = plan
    }
}

/// Which feedback rows a batch deletion takes.
public enum FeedbackSelection: Sendable, Equatable {
    /// The client's rows created before an instant (epoch ms), while the client is on `plan`: the plan is read in
    /// the batch's own transaction, so a client moved to a plan that keeps its rows loses none from the next batch
    /// on, however long a sweep that read the old plan has still to run.
    case createdBefore(clientID: String, cutoff: Int64, plan: Plan)
    /// All of the client's rows.
    case client(String)
    /// The rows a data subject sent or authored.
    case subject(SubjectScope)
}

/// What one deletion step removed.
public struct DeletionBatch: Sendable, Equatable {
    /// Feedback rows (or uploads, for upload batches).
    public var rows = 0
    /// Screenshot records (and files) of those rows.
    public var screenshots = 0
    /// `created_at` of the oldest deleted row, in epoch milliseconds.
    public var oldestCreatedAt: Int64?

    /// Creates a batch value.
    public init(rows: Int = 0, screenshots: Int = 0, oldestCreatedAt: Int64? = nil) {
        self.rows = rows
        self.screenshots = screenshots
        self.oldestCreatedAt = oldestCreatedAt
    }
}

/// How a batch deletion is recorded, in its own transaction.
public enum BatchRecord: Sendable {
    /// Not recorded.
    case none
    /// Added to an audit entry (created with the first batch that deletes something): `counts` names what the
    /// batch deleted, `dueAt` when it became due.
    case audit(
        AuditProgress, counts: @Sendable (DeletionBatch) -> DeletionCounts, dueAt: @Sendable (DeletionBatch) -> Int64?)
    /// Added to the running counts of the client's pending account closure, under `counts`.
    case closure(clientID: String, counts: @Sendable (DeletionBatch) -> DeletionCounts)
}

/// An audit entry being written batch by batch.
public struct AuditProgress: Sendable, Equatable {
    public let kind: AuditKind
    public let clientID: String?
    /// The entry, once a batch created it.
    public var entryID: Int64?
    /// Everything counted so far.
    public var counts = DeletionCounts()

    /// Starts an entry that does not exist yet.
    public init(kind: AuditKind, clientID: String?) {
        self.kind = kind
        self.clientID = clientID
    }
}

/// Which rows of one client belong to a data subject.
public struct SubjectScope: Sendable, Equatable {
    public var clientID: String
    /// Feedback sent with one of these emails (any case)…
    public var emails: [String]
    /// …or linked to one of these end users…
    public var userIDs: [String]
    /// …or written in Slack by this member. Rows they only forwarded keep the author's text; their id is nulled.
    public var slackMember: String?
    /// End users to delete: those with this email (any case) or this user id.
    public var endUserEmail: String?
    public var endUserID: String?

    /// Creates a scope.
    public init(
        clientID: String, emails: [String] = [], userIDs: [String] = [], slackMember: String? = nil,
        endUserEmail: String? = nil, endUserID: String? = nil
    ) {
        self.clientID = clientID
        self.emails = emails
        self.userIDs = userIDs
        self.slackMember = slackMember
        self.endUserEmail = endUserEmail
        self.endUserID = endUserID
    }
}

/// Where a page of a subject's items ended: its last item's creation instant (epoch ms) and id.
public struct SubjectItemPosition: Sendable, Equatable {
    public var createdAt: Int64
    public var id: String

    /// Creates a position.
    public init(createdAt: Int64, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    /// The position just after `item`.
    public init(after item: FeedbackItem) {
        self.init(createdAt: epochMillis(item.createdAt), id: item.id)
    }
}

extension RetentionStore {
    /// Everything held in `scope`: end users, items newest first, their screenshots (a page's, in the order the
    /// pages come), read a page of `pageSize` items at a time.
    public func export(_ scope: SubjectScope, pageSize: Int = 200) async throws -> (
        endUsers: [EndUser], feedback: [FeedbackItem], screenshots: [StoredScreenshotLink]
    ) {
        let endUsers = try await exportEndUsers(scope)
        var feedback: [FeedbackItem] = []
        var screenshots: [StoredScreenshotLink] = []
        try await forEachExportPage(scope, pageSize: pageSize) { page in
            feedback += page.feedback
            screenshots += page.screenshots
        }
        return (endUsers, feedback, screenshots)
    }

    /// Calls `body` with each page of the items in `scope` (`exportPage`, `pageSize` items a page) until the last;
    /// `first` is the first page when it was read already.
    public func forEachExportPage(
        _ scope: SubjectScope, pageSize: Int,
        first: (feedback: [FeedbackItem], screenshots: [StoredScreenshotLink])? = nil,
        _ body: ((feedback: [FeedbackItem], screenshots: [StoredScreenshotLink])) async throws -> Void
    ) async throws {
        var page = if let first { first } else { try await exportPage(scope, after: nil, limit: pageSize) }
        while true {
            try await body(page)
            guard page.feedback.count >= pageSize, let last = page.feedback.last else { return }
            page = try await exportPage(scope, after: SubjectItemPosition(after: last), limit: pageSize)
        }
    }
}

/// A screenshot in an export, before its URL is made.
public struct StoredScreenshotLink: Sendable, Equatable {
    public var feedbackId: String
    public var fileName: String
    public var mimeType: String
    public var fileSize: Int64
    public var createdAt: Int64

    /// Creates a value.
    public init(feedbackId: String, fileName: String, mimeType: String, fileSize: Int64, createdAt: Int64) {
        self.feedbackId = feedbackId
        self.fileName = fileName
        self.mimeType = mimeType
        self.fileSize = fileSize
        self.createdAt = createdAt
    }
}
