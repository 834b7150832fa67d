import Foundation
import PostgresNIO
import SlackGateway
import StorePostgres
import Synchronization
import Testing

/// PostgreSQL only: several instances share the job queue, and one started with another `USERO_TOKEN_KEY` leaves a
/// workspace's jobs to those that can open its token. Its claim announces what it passed over, so an instance with
/// the key takes the job now rather than at its next poll. (SQLite has one process, and nobody to tell.) The time
/// limit only ends a test that waits for a notification that never comes; in a full run the stores themselves can
/// take a minute to come (126 databases made at once while the app tests run).
@Suite(.enabled(if: ConformancePostgres.url != nil, "USERO_TEST_POSTGRES_URL is not set"),
    .timeLimit(.minutes(3)))
struct PostgresJobsLeftTests {
    static let t0 = StoreUnderTest.t0Millis
    static let lanes = [SlackJobLane(kinds: Set(SlackJob.Kind.allCases), limit: 10, lease: 1_000)]
    static let withoutTheKey = SlackJobKeyFilter(keyIDs: ["k2"], queuedAfter: t0 - 1)

    /// An instance listening is woken when it starts (for what was announced before) and when another instance's
    /// claim passes a due job over.
    @Test func aClaimThatPassesAJobOverWakesTheInstancesListening() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        try await s.install(team: "A", client: try await s.client())
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self)
        let listener = Task { await s.slack.listenForJobsLeftHere { wake.yield() } }
        defer { listener.cancel() }
        var woken = wakes.makeAsyncIterator()
        #expect(await woken.next() != nil, "woken as it starts listening")

        try await s.slack.enqueue(s.job(StoreUnderTest.notice("A1"), team: "A"))
        #expect(try await s.slack.claimDueJobs(now: Self.t0, lanes: Self.lanes, passingOver: Self.withoutTheKey).isEmpty)
        #expect(await woken.next() != nil, "woken by the claim that passed the job over")
        // And the instance woken, which has the key, takes it.
        let withTheKey = SlackJobKeyFilter(keyIDs: ["k1"], queuedAfter: Self.t0 - 1)
        #expect(try await s.slack.claimDueJobs(now: Self.t0, lanes: Self.lanes, passingOver: withTheKey).count == 1)
    }

    /// Each job is announced once: instances that all lack the key would otherwise wake each other for ever. A job
    /// that comes due later is announced when a claim first passes it over.
    @Test func aJobPassedOverIsAnnouncedOnce() async throws {
        let s = try await StoreFactory.postgreSQL.store()
        try await s.install(team: "A", client: try await s.client())
        let settings = try #require(s.postgres)
        let connection = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(), id: 1, logger: ConformancePostgres.logger)
        defer { Task { try? await connection.close() } }
        let announcements = try await connection.listen("usero_jobs_left")
        var heard = announcements.makeAsyncIterator()
        func mark(_ name: String) async throws {
            try await connection.query("SELECT pg_notify('usero_jobs_left', \(name))", logger: ConformancePostgres.logger)
        }

        try await s.slack.enqueue(s.job(StoreUnderTest.notice("A1"), team: "A"))
        try await s.slack.enqueue(s.job(StoreUnderTest.notice("A2"), team: "A", at: Self.t0 + 5_000))
        #expect(try await s.slack.claimDueJobs(now: Self.t0, lanes: Self.lanes, passingOver: Self.withoutTheKey).isEmpty)
        #expect(try await heard.next()?.payload == "", "the first claim announces A1")
        // Notifications arrive in commit order: an announcement by the second claim would come before the mark.
        #expect(try await s.slack.claimDueJobs(now: Self.t0 + 1, lanes: Self.lanes, passingOver: Self.withoutTheKey).isEmpty)
        try await mark("after the second claim")
        #expect(try await heard.next()?.payload == "after the second claim", "A1 is not announced again")
        // A2 comes due: announced by the claim that first passes it over.
        #expect(
            try await s.slack.claimDueJobs(now: Self.t0 + 5_000, lanes: Self.lanes, passingOver: Self.withoutTheKey)
                .isEmpty)
        #expect(try await heard.next()?.payload == "", "A2 is announced when it comes due")
        // Without a filter (an instance of the earlier version, a command), nothing is passed over nor announced.
        #expect(try await s.slack.claimDueJobs(now: Self.t0 + 5_000, lanes: Self.lanes).count == 1)
        try await mark("after an unfiltered claim")
        #expect(try await heard.next()?.payload == "after an unfiltered claim")
    }
}
