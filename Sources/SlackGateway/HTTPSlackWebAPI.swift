import AsyncHTTPClient
import Feedback
public import Foundation
import NIOCore
import NIOHTTP1

/// `SlackWebAPI` over AsyncHTTPClient (SwiftNIO, on the event loops the server already runs): base URL from
/// `SLACK_API_URL`, the token only in `Authorization: Bearer`.
///
/// Every call is bounded: a deadline per call (connect, send, answer and body), a cap on the bytes read, no redirect
/// followed, and a `Retry-After` clamped to `retryAfterRange` where it is parsed. `respond(to:)` calls only URLs
/// that start with one of `responseURLPrefixes` (`SLACK_RESPONSE_URL_PREFIXES`) and whose scheme, host and port
/// are that prefix's. Why not URLSession: see BENCHMARKS.md ("Outbound Slack calls") — about 45 ms per call on a
/// reused connection against a server that writes head and body separately, against about 2 ms here.
public final class HTTPSlackWebAPI: SlackWebAPI {
    /// Where `response_url`s may point when `SLACK_RESPONSE_URL_PREFIXES` is unset.
    public static let defaultResponseURLPrefixes = ["https://hooks.slack.com/"]
    /// Largest Web API answer read (a 15-message `conversations.replies` page is far smaller).
    public static let maxResponseBytes = 4 << 20
    /// Largest `response_url` answer read (Slack answers `ok`).
    public static let maxResponseURLBytes = 64 << 10
    /// What a `Retry-After` from Slack or a `response_url` host is clamped to, in seconds.
    public static let retryAfterRange: ClosedRange<Int> = 1...3600
    /// Longest one call may take, seconds, unless told otherwise.
    public static let defaultTimeout: TimeInterval = 10
    /// The wait when a 429 carries no usable `Retry-After`.
    public static let defaultRetryAfter = 30

    private let baseURL: String
    private let timeout: TimeAmount
    private let responseURLPrefixes: [ResponseURLPrefix]
    private let client: HTTPClient

    /// A client for `baseURL` (ending in `/`), with `timeout` per call, calling `response_url`s only under
    /// `responseURLPrefixes`.
    public init(
        baseURL: URL, timeout: TimeInterval = defaultTimeout, responseURLPrefixes: [String] = defaultResponseURLPrefixes
    ) {
        var base = baseURL.absoluteString
        if !base.hasSuffix("/") { base += "/" }
        self.baseURL = base
        self.timeout = .milliseconds(Int64((max(0.001, min(timeout, 300)) * 1000).rounded()))
        self.responseURLPrefixes = responseURLPrefixes.compactMap(ResponseURLPrefix.init)
        client = Self.sharedClient
    }

    /// One client for the process (its connection pool lives as long as the process; nothing to shut down).
    private static let sharedClient: HTTPClient = {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(10)),
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 8),
            decompression: .disabled)
        configuration.http1_1ConnectionDebugInitializer = { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(QuickAck(), position: .first) }
        }
        configuration.http2ConnectionDebugInitializer = configuration.http1_1ConnectionDebugInitializer
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

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
            installerUserId: reply.authedUser?.id,
            expires: reply.refreshToken != nil || reply.expiresIn != nil || token.hasPrefix("xoxe."))
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
        // The window of one instant: the message itself (and the thread's parent, which Slack always puts first),
        // however deep in a long thread a reply is. Without it the thread came from its start, 15 at a time.
        var query = [
            ("channel", channel), ("ts", ts), ("oldest", ts), ("latest", ts), ("inclusive", "true"), ("limit", "15"),
        ]
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
        // Stored, returned by the admin API and linked from the inbox: only an https URL of bounded length is a
        // permalink (the inbox drops anything else anyway; other readers of the API might not).
        guard let link = reply.permalink, link.utf8.count <= 2048, let url = URL(string: link),
            url.scheme?.lowercased() == "https", url.host?.isEmpty == false
        else { throw SlackAPIError.malformedResponse }
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

    /// POSTs to `responseURL` only when it starts with an allowed prefix (and has that prefix's scheme, host and
    /// port); anything else is refused without a connection: `SlackAPIError.slack(code: "response_url_not_allowed")`.
    public func respond(to responseURL: String, text: String) async throws {
        guard responseURLPrefixes.contains(where: { $0.admits(responseURL) }) else {
            throw SlackAPIError.slack(code: Self.responseURLNotAllowed)
        }
        var request = HTTPClientRequest(url: responseURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        let body = try JSONEncoder().encode(["response_type": "ephemeral", "text": text])
        request.body = .bytes(ByteBuffer(bytes: body))
        _ = try await send(request, limit: Self.maxResponseURLBytes)
    }

    /// The error code `respond(to:)` throws for a `response_url` outside `SLACK_RESPONSE_URL_PREFIXES`.
    public static let responseURLNotAllowed = "response_url_not_allowed"

    // MARK: Transport

    private func bearer(_ token: Redacted<String>) -> String { "Bearer \(token.value)" }

    private func call<T: Decodable>(_ method: String, query: [(String, String)], authorization: String) async throws
        -> T
    {
        var request = HTTPClientRequest(url: baseURL + method + "?" + FormBody.encode(query))
        request.method = .GET
        request.headers.add(name: "Authorization", value: authorization)
        return try await decode(request)
    }

    private func call<T: Decodable>(_ method: String, form: String, authorization: String) async throws -> T {
        var request = HTTPClientRequest(url: baseURL + method)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Authorization", value: authorization)
        request.body = .bytes(ByteBuffer(string: form))
        return try await decode(request)
    }

    private func decode<T: Decodable>(_ request: HTTPClientRequest) async throws -> T {
        let buffer = try await send(request, limit: Self.maxResponseBytes)
        let data = Data(buffer.readableBytesView)
        let decoder = JSONDecoder()
        guard let envelope = try? decoder.decode(OKReply.self, from: data) else { throw SlackAPIError.malformedResponse }
        guard envelope.ok else { throw SlackAPIError.slack(code: envelope.error ?? "unknown_error") }
        guard let value = try? decoder.decode(T.self, from: data) else { throw SlackAPIError.malformedResponse }
        return value
    }

    /// Sends `request` within the deadline and returns its body (at most `limit` bytes) when the status is 2xx.
    private func send(_ request: HTTPClientRequest, limit: Int) async throws -> ByteBuffer {
        var request = request
        request.headers.add(name: "User-Agent", value: "usero")
        let deadline = NIODeadline.now() + timeout
        do {
            let response = try await client.execute(request, deadline: deadline)
            let status = Int(response.status.code)
            switch status {
            case 200..<300:
                return try await Self.collect(response.body, upTo: limit, deadline: deadline)
            case 429:
                throw SlackAPIError.rateLimited(retryAfter: Self.retryAfterSeconds(response.headers.first(name: "Retry-After")))
            case 500...599:
                throw SlackAPIError.server(status: status)
            default:
                // Redirects (3xx) end here too: never followed.
                throw SlackAPIError.http(status: status)
            }
        } catch let error as SlackAPIError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch is NIOTooManyBytesError {
            throw SlackAPIError.malformedResponse
        } catch {
            // AsyncHTTPClient's errors can carry the URL, which for a response_url is a capability: never pass it on.
            if Task.isCancelled { throw CancellationError() }
            throw SlackAPIError.unreachable
        }
    }

    /// The body, read within the call's deadline. AsyncHTTPClient's deadline ends once the head has arrived, and its
    /// read timeout restarts with every byte: a server that drips a byte a second held a call (an install page, a
    /// workspace's job lane) for as long as it liked, and past a job's lease, so the job could run twice.
    private static func collect(_ body: HTTPClientResponse.Body, upTo limit: Int, deadline: NIODeadline)
        async throws -> ByteBuffer
    {
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: limit) }
            group.addTask {
                let left = deadline.uptimeNanoseconds.subtractingReportingOverflow(NIODeadline.now().uptimeNanoseconds)
                if !left.overflow { try await Task.sleep(for: .nanoseconds(Int64(clamping: left.partialValue))) }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else { throw SlackAPIError.unreachable }
            return buffer
        }
    }

    /// `Retry-After` in whole seconds, clamped to `retryAfterRange`; `defaultRetryAfter` when absent or not a number
    /// (an HTTP date included). Digits beyond what fits are the upper bound, never an overflow.
    public static func retryAfterSeconds(_ header: String?) -> Int {
        guard let text = header?.trimmingCharacters(in: .whitespaces), !text.isEmpty, text.utf8.count <= 64 else {
            return defaultRetryAfter
        }
        var digits = Substring(text)
        var negative = false
        if digits.first == "-" || digits.first == "+" {
            negative = digits.first == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (48...57).contains($0) }) else { return defaultRetryAfter }
        if negative { return retryAfterRange.lowerBound }
        var value = 0
        for byte in digits.utf8 {
            value = value * 10 + Int(byte - 48)
            if value >= retryAfterRange.upperBound { return retryAfterRange.upperBound }
        }
        return min(max(value, retryAfterRange.lowerBound), retryAfterRange.upperBound)
    }

    // MARK: Replies

    private struct OKReply: Decodable { var ok: Bool; var error: String? }
    private struct Empty: Decodable {}
    private struct Posted: Decodable { var ts: String? }
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
        var refreshToken: String?
        var expiresIn: Int64?
        enum CodingKeys: String, CodingKey {
            case scope, team, enterprise
            case accessToken = "access_token", botUserId = "bot_user_id", appId = "app_id", authedUser = "authed_user"
            case refreshToken = "refresh_token", expiresIn = "expires_in"
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

/// One entry of `SLACK_RESPONSE_URL_PREFIXES`: a `response_url` must start with `text` and have its scheme, host
/// and port (so `https://hooks.slack.com.evil.example/` or a user-info trick never passes).
struct ResponseURLPrefix: Sendable {
    let text: String
    let scheme: String
    let host: String
    let port: Int?

    init?(_ text: String) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host?.lowercased(), !host.isEmpty, url.user == nil, url.password == nil
        else { return nil }
        // A bare origin admits its whole host: make the prefix end at the host so `…slack.com.evil` cannot match.
        self.text = url.path.isEmpty ? text + "/" : text
        self.scheme = scheme
        self.host = host
        self.port = url.port
    }

    func admits(_ candidate: String) -> Bool {
        guard candidate.hasPrefix(text), candidate.utf8.count <= 4096,
            !candidate.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") }),
            let url = URL(string: candidate), url.scheme?.lowercased() == scheme, url.host?.lowercased() == host,
            url.port == port, url.user == nil, url.password == nil, !Self.hasDotSegment(candidate)
        else { return false }
        return true
    }

    /// Whether the URL's path has a `.` or `..` segment, spelled out or percent-encoded (`%2e`): a server that
    /// normalises its paths would take `…/hooks/../api/x` outside the prefix it was admitted by.
    static func hasDotSegment(_ candidate: String) -> Bool {
        guard let start = candidate.range(of: "://") else { return true }
        let afterScheme = candidate[start.upperBound...]
        let pathAndRest = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? ""
        let path = pathAndRest.prefix { $0 != "?" && $0 != "#" }
        return path.split(separator: "/", omittingEmptySubsequences: false).contains { segment in
            let decoded = segment.replacingOccurrences(of: "%2e", with: ".", options: .caseInsensitive)
            return decoded == "." || decoded == ".."
        }
    }
}

/// Acknowledges every read at once (`TCP_QUICKACK`). On a reused connection Linux delays ACKs (up to 40 ms) to
/// piggyback them; a server that writes its head and body in two segments with Nagle on then waits for that ACK
/// before sending the body, and every call pays ~40 ms. Setting the option after each read sends the pending ACK.
private final class QuickAck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        #if os(Linux)
        // TCP_QUICKACK (12 in <netinet/tcp.h>); best effort: a failure only means the old behaviour.
        try? context.channel.syncOptions?.setOption(
            ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: 12)), value: 1)
        #endif
        context.fireChannelRead(data)
    }
}

// MARK: Issue 12: posting new feedback, recovery, App Home

extension HTTPSlackWebAPI {
    public func postMessage(channel: String, text: String, blocks: String, metadata: String, token: Redacted<String>)
        async throws -> String?
    {
        let fields = [
            ("channel", channel), ("text", text), ("blocks", blocks), ("metadata", metadata), ("unfurl_links", "false"),
            ("unfurl_media", "false"),
        ]
        let posted: Posted = try await call(
            "chat.postMessage", form: FormBody.encode(fields), authorization: bearer(token))
        // Kept and sent back later (`chat.delete`): only a timestamp is taken.
        return SlackRecoveryRules.timestamp(posted.ts)
    }

    public func deleteMessage(channel: String, ts: String, token: Redacted<String>) async throws {
        let fields = [("channel", channel), ("ts", ts)]
        let _: Empty = try await call("chat.delete", form: FormBody.encode(fields), authorization: bearer(token))
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
        var query = [
            ("channel", channel), ("oldest", oldest), ("latest", latest), ("inclusive", "true"), ("limit", "100"),
            ("include_all_metadata", "true"),
        ]
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
