import Feedback
import Logging
import PostgresNIO
import Synchronization

/// The process's connection pool: postgres-nio's, with every lease's wait bounded, and replaced by a fresh one when
/// the server answers again after an outage.
///
/// postgres-nio retries a connection that failed with a backoff that grows by a quarter per attempt up to a minute,
/// and after a minute of failures fails every lease at once until one of those retries gets through: after an outage
/// of 90 s, usero kept answering 503 for 16 s with the server back, and after longer ones up to a minute. Here, once a
/// lease has failed, the next leases first ask the server itself, on one plain connection (at most one such check at
/// a time, and one a second): while it refuses, they fail at once with `StoreUnavailable`; as soon as it answers, a
/// fresh pool takes over from the one in backoff, provided leases have been failing for a few seconds (before that the
/// backoff is short) and none of the old pool's connections is in use (otherwise the old pool is working and stays). A lease that has waited a second with none of the pool's connections in use asks
/// the server too, so the first requests of an outage are refused within about a second, not the lease timeout. Only
/// a refusal counts as "down": a check that runs out of time says nothing (a busy server is slow to connect), and the
/// lease waits as long as it would have.
final class PostgresPool: Sendable {
    private struct Generation: Sendable {
        let number: Int
        let client: PostgresClient
        let runner: Task<Void, Never>
    }

    private struct State: Sendable {
        var current: Generation
        /// Connections of `current` handed over and not yet given back.
        var leased = 0
        /// Since when leases of `current` fail: the first failure after the last lease handed over.
        var failingSince: ContinuousClock.Instant?
        /// The check of the server in progress.
        var check: Task<Check, Never>?
        /// When the last check found the server still down.
        var refusedAt: ContinuousClock.Instant?
        /// Pools replaced and still shutting down, by number.
        var retired: [Int: Task<Void, Never>] = [:]
        /// When a pool was last replaced because the server was at its connection limit.
        var replacedWhenFullAt: ContinuousClock.Instant?
        /// `close()` was called: no pool replaces the current one any more.
        var closed = false
    }

    /// What a check of the server found.
    private enum Check: Sendable {
        /// A connection was opened (and closed again).
        case answers
        /// The server is up and refused the connection as one too many (`too_many_connections`, 53300).
        case full
        /// The connection failed before the check's timeout: refused, reset, or the server starting or stopping.
        case refuses
        /// The check ran out of time: a server that slow is busy, not known to be down.
        case unknown
    }

    /// How long one check of the server waits for it.
    private static let checkTimeout: Duration = .seconds(3)
    /// How long a lease waits before the server is checked, when none of the pool's connections is in use.
    private static let checkAfter: Duration = .seconds(1)
    /// How long leases must have been failing before a pool is replaced; by then postgres-nio's backoff between
    /// attempts has grown past half a second (it reaches 2 s after 10 s of failures, a minute after a few minutes).
    private static let replaceAfter: Duration = .seconds(5)
    /// How long a check that found the server down is trusted.
    private static let checkInterval: Duration = .seconds(1)

    /// What one connection handed over by postgres-nio came to.
    private enum Leased<Value: Sendable>: Sendable {
        case connection(Value)
        case closed
    }

    private let settings: PostgresSettings
    private let configuration: PostgresClient.Configuration
    private let logger: Logger
    private let state: Mutex<State>

    /// Starts the pool (it opens no connection until one is asked for).
    init(settings: PostgresSettings, configuration: PostgresClient.Configuration, logger: Logger) {
        self.settings = settings
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(State(current: Self.start(1, configuration, logger)))
    }

    private static func start(_ number: Int, _ configuration: PostgresClient.Configuration, _ logger: Logger)
        -> Generation
    {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        // Detached: `run()` ends the pool, closing its connections, at a graceful shutdown it can see from where it
        // runs. A fresh pool is started from a lease that found the server back, inside the service group's tasks,
        // and saw SIGTERM the moment it came, under the requests still draining (they answered 500 for rows that had
        // committed). The pool ends when `close()` cancels it, which the service group does last.
        return Generation(number: number, client: client, runner: Task.detached { await client.run() })
    }

    /// Runs `body` on a pooled connection, waiting at most `leaseTimeout` for the pool to hand one over; then (or when
    /// the pool fails the lease, or the server is known to be down) `StoreUnavailable`, with nothing sent. While the
    /// server is down the pool keeps trying to connect and a lease would wait for as long (a submission was answered
    /// after 43 s, once the server came back): this turns that into a prompt 503 the client can retry. Only the wait for
    /// the lease is bounded: once `body` has the connection it runs to its end, so a write is never abandoned half-way,
    /// and a request refused here wrote nothing.
    func withConnection<T: Sendable>(
        leaseTimeout: Duration, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        // The whole wait counts, a check of the server before the lease included.
        let started = ContinuousClock.now
        let deadline = started + leaseTimeout
        let generation = try await generationToLease()
        // Exactly one of "leased" and "gave up" happens: a lease that arrives after the timer fired sends nothing.
        let gate = LeaseGate()
        return try await withoutActuallyEscaping(body) { body in
            // The group awaits both of its tasks before returning, so `body` does not outlive this call, and the
            // caller is suspended while `body` runs in the group's task: the box only carries it there.
            let work = UncheckedSendable(body)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    var generation = generation
                    while true {
                        do {
                            while true {
                                let leased = try await generation.client.withConnection { connection -> Leased<T> in
                                    // Closed while it sat in the pool (the server went away or restarted, or a
                                    // statement timed out on it): given back, and another one asked for. (Handed to
                                    // `body`, its first statement would fail, and a client get an error for a request
                                    // nothing of which was sent.)
                                    if connection.isClosed { return .closed }
                                    // Taken from this pool only while it is current (a replaced one's late hand-over is
                                    // refused, and the wait goes on with the new pool); then only once.
                                    guard self.handOver(generation) else { throw StoreUnavailable() }
                                    guard gate.settle(.leased) else {
                                        self.giveBack(generation)
                                        throw StoreUnavailable()
                                    }
                                    defer { self.giveBack(generation) }
                                    return .connection(try await work.value(connection))
                                }
                                if case .connection(let value) = leased { return value }
                                // postgres-nio drops a closed connection once its event loop has seen it close, and
                                // until then may hand the same one over again: a moment for that. (The timer below
                                // ends the wait at the lease timeout, as any.)
                                try await Task.sleep(for: .milliseconds(10))
                                if gate.isSettled { throw StoreUnavailable() }
                            }
                        } catch where !gate.wasLeased {
                            // The pool was replaced while this lease waited on it (a server at its connection limit
                            // with this pool's idle connections, see `checkServer`): the wait goes on with the new one.
                            if !gate.isSettled, ContinuousClock.now < deadline,
                                let current = self.replacement(of: generation)
                            {
                                generation = current
                                continue
                            }
                            // The lease itself failed or was given up (after many failed connection attempts the pool
                            // fails leases at once for a while), or only closed connections were handed over: nothing
                            // was sent.
                            _ = gate.settle(.gaveUp)
                            self.leaseFailed(generation)
                            throw StoreUnavailable()
                        }
                    }
                }
                group.addTask {
                    if leaseTimeout > Self.checkAfter {
                        try await Task.sleep(until: started + Self.checkAfter)
                        // Still waiting with no connection of this pool in use: is the server there at all? (At an
                        // outage's start, the first requests learn it in a second instead of the lease timeout.)
                        if !gate.isSettled, self.isIdle(generation) {
                            _ = self.check()
                            // In small steps, so that a lease handed over meanwhile ends this wait at once.
                            while !gate.isSettled, self.isChecking, ContinuousClock.now < deadline {
                                try await Task.sleep(for: .milliseconds(50))
                            }
                        }
                    }
                    if !gate.isSettled, !self.knownDown, ContinuousClock.now < deadline {
                        try await Task.sleep(until: deadline)
                    }
                    if gate.settle(.gaveUp) {
                        self.leaseFailed(generation)
                        throw StoreUnavailable()
                    }
                    return nil
                }
                while let result = try await group.next() {
                    if let value = result {
                        group.cancelAll()
                        return value
                    }
                }
                throw StoreUnavailable()  // unreachable: the lease task returns a value or throws
            }
        }
    }

    /// Runs a lane's batches (see `LaneQueue`) one after another on one leased connection, for as long as `next` has
    /// one: a lease (the pool's hand-over, its timer, the threads they wake) costs about as much of usero's CPU as a
    /// batch's own statement, and a lane under load would pay it for every batch. A connection that closed is not
    /// used again: the next batch leases another. A batch for which no connection could be leased (within
    /// `leaseTimeout`, see `withConnection`) goes to `failed` with that `StoreUnavailable`, nothing of it sent.
    func runBatches<Batch: Sendable>(
        leaseTimeout: Duration, next: () -> Batch?,
        run: (Batch, PostgresConnection) async -> Void,
        failed: (Batch, any Error) -> Void
    ) async {
        var batch = next()
        while let first = batch {
            // Taken and not yet handed to `run`: when no connection can be had, nothing of it was sent.
            var unsent: Batch? = first
            do {
                batch = try await withConnection(leaseTimeout: leaseTimeout) { connection in
                    var current = first
                    while true {
                        unsent = nil
                        await run(current, connection)
                        if connection.isClosed { return next() }
                        guard let more = next() else { return nil }
                        current = more
                    }
                }
            } catch {
                if let unsent { failed(unsent, error) }
                batch = next()
            }
        }
    }

    /// Closes the pool; leases after this fail.
    func close() async {
        let runners = state.withLock { state in
            state.closed = true
            return Array(state.retired.values) + [state.current.runner]
        }
        for runner in runners {
            runner.cancel()
            await runner.value
        }
    }

    // MARK: - Leases and checks

    /// The pool to lease from: the current one, unless its last lease failed; then the server is checked first.
    private func generationToLease() async throws -> Generation {
        while true {
            let (current, failing, closed) = state.withLock { ($0.current, $0.failingSince != nil, $0.closed) }
            guard !closed else { throw StoreUnavailable() }
            guard failing else { return current }
            switch await check()?.value {
            case .answers, .full: continue
            // Not known to be down: the lease waits for it as long as for any.
            case .unknown: return state.withLock { $0.current }
            case .refuses, nil:
                // The server refuses new connections: refused, unless connections of the pool are in use (a server
                // at its connection limit, say), which the lease may then wait for.
                let inUse: Generation? = state.withLock { $0.leased > 0 ? $0.current : nil }
                guard let inUse else { throw StoreUnavailable() }
                return inUse
            }
        }
    }

    /// The check of the server in progress, or a new one; nil when one found it down less than `checkInterval` ago.
    private func check() -> Task<Check, Never>? {
        state.withLock { state in
            if let check = state.check { return check }
            if let refusedAt = state.refusedAt, refusedAt.duration(to: .now) < Self.checkInterval { return nil }
            let number = state.current.number
            let check = Task { await self.checkServer(replacing: number) }
            state.check = check
            return check
        }
    }

    /// Whether a check of the server is in progress.
    private var isChecking: Bool { state.withLock { $0.check != nil } }

    /// Whether a check found the server down less than `checkInterval` ago.
    private var knownDown: Bool {
        state.withLock { state in state.refusedAt.map { $0.duration(to: .now) < Self.checkInterval } ?? false }
    }

    /// The current pool when it has replaced `generation`; nil while `generation` is current, or once closed.
    private func replacement(of generation: Generation) -> Generation? {
        state.withLock { $0.current.number != generation.number && !$0.closed ? $0.current : nil }
    }

    /// Whether `generation` is the current pool and none of its connections is in use.
    private func isIdle(_ generation: Generation) -> Bool {
        state.withLock { $0.current.number == generation.number && $0.leased == 0 }
    }

    /// Checks the server on a plain connection; when it answers, a fresh pool replaces `number` unless one of its
    /// connections is in use.
    private func checkServer(replacing number: Int) async -> Check {
        var found = await openAndClose()
        let replaced: Generation? = state.withLock { state in
            state.check = nil
            if found == .full, state.closed || state.leased > 0
                || state.replacedWhenFullAt.map({ $0.duration(to: .now) < Self.replaceAfter }) == true
            {
                // Full, and a fresh pool would not help now: connections of this pool are in use (it is working),
                // or one was replaced moments ago (the server may be full of others). Refused at once for a moment,
                // as when down, rather than every request waiting its whole lease timeout.
                found = .refuses
            }
            switch found {
            case .unknown: return nil
            case .refuses:
                state.refusedAt = .now
                return nil
            case .answers, .full: state.refusedAt = nil
            }
            guard state.current.number == number else { return nil }
            let since = state.failingSince
            state.failingSince = nil
            let replace: Bool
            if found == .full {
                // A server at its connection limit while a lease waits with none of the pool's connections in use
                // is often full of the pool's own idle ones: once a connection could not be opened, postgres-nio
                // queues every lease behind its next attempt instead of handing the idle ones over, and every attempt
                // fails while they stay open (until their idle timeout, a minute of refused requests with the server
                // healthy). A fresh pool closes them. (Not again within `replaceAfter`, above: when others fill the
                // server, a fresh pool does no better.)
                replace = true
            } else {
                // A pool whose leases failed only for a moment (a busy server) is not in a long backoff: it stays.
                guard let since else { return nil }
                replace = since.duration(to: .now) >= Self.replaceAfter
            }
            guard replace, !state.closed, state.leased == 0 else { return nil }
            if found == .full { state.replacedWhenFullAt = .now }
            let old = state.current
            state.current = Self.start(number + 1, configuration, logger)
            state.retired[old.number] = old.runner
            return old
        }
        if let replaced {
            if found == .full {
                logger.warning(
                    "PostgreSQL is at its connection limit with none of this pool's connections in use: a fresh pool replaces it (see USERO_DATABASE_MAX_CONNECTIONS)")
            } else {
                logger.info("PostgreSQL answers again: a fresh connection pool replaces the one retrying with a backoff")
            }
            // Nothing of it is in use, and nothing will be: a lease it still hands over is refused (`handOver`).
            replaced.runner.cancel()
            Task {
                await replaced.runner.value
                self.state.withLock { _ = $0.retired.removeValue(forKey: replaced.number) }
            }
        }
        return found
    }

    private func openAndClose() async -> Check {
        let started = ContinuousClock.now
        do {
            let connection = try await PostgresConnection.connect(
                configuration: settings.connectionConfiguration(connectTimeout: Self.checkTimeout),
                id: 0, logger: logger)
            try? await connection.close()
            return .answers
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "53300" {
            return .full
        } catch {
            // A timeout fires at the deadline, never before it: an earlier failure is the server's or the kernel's
            // answer. (On a loaded machine, connecting took longer than the timeout while the server was up.)
            return ContinuousClock.now - started < Self.checkTimeout ? .refuses : .unknown
        }
    }

    /// Takes a connection `generation` handed over; false when that pool has been replaced since.
    private func handOver(_ generation: Generation) -> Bool {
        state.withLock { state in
            guard state.current.number == generation.number else { return false }
            state.leased += 1
            state.failingSince = nil
            return true
        }
    }

    private func giveBack(_ generation: Generation) {
        state.withLock { state in
            if state.current.number == generation.number { state.leased -= 1 }
        }
    }

    private func leaseFailed(_ generation: Generation) {
        state.withLock { state in
            if state.current.number == generation.number, state.failingSince == nil { state.failingSince = .now }
        }
    }
}

private final class LeaseGate: Sendable {
    enum Outcome { case waiting, leased, gaveUp }

    private let state = Mutex(Outcome.waiting)

    /// Whether the connection was handed over in time (and `body` ran or runs).
    var wasLeased: Bool { state.withLock { $0 == .leased } }

    /// Whether the lease was handed over or given up.
    var isSettled: Bool { state.withLock { $0 != .waiting } }

    /// Moves from `waiting` to `outcome`; false when the other outcome came first.
    func settle(_ outcome: Outcome) -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = outcome
            return true
        }
    }
}

/// Carries a value the compiler cannot prove sendable across a task boundary the caller has made safe itself.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
