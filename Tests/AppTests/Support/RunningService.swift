import Logging
import ServiceLifecycle
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

/// Runs `service` in its own service group, waits for the port it reports through `ports`, hands that port to
/// `body`, and shuts the group down gracefully afterwards, whatever `body` does.
func withRunningService<T: Sendable>(
    _ service: any Service, ports: AsyncStream<Int>, logger: Logger, _ body: (Int) async throws -> T
) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        do {
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
