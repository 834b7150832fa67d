public import Feedback
import Foundation

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
    /// Work queued in their name and not done yet (a Slack member's forward still being fetched, a notice to them).
    public var queuedWork: [QueuedWork] = []
}

/// A person's export as it is sent: what is read before the answer starts (the end users, the queued work, the
/// first page of items), then the other items a page at a time while the document is written, so neither the
/// document nor the items are ever whole in memory (anyone can put a person's email on any number of items of 200
/// KB each: the export held them all at once, found by a review). Only the screenshot list (a line of about 200
/// bytes per screenshot, the document's last member) is kept until the items are written. Items are written by
/// hand, not through `JSONEncoder`: one whose metadata nests as deep as the public API admits passed the encoder's
/// own limit of 512 inside this document, and that person's export failed.
public struct PrivacyExportDocument: Sendable {
    /// The subject, the time, the end users and the queued work (its items and screenshots come page by page).
    public let head: PrivacyExport
    /// The first page of items, read before the answer begins.
    let first: (feedback: [FeedbackItem], screenshots: [StoredScreenshotLink])
    let scope: SubjectScope
    let store: any RetentionStore
    let base: String
    let pageSize: Int

    /// Writes the document's JSON through `write`, in pieces of at least `size` bytes (but the last).
    public func write(inPiecesOf size: Int, to write: (String) async throws -> Void) async throws {
        var text = ""
        var object = JSONObjectText(opening: &text)
        let subject = String(decoding: try JSONResponse.encoded(head.subject), as: UTF8.self)
        object.member("subject", in: &text) { $0 += subject }
        object.string("exportedAt", head.exportedAt, in: &text)
        let endUsers = String(decoding: try JSONResponse.encoded(head.endUsers), as: UTF8.self)
        object.member("endUsers", in: &text) { $0 += endUsers }
        object.member("feedback", in: &text) { $0 += "[" }
        var screenshots = "["
        var first = true
        try await forEachPage { items, links in
            for item in items {
                if !first { text += "," }
                first = false
                item.appendJSON(to: &text)
                if text.utf8.count >= size {
                    try await write(text)
                    text = ""
                }
            }
            for link in links {
                if screenshots.utf8.count > 1 { screenshots += "," }
                screenshots += String(decoding: try JSONResponse.encoded(link), as: UTF8.self)
            }
        }
        text += "]"
        screenshots += "]"
        object.member("screenshots", in: &text) { $0 += screenshots }
        let queuedWork = String(decoding: try JSONResponse.encoded(head.queuedWork), as: UTF8.self)
        object.member("queuedWork", in: &text) { $0 += queuedWork }
        object.close(&text)
        try await write(text)
    }

    /// The whole document as values.
    public func collect() async throws -> PrivacyExport {
        var export = head
        try await forEachPage { items, links in
            export.feedback += items
            export.screenshots += links
        }
        return export
    }

    /// Calls `body` with each page of items, newest first, and the screenshots they name.
    func forEachPage(_ body: ([FeedbackItem], [ExportedScreenshot]) async throws -> Void) async throws {
        try await store.forEachExportPage(scope, pageSize: pageSize, first: first) { page in
            try await body(page.feedback, page.screenshots.map { exported($0, base: base) })
        }
    }
}

/// A screenshot of an export, with the URL this server serves it at.
func exported(_ link: StoredScreenshotLink, base: String) -> ExportedScreenshot {
    ExportedScreenshot(
        feedbackId: link.feedbackId, url: "\(base)/api/screenshots/\(link.fileName)", mimeType: link.mimeType,
        fileSize: link.fileSize, uploadedAt: iso8601(dateFromEpochMillis(link.createdAt)))
}

/// Access and erasure requests, for the customer's team acting on a person's request.
public struct DataSubjectService: Sendable {
    /// End users, feedback of a subject, the audit trail.
    public let store: any RetentionStore
    /// Screenshot bytes of deleted rows.
    public let feedback: any FeedbackStore
    /// The time source.
    public let clock: any WallClock
    /// External base URL, for screenshot URLs.
    public let publicURL: String
    /// Batch sizes.
    public let policy: RetentionPolicy
    /// Other modules' queued work for a subject (the Slack gateway's jobs naming a member).
    public let owners: [any AccountDataOwner]

    /// Creates the service.
    public init(
        store: any RetentionStore, feedback: any FeedbackStore, clock: any WallClock, publicURL: String,
        policy: RetentionPolicy = .standard, owners: [any AccountDataOwner] = []
    ) {
        self.store = store
        self.feedback = feedback
        self.clock = clock
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.policy = policy
        self.owners = owners
    }

    /// Everything this client holds about `subject`, as values.
    public func export(clientID: String, subject: DataSubject) async throws -> PrivacyExport {
        try await exportDocument(clientID: clientID, subject: subject).collect()
    }

    /// Everything this client holds about `subject`, to be written a page of `pageSize` items at a time: the first
    /// page is read now, so a store that fails says so before an answer begins.
    public func exportDocument(clientID: String, subject: DataSubject, pageSize: Int = 200) async throws
        -> PrivacyExportDocument
    {
        let scope = try await store.resolve(subject, clientID: clientID)
        let endUsers = try await store.exportEndUsers(scope)
        let pageSize = max(1, pageSize)
        let page = try await store.exportPage(scope, after: nil, limit: pageSize)
        var queued: [QueuedWork] = []
        if case .slackUser(let member) = subject {
            for owner in owners { queued += try await owner.queuedWork(clientID: clientID, slackMember: member) }
        }
        let pair = subject.pair
        let head = PrivacyExport(
            subject: [pair.key: pair.value], exportedAt: iso8601(clock.now()), endUsers: endUsers, feedback: [],
            screenshots: [], queuedWork: queued)
        return PrivacyExportDocument(
            head: head, first: page, scope: scope, store: store, base: publicURL, pageSize: pageSize)
    }

    /// Deletes what this client holds about `subject`: the items they sent or authored (with screenshot files),
    /// their end-user records; in Slack rows they only forwarded, their id is set to null and the author's text
    /// stays. Batched like a sweep; the audit entry (`privacy_erasure`) is written with the batches.
    public func erase(clientID: String, subject: DataSubject) async throws -> DeletionCounts {
        let requestedAt = epochMillis(clock.now())
        // First what is queued: a forward by the member that is being fetched now either finds its job gone and
        // stores nothing, or stored its row already, which the batches below delete; so does anyone else's forward
        // of the member's message, which from here on finds the erasure on record (`ErasedMembers`).
        if case .slackUser(let member) = subject {
            for owner in owners {
                _ = try await owner.cancelQueuedWork(clientID: clientID, slackMember: member, at: requestedAt)
            }
        }
        let scope = try await store.resolve(subject, clientID: clientID)
        var audit = AuditProgress(kind: .privacyErasure, clientID: clientID)
        let limit = policy.batchSize
        while true {
            let record = BatchRecord.audit(
                audit, counts: { DeletionCounts(["feedback": $0.rows, "screenshots": $0.screenshots]) },
                dueAt: { _ in requestedAt })
            guard let (batch, updated) = try await store.deleteFeedbackBatch(
                .subject(scope), limit: limit, at: epochMillis(clock.now()), record: record)
            else { break }
            if let updated { audit = updated }
            if batch.rows < limit { break }
        }
        let counts = try await store.finishErasure(
            scope, audit: audit, dueAt: requestedAt, at: epochMillis(clock.now()))
        try await feedback.purgeDeletedScreenshots()
        return counts
    }
}
