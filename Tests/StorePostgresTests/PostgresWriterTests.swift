import Feedback
import PostgresNIO
import StorePostgres
import Testing
import UseroTestSupport

/// The group-commit writer on a real server: shared commits, failures kept to their own piece, durability.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresWriterTests {
    static let table = PostgresMigration("v99-test-table", ["CREATE TABLE item (id INTEGER PRIMARY KEY, note TEXT)"])

    /// A fresh database with the test table only: on the shared server, or on `cluster` (a server of the test's own,
    /// for tests that stop it), closed after `body`.
    func withDatabase(
        on cluster: ScriptedCluster? = nil, lanes: Int = 4, connections: Int = 16,
        statementTimeout: Duration = .seconds(60), _ body: (PostgresBackend, PostgresSettings) async throws -> Void
    ) async throws {
        func open(_ settings: PostgresSettings) async throws {
            var options = PostgresBackend.Options()
            options.migrations = [Self.table]
            options.writerLanes = lanes
            options.maximumConnections = connections
            options.statementTimeout = statementTimeout
            let database = try await PostgresBackend.open(settings, options: options, logger: TestPostgres.logger)
            do {
                try await body(database, settings)
                await database.close()
            } catch {
                await database.close()
                throw error
            }
        }
        if let cluster {
            try await open(try cluster.settings)
        } else {
            try await TestPostgres.withFreshDatabase { try await open($0) }
        }
    }

    /// Writes row 2 ("stored") and reads every row's note, in order.
    static func notesAfterWritingOneMore(_ database: PostgresBackend) async throws -> [String] {
        try await database.write { transaction in
            try await transaction.execute("INSERT INTO item (id, note) VALUES (2, 'stored')")
        }
        return try await database.withConnection { session in
            try await TestPostgres.all("SELECT note FROM item ORDER BY id", as: String.self, on: session)
        }
    }

    func count(_ database: PostgresBackend) async throws -> Int? {
        try await database.withConnection { connection in
            try await TestPostgres.scalar("SELECT count(*) FROM item", as: Int.self, on: connection)
        }
    }

    @Test func concurrentWritesShareCommits() async throws {
        try await withDatabase { database, _ in
            let before = database.commitStatistics
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<400 {
                    group.addTask {
                        _ = try await database.write { transaction in
                            try await transaction.execute("INSERT INTO item (id) VALUES (\(index))")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let after = database.commitStatistics
            #expect(after.writes - before.writes == 400)
            // Waiting writes ride along in one transaction: fewer commits than writes.
            #expect(after.commits - before.commits < 400)
            #expect(after.largestBatch > 1)
            #expect(try await count(database) == 400)
        }
    }

    /// A piece that fails with an error that is not the server's answer, its connection still open (here
    /// postgres-nio refusing a statement of too many parameters before sending it): the batch fails, and nothing it
    /// wrote is committed by the next batch on that connection. (The connection went back to the pool inside the
    /// open transaction, the next BEGIN only warned, and its COMMIT took the failed piece's row along.)
    @Test func aBatchThatFailsOffTheServerLeavesNoTransactionOpenBehind() async throws {
        try await withDatabase(lanes: 1, connections: 1) { database, _ in
            await #expect(throws: PSQLError.self) {
                try await database.write { transaction in
                    try await transaction.execute("INSERT INTO item (id, note) VALUES (1, 'failed')")
                    var binds = PostgresBindings(capacity: 70_000)
                    for _ in 0..<70_000 { binds.append(1) }
                    try await transaction.execute(PostgresQuery(unsafeSQL: "SELECT 1", binds: binds))
                }
            }
            // The next write works, and is all there is.
            let notes = try await Self.notesAfterWritingOneMore(database)
            #expect(notes == ["stored"])
        }
    }

    /// A statement sent to a connection that has closed fails at once, and the read with `StoreUnavailable` (a 503
    /// the client may retry: a read writes nothing). (Sent straight to postgres-nio it waits for ever: a read on a
    /// pooled connection the server had just closed hung a CI run's test process for an hour and a half. Reads,
    /// writes and the health check all send through the session.)
    @Test func aStatementOnAClosedConnectionFailsInsteadOfWaitingForEver() async throws {
        try await withDatabase { database, _ in
            let outcome = await Self.outcome(within: .seconds(30)) {
                do {
                    try await database.withConnection { session in
                        try await session.connection.close()
                        try await session.query("SELECT 1")
                    }
                    return "answered"
                } catch is StoreUnavailable {
                    // Nothing was written: a 503 the client may retry.
                    return "failed"
                } catch {
                    return "\(error)"
                }
            }
            #expect(outcome == "failed")
            // The pool drops the closed connection; the next statement gets a fresh one.
            let rows = try await count(database)
            #expect(rows == 0)
        }
    }

    /// What `body` returns, run in a task of its own; nil when it has not returned within `timeout`. A test whose
    /// statement never returns then fails instead of hanging with it (a task that ignores cancellation cannot be
    /// ended, not even by a time limit).
    static func outcome(within timeout: Duration, _ body: @escaping @Sendable () async -> String) async -> String? {
        let (outcomes, report) = AsyncStream.makeStream(of: String?.self)
        Task { report.yield(await body()) }
        let timer = Task {
            try await Task.sleep(for: timeout)
            report.yield(nil)
        }
        var iterator = outcomes.makeAsyncIterator()
        let first = await iterator.next() ?? nil
        timer.cancel()
        return first
    }

    /// A server that stops answering without closing the connection (its process stopped here; a machine gone from
    /// the network does the same): after the statement timeout the connection is closed, and the write fails with
    /// `StoreUnavailable`, nothing having been committed, instead of waiting until the kernel gives the connection up
    /// (a quarter of an hour). The next write gets a fresh connection. On a server of its own: a stopped process
    /// holds up every `CREATE DATABASE` and `DROP DATABASE` of its server (they wait for each process to answer).
    @Test(.timeLimit(.minutes(2)))
    func aServerThatStopsAnsweringFailsTheStatementAfterTheTimeout() async throws {
        let cluster = try await ScriptedCluster.start()
        defer { cluster.stop() }
        try await withDatabase(on: cluster, lanes: 1, connections: 1, statementTimeout: .seconds(2)) { database, _ in
            // The one pooled connection's server process, which the writer will lease next.
            let pid = try await database.withConnection { session in
                try await session.query("SELECT pg_backend_pid()").rows.first?.decode(Int32.self)
            }
            let backend = try #require(pid)
            #expect(kill(backend, SIGSTOP) == 0)
            let started = ContinuousClock.now
            let outcome = await Self.outcome(within: .seconds(30)) {
                do {
                    try await database.write { transaction in
                        try await transaction.execute("INSERT INTO item (id, note) VALUES (1, 'unanswered')")
                    }
                    return "stored"
                } catch is StoreUnavailable {
                    return "refused"
                } catch {
                    return "\(error)"
                }
            }
            let waited = ContinuousClock.now - started
            // Let the process go (it exits: its connection was closed, or is now, if the timeout did not work).
            kill(backend, SIGCONT)
            kill(backend, SIGTERM)
            // Refused within the 30 s `outcome` allows (far short of the kernel's quarter of an hour), and not before
            // the statement had its 2 s. No tighter upper bound: on two cores under the whole suite, the sweep and
            // the failing write can each wait seconds for a thread (one CI run took 11 s).
            #expect(outcome == "refused")
            #expect(waited >= .seconds(2))

            // The next write works, and is all there is.
            let notes = try await Self.notesAfterWritingOneMore(database)
            #expect(notes == ["stored"])
        }
    }

    @Test func aFailingPieceDoesNotTakeItsNeighboursDown() async throws {
        try await withDatabase(lanes: 1) { database, _ in
            enum Refused: Error { case byTheService }
            // Every 10th piece inserts its row and then fails on the server; every 7th inserts and then throws in
            // Swift; every 13th repeats an id an earlier piece (maybe in the same batch) already used. Their rows must
            // not appear; everyone else's must.
            let outcomes = await withTaskGroup(of: (Int, Bool).self) { group -> [Int: Bool] in
                for index in 1...300 {
                    group.addTask {
                        do {
                            try await database.write { transaction in
                                let id = index % 13 == 0 ? index - 1 : index
                                try await transaction.execute("INSERT INTO item (id) VALUES (\(id))")
                                if index % 10 == 0 {
                                    try await transaction.execute("INSERT INTO no_such_table VALUES (1)")
                                }
                                if index % 7 == 0 { throw Refused.byTheService }
                            }
                            return (index, true)
                        } catch {
                            return (index, false)
                        }
                    }
                }
                return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            let stored = try await database.withConnection { connection in
                try await TestPostgres.all("SELECT id FROM item", as: Int.self, on: connection)
            }
            let failedOnPurpose = (1...300).filter { $0 % 10 == 0 || $0 % 7 == 0 }
            for index in failedOnPurpose { #expect(outcomes[index] == false, "piece \(index) should have failed") }
            // The stored rows are exactly those of the acknowledged pieces: nothing of a failed piece, nothing lost.
            let acknowledged = outcomes.filter(\.value).map(\.key)
            let expected = acknowledged.map { $0 % 13 == 0 ? $0 - 1 : $0 }
            #expect(stored.sorted() == expected.sorted())
            // Two pieces writing the same id, in whatever order they ran: exactly one of them is acknowledged,
            // unless the other one failed on purpose anyway.
            for index in (1...300) where index % 13 == 0 && index % 10 != 0 && index % 7 != 0 {
                let earlierFailsAnyway = (index - 1) % 10 == 0 || (index - 1) % 7 == 0
                if earlierFailsAnyway {
                    #expect(outcomes[index] == true)
                } else {
                    #expect(outcomes[index] != outcomes[index - 1], "pieces \(index - 1) and \(index) share an id")
                }
            }
            #expect(database.commitStatistics.retries > 0)
        }
    }

    /// Two batches on two lanes whose pieces take the same two locks in opposite orders, as a quota-checked upload
    /// and a job claim can: PostgreSQL ends the deadlock by failing one of them (after its `deadlock_timeout`, a
    /// second). That piece did nothing wrong: it runs again once its rival committed, and both are acknowledged.
    // A hang guard, not a speed bound: under the whole suite on two cores, waits for a thread took a minute once.
    @Test(.timeLimit(.minutes(3)))
    func aPieceThatLosesADeadlockRunsAgain() async throws {
        try await withDatabase(lanes: 2) { database, _ in
            let firstHoldsOne = Latch()
            let secondHoldsTwo = Latch()
            async let first: Void = database.write { transaction in
                try await transaction.execute("SELECT pg_advisory_xact_lock(1)")
                await firstHoldsOne.open()
                await secondHoldsTwo.wait()
                try await transaction.execute("SELECT pg_advisory_xact_lock(2)")
                try await transaction.execute("INSERT INTO item (id, note) VALUES (1, 'first')")
            }
            // The first batch holds its lane; the second write gets the other one.
            await firstHoldsOne.wait()
            async let second: Void = database.write { transaction in
                try await transaction.execute("SELECT pg_advisory_xact_lock(2)")
                await secondHoldsTwo.open()
                try await transaction.execute("SELECT pg_advisory_xact_lock(1)")
                try await transaction.execute("INSERT INTO item (id, note) VALUES (2, 'second')")
            }
            try await first
            try await second
            let notes = try await database.withConnection { session in
                try await TestPostgres.all("SELECT note FROM item ORDER BY id", as: String.self, on: session)
            }
            #expect(notes == ["first", "second"])
            #expect(database.commitStatistics.retries >= 1)
        }
    }

    /// The same in savepoint mode: a batch in which two pieces failed runs the rest each in a savepoint, and a piece
    /// that loses a deadlock there is rolled back to its savepoint (releasing its locks, so the rival finishes) and
    /// runs again, while the pieces that failed on their own stay failed.
    // A hang guard, not a speed bound: under the whole suite on two cores, waits for a thread took a minute once.
    @Test(.timeLimit(.minutes(3)))
    func aPieceThatLosesADeadlockInSavepointModeRunsAgain() async throws {
        try await withDatabase(lanes: 1) { database, settings in
            enum Refused: Error { case byTheService }
            let blockerRuns = Latch()
            let releaseBlocker = Latch()
            let rivalHoldsTwo = Latch()
            let pieceWantsTwo = Latch()
            let failures = Counter()
            let started = Counter()
            let danced = Counter()

            // The lane is busy with one piece while the batch of three queues behind it.
            async let blocker: Void = database.write { transaction in
                await blockerRuns.open()
                await releaseBlocker.wait()
                try await transaction.execute("INSERT INTO item (id, note) VALUES (100, 'blocker')")
            }
            await blockerRuns.wait()
            // A session outside the writer holds lock 2, then asks for lock 1 once the piece waits for lock 2. The
            // backend whose deadlock check runs first is the one PostgreSQL fails: the piece waited first, but on two
            // busy cores the rival's check ran first once, so the rival checks only after ten minutes and the piece,
            // on the default second, is always the victim. Each statement's rows are read, or an error would be lost.
            async let rival: Void = TestPostgres.withConnection(to: settings) { connection in
                func run(_ statement: PostgresQuery) async throws {
                    for try await _ in try await connection.query(statement, logger: TestPostgres.logger) {}
                }
                try await run("BEGIN")
                try await run("SET LOCAL deadlock_timeout = '10min'")
                try await run("SELECT pg_advisory_xact_lock(2)")
                await rivalHoldsTwo.open()
                await pieceWantsTwo.wait()
                while try await TestPostgres.scalar(
                    """
                    SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 2 AND NOT granted
                    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """,
                    as: Int.self, on: connection) == 0
                {
                    try await Task.sleep(for: .milliseconds(10))
                }
                try await run("SELECT pg_advisory_xact_lock(1)")
                try await run("COMMIT")
            }
            await rivalHoldsTwo.wait()

            let outcomes = await withTaskGroup(of: (String, Bool).self) { group -> [String: Bool] in
                for name in ["fails 1", "fails 2"] {
                    group.addTask {
                        await started.add()
                        do {
                            try await database.write { transaction in
                                try await transaction.execute("INSERT INTO item (id, note) VALUES (\(name == "fails 1" ? 1 : 2), 'x')")
                                await failures.add()
                                throw Refused.byTheService
                            }
                            return (name, true)
                        } catch { return (name, false) }
                    }
                }
                group.addTask {
                    await started.add()
                    do {
                        try await database.write { transaction in
                            // Until both others failed (in whatever order the batch ran them), a plain insert.
                            if await failures.value >= 2 {
                                await danced.add()
                                try await transaction.execute("SELECT pg_advisory_xact_lock(1)")
                                await pieceWantsTwo.open()
                                try await transaction.execute("SELECT pg_advisory_xact_lock(2)")
                            }
                            try await transaction.execute("INSERT INTO item (id, note) VALUES (3, 'deadlocked')")
                        }
                        return ("deadlocks", true)
                    } catch { return ("deadlocks", false) }
                }
                // All three queued behind the blocker, so they share one batch (a task that counted itself as
                // started may not have queued its write yet).
                await started.wait(until: 3)
                let deadline = ContinuousClock.now + .seconds(120)
                while database.waitingWrites < 3, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                await releaseBlocker.open()
                return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            try await blocker
            try await rival
            #expect(outcomes == ["fails 1": false, "fails 2": false, "deadlocks": true])
            let notes = try await database.withConnection { session in
                try await TestPostgres.all("SELECT note FROM item ORDER BY id", as: String.self, on: session)
            }
            #expect(notes == ["deadlocked", "blocker"])
            // The three shared one batch; the deadlocked piece ran in it twice once both others had failed (its first
            // run lost the deadlock), so in savepoint mode; two optimistic reruns and one after the deadlock.
            let statistics = database.commitStatistics
            #expect(statistics.largestBatch >= 3)
            #expect(await danced.value == 2)
            #expect(statistics.retries >= 3)
        }
    }

    @Test func aPieceThatSwallowsAServerErrorIsNotAcknowledged() async throws {
        try await withDatabase(lanes: 1) { database, _ in
            await #expect(throws: PostgresWriterError.self) {
                try await database.write { transaction in
                    try await transaction.execute("INSERT INTO item (id) VALUES (1)")
                    _ = try? await transaction.execute("INSERT INTO no_such_table VALUES (1)")
                }
            }
            #expect(try await count(database) == 0)
            // The connection is usable again.
            try await database.write { transaction in try await transaction.execute("INSERT INTO item (id) VALUES (2)") }
            #expect(try await count(database) == 1)
        }
    }

    @Test func writerSessionsCommitSynchronouslyEvenWhenTheDatabaseDefaultIsOff() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            try await TestPostgres.run("ALTER DATABASE \(settings.database) SET synchronous_commit = off", on: settings)
            var options = PostgresBackend.Options()
            options.migrations = [Self.table]
            let database = try await PostgresBackend.open(settings, options: options, logger: TestPostgres.logger)
            let mode = try await database.write { transaction in
                try await TestPostgres.scalar("SHOW synchronous_commit", as: String.self, on: transaction.connection)
            }
            #expect(mode == "on")
            let fsync = try await database.withConnection { connection in
                try await TestPostgres.scalar("SHOW fsync", as: String.self, on: connection)
            }
            #expect(fsync == "on")
            await database.close()
        }
    }

    /// The server gives up a session whose instance's host went silent (died, hung, cut off) within about 25 s, and
    /// with it the locks of the transaction it was in, instead of the kernel's two hours and more.
    @Test func theServerGivesUpTheSessionsOfAHostThatWentSilentWithinHalfAMinute() async throws {
        try await withDatabase { database, _ in
            let (idle, interval, count) = try await database.withConnection { session in
                (
                    try await TestPostgres.scalar("SHOW tcp_keepalives_idle", as: String.self, on: session),
                    try await TestPostgres.scalar("SHOW tcp_keepalives_interval", as: String.self, on: session),
                    try await TestPostgres.scalar("SHOW tcp_keepalives_count", as: String.self, on: session)
                )
            }
            #expect([idle, interval, count] == ["10", "5", "3"])
        }
    }

    /// A process stopped in the middle of a transaction (`kill -STOP`, a debugger) still answers keepalives from its
    /// host's kernel: the server rolls its transaction back after a minute idle instead, and its locks go with it.
    @Test func theServerEndsASessionLeftIdleInATransactionAfterAMinute() async throws {
        try await withDatabase { database, _ in
            let timeout = try await database.withConnection { session in
                try await TestPostgres.scalar("SHOW idle_in_transaction_session_timeout", as: String.self, on: session)
            }
            #expect(timeout == "1min")
        }
    }

    /// Sessions do not JIT-compile: the planner prices a batch statement by the whole table its `LIMIT` cuts short,
    /// and compiling it took longer than running it (BENCHMARKS.md, the uninstall scrub). The server's default is on.
    @Test func sessionsRunWithoutJITCompilation() async throws {
        try await withDatabase { database, _ in
            let jit = try await database.withConnection { session in
                try await TestPostgres.scalar("SHOW jit", as: String.self, on: session)
            }
            #expect(jit == "off")
        }
    }

    /// Work that fails in the background (a retention sweep, a Slack job) logs the SQLSTATE, as a failed request
    /// does: a read-only server's refusal is `25006`, never its message.
    @Test func aServerErrorLogsItsSQLSTATE() async throws {
        try await withDatabase { _, settings in
            let refusal = await #expect(throws: PSQLError.self) {
                try await TestPostgres.withConnection(to: settings) { session in
                    try await session.query("START TRANSACTION READ ONLY", logger: TestPostgres.logger)
                    try await session.query("INSERT INTO item (id, note) VALUES (1, 'x')", logger: TestPostgres.logger)
                }
            }
            let metadata = try errorMetadata(#require(refusal))
            #expect(metadata["error.type"] == "PSQLError")
            #expect(metadata["error.sqlstate"] == "25006")
            #expect(metadata.count == 2)
            #expect(errorMetadata(StoreUnavailable()) == ["error.type": "StoreUnavailable"])
        }
    }

    /// What an operator is told of a server error (a command's last line, a startup failure): the SQLSTATE and the
    /// server's message, but not the message of a refused value, which quotes it (a person's data, perhaps).
    @Test func aRefusedValueIsDescribedByItsClassNotQuoted() async throws {
        try await withDatabase { _, settings in
            let refusal = await #expect(throws: PSQLError.self) {
                try await TestPostgres.withConnection(to: settings) { session in
                    try await session.query("SELECT 'jamie@example.com'::bigint", logger: TestPostgres.logger)
                }
            }
            let refused = try #require(refusal)
            #expect(PostgresErrorText.describe(refused) == "22P02 data exception")
            let missing = await #expect(throws: PSQLError.self) {
                try await TestPostgres.withConnection(to: settings) { session in
                    try await session.query("SELECT * FROM no_such_table", logger: TestPostgres.logger)
                }
            }
            let unknown = try #require(missing)
            #expect(PostgresErrorText.describe(unknown) == #"42P01 relation "no_such_table" does not exist"#)
        }
    }

    /// Writers keep inserting while the server is stopped in immediate mode (no checkpoint: the WAL on disk is all
    /// there is) and started again. Every id that was acknowledged must be there afterwards.
    @Test(.timeLimit(.minutes(3)))
    func acknowledgedRowsSurviveAnImmediateShutdown() async throws {
        let cluster = try await ScriptedCluster.start()
        defer { cluster.stop() }
        // Pull the plug in the middle of the stream, start again, and let writes resume on the restarted server.
        var acknowledged: (acknowledged: [Int], inFlightAtCrash: Int) = ([], 0)
        try await withDatabase(on: cluster, lanes: PostgresBackend.Options().writerLanes) { database, _ in
            acknowledged = try await cluster.writeThroughAnImmediateShutdown(milestone: 1500) { writer, attempt in
                let row = writer + 32 * attempt
                try await database.write { transaction in
                    try await transaction.execute("INSERT INTO item (id) VALUES (\(row))")
                }
                return row
            }
        }
        let (acked, inFlightAtCrash) = acknowledged
        #expect(inFlightAtCrash > 0)

        let stored = try await TestPostgres.withConnection(to: try cluster.settings) { connection in
            let ids: [Int] = try await TestPostgres.all("SELECT id FROM item", as: Int.self, on: connection)
            return Set(ids)
        }
        let lost = acked.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "acknowledged rows lost after an immediate shutdown: \(lost.prefix(20))")
        #expect(stored.count >= acked.count)
    }
}

/// Opens once; every wait before and after returns once it has.
private actor Latch {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

private actor Counter {
    private(set) var value = 0
    private var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []

    func add() {
        value += 1
        waiters.removeAll { waiter in
            guard value >= waiter.count else { return false }
            waiter.continuation.resume()
            return true
        }
    }

    /// Returns once `value` reached `count`.
    func wait(until count: Int) async {
        if value >= count { return }
        await withCheckedContinuation { waiters.append((count, $0)) }
    }
}
