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

    @Test func concurrentCallsShareOneCheckAndLaterCallsCheckAgain() async throws {
        let probe = Probe()
        let health = HealthCheck(maxAge: .milliseconds(300)) { await probe() }
        let answers = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 { group.addTask { await health.isHealthy() } }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(answers.allSatisfy { $0 })
        #expect(probe.calls.load(ordering: .relaxed) == 1)

        // The store goes down: within the period the cached answer stands, after it the next call sees it
        probe.answer.store(false, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(400))
        #expect(await health.isHealthy() == false)
        #expect(probe.calls.load(ordering: .relaxed) == 2)
    }

    /// A store slower than the period but quicker than the timeout is waited for; without the longer timeout it is not.
    @Test func aSlowStoreIsWaitedForUpToTheTimeout() async throws {
        let slow: @Sendable () async -> Bool = {
            try? await Task.sleep(for: .milliseconds(300))
            return true
        }
        #expect(await HealthCheck(maxAge: .milliseconds(100), timeout: .seconds(10), probe: slow).isHealthy() == true)
        #expect(await HealthCheck(maxAge: .milliseconds(100), probe: slow).isHealthy() == false)
    }

    @Test func aHangingStoreIsReportedUnhealthyWithinThePeriod() async throws {
        let (release, letGo) = AsyncStream.makeStream(of: Void.self)
        let health = HealthCheck(maxAge: .milliseconds(200)) {
            for await _ in release {}
            return true
        }
        #expect(await health.isHealthy() == false)
        #expect(await health.isHealthy() == false)  // still hanging: the waiter gives up again
        letGo.finish()
        try await Task.sleep(for: .milliseconds(50))
        #expect(await health.isHealthy() == true)  // the check finished, its answer is fresh
    }
}
