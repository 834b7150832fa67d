import Feedback
import Foundation
import Hummingbird
import Logging
import Retention
import ServiceLifecycle
import SlackGateway
import UseroCrypto

/// Wires the Slack gateway, or answers 503 on every `/slack/*` route when Slack is not configured.
enum SlackSetup {
    /// Adds the Slack routes; returns the services to run beside the server (the job worker) and the install flow
    /// (nil when Slack is not configured), which the inbox's "Connect Slack" button uses.
    static func register(
        on router: Router<AppRequestContext>, parts: AppParts, clock: any WallClock, logger: Logger
    ) throws -> (
        services: [any Service], installFlow: SlackOAuth?, accountOwners: [any AccountDataOwner],
        workspace: SlackWorkspace?
    ) {
        let config = parts.config
        let auth = AdminAuth(store: parts.store)
        guard let signingSecret = config.slackSigningSecret else {
            // The token key exists from the first start (generated into DATA_DIR/token.key when unset), so a later
            // Slack set-up finds it and a bad key file is reported now, not at the first install.
            _ = try SlackKeys.load(config: config, createIfMissing: true, logger: logger)
            logger.notice("Slack is not configured (SLACK_SIGNING_SECRET unset): /slack/* answers 503")
            // A misspelled SLACK_SIGNING_SECRET looks like this too: say that the rest of Slack's set-up is unused.
            var unused: [String] = []
            if config.slackClientID != nil { unused.append("SLACK_CLIENT_ID") }
            if config.slackClientSecret != nil { unused.append("SLACK_CLIENT_SECRET") }
            if !unused.isEmpty {
                logger.warning(
                    "\(unused.joined(separator: " and ")) \(unused.count == 1 ? "is" : "are") set but SLACK_SIGNING_SECRET is not: Slack stays off until it is")
            }
            let unconfigured: @Sendable (Request, AppRequestContext) async throws -> Response = { _, _ in
                JSONResponse.make(ErrorBody("Slack is not configured"), status: .serviceUnavailable)
            }
            for path in ["slack/events", "slack/interactivity", "slack/commands"] {
                router.post(RouterPath(path), use: unconfigured)
            }
            router.get("slack/oauth/callback", use: unconfigured)
            let adminUnconfigured: @Sendable (Request, AppRequestContext) async throws -> Response = { request, _ in
                _ = try await auth.client(for: request)
                throw SlackGatewayError.notConfigured
            }
            router.post("api/slack/install-link", use: adminUnconfigured)
            // Without Slack there is nothing installed: the contract's 404, after the admin key is checked.
            let notInstalled: @Sendable (Request, AppRequestContext) async throws -> Response = { request, _ in
                _ = try await auth.client(for: request)
                throw SlackGatewayError.notInstalled
            }
            router.get("api/slack/installation", use: notInstalled)
            router.get("api/slack/settings", use: notInstalled)
            router.put("api/slack/settings", use: notInstalled)
            router.post("api/slack/recover", use: notInstalled)
            // No worker runs to revoke them, but a closed account's installations and records still go.
            return ([], nil, [SlackAccountData(store: parts.backend.slack, wakeup: nil)], nil)
        }
        let (keyRing, oauth, api) = try installFlow(parts: parts, clock: clock, logger: logger)
        let keyCheck = TokenResealer(store: parts.backend.slack, keyRing: keyRing)
        let keyName = Self.tokenKeyName(config)
        Task {
            // A well-formed key that is not the one the tokens were sealed with starts without complaint, and then
            // every capture fails as `internal`: said once, at start, naming the variables.
            guard let unknown = try? await keyCheck.installationsWithAnUnknownKey(), unknown > 0 else { return }
            logger.error(
                "\(keyName) cannot open the stored Slack tokens of \(unknown) workspace(s): set the key they were sealed with, or put it in USERO_PREVIOUS_TOKEN_KEYS (until then this instance leaves their Slack jobs to instances that have it; with none, captures and posts wait, for a day at most)")
        }
        // The store's: an accepted item's post jobs wake the worker too.
        let wakeup = parts.backend.newJobs
        let slackLogger = logger
        let store = parts.backend.slack
        let ingest = SlackIngest(store: store, clock: clock, wakeup: wakeup, logger: slackLogger)
        switch (config.slackClientID, config.slackClientSecret) {
        case (nil, nil): logger.notice("Slack install links are off (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET unset)")
        // One without the other is a set-up half done (or a misspelled name): a warning naming the missing one.
        case (nil, _): logger.warning("SLACK_CLIENT_SECRET is set but SLACK_CLIENT_ID is not: Slack install links are off")
        case (_, nil): logger.warning("SLACK_CLIENT_ID is set but SLACK_CLIENT_SECRET is not: Slack install links are off")
        default: break
        }
        SlackRoutes<AppRequestContext>(
            verifier: SignatureVerifier(signingSecret: signingSecret), ingest: ingest, oauth: oauth,
            clock: clock
        ).register(on: router)
        let workspace = SlackWorkspace(store: store, clock: clock, wakeup: wakeup)
        SlackAdminRoutes<AppRequestContext>(auth: auth, oauth: oauth, workspace: workspace)
            .register(on: router.group("api"))
        let runner = SlackJobRunner(
            store: store, auditor: AuditLog(store: parts.backend.retention), api: api, keyRing: keyRing, clock: clock,
            logger: slackLogger, wakeup: wakeup,
            options: .init(
                publicURL: config.publicURL, postInterval: config.slackPostInterval,
                recoveryStepInterval: config.slackRecoveryStepInterval))
        let worker = SlackJobWorker(
            runner: runner, store: store, clock: clock, pollInterval: config.slackJobPollInterval, wakeup: wakeup,
            logger: slackLogger, beatInterval: config.slackHeartbeatInterval, tokenCheckAge: config.slackTokenCheckAge)
        return ([worker], oauth, [SlackAccountData(store: store, wakeup: wakeup)], workspace)
    }

    /// The token key as the operator set it, for messages: the variable, or the file in the data folder used
    /// without it (the variable was named even when it was unset, found by a review).
    static func tokenKeyName(_ config: AppConfig) -> String {
        config.tokenKeyBase64 == nil ? "The token key in USERO_DATA_DIR/token.key" : "USERO_TOKEN_KEY"
    }

    /// The OAuth install flow over this service's store and keys: what the inbox calls for install links
    /// (`makeInstallLink(clientID:)`) and the installation summary (`installation(clientID:)`).
    static func installFlow(parts: AppParts, clock: any WallClock, logger: Logger) throws
        -> (KeyRing, SlackOAuth, HTTPSlackWebAPI)
    {
        let config = parts.config
        let (keyRing, tokenKey) = try SlackKeys.load(config: config, createIfMissing: true, logger: logger)
        guard let apiURL = URL(string: config.slackAPIURL) else {
            throw AppConfig.Invalid(description: "SLACK_API_URL must be an http or https URL")
        }
        let api = HTTPSlackWebAPI(
            baseURL: apiURL, timeout: config.slackCallTimeout, responseURLPrefixes: config.slackResponseURLPrefixes)
        let oauth = SlackOAuth(
            store: parts.backend.slack, api: api, keyRing: keyRing, stateKey: SlackKeys.stateKey(from: tokenKey),
            previousStateKeys: try SlackKeys.previousStateKeys(config: config), clientID: config.slackClientID, clientSecret: config.slackClientSecret,
            authorizeURL: config.slackAuthorizeURL, publicURL: config.publicURL, clock: clock, logger: logger)
        return (keyRing, oauth, api)
    }
}
