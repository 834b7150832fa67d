import GRDB
import Feedback
import Foundation
import Logging
import ServiceLifecycle
import SlackGateway
@testable import StoreSQLite
import Testing

@testable import Retention

@Suite(.timeLimit(.minutes(1))) struct RetentionServiceTests {
    func makeService(_ t: TestStore, clock: TestClock, interval: Duration) -> RetentionService {
        RetentionService(
            sweeper: RetentionSweeper(store: t.store, feedback: t.store, clock: clock),
            closer: AccountCloser(store: t.store, feedback: t.store, owners: t.owners, clock: clock), clock: clock,
            interval: interval, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    /// Runs `service` in a group, hands control to `body`, then shuts the group down and waits for it to return.
    func withRunning(_ service: RetentionService, _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(
            configuration: .init(services: [service], logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do { try await body() } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func runReturnsOnGracefulShutdownEvenMidSleep() async throws {
        let t = try await TestStore()
        // An hour-long interval: returning promptly means shutdown cut the sleep short.
        try await withRunning(makeService(t, clock: TestClock(), interval: .seconds(3600))) {}
    }

    @Test func serviceSweepsOnItsScheduleByTheInjectedClock() async throws {
        // Given a free client with a row that is recent by the real clock
        let t = try await TestStore()
        let client = try await t.createClient()
        let row = try await t.insertFeedback(clientID: client, at: Date())
        let clock = TestClock(Date())
        try await withRunning(makeService(t, clock: clock, interval: .milliseconds(20))) {
            // When the injected clock moves 31 days ahead
            clock.set(Date().addingTimeInterval(31 * TestStore.day))
            // Then a scheduled sweep deletes the row (awaited as the commit that deletes it)
            try await t.waitUntil { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM feedback WHERE id = ?", arguments: [row]) == 0
            }
            #expect(try await !t.exists(feedback: row))
        }
    }

    @Test func serviceFinishesPendingClosuresWhenItStarts() async throws {
        let t = try await TestStore()
        let client = try await t.createClient()
        try await t.insertFeedback(clientID: client, at: Date())
        #expect(
            try await AccountCloser(store: t.store, feedback: t.store, owners: t.owners, clock: TestClock()).begin(clientID: client))
        try await withRunning(makeService(t, clock: TestClock(), interval: .seconds(3600))) {
            try await t.waitUntil { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM client WHERE id = ?", arguments: [client]) == 0
            }
            #expect(try await t.count("client", where: "id = ?", [client]) == 0)
            #expect(try await AuditLog(store: t.store).entries(clientID: client).map(\.kind) == ["account_closure"])
        }
    }
}

extension RetentionServiceTests {
    /// Each scheduled sweep also forgets what the Slack gateway keeps for eight days after a deletion (an erased
    /// member), as `usero retention run` does: a deployment that only runs serve forgets them too.
    @Test func serviceForgetsSlackRecordsPastTheirEightDays() async throws {
        let t = try await TestStore()
        let client = try await t.createClient()
        let now = Date()
        for (member, age) in [("U_OLD", 9 * TestStore.day), ("U_RECENT", 7 * TestStore.day)] {
            try await t.store.recordErasedMember(
                clientID: client, memberKey: ErasedMembers.key(clientID: client, member: member),
                at: epochMillis(now.addingTimeInterval(-age)))
        }
        try await withRunning(makeService(t, clock: TestClock(now), interval: .seconds(3600))) {
            try await t.waitUntil { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slack_erased_member") == 1
            }
            #expect(try await t.count("slack_erased_member") == 1)
        }
    }
}
