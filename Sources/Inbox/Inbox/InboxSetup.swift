public import Feedback
public import HTTPTypes
public import Hummingbird

/// Wires the inbox (`/inbox`) into a router.
public enum InboxSetup {
    /// Adds the inbox routes over `store`; `slack` is what the Slack gateway lends the page (install links and the
    /// installation's status). Sessions live in `sessions`, so a sign-in survives restarts and works on every instance.
    /// Returns the inbox's page for a 405 (an address asked with a method it does not take: a form's address opened
    /// in the browser), given the methods it takes, for the router's 405 to answer under `/inbox/`.
    @discardableResult
    public static func register<Context: RequestContext>(
        on router: Router<Context>, store: any FeedbackStore, sessions: any InboxSessionStore, slack: InboxSlack,
        clock: any WallClock,
        slackAuthorizeURL: String, publicURL: String, errorStatus: @escaping @Sendable (any Error) -> HTTPResponse.Status,
        retryAfter: @escaping @Sendable (any Error) -> Int?
    ) throws -> @Sendable (_ allowed: [String]) -> Response {
        let renderer = try InboxRenderer(slackAuthorizeURL: slackAuthorizeURL)
        let routes = InboxRoutes<Context>(
            store: store, sessions: InboxSessions(store: sessions, clock: clock), slack: slack, renderer: renderer,
            cookies: InboxCookies(isSecure: publicURL.lowercased().hasPrefix("https://")),
            publicURL: publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL, errorStatus: errorStatus,
            retryAfter: retryAfter)
        routes.register(on: router)
        return { allowed in
            var response = renderer.message(
                "Not a page to open",
                "This address takes a form sent from the inbox. Go back to the inbox and use its buttons.",
                status: .methodNotAllowed)
            renderer.addSecurityHeaders(to: &response)
            response.headers[.allow] = allowed.joined(separator: ", ")
            return response
        }
    }
}
