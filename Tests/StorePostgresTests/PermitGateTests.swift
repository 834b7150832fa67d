import Feedback
import Synchronization
import Testing

@testable import StorePostgres

/// The gate in front of the transactions that may wait on another instance's lock.
struct PermitGateTests {
    final class Log: Sendable {
        let entries = Mutex<[String]>([])
        let released = Mutex(false)
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    /// Up to the limit run at once; the next waits its turn, holding nothing, and gets the permit the moment one
    /// is handed back; one that waits past its bound runs nothing and is refused.
    @Test func holdersBeyondTheLimitWaitTheirTurnOrGiveUp() async throws {
        let gate = PermitGate(limit: 1)
        let log = Log()
        let holder = Task { @Sendable in
            try await gate.withPermit(waitingAtMost: .seconds(60)) {
                log.add("first")
                while !log.released.withLock({ $0 }) { await Task.yield() }
            }
        }
        while log.all.isEmpty { await Task.yield() }

        await #expect(throws: StoreUnavailable.self) {
            try await gate.withPermit(waitingAtMost: .milliseconds(20)) { log.add("late") }
        }
        let next = Task { @Sendable in try await gate.withPermit(waitingAtMost: .seconds(60)) { log.add("next") } }
        log.released.withLock { $0 = true }
        try await holder.value
        try await next.value
        #expect(log.all == ["first", "next"])
        // Handed back: the gate admits at once again.
        try await gate.withPermit(waitingAtMost: .zero) { log.add("again") }
        #expect(log.all.last == "again")
    }
}
