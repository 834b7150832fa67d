public import Feedback
public import HTTPTypes
public import Hummingbird

/// Wires the inbox (`/inbox`) into a router.
public enum InboxSetup {
    /// Adds the inbox routes over `store`; `slack` is what the Slack gateway lends the page (install links and the
    /// installation's status). Sessions live in `sessions`, so a sign-in survives restarts and works on every instance.
    public static func register<Context: RequestContext>(
        on router: Router<Context>, store: any FeedbackStore, sessions: any InboxSessionStore, slack: InboxSlack,
        clock: any WallClock,
        slackAuthorizeURL: String, publicURL: String, errorStatus: @escaping @Sendable (any Error) -> HTTPResponse.Status
    ) throws {
        let routes = InboxRoutes<Context>(
            store: store, sessions: InboxSessions(store: sessions, clock: clock), slack: slack,
            renderer: try InboxRenderer(slackAuthorizeURL: slackAuthorizeURL),
            cookies: InboxCookies(isSecure: publicURL.lowercased().hasPrefix("https://")), errorStatus: errorStatus)
        routes.register(on: router)
    }
}
