public import Foundation

/// The store the feedback API talks to. `SQLiteFeedbackStore` is the embedded backend; another backend (PostgreSQL)
/// implements the same protocol without touching the handlers.
public protocol FeedbackStore: Sendable {
    /// Creates a client and returns it with its admin key, which is shown this once and stored only as a hash.
    func createClient(name: String, plan: Plan, allowedOrigins: [String], at: Date) async throws -> (Client, String)
    /// The client with this id, unless it is unknown or being deleted.
    func client(id: String) async throws -> Client?
    /// The client whose admin key this is.
    func client(adminKey: String) async throws -> Client?
    /// Changes a client's plan; nil when the client is unknown.
    func updatePlan(clientID: String, plan: Plan) async throws -> Client?
    /// Stores a validated item for the client it names, committed durably before it returns.
    ///
    /// In the same transaction it checks that the client exists (else `FeedbackError.unknownClient`) and that its
    /// allowlist admits `origin` (else `.originNotAllowed`), so nothing is written for a client being deleted.
    func insert(_ draft: FeedbackDraft, at: Date, origin: String?) async throws -> FeedbackItem
    /// One item of this client.
    func feedback(id: String, clientID: String) async throws -> FeedbackItem?
    /// A page of this client's items, newest first.
    func listFeedback(clientID: String, filter: FeedbackFilter, limit: Int, after: FeedbackCursor?) async throws
        -> FeedbackPage
    /// Deletes one item and its screenshots; false when it is not this client's.
    func deleteFeedback(id: String, clientID: String) async throws -> Bool
    /// Records an uploaded screenshot whose file is already durable on disk.
    func insertScreenshot(_ screenshot: StoredScreenshot) async throws
    /// A stored screenshot by its `clientId/file` name.
    func screenshot(fileName: String) async throws -> StoredScreenshot?
}

extension FeedbackStore {
    /// The client a public request names, checked against its allowlist: `FeedbackError.unknownClient` or
    /// `.originNotAllowed` otherwise. The one rule every public route (feedback, screenshots, identify) applies.
    public func requireClient(_ id: String, origin: String?) async throws -> Client {
        guard let client = try await client(id: id) else { throw FeedbackError.unknownClient }
        guard client.allows(origin: origin) else { throw FeedbackError.originNotAllowed }
        return client
    }
}

/// Filters of the admin list.
public struct FeedbackFilter: Sendable, Equatable {
    /// Only this source.
    public var source: FeedbackSource?
    /// `.some(nil)`: only the default environment; `.some(x)`: only `x`; nil: all.
    public var environment: String??

    /// Creates a filter.
    public init(source: FeedbackSource? = nil, environment: String?? = nil) {
        self.source = source
        self.environment = environment
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

    /// Parses `token`; nil when it is not one of ours.
    public init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
            return nil
        }
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let millis = Int64(parts[0]), !parts[1].isEmpty else { return nil }
        self.init(createdAtMillis: millis, id: String(parts[1]))
    }
}

/// One page of the admin list.
public struct FeedbackPage: Sendable {
    public var items: [FeedbackItem]
    public var next: FeedbackCursor?
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
