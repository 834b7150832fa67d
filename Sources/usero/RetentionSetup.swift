import Feedback
import Hummingbird
import Logging
import Retention
import ServiceLifecycle

/// Wires retention: `POST /api/identify`, its admin routes and the scheduled sweep.
enum RetentionSetup {
    /// Adds the retention routes; returns the services to run beside the server: the sweep schedule, which also
    /// finishes at startup any account closure a previous process left half-way.
    static func register(
        on router: Router<AppRequestContext>, parts: AppParts, accountOwners: [any AccountDataOwner],
        clock: any WallClock, logger: Logger
    ) throws -> [any Service] {
        let retention = parts.backend.retention
        let endUsers = EndUserService(store: parts.store, endUsers: retention, clock: clock)
        let publicAPI = router.group("api").add(middleware: PublicCORSMiddleware())
        IdentifyRoutes<AppRequestContext>(service: endUsers).register(on: publicAPI)
        publicAPI.on("identify", method: .options) { _, _ in Response(status: .noContent) }

        let closer = AccountCloser(store: retention, feedback: parts.store, owners: accountOwners, clock: clock)
        let privacy = DataSubjectService(
            store: retention, feedback: parts.store, clock: clock, publicURL: parts.config.publicURL,
            owners: accountOwners)
        RetentionAdminRoutes<AppRequestContext>(
            auth: AdminAuth(store: parts.store), closer: closer, endUsers: endUsers, privacy: privacy,
            audit: AuditLog(store: retention)
        ).register(on: router.group("api"))

        let sweeper = RetentionSweeper(store: retention, feedback: parts.store, clock: clock)
        return [
            RetentionService(
                sweeper: sweeper, closer: closer, clock: clock, interval: parts.config.retentionInterval, logger: logger
            )
        ]
    }
}
