import Foundation
import UseroCrypto

/// A client's own name for one submission, sent as the `Idempotency-Key` header of `POST /api/feedback`: a request
/// sent again because its answer never came (a timeout, a dropped connection, a 500) is answered with the item the
/// first one stored, and stores nothing new. Without it such a retry makes a second item.
///
/// The stores keep two digests with the item, never the header's text (a client's free text, which could hold
/// anything): the key's, unique per client, and the content's, so that a key sent again with other content is
/// refused (`FeedbackError.submissionKeyReused`) instead of being answered as stored while nothing of it was. The key
/// lives as long as its item: deleted, erased or swept, the item takes it along, and the key names nothing again.
/// Not read back with the item.
public struct SubmissionKey: Sendable, Equatable {
    /// SHA-256 of the header's value.
    public let key: [UInt8]
    /// SHA-256 of the submission's fields as sent (`fingerprint(of:)`).
    public let content: [UInt8]

    /// Longest header value.
    public static let maxCharacters = 255

    /// The key `header` names for `draft`; nil when `header` is not 1 to 255 visible ASCII characters (a UUID, say).
    public init?(header: String, draft: FeedbackDraft) {
        let bytes = Array(header.utf8)
        guard (1...Self.maxCharacters).contains(bytes.count), bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            return nil
        }
        self.init(key: SHA256.hash(bytes), content: Self.fingerprint(of: draft))
    }

    /// Both digests as stored.
    public init(key: [UInt8], content: [UInt8]) {
        self.key = key
        self.content = content
    }

    /// The answer to `item` sent again under this key: the item stored under it (`id`, created at `createdAtMillis`,
    /// with `storedContent`), as `item` with that id and time. Throws `submissionKeyReused` when it was stored with
    /// other content. Every store answers a repeat through this.
    public func repeated(_ item: FeedbackItem, storedAs id: String, createdAtMillis: Int64, storedContent: [UInt8]?)
        throws(FeedbackError) -> FeedbackItem
    {
        guard storedContent == content else { throw .submissionKeyReused }
        return FeedbackItem(
            id: id, clientId: item.clientId, createdAt: dateFromEpochMillis(createdAtMillis), draft: item.draft)
    }

    /// SHA-256 over every field of the body, each written as a tag, its length and its bytes (so that no two
    /// different drafts write the same bytes). Not the source: the same body is the same submission with or without
    /// the widget's header.
    static func fingerprint(of draft: FeedbackDraft) -> [UInt8] {
        var bytes: [UInt8] = []
        func field(_ tag: UInt8, _ value: String?) {
            guard let value else { return }
            bytes.append(tag)
            let utf8 = Array(value.utf8)
            withUnsafeBytes(of: UInt64(utf8.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
        }
        field(1, draft.clientId)
        field(3, draft.rating.map { String($0) })
        field(4, draft.comment)
        field(5, draft.userEmail)
        field(6, draft.pageUrl)
        field(7, draft.pageTitle)
        field(8, draft.referrer)
        field(9, draft.environment)
        field(10, draft.metadata?.jsonText)
        for shot in draft.screenshots {
            field(11, shot.fileName)
            field(12, shot.url)
            field(13, String(shot.fileSize))
            field(14, shot.mimeType)
            field(15, shot.width.map { String($0) })
            field(16, shot.height.map { String($0) })
        }
        field(17, draft.sessionReplayId)
        field(18, draft.replayOffsetMs.map { String($0) })
        field(19, draft.userId)
        return SHA256.hash(bytes)
    }
}
