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

extension PrivacyExport {
    /// The document's JSON in pieces of at least `size` bytes (but the last), each made when it is asked for: the
    /// opening, the items as the admin API writes them, the closing. A response sends them as they come, so the
    /// document is never whole in memory (anyone can put a person's email on items of 200 KB each). Items are not
    /// written through `JSONEncoder`: one whose metadata nests as deep as the public API admits (510 levels inside a
    /// body's 512) passed the encoder's own limit of 512 inside this document, and that person's export failed.
    public func jsonPieces(atLeast size: Int) throws -> PrivacyExportPieces {
        var opening = ""
        var object = JSONObjectText(opening: &opening)
        let subject = String(decoding: try JSONResponse.encoded(self.subject), as: UTF8.self)
        object.member("subject", in: &opening) { $0 += subject }
        object.string("exportedAt", exportedAt, in: &opening)
        let endUsers = String(decoding: try JSONResponse.encoded(self.endUsers), as: UTF8.self)
        object.member("endUsers", in: &opening) { $0 += endUsers }
        object.member("feedback", in: &opening) { $0 += "[" }
        var closing = "]"
        let screenshots = String(decoding: try JSONResponse.encoded(self.screenshots), as: UTF8.self)
        object.member("screenshots", in: &closing) { $0 += screenshots }
        let queuedWork = String(decoding: try JSONResponse.encoded(self.queuedWork), as: UTF8.self)
        object.member("queuedWork", in: &closing) { $0 += queuedWork }
        object.close(&closing)
        return PrivacyExportPieces(items: feedback, opening: opening, closing: closing, size: size)
    }
}

/// The pieces of a privacy export's JSON (`PrivacyExport.jsonPieces(atLeast:)`).
public struct PrivacyExportPieces: Sequence, IteratorProtocol, Sendable {
    let items: [FeedbackItem]
    let opening: String
    let closing: String
    let size: Int
    private var begun = false
    private var written = 0
    private var closed = false

    init(items: [FeedbackItem], opening: String, closing: String, size: Int) {
        self.items = items
        self.opening = opening
        self.closing = closing
        self.size = size
    }

    public mutating func next() -> String? {
        guard !closed else { return nil }
        var text = begun ? "" : opening
        begun = true
        while written < items.count, text.utf8.count < size {
            if written > 0 { text += "," }
            items[written].appendJSON(to: &text)
            written += 1
        }
        if written == items.count {
            text += closing
            closed = true
        }
        return text
    }
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

    /// Everything this client holds about `subject`, read from one snapshot.
    public func export(clientID: String, subject: DataSubject) async throws -> PrivacyExport {
        let base = publicURL
        let scope = try await store.resolve(subject, clientID: clientID)
        let (endUsers, items, links) = try await store.export(scope)
        let screenshots = links.map { link in
            ExportedScreenshot(
                feedbackId: link.feedbackId, url: "\(base)/api/screenshots/\(link.fileName)", mimeType: link.mimeType,
                fileSize: link.fileSize, uploadedAt: iso8601(dateFromEpochMillis(link.createdAt)))
        }
        var queued: [QueuedWork] = []
        if case .slackUser(let member) = subject {
            for owner in owners { queued += try await owner.queuedWork(clientID: clientID, slackMember: member) }
        }
        let pair = subject.pair
        return PrivacyExport(
            subject: [pair.key: pair.value], exportedAt: iso8601(clock.now()), endUsers: endUsers, feedback: items,
            screenshots: screenshots, queuedWork: queued)
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
