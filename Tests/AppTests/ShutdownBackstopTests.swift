import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import usero

/// SIGTERM ends `serve` even when a piece of it never stops: the backstop ends the process a bounded time after the
/// shutdown began, instead of leaving it to a SIGKILL.
@Suite struct ShutdownBackstopTests {
    /// Opens once; a wait for it ignores cancellation, as the task that kept `serve` alive did.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))
        func wait() async {
            await withCheckedContinuation { continuation in
                let open = state.withLock { state in
                    if !state.open { state.waiting.append(continuation) }
                    return state.open
                }
                if open { continuation.resume() }
            }
        }
        func open() {
            let waiting = state.withLock { state in
                state.open = true
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }
    }

    /// A service that ignores both the graceful shutdown and cancellation until the test lets it go.
    struct Stuck: Service {
        let release: Gate
        func run() async throws { await release.wait() }
    }

    // Without the backstop the test hangs: the limit turns that into a failure.
    @Test(.timeLimit(.minutes(2)))
    func aShutdownThatNeverFinishesEndsTheProcessAfterTheLimit() async throws {
        let release = Gate()
        let (ended, end) = AsyncStream<Void>.makeStream()
        let backstop = ShutdownBackstop(
            limit: .milliseconds(50), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            end: { end.yield() })
        var configuration = ServiceGroupConfiguration(
            services: [Stuck(release: release), backstop],
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        // As `serve` does: after the drain's deadline the group cancels, which the stuck service ignores too.
        configuration.maximumGracefulShutdownDuration = .milliseconds(10)
        let group = ServiceGroup(configuration: configuration)
        let running = Task { try await group.run() }
        await group.triggerGracefulShutdown()
        // The group is still waiting for the stuck service when the backstop ends the process.
        var endings = ended.makeAsyncIterator()
        await endings.next()
        release.open()
        try await running.value
    }
}
