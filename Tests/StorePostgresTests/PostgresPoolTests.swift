import Feedback
import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
