import Feedback
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

@testable import StorePostgres

/// The pool's judgement of the server, against a listener that takes connections and never says a word (a server too
/// busy to answer); no PostgreSQL server needed. A server that refuses connections is the outage test's
/// (`PostgresFeedbackInserterTests`, a real cluster stopped): an upper bound on how soon a refusal comes proved
/// unreliable here, beside the whole suite in one process (a closed port's lease took 7.6 s, then its whole 30 s, in
/// two CI runs), while this test's lower bound only gets safer under load.
@Suite struct PostgresPoolTests {
    static func pool(port: Int) throws -> PostgresPool {
        let settings = try PostgresSettings(url: "postgres://usero:secret@127.0.0.1:\(port)/usero?sslmode=disable")
        return PostgresPool(settings: settings, configuration: settings.clientConfiguration(), logger: TestPostgres.logger)
    }

    /// A server that takes the connection and does not answer within the check's 3 s is busy, not known to be down:
    /// the lease waits its whole timeout, as it would without any check. (Taking such a check for a refusal cut
    /// leases short on a loaded CI machine.)
    @Test(.timeLimit(.minutes(1)))
    func aCheckThatRunsOutOfTimeDoesNotCutTheLeaseShort() async throws {
        let (listener, port) = try boundLoopbackSocket()
        defer { close(listener) }
        // Connections complete in the kernel's backlog and are never accepted: nothing is ever read or written.
        try #require(listen(listener, 16) == 0)
        let pool = try Self.pool(port: port)
        let started = ContinuousClock.now
        await #expect(throws: StoreUnavailable.self) {
            try await pool.withConnection(leaseTimeout: .seconds(6)) { _ in }
        }
        #expect(ContinuousClock.now - started >= .seconds(6))
        await pool.close()
    }
}

/// A server at its connection limit is up: it answers a new connection with `too_many_connections` (53300). The pool's
/// check of the server took that for an outage, and when the limit was filled by the pool's own idle connections every
/// lease was refused until they timed out, a minute later, with the server healthy (an outside review: four
/// connections allowed, a burst of 32 requests, then a minute of 503s on every instance).
@Suite(.serialized, .enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresPoolConnectionLimitTests {
    @Test(.timeLimit(.minutes(2)))
    func aServerAtItsConnectionLimitIsNotAnOutage() async throws {
        // The test server's own database: this test creates no table, and dropping a database of its own took a
        // minute beside the other suites.
        let settings = try TestPostgres.settings()
        do {
            let role = "limited_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
            try await TestPostgres.run("CREATE ROLE \(role) LOGIN PASSWORD 'limited' CONNECTION LIMIT 2", on: settings)
            let url = try #require(TestPostgres.url)
            let limitedURL = url.replacingOccurrences(
                of: #"//[^@]*@([^/]*)/[^?]*"#, with: "//\(role):limited@$1/\(settings.database)", options: .regularExpression)
            let pool = PostgresPool(
                settings: try PostgresSettings(url: limitedURL),
                configuration: try PostgresSettings(url: limitedURL).clientConfiguration(maximumConnections: 4),
                logger: TestPostgres.logger)
            let watch = ConnectionWatch(statementTimeout: .seconds(5))
            // A burst wider than the limit: the pool tries to open more connections than the server allows. (Small:
            // every refused attempt is a server process forked and authenticated, and a larger burst slowed the
            // suites running beside it.)
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<2 {
                            _ = try? await pool.withConnection(leaseTimeout: .seconds(3)) { connection in
                                try await watch.run("SELECT pg_sleep(0.05)", on: connection, logger: TestPostgres.logger)
                            }
                        }
                    }
                }
            }
            // Then, with the pool's own connections idle and holding every slot, requests are served within
            // seconds (a lease may be refused while a pool replaced moments ago settles), not a minute later.
            let started = ContinuousClock.now
            var served = false
            while !served, ContinuousClock.now - started < .seconds(20) {
                served = (try? await pool.withConnection(leaseTimeout: .seconds(10)) { _ in true }) == true
                if !served { try await Task.sleep(for: .milliseconds(500)) }
            }
            #expect(served)
            #expect(ContinuousClock.now - started < .seconds(20))
            for _ in 0..<5 {
                let value = try await pool.withConnection(leaseTimeout: .seconds(10)) { connection in
                    return try await watch.run("SELECT 1", on: connection, logger: TestPostgres.logger).rows.count
                }
                #expect(value == 1)
                try await Task.sleep(for: .milliseconds(300))
            }
            await pool.close()
            try await TestPostgres.run("DROP ROLE \(role)", on: settings)
        }
    }
}

/// A lane's batches run one after another on one leased connection, and a connection that closed is left for a
/// fresh one (`PostgresPool.runBatches`).
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresPoolBatchTests {
    /// What each batch ran on.
    final class Runs: Sendable {
        struct Run: Sendable, Equatable {
            let batch: Int
            /// The server process of its connection.
            let backend: Int32?
            let wasClosed: Bool
        }

        let state = Mutex((waiting: [1, 2, 3, 4], runs: [Run](), failed: [Int]()))
        func next() -> Int? { state.withLock { $0.waiting.isEmpty ? nil : $0.waiting.removeFirst() } }
    }

    @Test(.timeLimit(.minutes(2)))
    func batchesShareTheirConnectionUntilItCloses() async throws {
        let settings = try TestPostgres.settings()
        let pool = PostgresPool(settings: settings, configuration: settings.clientConfiguration(), logger: TestPostgres.logger)
        let runs = Runs()
        // (The suite's other tests create and drop databases beside this one, and each drop makes the server sync
        // every file written since its last checkpoint: a connection opened then has been seen to take longer than
        // a production lease timeout, failing the first batch in a clean clone's run. The pool's first connection is
        // opened before the batches, and the leases may wait out such a checkpoint: what is tested is the sharing.)
        _ = try await pool.withConnection(leaseTimeout: .seconds(60)) { connection in
            try await TestPostgres.all("SELECT 1", as: Int32.self, on: connection)
        }
        // Given four batches waiting, the second of which ends with its connection closed
        await pool.runBatches(
            leaseTimeout: .seconds(60), next: runs.next,
            run: { batch, connection in
                let wasClosed = connection.isClosed
                // (A statement written to a closed connection may never be answered: see `ConnectionWatch`.)
                let backend = wasClosed
                    ? nil : try? await TestPostgres.all("SELECT pg_backend_pid()", as: Int32.self, on: connection).first
                runs.state.withLock { $0.runs.append(.init(batch: batch, backend: backend, wasClosed: wasClosed)) }
                if batch == 2 { try? await connection.close() }
            },
            failed: { batch, error in
                runs.state.withLock { $0.failed.append(batch) }
                Issue.record("batch \(batch) failed: \(String(reflecting: error))")
            })

        // Then each ran once, none on a closed connection: the first two on one, the last two on another
        let (done, failed) = runs.state.withLock { ($0.runs, $0.failed) }
        #expect(done.map(\.batch) == [1, 2, 3, 4])
        #expect(failed.isEmpty)
        try #require(done.count == 4)
        #expect(done.allSatisfy { !$0.wasClosed && $0.backend != nil })
        #expect(done[0].backend == done[1].backend)
        #expect(done[2].backend != done[1].backend)
        #expect(done[2].backend == done[3].backend)
        await pool.close()
    }
}

/// postgres-nio's client ends its pool at a graceful shutdown it can see from where it runs
/// (`cancelWhenGracefulShutdown`), closing the connections under whatever runs on them. A pool started inside the
/// service group's tasks (as the fresh pool that replaces one after an outage is, from the lease that found the
/// server back) saw the SIGTERM and closed at once, before the HTTP server had drained: an instance stopped after it
/// had ridden out an outage answered 500 for submissions that had committed (an operator's walkthrough of a rolling
/// restart). The pool's connections must last until `close()`, which the service group calls last.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresPoolShutdownTests {
    private struct Body: Service {
        let body: @Sendable () async -> Void
        func run() async throws { await body() }
    }

    @Test(.timeLimit(.minutes(1)))
    func aStatementInFlightAtAGracefulShutdownFinishesOnItsConnection() async throws {
        let settings = try TestPostgres.settings()
        let (started, startedNow) = AsyncStream.makeStream(of: Void.self)
        let outcome = Mutex<Result<Int, any Error>?>(nil)
        let service = Body {
            let pool = PostgresPool(
                settings: settings, configuration: settings.clientConfiguration(), logger: TestPostgres.logger)
            let watch = ConnectionWatch()
            do {
                let rows = try await pool.withConnection(leaseTimeout: .seconds(10)) { connection in
                    startedNow.yield()
                    return try await watch.run("SELECT pg_sleep(1)", on: connection, logger: TestPostgres.logger)
                        .rows.count
                }
                outcome.withLock { $0 = .success(rows) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
            await pool.close()
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                logger: TestPostgres.logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for await _ in started { break }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let result = try #require(outcome.withLock { $0 })
        #expect(try result.get() == 1)
    }
}
