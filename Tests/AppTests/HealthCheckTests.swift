import Foundation
import Synchronization
import Testing

@testable import usero

/// `/healthz`'s cache: one store check per period however many calls, never older than the period, and a hanging
/// store reported as unhealthy rather than waited for.
@Suite struct HealthCheckTests {
    final class Probe: Sendable {
        let calls = Atomic<Int>(0)
        let answer = Atomic<Bool>(true)
        func callAsFunction() async -> Bool {
            calls.add(1, ordering: .relaxed)
            return answer.load(ordering: .relaxed)
        }
    }

    /// A clock the test moves by hand: how old an answer is never depends on how long a loaded machine took to run
    /// the test's tasks (under the whole suite on two cores, a task can wait seconds for a thread).
    final class Clock: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(by duration: Duration) { instant.withLock { $0 += duration } }
    }

    /// Long enough that a check which answers is always waited for, however slow the machine.
    static let patience = Duration.seconds(3600)

    @Test func concurrentCallsShareOneCheckAndLaterCallsCheckAgain() async throws {
        let probe = Probe()
        let clock = Clock()
        let health = HealthCheck(maxAge: .milliseconds(300), timeout: Self.patience, now: { clock.now }) { await probe() }
        let answers = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 { group.addTask { await health.isHealthy() } }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(answers.allSatisfy { $0 })
        #expect(probe.calls.load(ordering: .relaxed) == 1)

        // The store goes down: within the period the cached answer stands, after it the next call sees it.
        probe.answer.store(false, ordering: .relaxed)
        clock.advance(by: .milliseconds(250))
        #expect(await health.isHealthy() == true)
        #expect(probe.calls.load(ordering: .relaxed) == 1)
        clock.advance(by: .milliseconds(100))
        #expect(await health.isHealthy() == false)
        #expect(probe.calls.load(ordering: .relaxed) == 2)
    }

    /// A store slower than the period but quicker than the timeout is waited for; without the longer timeout it is not.
    @Test func aSlowStoreIsWaitedForUpToTheTimeout() async throws {
        let slow: @Sendable () async -> Bool = {
            try? await Task.sleep(for: .milliseconds(300))
            return true
        }
        #expect(await HealthCheck(maxAge: .milliseconds(100), timeout: Self.patience, probe: slow).isHealthy() == true)
        // A store that answers only once the caller has given up: without a longer timeout, the period is the wait.
        let (answer, letGo) = AsyncStream.makeStream(of: Void.self)
        let late: @Sendable () async -> Bool = {
            for await _ in answer {}
            return true
        }
        #expect(await HealthCheck(maxAge: .milliseconds(100), probe: late).isHealthy() == false)
        letGo.finish()
    }

    @Test func aHangingStoreIsReportedUnhealthyWithinThePeriod() async throws {
        let (release, letGo) = AsyncStream.makeStream(of: Void.self)
        let clock = Clock()
        let health = HealthCheck(maxAge: .milliseconds(200), now: { clock.now }) {
            for await _ in release {}
            return true
        }
        #expect(await health.isHealthy() == false)
        #expect(await health.isHealthy() == false)  // still hanging: the waiter gives up again
        letGo.finish()
        // The check finishes; its answer, fresh by the clock, is then what every call gets.
        var healthy = false
        for _ in 0..<600 where !healthy {
            healthy = await health.isHealthy()
            if !healthy { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(healthy)
    }
}
