public import Feedback
import Foundation
public import Hummingbird

/// The admin routes of retention and privacy: account closure, end users, data-subject requests, the audit trail.
public struct RetentionAdminRoutes<Context: RequestContext>: Sendable {
    /// Resolves the admin key.
    public let auth: AdminAuth
    /// Account closure.
    public let closer: AccountCloser
    /// End-user lookups.
    public let endUsers: EndUserService
    /// Export and erasure.
    public let privacy: DataSubjectService
    /// The audit trail.
    public let audit: AuditLog

    /// Creates the routes.
    public init(
        auth: AdminAuth, closer: AccountCloser, endUsers: EndUserService, privacy: DataSubjectService, audit: AuditLog
    ) {
        self.auth = auth
        self.closer = closer
        self.endUsers = endUsers
        self.privacy = privacy
        self.audit = audit
    }

    /// Adds the routes to a group at `api`.
    public func register(on group: RouterGroup<Context>) {
        group.delete("account", use: closeAccount)
        group.get("end-users/:userId", use: endUser)
        group.get("privacy/export", use: export)
        group.post("privacy/erase", use: erase)
        group.get("audit", use: auditTrail)
    }

    /// Deletes everything synchronously and answers 204 once the last write committed. Should the process die
    /// half-way, the account is already invisible and the closure finishes at the next start.
    @Sendable func closeAccount(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        // Nothing of the request is read but the key: a body or a parameter (`{"dryRun":true}`, `?confirm=false`)
        // is refused rather than ignored by the one request that cannot be undone.
        try request.refuseQuery()
        try await request.refuseBody()
        try await closer.close(clientID: client.id)
        return Response(status: .noContent)
    }

    @Sendable func endUser(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        try request.refuseQuery()
        guard let userID = context.parameters.decoded("userId"),
            let user = try await endUsers.endUser(clientID: client.id, userID: userID)
        else { throw FeedbackError.notFound }
        return JSONResponse.make(user)
    }

    @Sendable func export(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        let query = try request.formQuery()
        // A `+` sent as it is reads as a space; in an id or an address a plus sign is as likely (`auth+42`,
        // `ada+x@example.com`), and a wrong guess would export nothing and say so as a success.
        if let key = DataSubject.keys.first(where: query.namesWithPlus.contains) {
            throw FeedbackError.badQuery(
                field: key, message: "\(key) holds a +, which a query string reads as a space: send a plus sign as %2B, a space as %20")
        }
        let subject = try DataSubject(pairs: query.fields.map { (key: $0.name, value: $0.value) })
        let document = try await privacy.exportDocument(clientID: client.id, subject: subject)
        // Read and written a page at a time (`PrivacyExportDocument`): anyone can put a person's email on items, up
        // to 200 KB each.
        return Response(
            status: .ok, headers: JSONResponse.headers,
            body: ResponseBody { writer in
                try await document.write(inPiecesOf: 64 * 1024) { try await writer.write(ByteBuffer(string: $0)) }
                try await writer.finish(nil)
            })
    }

    @Sendable func erase(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        // The person is named in the body; one named in the query as well would be ignored, and another erased.
        try request.refuseQuery()
        let body = try await request.collectBody(limit: 1024 * 1024)
        guard let (value, duplicateKeys) = JSONValue.parseNoticingDuplicateKeys(body) else {
            throw FeedbackError.malformedJSON
        }
        // `{"email":"bob@…","email":"x@y.z"}` would erase only the last: a repeated key is refused, as in a query.
        guard case .object(let fields) = value, !duplicateKeys else { throw RetentionError.subjectRequired }
        var pairs: [(key: String, value: String)] = []
        for (key, field) in fields {
            guard DataSubject.keys.contains(key) else {
                throw RetentionError.invalidSubjectField(field: key, problem: ErrorBody.unknownField)
            }
            guard case .string(let text) = field else {
                throw RetentionError.invalidSubjectField(field: key, problem: "Must be a string")
            }
            pairs.append((key, text))
        }
        let subject = try DataSubject(pairs: pairs)
        let counts = try await privacy.erase(clientID: client.id, subject: subject)
        var reported: [String: Int] = [:]
        for kind in ["feedback", "screenshots", "endUsers", "slackForwardsScrubbed"] { reported[kind] = counts[kind] }
        return JSONResponse.make(Erased(success: true, counts: reported))
    }

    @Sendable func auditTrail(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        // Anything else (`?kind=…`) is refused: answering every kind would read as filtered.
        let query = try request.formQuery(allowing: ["limit", "cursor"])
        let (limit, cursor) = try query.page(
            defaultLimit: AuditLog.maxEntries, maxLimit: AuditLog.maxEntries, cursor: AuditCursor.init(token:))
        let page = try await audit.page(clientID: client.id, limit: limit, after: cursor)
        return JSONResponse.make(AuditList(items: page.entries, nextCursor: page.next?.token))
    }
}

struct Erased: Encodable {
    var success: Bool
    var counts: [String: Int]
}

/// A page of the audit trail: `{"items": [...], "nextCursor": "..." or null}`, as the feedback list.
struct AuditList: Encodable {
    var items: [AuditEntry]
    var nextCursor: String?

    enum Keys: String, CodingKey { case items, nextCursor }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(items, forKey: .items)
        try c.encode(nextCursor, forKey: .nextCursor)  // null on the last page, not left out
    }
}
