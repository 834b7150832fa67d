import Feedback
import Foundation
import Hummingbird
import HummingbirdCore
import Inbox
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import SlackGateway
import StorePostgres

/// The request context of every route.
struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    /// The TCP peer, for the per-address rate limit only; never stored or logged.
    let remoteAddress: SocketAddress?

    init(source: Source) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Routes collect their own bodies with their own limits; this is the ceiling for anything else.
    var maxUploadSize: Int { PublicRoutes<AppRequestContext>.uploadLimit }
}

/// The service's responder: the router, with HEAD answered wherever GET is.
typealias AppResponder = HeadResponder<RouterResponder<AppRequestContext>>

/// What a running service is made of; tests reach in to check the store.
struct AppParts: Sendable {
    let config: AppConfig
    let backend: Backend
    let registry: PrometheusCollectorRegistry
    /// Every route the router serves, as `METHOD /path/{param}` (the OpenAPI test compares them).
    var routes: [String] = []

    /// The feedback store every module resolves clients through.
    var store: any FeedbackStore { backend.feedback }
}

/// Opens the store and builds the application: used by `usero serve` and by the integration tests.
func buildApplication(
    config: AppConfig, logger: Logger, clock: any WallClock = SystemClock(),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> (Application<AppResponder>, AppParts) {
    let backend = try await Backend.open(config, serving: true)
    // Instances on one PostgreSQL date things by the database's clock, whatever their hosts' say (`PostgresClock`).
    var clock = clock
    var alignedClock: PostgresClock?
    if let postgres = backend.postgres, clock is SystemClock {
        let aligned = await PostgresClock.measured(store: postgres)
        ClockSynchroniser.warnIfSkewed(aligned, logger: logger)
        (clock, alignedClock) = (aligned, aligned)
    }
    // Uploads a crash cut off; any upload still running elsewhere on this folder has touched its file since.
    SpooledFile.removeLeftovers(in: Backend.uploadSpoolDirectory(config), olderThan: Backend.unfinishedUploadAge(config))
    let store = backend.feedback
    let registry = PrometheusCollectorRegistry()
    registry.makeGauge(
        descriptor: MetricNameDescriptor(metricName: "usero_up", unitName: "", helpText: "1 while the service runs")
    ).set(to: 1.0)
    var parts = AppParts(config: config, backend: backend, registry: registry)

    let router = Router(context: AppRequestContext.self)
    // Errors mapped to the contract's answers (the router's "not found" of a path some route has to a 405, from the
    // routes recorded below), one metrics record and a debug log line, in one layer (so the log and the metrics see
    // the status each error became: a 401 is not counted as a 500).
    let routeMethods = RouteMethods()
    router.add(middleware: RequestObservationMiddleware(routes: routeMethods))
    // Both before any body is read (the rate limit reads one only to learn its client id, after the address check).
    if let watermark = FreeDiskWatermarkMiddleware(
        minimumFreeBytes: config.minFreeDiskBytes,
        folders: Backend.localFolders(config), measure: config.freeDiskMeasure)
    {
        router.add(middleware: watermark)
    }
    // Before the rate limit, which reads an upload's body: a refused upload is never read.
    if let uploads = UploadConcurrencyMiddleware(
        limit: config.maxConcurrentUploads, sharePerAddress: config.maxConnectionsPerAddress > 0)
    {
        router.add(middleware: uploads)
    }
    let rateLimit = PublicRateLimitMiddleware(perMinute: config.publicRateLimit, clock: config.rateLimitClock)
    if let rateLimit { router.add(middleware: rateLimit) }
    OpenAPIRoutes().register(on: router)
    OperationsRoutes(health: backend.health, registry: registry).register(on: router)

    let service = FeedbackService(
        store: store, clock: clock, publicURL: config.publicURL, uploadQuotaBytes: config.uploadQuotaBytes)
    let publicAPI = router.group("api").add(middleware: PublicCORSMiddleware())
    PublicRoutes<AppRequestContext>(
        service: service, spoolDirectory: Backend.uploadSpoolDirectory(config),
        admitClient: { rateLimit?.admitUpload(clientID: $0) }
    ).register(on: publicAPI)
    publicAPI.on("feedback", method: .options) { _, _ in Response(status: .noContent) }
    publicAPI.on("screenshots", method: .options) { _, _ in Response(status: .noContent) }
    let adminAPI = router.group("api")
    AdminRoutes<AppRequestContext>(auth: AdminAuth(store: store), store: store).register(on: adminAPI)

    var services: [any Service] = []
    // First in the list, so stopped last: the pool closes once the server and the workers have finished with it.
    if let postgres = backend.postgres { services.append(StoreCloser { await postgres.backend.close() }) }
    if let alignedClock { services.append(ClockSynchroniser(clock: alignedClock, logger: logger)) }
    // Stored files whose rows a crash kept from committing: a walk of the whole screenshot folder (seconds for
    // hundreds of thousands of files), so it runs beside the server, not before it.
    if backend.sqlite != nil {
        services.append(OnceAtStart { try await backend.removeUnfinishedScreenshotFiles(config, logger: logger) })
    }
    let slack = try SlackSetup.register(on: router, parts: parts, clock: clock, logger: logger)
    services += slack.services
    services += try RetentionSetup.register(
        on: router, parts: parts, accountOwners: slack.accountOwners, clock: clock, logger: logger)

    // "Connect Slack" in the inbox: a one-time install link, or nil (the page says so) when Slack is not set up.
    let installFlow = slack.installFlow
    let makeInstallLink: @Sendable (String) async throws -> String? = { clientID in
        guard let installFlow else { return nil }
        do {
            return try await installFlow.makeInstallLink(clientID: clientID)
        } catch SlackGatewayError.oauthNotConfigured {
            return nil
        }
    }
    let slackStore = backend.slack
    let workspace = slack.workspace
    // The workspace's settings beside "Connect Slack": read and saved by the gateway's rules; only codes and
    // names cross, never the token.
    let settings: @Sendable (String) async throws -> InboxSlack.Settings? = { clientID in
        guard let workspace, let installation = try? await workspace.installation(clientID: clientID) else {
            return nil
        }
        return InboxSlack.Settings(
            triggerEmoji: installation.settings.triggerEmoji, notifyChannel: installation.settings.notifyChannel,
            notifyProblem: installation.notifyProblem?.explanation,
            notifyProblemAt: installation.notifyProblem.map { dateFromEpochMillis($0.at) },
            missingScopes: SlackOAuth.scopes.split(separator: ",").map(String.init).filter { !installation.grants($0) })
    }
    let saveSettings: @Sendable (String, [String], String?) async throws -> InboxSlack.SettingsSave = {
        clientID, emoji, channel in
        guard let workspace else { return .notInstalled }
        var issues: [String: [String]] = [:]
        if let problem = SlackSettings.problem(triggerEmoji: emoji) { issues["triggerEmoji"] = [problem] }
        if let channel, let problem = SlackSettings.problem(notifyChannel: channel, none: "leave it empty for none") {
            issues["notifyChannel"] = [problem]
        }
        guard issues.isEmpty else { return .invalid(issues) }
        do {
            try await workspace.update(
                clientID: clientID,
                SlackSettingsChange(triggerEmoji: SlackSettings.normalized(emoji), notifyChannel: .some(channel)))
            return .saved
        } catch SlackGatewayError.notInstalled {
            return .notInstalled
        }
    }
    let inboxSlack = InboxSlack(
        isConfigured: installFlow != nil && config.slackClientID != nil && config.slackClientSecret != nil,
        makeInstallLink: makeInstallLink, settings: settings, saveSettings: saveSettings
    ) {
        clientID in
        // Only the name and the instant leave the gateway's store, never the token.
        try await slackStore.installation(client: clientID).map {
            (teamName: $0.teamName, installedAt: dateFromEpochMillis($0.installedAt), isRevoked: $0.tokenEnvelope == nil)
        }
    }
    let inbox405 = try InboxSetup.register(
        on: router, store: store, sessions: backend.inboxSessions, slack: inboxSlack, clock: clock, slackAuthorizeURL: config.slackAuthorizeURL,
        publicURL: config.publicURL, errorStatus: { ErrorMiddleware<AppRequestContext>.reply(for: $0).0 },
        retryAfter: { ErrorMiddleware<AppRequestContext>.retryAfter(for: $0) })
    WidgetRoutes<AppRequestContext>().register(on: router)

    parts.routes = router.routes.map { "\($0.method) \($0.path)" }
    routeMethods.record(router.routes.map { ($0.path, $0.method) })
    routeMethods.answer405(under: "/inbox/", with: inbox405)
    let requestTimeout = TimeAmount(config.requestTimeout)
    let perAddress = config.maxConnectionsPerAddress > 0 ? ConnectionsPerAddress(limit: config.maxConnectionsPerAddress) : nil
    var app = Application(
        responder: HeadResponder(base: router.buildResponder()),
        server: .http1(
            configuration: .init(
                additionalChannelHandlers: (perAddress.map { [$0.handler()] } ?? []) + [
                    MalformedRequestHandler(bodyLimits: [
                        "/api/screenshots": PublicRoutes<AppRequestContext>.uploadLimit,
                        "/api/feedback": PublicRoutes<AppRequestContext>.jsonLimit,
                        "/api/identify": PublicRoutes<AppRequestContext>.jsonLimit,
                    ]),
                    ConnectionCloseHandler(linger: TimeAmount(config.idleTimeout)),
                    RequestDeadlineHandler(timeout: requestTimeout, stalledReader: TimeAmount(config.idleTimeout)),
                ],
                idleTimeout: TimeAmount(config.idleTimeout))),
        configuration: .init(
            address: .hostname(config.host, port: config.port), serverName: "usero",
            availableConnectionsDelegate: MaximumAvailableConnections(config.maxConnections)),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? config.port) },
        logger: logger)
    app.addServices(services)
    return (app, parts)
}

/// Runs `work` once when the service group starts, then waits for the shutdown. A failure of `work` is dropped
/// without stopping the server: what it tidies up is tried again at the next start.
struct OnceAtStart: Service {
    let work: @Sendable () async throws -> Void

    func run() async throws {
        try? await cancelWhenGracefulShutdown { try await work() }
        try? await gracefulShutdown()
    }
}

/// Measures the database clock's offset again every `PostgresClock.interval` until the shutdown.
struct ClockSynchroniser: Service {
    let clock: PostgresClock
    let logger: Logger

    /// Past this, the host's clock is said to be off (milliseconds): NTP keeps hosts within a few.
    static let skewWarning: Int64 = 1_000

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: PostgresClock.interval)
                let before = clock.offsetMillis
                try? await clock.synchronise()
                if abs(before) <= Self.skewWarning { Self.warnIfSkewed(clock, logger: logger) }
            }
        }
    }

    /// A warning when this host's clock is more than a second off the database's (once it is newly so).
    static func warnIfSkewed(_ clock: PostgresClock, logger: Logger) {
        let offset = clock.offsetMillis
        guard abs(offset) > skewWarning else { return }
        logger.warning(
            "This host's clock is \(abs(offset)) ms \(offset > 0 ? "behind" : "ahead of") the database's: usero dates by the database's; check the host's time service (NTP)")
    }
}

/// Closes the store's connections when the service group shuts down (after every service listed after it).
struct StoreCloser: Service {
    let close: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
