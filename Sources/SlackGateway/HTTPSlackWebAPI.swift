public import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `SlackWebAPI` over URLSession (libcurl on Linux): base URL from `SLACK_API_URL`, bounded timeouts, the token only
/// in `Authorization: Bearer`.
public final class HTTPSlackWebAPI: SlackWebAPI {
    private let baseURL: URL
    private let session: URLSession

    /// A client for `baseURL` (ending in `/`), with `timeout` per request.
    public init(baseURL: URL, timeout: TimeInterval = 10) {
        self.baseURL = baseURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout * 2
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.httpMaximumConnectionsPerHost = 8
        session = URLSession(configuration: configuration)
    }

    // MARK: Methods

    public func exchangeCode(_ code: String, redirectURI: String, clientID: String, clientSecret: Redacted<String>)
        async throws -> OAuthAccess
    {
        let basic = Data("\(clientID):\(clientSecret.value)".utf8).base64EncodedString()
        let body = FormBody.encode([("code", code), ("redirect_uri", redirectURI), ("grant_type", "authorization_code")])
        let reply: AccessReply = try await call(
            "oauth.v2.access", form: body, authorization: "Basic \(basic)")
        guard let token = reply.accessToken else { throw SlackAPIError.malformedResponse }
        return OAuthAccess(
            accessToken: Redacted(token), scope: reply.scope ?? "", botUserId: reply.botUserId, appId: reply.appId,
            teamId: reply.team?.id, teamName: reply.team?.name, enterpriseId: reply.enterprise?.id,
            installerUserId: reply.authedUser?.id)
    }

    public func authTest(token: Redacted<String>) async throws -> AuthIdentity {
        let reply: AuthTestReply = try await call("auth.test", form: "", authorization: bearer(token))
        return AuthIdentity(userId: reply.userId, botId: reply.botId, teamId: reply.teamId)
    }

    public func revoke(token: Redacted<String>) async throws {
        let _: Empty = try await call("auth.revoke", form: "", authorization: bearer(token))
    }

    public func replies(channel: String, ts: String, cursor: String?, token: Redacted<String>) async throws
        -> MessagePage
    {
        var query = [("channel", channel), ("ts", ts), ("limit", "15")]
        if let cursor { query.append(("cursor", cursor)) }
        let reply: PageReply = try await call("conversations.replies", query: query, authorization: bearer(token))
        return MessagePage(messages: reply.messages ?? [], nextCursor: reply.nextCursor)
    }

    public func history(channel: String, ts: String, token: Redacted<String>) async throws -> MessagePage {
        let query = [
            ("channel", channel), ("latest", ts), ("oldest", ts), ("inclusive", "true"), ("limit", "1"),
        ]
        let reply: PageReply = try await call("conversations.history", query: query, authorization: bearer(token))
        return MessagePage(messages: reply.messages ?? [], nextCursor: nil)
    }

    public func permalink(channel: String, ts: String, token: Redacted<String>) async throws -> String {
        let reply: PermalinkReply = try await call(
            "chat.getPermalink", query: [("channel", channel), ("message_ts", ts)], authorization: bearer(token))
        guard let link = reply.permalink else { throw SlackAPIError.malformedResponse }
        return link
    }

    public func postEphemeral(channel: String, user: String, text: String, threadTs: String?, token: Redacted<String>)
        async throws
    {
        var fields = [("channel", channel), ("user", user), ("text", text)]
        if let threadTs { fields.append(("thread_ts", threadTs)) }
        let _: Empty = try await call("chat.postEphemeral", form: FormBody.encode(fields), authorization: bearer(token))
    }

    public func postMessage(channel: String, text: String, token: Redacted<String>) async throws {
        let fields = [("channel", channel), ("text", text)]
        let _: Empty = try await call("chat.postMessage", form: FormBody.encode(fields), authorization: bearer(token))
    }

    public func respond(to responseURL: String, text: String) async throws {
        guard let url = URL(string: responseURL), ["http", "https"].contains(url.scheme ?? "") else {
            throw SlackAPIError.malformedResponse
        }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json; charset=utf-8", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONEncoder().encode(["response_type": "ephemeral", "text": text])
        let (_, status, _) = try await send(request)
        try Self.check(status: status.code, retryAfter: status.retryAfter)
    }

    // MARK: Transport

    private func bearer(_ token: Redacted<String>) -> String { "Bearer \(token.value)" }

    private func call<T: Decodable>(_ method: String, query: [(String, String)], authorization: String) async throws
        -> T
    {
        var components = URLComponents(url: baseURL.appendingPathComponent(method), resolvingAgainstBaseURL: false)
        components?.percentEncodedQuery = FormBody.encode(query)
        guard let url = components?.url else { throw SlackAPIError.malformedResponse }
        var request = URLRequest(url: url)
        request.httpMethod = "GET"
        request.setValue(authorization, forHTTPHeaderField: "Authorization")
        return try await decode(request)
    }

    private func call<T: Decodable>(_ method: String, form: String, authorization: String) async throws -> T {
        var request = URLRequest(url: baseURL.appendingPathComponent(method))
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.setValue(authorization, forHTTPHeaderField: "Authorization")
        request.httpBody = Data(form.utf8)
        return try await decode(request)
    }

    private func decode<T: Decodable>(_ request: URLRequest) async throws -> T {
        let (data, status, _) = try await send(request)
        try Self.check(status: status.code, retryAfter: status.retryAfter)
        let decoder = JSONDecoder()
        guard let envelope = try? decoder.decode(OKReply.self, from: data) else { throw SlackAPIError.malformedResponse }
        guard envelope.ok else { throw SlackAPIError.slack(code: envelope.error ?? "unknown_error") }
        guard let value = try? decoder.decode(T.self, from: data) else { throw SlackAPIError.malformedResponse }
        return value
    }

    private struct Status { var code: Int; var retryAfter: Int }

    private func send(_ request: URLRequest) async throws -> (Data, Status, HTTPURLResponse) {
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // URLError carries the URL, which for response_url is a capability: never pass it on.
            throw SlackAPIError.unreachable
        }
        guard let http = response as? HTTPURLResponse else { throw SlackAPIError.unreachable }
        let retryAfter = (http.value(forHTTPHeaderField: "Retry-After")).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (data, Status(code: http.statusCode, retryAfter: max(1, retryAfter ?? 30)), http)
    }

    private static func check(status: Int, retryAfter: Int) throws {
        switch status {
        case 200..<300: return
        case 429: throw SlackAPIError.rateLimited(retryAfter: retryAfter)
        case 500...599: throw SlackAPIError.server(status: status)
        default: throw SlackAPIError.http(status: status)
        }
    }

    // MARK: Replies

    private struct OKReply: Decodable { var ok: Bool; var error: String? }
    private struct Empty: Decodable {}
    private struct AccessReply: Decodable {
        struct Named: Decodable { var id: String?; var name: String? }
        struct AuthedUser: Decodable { var id: String? }
        var accessToken: String?
        var scope: String?
        var botUserId: String?
        var appId: String?
        var team: Named?
        var enterprise: Named?
        var authedUser: AuthedUser?
        enum CodingKeys: String, CodingKey {
            case scope, team, enterprise
            case accessToken = "access_token", botUserId = "bot_user_id", appId = "app_id", authedUser = "authed_user"
        }
    }
    private struct AuthTestReply: Decodable {
        var userId: String?
        var botId: String?
        var teamId: String?
        enum CodingKeys: String, CodingKey { case userId = "user_id", botId = "bot_id", teamId = "team_id" }
    }
    private struct PageReply: Decodable {
        struct Metadata: Decodable {
            var nextCursor: String?
            enum CodingKeys: String, CodingKey { case nextCursor = "next_cursor" }
        }
        var messages: [Message]?
        var responseMetadata: Metadata?
        enum CodingKeys: String, CodingKey { case messages, responseMetadata = "response_metadata" }
        var nextCursor: String? { responseMetadata?.nextCursor.flatMap { $0.isEmpty ? nil : $0 } }
    }
    private struct PermalinkReply: Decodable { var permalink: String? }
}

// MARK: Issue 12: posting new feedback, recovery, App Home

extension HTTPSlackWebAPI {
    public func postMessage(channel: String, text: String, blocks: String, token: Redacted<String>) async throws {
        let fields = [
            ("channel", channel), ("text", text), ("blocks", blocks), ("unfurl_links", "false"),
            ("unfurl_media", "false"),
        ]
        let _: Empty = try await call("chat.postMessage", form: FormBody.encode(fields), authorization: bearer(token))
    }

    public func memberChannels(cursor: String?, token: Redacted<String>) async throws -> ChannelPage {
        var query = [
            ("types", "public_channel,private_channel"), ("exclude_archived", "true"), ("limit", "200"),
        ]
        if let cursor { query.append(("cursor", cursor)) }
        let reply: ChannelsReply = try await call("users.conversations", query: query, authorization: bearer(token))
        return ChannelPage(channels: (reply.channels ?? []).compactMap(\.id), nextCursor: reply.nextCursor)
    }

    public func history(channel: String, oldest: String, latest: String, cursor: String?, token: Redacted<String>)
        async throws -> MessagePage
    {
        var query = [("channel", channel), ("oldest", oldest), ("latest", latest), ("inclusive", "true"), ("limit", "100")]
        if let cursor { query.append(("cursor", cursor)) }
        let reply: PageReply = try await call("conversations.history", query: query, authorization: bearer(token))
        return MessagePage(messages: reply.messages ?? [], nextCursor: reply.nextCursor)
    }

    public func replies(channel: String, ts: String, oldest: String, cursor: String?, token: Redacted<String>)
        async throws -> MessagePage
    {
        var query = [("channel", channel), ("ts", ts), ("oldest", oldest), ("limit", "100")]
        if let cursor { query.append(("cursor", cursor)) }
        let reply: PageReply = try await call("conversations.replies", query: query, authorization: bearer(token))
        return MessagePage(messages: reply.messages ?? [], nextCursor: reply.nextCursor)
    }

    public func publishHome(user: String, view: String, token: Redacted<String>) async throws {
        let fields = [("user_id", user), ("view", view)]
        let _: Empty = try await call("views.publish", form: FormBody.encode(fields), authorization: bearer(token))
    }

    private struct ChannelsReply: Decodable {
        struct Channel: Decodable { var id: String? }
        struct Metadata: Decodable {
            var nextCursor: String?
            enum CodingKeys: String, CodingKey { case nextCursor = "next_cursor" }
        }
        var channels: [Channel]?
        var responseMetadata: Metadata?
        enum CodingKeys: String, CodingKey { case channels, responseMetadata = "response_metadata" }
        var nextCursor: String? { responseMetadata?.nextCursor.flatMap { $0.isEmpty ? nil : $0 } }
    }
}
