import Feedback
import Hummingbird
import Logging
import ServiceLifecycle

/// Wires the Slack gateway, or answers 503 on every `/slack/*` route when Slack is not configured.
enum SlackSetup {
    /// Adds the Slack routes; returns the services to run beside the server (the job worker).
    static func register(
        on router: Router<AppRequestContext>, parts: AppParts, clock: any WallClock, logger: Logger
    ) throws -> [any Service] {
        guard parts.config.slackSigningSecret != nil else {
            logger.notice("Slack is not configured (SLACK_SIGNING_SECRET unset): /slack/* answers 503")
            let unconfigured: @Sendable (Request, AppRequestContext) async throws -> Response = { _, _ in
                JSONResponse.make(ErrorBody("Slack is not configured"), status: .serviceUnavailable)
            }
            for path in ["slack/events", "slack/interactivity", "slack/commands"] {
                router.post(RouterPath(path), use: unconfigured)
            }
            router.get("slack/oauth/callback", use: unconfigured)
            return []
        }
        return []
    }
}
