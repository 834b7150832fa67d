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

    /// An instance that stalls inside an upload holds up no other client's uploads, and its own client's for 10 s at
    /// most each (then a 503 to try again), not for as long as it stalls; and the uploads that wait hold up none of
    /// their instance's other writes. One lock for every client's uploads, waited for in the shared writer, stopped
    /// every upload of every instance, and the uploads waiting filled the writer's lanes, stopping every other write
    /// of their instance (a Slack job's lease renewal among them, so its job ran twice); tried in the writer for
    /// 10 s, a batch of three waiting uploads held the lanes for 30 s.
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
            // Three of the client's uploads at once: each gives up after its 10 s, together, not one after another.
            let started = ContinuousClock.now
            let waiting = (2...4).map { n in
                Task { () -> Bool in
                    do {
                        try await upload(other, acme.id, "\(n)-waits")
                        return false
                    } catch is StoreUnavailable {
                        return true
                    }
                }
            }
            // Meanwhile the instance's other writes go on.
            try await Task.sleep(for: .milliseconds(300))
            try await Self.answersPromptly(or: proxy) {
                try await other.enqueue(
                    NewSlackJob(clientId: nil, teamId: "A", work: .uninstall(UninstallJob(clientId: nil)), runAt: Self.t0))
            }
            for task in waiting { #expect(try await task.value, "an upload waiting on the stalled one was refused") }
            #expect(ContinuousClock.now - started < .seconds(16))
            proxy.cutAll()
            _ = try? await stalledUpload.value
            #expect(
                try await TestPostgres.scalar("SELECT count(*) FROM screenshot", as: Int64.self, on: connection) == 1)
        }
    }

    /// An instance that stalls while queueing a manual recovery sweep (checked and queued under a lock, so that two
    /// requests together queue one) holds up only the same workspace's requests, 5 s at most each, and none of the
    /// other instances' other writes: under one lock for all workspaces, waited for in the shared writer, every
    /// other instance's writes stopped for the 60 s statement timeout.
    @Test(.timeLimit(.minutes(2)))
    func anInstanceThatStallsWhileQueueingARecoveryHoldsUpOnlyItsWorkspacesRequests() async throws {
        try await withTwoInstances { stalled, other, proxy, connection in
            @Sendable func request(_ store: PostgresStore, team: String) async throws -> Bool {
                let sweep = RecoverJob(trigger: "manual", since: Self.t0 - 60_000, until: Self.t0)
                return try await store.enqueueUnlessPending(
                    NewSlackJob(clientId: nil, teamId: team, work: .recover(sweep), runAt: Self.t0)
                ) { _ in true }
            }
            // Every such check sends the lock's seed ("usero:eq" in ASCII).
            proxy.dropAnswers(afterClientSends: "usero:eq")
            let stalledRequest = Task { try await request(stalled, team: "T1") }
            try await Self.waitUntil("\(unescaped: Self.advisoryLocksHeld)", on: connection)

            #expect(try await Self.answersPromptly(or: proxy) { try await request(other, team: "T2") })
            let started = ContinuousClock.now
            await #expect(throws: StoreUnavailable.self) { try await request(other, team: "T1") }
            #expect(ContinuousClock.now - started < .seconds(10))
            try await Self.answersPromptly(or: proxy) {
                try await other.enqueue(
                    NewSlackJob(clientId: nil, teamId: "A", work: .uninstall(UninstallJob(clientId: nil)), runAt: Self.t0))
            }
            // Many at once (an admin's retry loop): they wait on at most half the instance's connections, the rest
            // are refused at once, and the instance's other requests find a connection at once meanwhile.
            let many = (0..<24).map { _ in
                Task { () -> Bool in
                    do {
                        return try await request(other, team: "T1")
                    } catch is StoreUnavailable {
                        return false
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            let read = ContinuousClock.now
            _ = try await other.pendingJobs(kind: .recover, team: "T2")
            try await other.enqueue(
                NewSlackJob(clientId: nil, teamId: "B", work: .uninstall(UninstallJob(clientId: nil)), runAt: Self.t0))
            #expect(ContinuousClock.now - read < .seconds(2))
            for task in many { #expect(try await task.value == false) }
            proxy.cutAll()
            _ = try? await stalledRequest.value
        }
    }

    /// The job worker's own bookkeeping never waits behind other writes: with every lane of the shared writer held
    /// by writes waiting on a lock (here a session of the test's own holds the workspace's row), a running job's
    /// lease is renewed and the heartbeat recorded at once. Through the writer, they waited with the rest, the
    /// lease ran out while the job was still running, and another instance ran it too (an outside tester saw a
    /// channel post sent twice that way).
    @Test(.timeLimit(.minutes(2)))
    func leaseRenewalsAndTheHeartbeatDoNotWaitBehindOtherWrites() async throws {
        try await withTwoInstances { _, other, proxy, connection in
            try await Self.installWorkspaceT1(in: other, on: connection)
            try await other.enqueue(
                NewSlackJob(clientId: nil, teamId: "T2", work: .uninstall(UninstallJob(clientId: nil)), runAt: Self.t0))
            let job = try #require(try await other.claimDueJobs(now: Self.t0, lanes: Self.lanes).first)

            try await connection.query("BEGIN", logger: TestPostgres.logger)
            try await connection.query(
                "SELECT 1 FROM slack_installation WHERE team_id = 'T1' FOR UPDATE", logger: TestPostgres.logger)
            // One write after another, each waiting for the row, until every lane holds one and the next waits for
            // a lane.
            var held: [Task<Void, any Error>] = []
            for _ in 0..<3 {
                held.append(Task { try await other.holdJobs(team: "T1", kind: .postFeedback, notBefore: Self.t0 + 1, by: nil) })
                try await Task.sleep(for: .milliseconds(300))
            }
            // The row is let go once the checks below are done, or after 12 s if they are still waiting.
            let released = Mutex(false)
            let firstToRelease: @Sendable () -> Bool = { released.withLock { done in defer { done = true }; return !done } }
            let backstop = Task { [connection] in
                try await Task.sleep(for: .seconds(12))
                if firstToRelease() { try await connection.query("COMMIT", logger: TestPostgres.logger) }
            }
            try await Self.answersPromptly(or: proxy) {
                try await other.renewJobLeases([job.lease], now: Self.t0 + 1_000, until: Self.t0 + 30_000)
            }
            _ = try await Self.answersPromptly(or: proxy) { try await other.heartbeat(at: Self.t0 + 2_000) }
            if firstToRelease() { try await connection.query("COMMIT", logger: TestPostgres.logger) }
            backstop.cancel()
            for task in held { try await task.value }
            // The renewal held: the job is not another instance's to take before the new lease ends.
            #expect(try await other.claimDueJobs(now: Self.t0 + 20_000, lanes: Self.lanes).isEmpty)
        }
    }

    /// An instance that stalls right after recording that a workspace's events arrive (at most once a minute, on
    /// the workspace's installation row) holds that row for no one: the others' writes to it (settings, the pace of
    /// posts, captures) go on. In a shared transaction, the row stayed locked until the stalled instance's COMMIT.
    @Test(.timeLimit(.minutes(2)))
    func anInstanceThatStallsAfterNotingAWorkspacesEventHoldsNoneOfItsRow() async throws {
        try await withTwoInstances { stalled, other, proxy, connection in
            try await Self.installWorkspaceT1(in: other, on: connection)
            proxy.dropAnswers(afterClientSends: "last_event_at")
            let stalledNote = Task { try await stalled.recordEventSeen(team: "T1", at: Self.t0) }
            for _ in 0..<200 {
                let seen = try await TestPostgres.scalar(
                    """
                    SELECT count(*) FROM pg_stat_activity
                    WHERE query LIKE 'UPDATE slack_installation SET last_event_at%' AND datname = current_database()
                    """,
                    as: Int64.self, on: connection)
                if (seen ?? 0) > 0 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Self.answersPromptly(or: proxy) {
                try await other.holdJobs(team: "T1", kind: .postFeedback, notBefore: Self.t0 + 1, by: nil)
            }
            proxy.cutAll()
            _ = try? await stalledNote.value
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

    /// A client, and workspace T1 installed for it (written straight into its table).
    private static func installWorkspaceT1(in store: PostgresStore, on connection: PostgresConnection) async throws {
        let (acme, _) = try await store.createClient(name: "Acme", plan: .free, allowedOrigins: [], at: Date())
        try await connection.query(
            """
            INSERT INTO slack_installation (team_id, client_id, installed_at, token_envelope)
            VALUES ('T1', \(acme.id), 1, '\\x01'::bytea)
            """, logger: TestPostgres.logger)
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
