public import Feedback
public import Foundation
import PostgresNIO
import Synchronization

/// The time of the database's host, read through this host's clock: what every instance on one PostgreSQL dates
/// things by. Their hosts' clocks may disagree (a host whose time service failed runs minutes ahead), and the
/// instances share what time decides: the Slack job leases (an instance ahead took over jobs still running on
/// another, and posted them twice), when a job is due, the pace of channel posts, the heartbeat that tells a downtime
/// (an instance ahead started a recovery sweep of a downtime that never was), and the order of items by their
/// `createdAt`. So `now()` is this host's clock plus its offset from the database's, measured by `synchronise()`
/// (at start, then every `interval`); until a measurement succeeds, and while the offset could be a quarter of a
/// second or less (the measurement is good to half its round trip), the offset is 0.
public final class PostgresClock: WallClock {
    /// How often the offset is measured again (clocks drift; a host's time service may step it).
    public static let interval: Duration = .seconds(60)

    private let store: PostgresStore
    private let system: any WallClock
    /// The database's time less this host's, in milliseconds.
    private let offset = Atomic<Int64>(0)

    public init(store: PostgresStore, system: any WallClock = SystemClock()) {
        self.store = store
        self.system = system
    }

    /// A clock for `store`, measured once already (a failed measurement leaves the offset 0, as before any).
    public static func measured(store: PostgresStore) async -> PostgresClock {
        let clock = PostgresClock(store: store)
        try? await clock.synchronise()
        return clock
    }

    /// The offset last measured, in milliseconds (0 before the first measurement).
    public var offsetMillis: Int64 { offset.load(ordering: .relaxed) }

    public func now() -> Date {
        system.now().addingTimeInterval(Double(offsetMillis) / 1000)
    }

    /// Measures the offset: the database's time against the middle of this host's time before and after asking
    /// (off by at most half the round trip), asked `samples` times and taken from the shortest round trip: the first
    /// may include opening a connection, and any may wait for a busy core (a loaded test machine once took 3 s for
    /// one). A failed measurement keeps the offset it had.
    public func synchronise() async throws {
        var best: (measured: Int64, roundTrip: Int64)?
        for _ in 0..<Self.samples {
            let before = epochMillis(system.now())
            let database = try await store.databaseTimeMillis()
            let after = epochMillis(system.now())
            // Bounded before it meets arithmetic: a round trip over a minute says nothing of the offset.
            guard after >= before, after - before < 60_000 else { continue }
            if let best, best.roundTrip <= after - before { continue }
            best = (database - (before + (after - before) / 2), after - before)
        }
        guard let best else { return }
        // The true offset is within half the round trip of `measured`. Unless even the least of those is past
        // `leastCorrectedMillis`, it is no offset: hosts kept by NTP agree within milliseconds, and dating by a
        // measurement noisier than their clocks would only add its noise.
        let matters = abs(best.measured) - best.roundTrip / 2 > Self.leastCorrectedMillis
        offset.store(matters ? best.measured : 0, ordering: .relaxed)
    }

    /// Questions a measurement asks (one a minute each: nothing beside the service's own load).
    public static let samples = 3

    /// Offsets up to this are left alone (milliseconds): far below what any lease or pace here could feel.
    public static let leastCorrectedMillis: Int64 = 250
}

extension PostgresStore {
    /// The database host's current time, in milliseconds since 1970.
    public func databaseTimeMillis() async throws -> Int64 {
        try await scalar(Self.databaseTimeQuery, as: Int64.self) ?? 0
    }

    /// The database's clock, in epoch milliseconds.
    static let databaseTimeQuery: PostgresQuery = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
}
