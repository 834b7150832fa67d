import Feedback
import Hummingbird
import Logging

/// Wires the inbox (`/inbox`) into the router.
enum InboxSetup {
    /// Adds the inbox routes; sessions live in memory for the life of the process.
    static func register(
        on router: Router<AppRequestContext>, parts: AppParts, clock: any WallClock, logger: Logger, slack: InboxSlack
    ) throws {
        let routes = InboxRoutes(
            store: parts.store, queries: InboxQueries(database: parts.database), sessions: InboxSessions(clock: clock),
            slack: slack, renderer: try InboxRenderer(slackAuthorizeURL: parts.config.slackAuthorizeURL),
            cookies: InboxCookies(isSecure: parts.config.publicURL.lowercased().hasPrefix("https://")))
        routes.register(on: router)
    }
}
