import Logging
import Feedback
import Foundation
@testable import SlackGateway
import Testing
import UseroTestSupport
import UseroCrypto

@Suite struct SlackJobRunnerTests {
    static func message(_ json: String) throws -> Message {
        try JSONDecoder().decode(Message.self, from: Data(json.utf8))
    }

    static func runner(_ api: FakeSlackWebAPI) throws -> SlackJobRunner {
        let store = InMemoryStore()
        return SlackJobRunner(
            store: store, auditor: store, api: api, keyRing: KeyRing(current: try TokenKey(try SecretBytes.random(count: 32))),
            clock: SystemClock(), logger: .init(label: "test"), wakeup: JobWakeup())
    }

    /// The uninstall scrub has 60 seconds: whatever failed, it runs again within two, never after the general
    /// backoff's minutes; other jobs back off as before.
    @Test func theUninstallScrubRetriesWithinItsDeadline() {
        for attempt in 0..<20 {
            #expect(SlackJobRunner.retryDelay(.uninstall, attempt: attempt) <= 2_000)
        }
        #expect(SlackJobRunner.retryDelay(.postFeedback, attempt: 9) == 256_000)
        #expect(SlackJobRunner.retryDelay(.captureReaction, attempt: 0) == 1_000)
    }

    @Test func fetchPicksTheExactTsAndFollowsTheCursor() async throws {
        // Given a thread whose first page doesn't hold the reacted-to reply
        let api = FakeSlackWebAPI(pages: [
            nil: MessagePage(
                messages: [try Self.message(#"{"ts":"1.0","thread_ts":"1.0","text":"parent"}"#)], nextCursor: "page2"),
            "page2": MessagePage(
                messages: [
                    try Self.message(#"{"ts":"1.1","thread_ts":"1.0","text":"neighbour"}"#),
                    try Self.message(#"{"ts":"1.2","thread_ts":"1.0","user":"U2","text":"the one"}"#),
                ], nextCursor: nil),
        ])
        // When the runner fetches ts 1.2
        let found = try await Self.runner(api).fetchMessage(channel: "C1", ts: "1.2", token: Redacted("xoxb-test"))
        // Then it followed the cursor and picked exactly that message
        #expect(found?.text == "the one")
        #expect(found?.parentTs == "1.0")
        #expect(api.cursors == [nil, "page2"])
        #expect(api.historyCalls == 0)
    }

    /// A reply deep in a long thread (Slack pages `conversations.replies`) is still found: the fetch follows up to
    /// 20 pages, and no further (a cursor Slack keeps handing out does not hold the job for ever).
    @Test func aReplyOnTheTwentiethPageOfAThreadIsFoundAndNoPageBeyondIsAsked() async throws {
        func pages(replyOnPage last: Int) throws -> [String?: MessagePage] {
            var pages: [String?: MessagePage] = [:]
            for page in 1...last {
                let ts = page == last ? "1.2" : "1.\(1_000 + page)"
                pages[page == 1 ? nil : "page\(page)"] = MessagePage(
                    messages: [try Self.message(#"{"ts":"\#(ts)","thread_ts":"1.0","text":"page \#(page)"}"#)],
                    nextCursor: "page\(page + 1)")
            }
            return pages
        }
        let twenty = FakeSlackWebAPI(pages: try pages(replyOnPage: 20))
        let found = try await Self.runner(twenty).fetchMessage(channel: "C1", ts: "1.2", token: Redacted("xoxb-test"))
        #expect(found?.text == "page 20")
        #expect(twenty.cursors.count == 20)

        let beyond = FakeSlackWebAPI(pages: try pages(replyOnPage: 21))
        #expect(try await Self.runner(beyond).fetchMessage(channel: "C1", ts: "1.2", token: Redacted("xoxb-test")) == nil)
        #expect(beyond.cursors.count == 20)
    }

    @Test func aMissingMessageIsNotReplacedByANeighbour() async throws {
        let api = FakeSlackWebAPI(pages: [nil: MessagePage(messages: [try Self.message(#"{"ts":"9.9"}"#)], nextCursor: nil)])
        let found = try await Self.runner(api).fetchMessage(channel: "C1", ts: "1.2", token: Redacted("xoxb-test"))
        #expect(found == nil)
    }

    @Test func historyIsAskedWhenRepliesFindsNoThread() async throws {
        let api = FakeSlackWebAPI(
            repliesError: .slack(code: "thread_not_found"),
            history: MessagePage(messages: [try Self.message(#"{"ts":"1.2","text":"top"}"#)], nextCursor: nil))
        let found = try await Self.runner(api).fetchMessage(channel: "C1", ts: "1.2", token: Redacted("xoxb-test"))
        #expect(found?.text == "top")
        #expect(found?.parentTs == nil)
        #expect(api.historyCalls == 1)
    }

    @Test func rateLimitsAndServerErrorsAreRetryableAndDeadTokensMeanTheInstallationIsGone() {
        #expect(SlackAPIError.rateLimited(retryAfter: 1).isRetryable)
        #expect(SlackAPIError.server(status: 503).isRetryable)
        #expect(SlackAPIError.unreachable.isRetryable)
        #expect(!SlackAPIError.slack(code: "not_in_channel").isRetryable)
        #expect(SlackAPIError.slack(code: "token_revoked").meansInstallationGone)
        #expect(SlackAPIError.slack(code: "account_inactive").meansInstallationGone)
    }
}

@Suite struct JobWakeupTests {
    @Test(.timeLimit(.minutes(1))) func aSignalBeforeTheWaitIsNotLost() async {
        let wakeup = JobWakeup()
        wakeup.signal()
        #expect(wakeup.hasPendingSignal)
        // An hour-long wait: only the remembered signal can end it within the time limit.
        await wakeup.wait(upTo: .seconds(3600))
        #expect(!wakeup.hasPendingSignal)
    }

    @Test(.timeLimit(.minutes(1))) func aSignalWakesAWaiter() async {
        let wakeup = JobWakeup()
        await withTaskGroup(of: Void.self) { group in
            // An hour-long wait: only the signal can end it within the time limit.
            group.addTask { await wakeup.wait(upTo: .seconds(3600)) }
            group.addTask {
                // Signal only once the waiter is suspended, so this is the waking path, not a remembered signal.
                while !wakeup.hasWaiter { await Task.yield() }
                wakeup.signal()
            }
            await group.waitForAll()
        }
        #expect(!wakeup.hasPendingSignal)
    }

    @Test func withoutASignalTheWaitEndsAfterItsBound() async {
        await JobWakeup().wait(upTo: .milliseconds(20))
    }
}
