public import Foundation
public import Logging
public import NIOCore

/// What the feedback API needs stored: clients, feedback items and screenshots (records and bytes).
///
/// The embedded backend is `SQLiteStore` (target StoreSQLite); another backend implements the same protocol in a
/// sibling adapter target. Every method is one transaction; a method that returns has committed durably.
public protocol FeedbackStore: Sendable {
    /// Creates a client and returns it with its admin key, which is shown this once and stored only as a hash.
    func createClient(name: String, plan: Plan, allowedOrigins: [String], at: Date) async throws -> (Client, String)
    /// The client with this id, unless it is unknown or being deleted.
    func client(id: String) async throws -> Client?
    /// The client whose admin key this is (unless it is being deleted).
    func client(adminKey: String) async throws -> Client?
    /// Replaces a client's admin key (the old one stops working at once) and returns the new one, shown this once;
    /// nil when the client is unknown or being deleted.
    func rotateAdminKey(clientID: String) async throws -> String?
    /// Changes a client's plan, its allowlist (`allowedOrigins`, normalized; empty: any origin), or both, in one
    /// write; a nil leaves that setting as it is. Nil when the client is unknown or being deleted.
    func updateClient(clientID: String, plan: Plan?, allowedOrigins: [String]?) async throws -> Client?
    /// The clients that are not being deleted, oldest first.
    func liveClients() async throws -> [Client]
    /// Stores a validated item for the client it names, committed durably before it returns.
    ///
    /// It checks that the client exists and is not being deleted in the very statement or transaction that writes
    /// (else `FeedbackError.unknownClient`), so nothing is written for a client being deleted, and that its
    /// allowlist admits `origin` (else `.originNotAllowed`; a store may read the allowlist just before the write).
    ///
    /// A draft with a `submissionKey` the client's stored items already hold is a repeat: with the same content it
    /// returns that item (its id and time; the draft's fields, which are the same) and writes nothing, not even its
    /// Slack post job; with other content it throws `FeedbackError.submissionKeyReused`. Two at once with one key
    /// store one item.
    func insert(_ draft: FeedbackDraft, at: Date, origin: String?) async throws -> FeedbackItem
    /// One item of this client.
    func feedback(id: String, clientID: String) async throws -> FeedbackItem?
    /// A page of this client's items, newest first.
    func listFeedback(clientID: String, filter: FeedbackFilter, limit: Int, after: FeedbackCursor?) async throws
        -> FeedbackPage
    /// Where the page before the one `listFeedback(…, after: cursor)` lists begins, paging by `limit`: the cursor of
    /// the `limit`-th item newer than `cursor`'s, or nil when there are fewer (the page before is the first).
    func newerPageCursor(clientID: String, filter: FeedbackFilter, limit: Int, before cursor: FeedbackCursor)
        async throws -> FeedbackCursor?
    /// The client's named environments, sorted, at most `limit`; the default (absent) environment is not among them.
    func environments(clientID: String, limit: Int) async throws -> [String]
    /// Deletes one item and its screenshots; false when it is not this client's. An item captured from Slack lately
    /// leaves its message's address behind (`RemovedCaptures`), in the same transaction.
    func deleteFeedback(id: String, clientID: String) async throws -> Bool
    /// Stores an uploaded screenshot: its bytes and its record, both durable before it returns. On a failure
    /// nothing of it stays. With `quota` above 0, only while the client's unattached screenshots and this one stay
    /// within `quota` bytes, checked in the transaction that inserts the record, so uploads that run at the same time
    /// (on any instance) never pass it together; past it, `FeedbackError.uploadQuotaExceeded`.
    func saveScreenshot(_ screenshot: StoredScreenshot, bytes: [UInt8], quota: Int64) async throws
    /// A stored screenshot's record by its `clientId/file` name (not for clients being deleted).
    func screenshot(fileName: String) async throws -> StoredScreenshot?
    /// A stored screenshot's bytes, or nil when there are none.
    func screenshotBytes(fileName: String) async throws -> Data?
    /// Removes the bytes of screenshots whose records are already gone (deletions interrupted by a crash, or
    /// batched deletions that left the unlinking for later). Nothing to do where bytes live in the database.
    func purgeDeletedScreenshots() async throws
    /// After an account's closure completed and its screenshots were purged: removes what the backend keeps for the
    /// client outside its rows (the SQLite backend's folder of its files). Nothing to do by default.
    func removeFilesOfClosedAccount(clientID: String) async throws
    /// The total `fileSize` of this client's screenshots that no feedback item has claimed yet (0 for an unknown
    /// client): what the per-client upload quota counts. Added by issue 11; it has no default.
    func unattachedScreenshotBytes(clientID: String) async throws -> Int64
    /// Stores an uploaded screenshot from the spool file it was written to as it arrived, within `quota` as
    /// `saveScreenshot(_:bytes:quota:)`; see the default in the extension below.
    func saveScreenshot(_ screenshot: StoredScreenshot, spooledFile path: String, quota: Int64) async throws
    /// A local file holding a stored screenshot's bytes, to stream from; see the default in the extension below.
    func screenshotFilePath(fileName: String) async throws -> String?
    /// A stored screenshot's bytes as pieces to fetch one at a time, to stream from; see the default below.
    func screenshotPieces(fileName: String) async throws -> ScreenshotPieces?
}

/// A stored screenshot's bytes kept in rows of their own: `count` pieces, fetched one at a time in order.
public struct ScreenshotPieces: Sendable {
    /// How many pieces there are.
    public var count: Int
    /// Piece `index` (0 up to `count`), or nil once it is gone (the screenshot was deleted meanwhile).
    public var fetch: @Sendable (_ index: Int) async throws -> ByteBuffer?

    /// Creates the pieces.
    public init(count: Int, fetch: @escaping @Sendable (_ index: Int) async throws -> ByteBuffer?) {
        self.count = count
        self.fetch = fetch
    }
}

extension FeedbackStore {
    /// Stores an uploaded screenshot with no quota.
    public func saveScreenshot(_ screenshot: StoredScreenshot, bytes: [UInt8]) async throws {
        try await saveScreenshot(screenshot, bytes: bytes, quota: 0)
    }

    /// Stores an uploaded screenshot from the spool file the upload route wrote it to: as
    /// `saveScreenshot(_:bytes:quota:)`, and the file may be left where it is (the route removes it). A backend that
    /// keeps files moves it into place instead; the default reads it once into memory.
    public func saveScreenshot(_ screenshot: StoredScreenshot, spooledFile path: String, quota: Int64) async throws {
        let bytes = try SpooledFile.contents(of: path, size: Int(screenshot.fileSize))
        try await saveScreenshot(screenshot, bytes: Array(bytes.readableBytesView), quota: quota)
    }

    /// The path of a local file holding exactly a stored screenshot's bytes, for the download to stream from; nil
    /// when the backend keeps no such file (the default), and then the download reads `screenshotBytes(fileName:)`.
    public func screenshotFilePath(fileName: String) async throws -> String? { nil }

    /// Nothing kept outside the rows.
    public func removeFilesOfClosedAccount(clientID: String) async throws {}

    /// The pieces of a stored screenshot's bytes, for a backend that keeps them in rows; nil (the default) when
    /// the bytes are a file or one value, and then the download reads `screenshotBytes(fileName:)`.
    public func screenshotPieces(fileName: String) async throws -> ScreenshotPieces? { nil }

    /// The client a public request names, checked against its allowlist: `FeedbackError.unknownClient` or
    /// `.originNotAllowed` otherwise. The one rule every public route (feedback, screenshots, identify) applies.
    public func requireClient(_ id: String, origin: String?) async throws -> Client {
        // An id with NUL names no client (and would find the one named by the text before it).
        guard !id.containsNUL, let client = try await client(id: id) else { throw FeedbackError.unknownClient }
        guard client.allows(origin: origin) else { throw FeedbackError.originNotAllowed }
        return client
    }
}

/// Whether the store answers, and how its writes are batched: what `/healthz` and `/metrics` report.
public protocol StoreHealth: Sendable {
    /// Whether the store answers a trivial query.
    func isHealthy() async -> Bool
    /// Durable transactions so far and the writes they carried (their ratio is the mean batch size).
    var commitStatistics: (commits: Int, writes: Int) { get }
}

/// A module that keeps data of a client: account closure asks each owner to erase its part.
///
/// The executable wires the list; the closing module never reads another module's records itself.
public protocol AccountDataOwner: Sendable {
    /// Deletes (or hands over for revocation) everything of `clientID` this owner keeps, in bounded steps;
    /// returns what went, by kind. Safe to call again after a crash: what is gone stays gone.
    func eraseAccountData(clientID: String, at: Date) async throws -> DeletionCounts
    /// An erasure of a Slack member (`slackUserId`) is beginning at `now` (epoch ms): work this owner has queued for
    /// `clientID` that names the member (a forward not fetched yet, a notice to them) is cancelled, and work that
    /// may reach what they wrote is kept from storing it, so nothing of theirs is stored or sent after the erasure
    /// answered. Returns how many queued items went.
    func cancelQueuedWork(clientID: String, slackMember: String, at now: Int64) async throws -> Int
    /// Forgets, as of `asOf`, what this owner keeps only for a while after a deletion (the Slack gateway: removed
    /// captures and erased members, 8 days). Run with every retention sweep, so it holds whether or not the owner's
    /// own workers run in this deployment.
    func forgetExpiredRecords(asOf: Date) async throws
    /// The work this owner has queued for `clientID` in a Slack member's name (their forward not fetched yet, a
    /// notice to them, their Home tab), for a privacy export: what it is and when it was queued.
    func queuedWork(clientID: String, slackMember: String) async throws -> [QueuedWork]
}

/// Work queued in a person's name, as a privacy export lists it: its kind and when it was queued, nothing of its
/// content.
public struct QueuedWork: Sendable, Encodable, Equatable {
    /// What the work does, in words (`Slack: their reaction's forward, message not fetched yet`).
    public var kind: String
    public var queuedAt: String

    public init(kind: String, queuedAt: String) {
        self.kind = kind
        self.queuedAt = queuedAt
    }
}

extension AccountDataOwner {
    /// Nothing queued per member.
    public func cancelQueuedWork(clientID: String, slackMember: String, at now: Int64) async throws -> Int { 0 }
    /// Nothing kept for a while.
    public func forgetExpiredRecords(asOf: Date) async throws {}
    /// Nothing queued per member.
    public func queuedWork(clientID: String, slackMember: String) async throws -> [QueuedWork] { [] }
}

/// Records a deletion in the audit trail (kind, instants, counts; never content). Retention keeps the trail; other
/// modules (the Slack uninstall scrub) record through this.
public protocol DeletionAuditor: Sendable {
    /// Adds one finished deletion to the trail.
    func recordDeletion(kind: String, clientID: String?, dueAt: Date?, finishedAt: Date, counts: DeletionCounts)
        async throws
}

/// Filters of the admin list.
public struct FeedbackFilter: Sendable, Equatable {
    /// Only this source.
    public var source: FeedbackSource?
    /// `.some(nil)`: only the default environment; `.some(x)`: only `x`; nil: all.
    public var environment: String??
    /// Only items whose comment or end-user email contains this text, ignoring the case of ASCII letters (on
    /// PostgreSQL a comment's other letters fold as the database's locale folds them); nil or empty: all. `%`, `_`
    /// and `\` are matched as themselves. A Slack message is stored as Slack sends it, with `&`, `<` and `>` as
    /// entities: those are looked for as either.
    public var text: String?

    /// The longest `text` searched for, in characters (the inbox's search field takes no more; the admin API's `q`
    /// refuses more).
    public static let maxTextLength = 200
    /// And in bytes of UTF-8 (one character can carry any number of combining marks; SQLite refuses a `LIKE` pattern
    /// past 50,000 bytes).
    public static let maxTextBytes = 1_000

    /// Creates a filter.
    public init(source: FeedbackSource? = nil, environment: String?? = nil, text: String? = nil) {
        self.source = source
        self.environment = environment
        self.text = text
    }

    /// `text` as a `LIKE` pattern with a backslash as its escape character (`%50\%\_off%` for `50%_off`), or nil
    /// when there is no text to look for. Escaped scalar by scalar: a `%` with a combining mark on it is still a `%`
    /// to the database.
    public var likePattern: String? {
        guard let text, !text.isEmpty else { return nil }
        return Self.pattern(text)
    }

    /// The pattern of `text` as Slack writes it (`Q&amp;A`), when that differs from `likePattern`.
    public var slackLikePattern: String? {
        guard let text, !text.isEmpty else { return nil }
        let escaped = text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
        return escaped == text ? nil : Self.pattern(escaped)
    }

    private static func pattern(_ text: String) -> String {
        var pattern = String.UnicodeScalarView()
        pattern.append("%")
        for scalar in text.unicodeScalars {
            if scalar == "%" || scalar == "_" || scalar == "\\" { pattern.append("\\") }
            pattern.append(scalar)
        }
        pattern.append("%")
        return String(pattern)
    }
}

/// Position in the newest-first order: the last item of the previous page.
public struct FeedbackCursor: Sendable, Equatable {
    public var createdAtMillis: Int64
    public var id: String

    /// Creates a cursor.
    public init(createdAtMillis: Int64, id: String) {
        self.createdAtMillis = createdAtMillis
        self.id = id
    }

    /// Opaque text form for `nextCursor`.
    public var token: String {
        Data("\(createdAtMillis):\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Parses `token`; nil when it is not one of ours. The id part is bounded and holds no NUL, as every id we make:
    /// PostgreSQL's text refuses NUL outright (a query with it failed there, a 500, where SQLite answered a page).
    public init?(token: String) {
        guard token.utf8.count <= 256 else { return nil }
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
            return nil
        }
        let parts = text.split(separator: ":", maxSplits: 1)
        // No item was made before 1970: a negative instant is no place in any list (it read as an empty page).
        guard parts.count == 2, let millis = Int64(parts[0]), millis >= 0, !parts[1].isEmpty, !parts[1].containsNUL else {
            return nil
        }
        self.init(createdAtMillis: millis, id: String(parts[1]))
    }
}

/// One page of the admin list.
public struct FeedbackPage: Sendable {
    public var items: [FeedbackItem]
    public var next: FeedbackCursor?

    /// Creates a page.
    public init(items: [FeedbackItem], next: FeedbackCursor?) {
        self.items = items
        self.next = next
    }

    /// Cuts `fetched` (up to `limit + 1` items, newest first) to a page, with a cursor when more follow.
    public init(fetched: [FeedbackItem], limit: Int) {
        var items = fetched
        var next: FeedbackCursor?
        if items.count > limit {
            items.removeLast(items.count - limit)
            if let last = items.last { next = FeedbackCursor(createdAtMillis: epochMillis(last.createdAt), id: last.id) }
        }
        self.init(items: items, next: next)
    }
}

/// An uploaded image as the store keeps it.
public struct StoredScreenshot: Sendable, Equatable {
    /// `clientId/123-abc.png`
    public var fileName: String
    public var clientId: String
    public var mimeType: String
    public var fileSize: Int64
    public var width: Int64?
    public var height: Int64?
    public var createdAt: Date

    /// Creates a screenshot record.
    public init(
        fileName: String, clientId: String, mimeType: String, fileSize: Int64, width: Int64?, height: Int64?,
        createdAt: Date
    ) {
        self.fileName = fileName
        self.clientId = clientId
        self.mimeType = mimeType
        self.fileSize = fileSize
        self.width = width
        self.height = height
        self.createdAt = createdAt
    }
}

/// Names of stored screenshots: `client_<alnum>/<digits>-<alnum>.<ext>`. Nothing else is ever looked up, so no
/// name can reach outside the store, whichever backend keeps the bytes.
public enum ScreenshotName {
    /// Whether `name` is one the service could have made.
    public static func isValid(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, isClientFolder(parts[0]) else { return false }
        let lowerAlnum: (Character) -> Bool = { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        let file = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard file.count == 2, ImageInfo.fileExtensions.contains(String(file[1])) else { return false }
        let stem = file[0].split(separator: "-", omittingEmptySubsequences: false)
        guard stem.count == 2, (1...20).contains(stem[0].count), (1...32).contains(stem[1].count) else { return false }
        return stem[0].allSatisfy { ("0"..."9").contains($0) } && stem[1].allSatisfy(lowerAlnum)
    }

    /// Whether `name` is a client's folder the service could have made: `client_<lowercase alnum>`.
    public static func isClientFolder(_ name: some StringProtocol) -> Bool {
        guard name.hasPrefix("client_"), name.count > 7, name.count <= 71 else { return false }
        return name.dropFirst(7).allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }
}

/// The store cannot be reached now (a database server down or unreachable): nothing was written; the client may
/// retry. The service answers 503 with `Retry-After`.
public struct StoreUnavailable: Error, Sendable {
    public init() {}
}

/// A store error that carries a code an operator can look up (PostgreSQL's SQLSTATE: `42501` for a missing grant,
/// `25006` for a read-only server), which is safe to log: never the server's message or a value.
public protocol StoreErrorCode: Error {
    var storeErrorCode: String? { get }
}

/// What a log line may say of `error`: its type, and the code a store error carries (`error.sqlstate`).
public func errorMetadata(_ error: any Error) -> Logger.Metadata {
    var metadata: Logger.Metadata = ["error.type": "\(type(of: error))"]
    if let code = (error as? any StoreErrorCode)?.storeErrorCode { metadata["error.sqlstate"] = "\(code)" }
    return metadata
}

extension FeedbackStore {
    /// Changes a client's plan; nil when the client is unknown or being deleted.
    public func updatePlan(clientID: String, plan: Plan) async throws -> Client? {
        try await updateClient(clientID: clientID, plan: plan, allowedOrigins: nil)
    }
}
