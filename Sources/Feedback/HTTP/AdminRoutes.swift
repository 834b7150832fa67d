import Foundation
public import Hummingbird

/// The admin API for the customer's team: list, read and delete their feedback.
public struct AdminRoutes<Context: RequestContext>: Sendable {
    /// Resolves the admin key.
    public let auth: AdminAuth
    /// The store.
    public let store: any FeedbackStore

    /// Default and largest page sizes.
    public static var defaultLimit: Int { 50 }
    public static var maxLimit: Int { 200 }

    /// Creates the routes.
    public init(auth: AdminAuth, store: any FeedbackStore) {
        self.auth = auth
        self.store = store
    }

    /// Adds the routes under `api`.
    public func register(on group: RouterGroup<Context>) {
        group.get("feedback", use: list)
        group.get("feedback/:id", use: show)
        group.delete("feedback/:id", use: remove)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        let query = try request.formQuery(allowing: ["source", "environment", "q", "limit", "cursor"])
        var filter = FeedbackFilter()
        if let text = query["q"] { filter.text = try Self.searchText(text) }
        if let source = query["source"], !source.isEmpty {
            guard let value = FeedbackSource(rawValue: source) else {
                throw FeedbackError.badQuery(field: "source", message: "source must be one of api, widget, slack")
            }
            filter.source = value
        }
        if let environment = query["environment"] {
            // No stored environment holds NUL (`containsNUL`); SQLite would match the text before it.
            guard !environment.containsNUL else {
                throw FeedbackError.badQuery(field: "environment", message: "environment must not contain NUL characters")
            }
            // Present but empty: the default environment (stored as absent).
            filter.environment = .some(environment.isEmpty ? nil : environment)
        }
        let (limit, cursor) = try query.page(
            defaultLimit: Self.defaultLimit, maxLimit: Self.maxLimit, cursor: FeedbackCursor.init(token:))
        let page = try await store.listFeedback(clientID: client.id, filter: filter, limit: limit, after: cursor)
        return JSONResponse.raw(ItemList(items: page.items, nextCursor: page.next?.token).jsonText)
    }

    /// `q`, the text to look for in comments and emails: its ends trimmed, nil when that leaves nothing. Refused
    /// when it holds NUL (no stored text does) or is longer than the inbox's search takes: cutting it, as the
    /// inbox's field does, would answer a search the caller did not ask for.
    static func searchText(_ value: String) throws -> String? {
        guard !value.containsNUL else {
            throw FeedbackError.badQuery(field: "q", message: "q must not contain NUL characters")
        }
        let text = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count <= FeedbackFilter.maxTextLength, text.utf8.count <= FeedbackFilter.maxTextBytes else {
            throw FeedbackError.badQuery(
                field: "q",
                message: "q must be at most \(FeedbackFilter.maxTextLength) characters and \(FeedbackFilter.maxTextBytes) bytes")
        }
        return text.isEmpty ? nil : text
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        try request.refuseQuery()
        guard let id = context.parameters.decoded("id"),
            let item = try await store.feedback(id: id, clientID: client.id)
        else { throw FeedbackError.notFound }
        return JSONResponse.raw(item.jsonText)
    }

    @Sendable func remove(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        try request.refuseQuery()
        try await request.refuseBody()
        guard let id = context.parameters.decoded("id"), try await store.deleteFeedback(id: id, clientID: client.id) else {
            throw FeedbackError.notFound
        }
        return Response(status: .noContent)
    }
}

/// A page of the admin list: `{"items": [...], "nextCursor": "..." or null}`.
struct ItemList {
    var items: [FeedbackItem]
    var nextCursor: String?

    /// The page's JSON, written directly (see `FeedbackItem.jsonText`).
    var jsonText: String {
        var text = ""
        // An item with a comment, a page and some metadata takes about 900 bytes: room for that up front, where growing
        // the text as it is written reallocates and copies it about ten times for a page of 20.
        text.reserveCapacity(64 + items.count * 1024)
        text += "{\"items\":["
        for (index, item) in items.enumerated() {
            if index > 0 { text += "," }
            item.appendJSON(to: &text)
        }
        text += "],\"nextCursor\":"
        if let nextCursor { JSONValue.appendQuoted(nextCursor, to: &text) } else { text += "null" }
        text += "}"
        return text
    }
}
