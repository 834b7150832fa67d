import Feedback
import Foundation
import StorePostgres
import Testing

/// Instances on one PostgreSQL date things by the database's clock, whatever their hosts' clocks say.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresClockTests {
    /// A host clock off by a fixed amount.
    struct SkewedClock: WallClock {
        let seconds: Double
        func now() -> Date { Date().addingTimeInterval(seconds) }
    }

    @Test(arguments: [120.0, -45.0])
    func aHostWhoseClockIsOffStillTellsTheDatabasesTime(_ skew: Double) async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            let clock = PostgresClock(store: store, system: SkewedClock(seconds: skew))
            // Before a measurement: the host's time.
            #expect(abs(clock.now().timeIntervalSinceNow - skew) < 1)

            try await clock.synchronise()

            // The test's host is the database's: the skew is measured and taken out.
            #expect(abs(Double(clock.offsetMillis) / 1000 + skew) < 1)
            #expect(abs(clock.now().timeIntervalSinceNow) < 1)
            await backend.close()
        }
    }

    /// Hosts that agree (here the same host) get no offset at all, not the measurement's noise.
    @Test func agreeingClocksAreLeftAlone() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            for skew in [0.0, 0.2, -0.2] {
                let clock = PostgresClock(store: store, system: SkewedClock(seconds: skew))
                try await clock.synchronise()
                #expect(clock.offsetMillis == 0)
            }
            await backend.close()
        }
    }
}
