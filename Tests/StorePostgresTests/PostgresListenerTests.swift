import Feedback
import Foundation
import PostgresNIO
import Testing

@testable import StorePostgres

/// The session that listens for the Slack jobs other instances leave (`listenForJobsLeftHere`) only receives, so it
/// asks the server now and then whether it is still there: one whose server went away without closing it would
/// otherwise wait for notifications for ever.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason), .timeLimit(.minutes(1)))
struct PostgresListenerTests {
    @Test func aListeningSessionWhoseServerStopsAnsweringIsGivenUp() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            _ = try await AnswerDroppingProxy.withProxy(to: settings) { proxied, proxy in
                let connection = try await PostgresConnection.connect(
                    configuration: proxied.connectionConfiguration(), id: 1, logger: TestPostgres.logger)
                defer { Task { try? await connection.close() } }
                func asking() -> Task<Void, any Error> {
                    Task {
                        try await PostgresStore.keepAsking(
                            connection, every: .milliseconds(50), within: .seconds(2), logger: TestPostgres.logger)
                    }
                }
                // Answered: it keeps asking until it is stopped.
                let answered = asking()
                try await Task.sleep(for: .milliseconds(300))
                answered.cancel()
                await #expect(throws: CancellationError.self) { try await answered.value }
                // The server's answers stop coming: the next question goes unanswered, and it gives up.
                proxy.dropAnswers(afterClientSends: "SELECT 1")
                await #expect(throws: StoreUnavailable.self) { try await asking().value }
            }
        }
    }
}
