import Foundation
import PostgresNIO
import SlackGateway
import StorePostgres
import Synchronization
import Testing

/// The Slack job claim when several instances share the database and one of them stalls.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresJobClaimTests {
    static let t0: Int64 = 1_800_000_000_000
    static let lanes = [SlackJobLane(kinds: [.uninstall], limit: 10, lease: 15_000)]

    /// An instance that stalls in the middle of a claim (its process paused, so nothing it was sent is read) holds
    /// the jobs it claimed until their leases end, and nothing else: the other instances go on claiming. When the
    /// claim was several statements in one transaction, the stalled one held the claim lock, and with it every
    /// other instance's claims, for as long as it stalled.
    @Test(.timeLimit(.minutes(2)))
    func anInstanceThatStallsWhileClaimingHoldsNoOtherInstancesClaims() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            _ = try await AnswerDroppingProxy.withProxy(to: settings) { proxied, proxy in
                let stalledBackend = try await PostgresBackend.open(proxied, logger: TestPostgres.logger)
                let otherBackend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
                let stalled = PostgresStore(backend: stalledBackend, logger: TestPostgres.logger)
                let other = PostgresStore(backend: otherBackend, logger: TestPostgres.logger)
                for team in ["A", "B"] {
                    try await other.enqueue(
                        NewSlackJob(clientId: nil, teamId: team, work: .uninstall(UninstallJob(clientId: nil)), runAt: Self.t0))
                }

                // Every claim sends the claim lock's key ("usero:jc" in ASCII): from there on the stalled instance
                // reads nothing, as a paused process would not.
                proxy.dropAnswers(afterClientSends: "usero:jc")
                let stalledClaim = Task { try await stalled.claimDueJobs(now: Self.t0, lanes: Self.lanes) }
                try await TestPostgres.withConnection(to: settings) { connection in
                    // The stalled claim reached the server: it holds the claim lock, or it leased the jobs.
                    for _ in 0..<200 {
                        let reached = try await TestPostgres.scalar(
                            """
                            SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted)
                                + (SELECT count(*) FROM job WHERE lease_until IS NOT NULL)
                            """, as: Int64.self, on: connection)
                        if (reached ?? 0) > 0 { return }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    Issue.record("the stalled instance's claim never reached the server")
                }

                let answered = Mutex(false)
                let otherClaim = Task {
                    defer { answered.withLock { $0 = true } }
                    return try await other.claimDueJobs(now: Self.t0, lanes: Self.lanes)
                }
                var waited = 0
                while !answered.withLock({ $0 }) && waited < 100 {
                    try await Task.sleep(for: .milliseconds(100))
                    waited += 1
                }
                let waitedForTheStalledOne = !answered.withLock { $0 }
                #expect(!waitedForTheStalledOne, "another instance's claim waited 10 s for the stalled one")
                if waitedForTheStalledOne { proxy.cutAll() }
                // The stalled instance claimed both jobs: the other takes them once those leases end, not before.
                #expect(try await otherClaim.value.isEmpty)
                let after = try await other.claimDueJobs(now: Self.t0 + 15_000, lanes: Self.lanes)
                #expect(Set(after.compactMap(\.teamId)) == ["A", "B"])
                #expect(after.allSatisfy { $0.claim == 2 })

                proxy.cutAll()
                _ = try? await stalledClaim.value
                await stalledBackend.close()
                await otherBackend.close()
            }
        }
    }
}
