/// What can go wrong in the Slack gateway. Cases carry ids and counts, never tokens, bodies or message text.
public enum SlackGatewayError: Error, Equatable, Sendable {
    /// The signature header is missing, malformed or does not match the body.
    case badSignature
    /// The timestamp is more than five minutes from now (or not a number).
    case staleTimestamp
    /// A verified body we cannot read (not JSON, no `payload`, wrong types).
    case malformedPayload
    /// `SLACK_SIGNING_SECRET` is unset.
    case notConfigured
    /// `SLACK_CLIENT_ID` / `SLACK_CLIENT_SECRET` are unset, so no install link can be made.
    case oauthNotConfigured
    /// The client has no Slack installation.
    case notInstalled
}

/// An answer from Slack's Web API that was not `ok`, or no answer at all.
public enum SlackAPIError: Error, Equatable, Sendable {
    /// HTTP 429: wait `retryAfter` seconds.
    case rateLimited(retryAfter: Int)
    /// HTTP 5xx.
    case server(status: Int)
    /// Another non-200 status.
    case http(status: Int)
    /// `{"ok":false,"error":code}`.
    case slack(code: String)
    /// No answer: connection refused, timeout, DNS.
    case unreachable
    /// A 200 whose body is not the expected JSON.
    case malformedResponse

    /// Slack answered and did not do what was asked (a 429, a refusal of its own, a 4xx): unlike a 5xx, its own
    /// trouble, no answer or an unreadable one, the request surely had no effect.
    public var refusedBySlack: Bool {
        switch self {
        case .rateLimited, .http: true
        case .slack(let code): code == "ratelimited" || !Self.retryableCodes.contains(code)
        case .server, .unreachable, .malformedResponse: false
        }
    }

    /// Worth trying again later (rate limit, Slack's own trouble, network).
    public var isRetryable: Bool {
        switch self {
        case .rateLimited, .server, .unreachable: true
        case .slack(let code): Self.retryableCodes.contains(code)
        case .http, .malformedResponse: false
        }
    }

    /// The token is dead: the installation is gone as far as Slack is concerned.
    public var meansInstallationGone: Bool { meansTokenDead || self == .slack(code: "not_authed") }

    /// Slack says the token itself is dead (revoked, or its workspace or user deactivated), as opposed to a request
    /// that carried none (`not_authed`, a fault of ours).
    public var meansTokenDead: Bool {
        if case .slack(let code) = self { return ["token_revoked", "invalid_auth", "account_inactive"].contains(code) }
        return false
    }

    /// Slack will not let the bot post in that conversation (not a member, gone, archived).
    public var meansChannelUnreachable: Bool {
        if case .slack(let code) = self { return ["not_in_channel", "channel_not_found", "is_archived"].contains(code) }
        return false
    }

    static let retryableCodes: Set<String> = [
        "ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout",
    ]
}
