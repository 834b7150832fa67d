import Feedback
import Foundation
import PostgresNIO
import SlackGateway
import StorePostgres
import Synchronization
import Testing

/// Several instances on one database, one of which stalls in the middle of a statement it sent (its process paused,
/// a VM frozen: nothing it was sent is read, its connection stays open): the others go on.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresStalledInstanceTests {
    static let t0: Int64 = 1_800_000_000_000
    static let lanes = [SlackJobLane(kinds: [.uninstall], limit: 10, lease: 15_000)]

    /// An instance that stalls in the middle of a claim holds the jobs it claimed until their leases end, and
    /// nothing else: the other instances go on claiming. When the claim was several statements in one transaction,
    /// the stalled one held the claim lock, and with it every other instance's claims, for as long as it stalled.
    @Test(.timeLimit(.minutes(2)))
    func anInstanceThatStallsWhileClaimingHoldsNoOtherInstancesClaims() async throws {
        try await withTwoInstances { stalled, other, proxy, connection in
            for team in ["A", "B"] {
                try await other.enqueue(
                    NewSlackJob(clientId: nil, teamId: team, work: .uninstall(UninstallJob(clientId: nil)), runAt: Self.t0))
            }
            // Every claim sends the claim lock's key ("usero:jc" in ASCII).
            proxy.dropAnswers(afterClientSends: "usero:jc")
            let stalledClaim = Task { try await stalled.claimDueJobs(now: Self.t0, lanes: Self.lanes) }
            // It reached the server: it holds the claim lock, or it leased the jobs.
            try await Self.waitUntil(
                """
                SELECT (\(unescaped: Self.advisoryLocksHeld)) + (SELECT count(*) FROM job WHERE lease_until IS NOT NULL)
                """, on: connection)

            let claimed = try await Self.answersPromptly(or: proxy) {
                try await other.claimDueJobs(now: Self.t0, lanes: Self.lanes)
            }
            // The stalled instance claimed both jobs: the other takes them once those leases end, not before.
            #expect(claimed.isEmpty)
            let after = try await other.claimDueJobs(now: Self.t0 + 15_000, lanes: Self.lanes)
            #expect(Set(after.compactMap(\.teamId)) == ["A", "B"])
            #expect(after.allSatisfy { $0.claim == 2 })
            proxy.cutAll()
            _ = try? await stalledClaim.value
        }
    }

    /// An instance that stalls while recording the heartbeat does not stall the others' heartbeats, and with them
    /// their job workers (which beat before they claim and renew their leases: their running jobs' leases would run
    /// out, and the jobs run twice).
    @Test(.timeLimit(.minutes(2)))
    func anInstanceThatStallsWhileBeatingHoldsNoOtherInstancesHeartbeat() async throws {
        try await withTwoInstances { stalled, other, proxy, connection in
            #expect(try await other.heartbeat(at: Self.t0) == 0)
            // Every heartbeat sends the heartbeat lock's key ("usero:hb" in ASCII).
            proxy.dropAnswers(afterClientSends: "usero:hb")
            let stalledBeat = Task { try await stalled.heartbeat(at: Self.t0 + 1_000) }
            try await Self.waitUntil("\(unescaped: Self.advisoryLocksHeld)", on: connection)

            let sweeps = try await Self.answersPromptly(or: proxy) { try await other.heartbeat(at: Self.t0 + 2_000) }
            #expect(sweeps == 0)
            proxy.cutAll()
            _ = try? await stalledBeat.value
            // Once the stalled one's session is gone (the server ends it on its own time), a beat records again.
            var recorded: Int64?
            for _ in 0..<50 where recorded != Self.t0 + 3_000 {
                _ = try await other.heartbeat(at: Self.t0 + 3_000)
                recorded = try await TestPostgres.scalar(
                    "SELECT alive_at FROM slack_heartbeat", as: Int64.self, on: connection)
                if recorded != Self.t0 + 3_000 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(recorded == Self.t0 + 3_000)
        }
    }

    /// An instance that stalls inside an upload holds up no other client's uploads, and its own client's for a
    /// bounded time (then a 503 to try again), not for as long as it stalls: one lock for every client's uploads,
    /// waited for, stopped every upload of every instance, and the uploads waiting filled the writer's lanes, which
    /// stopped every other write of their instance too.
    @Test(.timeLimit(.minutes(2)))
    func anInstanceThatStallsWhileUploadingHoldsUpOnlyItsClientsUploadsAndNotForLong() async throws {
        try await withTwoInstances { stalled, other, proxy, connection in
            let (acme, _) = try await other.createClient(name: "Acme", plan: .free, allowedOrigins: [], at: Date())
            let (globex, _) = try await other.createClient(name: "Globex", plan: .free, allowedOrigins: [], at: Date())
            let quota: Int64 = 10 * 1024 * 1024
            @Sendable func upload(_ store: PostgresStore, _ client: String, _ name: String) async throws {
                let shot = StoredScreenshot(
                    fileName: "\(client)/\(name).png", clientId: client, mimeType: "image/png", fileSize: 4, width: 1,
                    height: 1, createdAt: Date())
                try await store.saveScreenshot(shot, bytes: [0x89, 0x50, 0x4E, 0x47], quota: quota)
            }
            // Every upload under a quota sends the upload lock's seed ("usero:uq" in ASCII).
            proxy.dropAnswers(afterClientSends: "usero:uq")
            let stalledUpload = Task { try await upload(stalled, acme.id, "1-stalled") }
            try await Self.waitUntil("\(unescaped: Self.advisoryLocksHeld)", on: connection)

            try await Self.answersPromptly(or: proxy) { try await upload(other, globex.id, "1-other") }
            let started = ContinuousClock.now
            await #expect(throws: StoreUnavailable.self) { try await upload(other, acme.id, "2-waits") }
            #expect(ContinuousClock.now - started < .seconds(30))
            // Meanwhile the instance's other writes went on.
            try await Self.answersPromptly(or: proxy) {
                try await other.enqueue(
                    NewSlackJob(clientId: nil, teamId: "A", work: .uninstall(UninstallJob(clientId: nil)), runAt: Self.t0))
            }
            proxy.cutAll()
            _ = try? await stalledUpload.value
            #expect(
                try await TestPostgres.scalar("SELECT count(*) FROM screenshot", as: Int64.self, on: connection) == 1)
        }
    }

    // MARK: Helpers

    /// Two stores on a fresh database, the first reached through an `AnswerDroppingProxy`, and a connection of the
    /// test's own.
    private func withTwoInstances(
        _ body: (_ stalled: PostgresStore, _ other: PostgresStore, AnswerDroppingProxy, PostgresConnection) async throws
            -> Void
    ) async throws {
        try await TestPostgres.withFreshDatabase { settings in
            _ = try await AnswerDroppingProxy.withProxy(to: settings) { proxied, proxy in
                let stalledBackend = try await PostgresBackend.open(proxied, logger: TestPostgres.logger)
                let otherBackend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
                defer { proxy.cutAll() }
                do {
                    try await TestPostgres.withConnection(to: settings) { connection in
                        try await body(
                            PostgresStore(backend: stalledBackend, logger: TestPostgres.logger),
                            PostgresStore(backend: otherBackend, logger: TestPostgres.logger), proxy, connection)
                    }
                } catch {
                    proxy.cutAll()
                    await stalledBackend.close()
                    await otherBackend.close()
                    throw error
                }
                await stalledBackend.close()
                await otherBackend.close()
            }
        }
    }

    /// SQL: how many advisory locks are held in the test's database (other tests' databases share the server).
    private static let advisoryLocksHeld = """
        SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """

    /// Waits (up to 10 s) until `query`'s count is above zero.
    private static func waitUntil(_ query: PostgresQuery, on connection: PostgresConnection) async throws {
        for _ in 0..<200 {
            if (try await TestPostgres.scalar(query, as: Int64.self, on: connection) ?? 0) > 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the stalled instance's statement never reached the server")
    }

    /// What `operation` returns; an issue when it waited 10 s, after which the proxy's connections are cut (the
    /// stalled instance's session ends and its locks with it) so that the operation ends.
    private static func answersPromptly<T: Sendable>(
        or proxy: AnswerDroppingProxy, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let answered = Mutex(false)
        let task = Task {
            defer { answered.withLock { $0 = true } }
            return try await operation()
        }
        for _ in 0..<100 where !answered.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(100)) }
        if !answered.withLock({ $0 }) {
            Issue.record("another instance waited 10 s on the stalled one")
            proxy.cutAll()
        }
        return try await task.value
    }
}
