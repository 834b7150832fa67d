import Feedback
import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SlackGateway

/// The request context of every route.
struct AppRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage

    init(source: Source) {
        coreContext = .init(source: source)
    }

    /// Routes collect their own bodies with their own limits; this is the ceiling for anything else.
    var maxUploadSize: Int { PublicRoutes<AppRequestContext>.uploadLimit }
}

/// What a running service is made of; tests reach in to check the store.
struct AppParts: Sendable {
    let config: AppConfig
    let database: AppDatabase
    let store: SQLiteFeedbackStore
    let files: ScreenshotFiles
    let registry: PrometheusCollectorRegistry
}

/// Opens the store and builds the application: used by `usero serve` and by the integration tests.
func buildApplication(
    config: AppConfig, logger: Logger, clock: any WallClock = SystemClock(),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> (Application<RouterResponder<AppRequestContext>>, AppParts) {
    let database = try AppDatabase(path: config.databasePath)
    let files = ScreenshotFiles(dataDirectory: config.dataDirectory)
    try await files.purgeQueued(in: database)
    let store = SQLiteFeedbackStore(database: database, files: files)
    let registry = PrometheusCollectorRegistry()
    registry.makeGauge(
        descriptor: MetricNameDescriptor(metricName: "usero_up", unitName: "", helpText: "1 while the service runs")
    ).set(to: 1.0)
    let parts = AppParts(config: config, database: database, store: store, files: files, registry: registry)

    let router = Router(context: AppRequestContext.self)
    router.add(middleware: RequestObservationMiddleware())
    OperationsRoutes(database: database, registry: registry).register(on: router)

    let service = FeedbackService(store: store, files: files, clock: clock, publicURL: config.publicURL)
    let publicAPI = router.group("api").add(middleware: PublicCORSMiddleware())
    PublicRoutes<AppRequestContext>(service: service).register(on: publicAPI)
    publicAPI.on("feedback", method: .options) { _, _ in Response(status: .noContent) }
    publicAPI.on("screenshots", method: .options) { _, _ in Response(status: .noContent) }
    let adminAPI = router.group("api")
    AdminRoutes<AppRequestContext>(auth: AdminAuth(store: store), store: store).register(on: adminAPI)

    var services: [any Service] = []
    let slack = try SlackSetup.register(on: router, parts: parts, clock: clock, logger: logger)
    services += slack.services
    services += try RetentionSetup.register(on: router, parts: parts, clock: clock, logger: logger)

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
    try InboxSetup.register(
        on: router, parts: parts, clock: clock, logger: logger,
        slack: InboxSlack(database: database, makeInstallLink: makeInstallLink))
    WidgetRoutes().register(on: router)

    var app = Application(
        router: router,
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "usero"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? config.port) },
        logger: logger)
    app.addServices(services)
    return (app, parts)
}
