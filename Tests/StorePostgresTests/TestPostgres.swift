import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import PostgresNIO
import StorePostgres
import Synchronization
import Testing
import UseroTestSupport

/// The PostgreSQL server the tests use: `USERO_TEST_POSTGRES_URL`, which scripts/test.sh sets after starting a
/// throwaway cluster (scripts/pg-cluster.sh). Each test gets a database of its own, dropped afterwards.
enum TestPostgres {
    static let variable = "USERO_TEST_POSTGRES_URL"

    static var url: String? {
        ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var isAvailable: Bool { url != nil }

    /// Why a PostgreSQL test did not run; Swift Testing prints it beside the skipped test.
    static let skipReason: Comment = """
        USERO_TEST_POSTGRES_URL is not set, so this PostgreSQL test did not run: run scripts/test.sh, or first \
        eval "$(scripts/pg-cluster.sh start)" and then swift test
        """

    static let logger = Logger(label: "usero.test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    static func settings() throws -> PostgresSettings {
        guard let url else { throw MissingServer() }
        return try PostgresSettings(url: url, variable: variable)
    }

    /// Runs `body` with the settings of a new, empty database on the test server, then drops it.
    static func withFreshDatabase<T>(_ body: (PostgresSettings) async throws -> T) async throws -> T {
        let admin = try settings()
        let name = "usero_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await run("CREATE DATABASE \(name)", on: admin)
        do {
            let value = try await body(admin.database(name))
            try await run("DROP DATABASE \(name) WITH (FORCE)", on: admin)
            return value
        } catch {
            try? await run("DROP DATABASE \(name) WITH (FORCE)", on: admin)
            throw error
        }
    }

    /// One statement on a connection of its own (for what cannot run in a transaction, like CREATE DATABASE).
    static func run(_ sql: String, on settings: PostgresSettings) async throws {
        try await withConnection(to: settings) { connection in
            let _: PostgresRowSequence = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    static func withConnection<T>(to settings: PostgresSettings, _ body: (PostgresConnection) async throws -> T)
        async throws -> T
    {
        let connection = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(), id: 1, logger: logger)
        do {
            let value = try await body(connection)
            try await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The first column of the first row of `query`, as `T`.
    static func scalar<T: PostgresDecodable & Sendable>(
        _ query: PostgresQuery, as: T.Type, on connection: PostgresConnection
    ) async throws -> T? {
        let rows: PostgresRowSequence = try await connection.query(query, logger: logger)
        for try await value in rows.decode(T.self) { return value }
        return nil
    }

    /// The first column of the first row, read in a backend's session.
    static func scalar<T: PostgresDecodable & Sendable>(
        _ query: PostgresQuery, as type: T.Type, on session: PostgresTransaction
    ) async throws -> T? {
        try await scalar(query, as: type, on: session.connection)
    }

    /// Every row of `query`, read in a backend's session.
    static func all<each C: PostgresDecodable & Sendable>(
        _ query: PostgresQuery, as type: (repeat each C).Type, on session: PostgresTransaction
    ) async throws -> [(repeat each C)] {
        try await all(query, as: type, on: session.connection)
    }

    /// Every row of `query`, decoded as a column type or a tuple of them.
    static func all<each C: PostgresDecodable & Sendable>(
        _ query: PostgresQuery, as: (repeat each C).Type, on connection: PostgresConnection
    ) async throws -> [(repeat each C)] {
        let rows: PostgresRowSequence = try await connection.query(query, logger: logger)
        var result: [(repeat each C)] = []
        for try await row in rows.decode((repeat each C).self) { result.append(row) }
        return result
    }

    /// Makes every commit that inserted into `table` sleep `seconds` first (a deferred check, run at COMMIT): a
    /// transaction the server is still committing, for as long as a test needs.
    static func sleepAtCommit(into table: String, seconds: Double, on settings: PostgresSettings) async throws {
        try await withConnection(to: settings) { connection in
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE FUNCTION sleep_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN PERFORM pg_sleep(\(seconds)); RETURN NULL; END $$
                        """), logger: logger)
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE CONSTRAINT TRIGGER sleep_at_commit AFTER INSERT ON \(table)
                        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sleep_at_commit()
                        """), logger: logger)
        }
    }

    /// The backends of the connection's database sleeping in `sleepAtCommit`'s check, by process id.
    static let sleepingAtCommit: PostgresQuery =
        "SELECT pid::text FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()"

    struct MissingServer: Error, CustomStringConvertible {
        var description: String { "USERO_TEST_POSTGRES_URL is not set" }
    }
}

/// The clusters tests stop and start, with the settings this target's helpers take.
extension ScriptedCluster {
    var settings: PostgresSettings {
        get throws { try PostgresSettings(url: url) }
    }
}

/// scripts/test.sh (and so CI) always starts a server and sets USERO_REQUIRE_POSTGRES_TESTS: there a missing server is
/// a broken setup, not a reason to skip.
@Suite struct PostgresAvailabilityTests {
    @Test func theTestScriptAlwaysProvidesAPostgreSQLServer() {
        let environment = ProcessInfo.processInfo.environment
        if environment["USERO_REQUIRE_POSTGRES_TESTS"] == "1" || environment["CI"] != nil {
            #expect(
                TestPostgres.isAvailable,
                "the PostgreSQL tests must run here: scripts/test.sh sets \(TestPostgres.variable)")
        }
    }
}

/// A loopback TCP port nothing listens on right now.
func freeLoopbackPort() throws -> Int {
    let (descriptor, port) = try boundLoopbackSocket()
    close(descriptor)
    return port
}

/// A TCP socket bound to a free loopback port, not listening yet: its descriptor (the caller closes it) and port.
func boundLoopbackSocket() throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard bound == 0, named == 0 else {
        close(descriptor)
        throw POSIXError(.EADDRNOTAVAIL)
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

extension ScriptedCluster {
    /// Keeps 32 writers writing (`write(writer, attempt)`, which returns what it stored) while the server stops in
    /// immediate mode (no checkpoint: the WAL on disk is all there is) after `milestone` acknowledged writes and
    /// starts again, until `milestone` more are acknowledged. Returns what was acknowledged and how many writes were
    /// waiting on the server when it died. A write in flight then either fails or, waiting for a pooled connection,
    /// gets a new one once the server is back; which depends on timing.
    func writeThroughAnImmediateShutdown<Value: Sendable>(
        milestone: Int, _ write: @escaping @Sendable (_ writer: Int, _ attempt: Int) async throws -> Value
    ) async throws -> (acknowledged: [Value], inFlightAtCrash: Int) {
        let shared = ShutdownStream<Value>()
        // Signals when the acknowledged count passes each milestone, instead of polling it.
        let (milestones, reached) = AsyncStream<Int>.makeStream()
        let writers = Task {
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<32 {
                    group.addTask {
                        var attempt = 0
                        while !shared.stop.load(ordering: .relaxed) {
                            shared.inFlight.add(1, ordering: .relaxed)
                            if let value = try? await write(writer, attempt) {
                                let count = shared.acknowledged.withLock { $0.append(value); return $0.count }
                                if count % milestone == 0 { reached.yield(count) }
                            } else {
                                // Refused at once while the server is down: 32 writers retrying without a pause
                                // kept Swift's two threads busy for the whole restart, starving other tests.
                                try? await Task.sleep(for: .milliseconds(50))
                            }
                            shared.inFlight.subtract(1, ordering: .relaxed)
                            attempt += 1
                        }
                    }
                }
            }
        }
        var iterator = milestones.makeAsyncIterator()
        _ = await iterator.next()
        try await crash()
        let inFlightAtCrash = shared.inFlight.load(ordering: .relaxed)
        try await restart()
        let afterCrash = shared.acknowledged.withLock { $0.count }
        while let count = await iterator.next(), count < afterCrash + milestone {}
        shared.stop.store(true, ordering: .relaxed)
        await writers.value
        reached.finish()
        return (shared.acknowledged.withLock { $0 }, inFlightAtCrash)
    }
}

/// What the writers of `writeThroughAnImmediateShutdown` share.
private final class ShutdownStream<Value: Sendable>: Sendable {
    let acknowledged = Mutex<[Value]>([])
    let inFlight = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
}
