import Feedback
import Foundation
import SlackGateway
import Synchronization
import UseroTestSupport

/// A `SlackWebAPI` whose `chat.postEphemeral` and `views.publish` calls stop until the test releases them, one by
/// one, by the `user` they address; everything the workers do is reported on `events`, so tests await what happened
/// instead of sleeping.
final class GatedSlackWebAPI: SlackWebAPI {
    enum Event: Sendable, Hashable {
        /// A call to `user` arrived and is held.
        case entered(String)
        /// The test let the call to `user` return.
        case released(String)
    }

    private struct State {
        var held: [String: CheckedContinuation<Void, Never>] = [:]
        var early: Set<String> = []
        var log: [Event] = []
    }

    private let state = Mutex(State())
    let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation

    /// Whether a held call returns (throwing `CancellationError`) when its task is cancelled, as the real HTTP
    /// client's do; by default a held call ignores cancellation.
    let honoursCancellation: Bool

    init(honoursCancellation: Bool = false) {
        self.honoursCancellation = honoursCancellation
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    /// Every event so far, in order.
    var log: [Event] { state.withLock { $0.log } }

    private func emit(_ event: Event, in state: inout State) {
        state.log.append(event)
        continuation.yield(event)
    }

    /// Lets the held call to `user` return (or the next one, when it has not arrived yet).
    func release(_ user: String) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            emit(.released(user), in: &state)
            guard let waiter = state.held.removeValue(forKey: user) else {
                state.early.insert(user)
                return nil
            }
            return waiter
        }
        waiter?.resume()
    }

    func postMessage(channel: String, text: String, token: Redacted<String>) async throws {}

    func postEphemeral(channel: String, user: String, text: String, threadTs: String?, token: Redacted<String>)
        async throws
    { try await gate(user) }

    /// `views.publish` is held by its `user` too: the outbound lane's call.
    func publishHome(user: String, view: String, token: Redacted<String>) async throws { try await gate(user) }

    /// Holds a call addressed to `user` until the test releases it.
    private func gate(_ user: String) async throws {
        let hold = {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    self.emit(.entered(user), in: &state)
                    if state.early.remove(user) != nil { return true }
                    state.held[user] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        guard honoursCancellation else { return await hold() }
        await withTaskCancellationHandler {
            await hold()
        } onCancel: {
            let waiter = state.withLock { $0.held.removeValue(forKey: user) }
            waiter?.resume()
        }
        try Task.checkCancellation()
    }

    func exchangeCode(_ code: String, redirectURI: String, clientID: String, clientSecret: Redacted<String>)
        async throws -> OAuthAccess
    { throw SlackAPIError.unreachable }
    func authTest(token: Redacted<String>) async throws -> AuthIdentity { throw SlackAPIError.unreachable }
    func revoke(token: Redacted<String>) async throws {}
    func replies(channel: String, ts: String, cursor: String?, token: Redacted<String>) async throws -> MessagePage {
        MessagePage(messages: [], nextCursor: nil)
    }
    func history(channel: String, ts: String, token: Redacted<String>) async throws -> MessagePage {
        MessagePage(messages: [], nextCursor: nil)
    }
    func permalink(channel: String, ts: String, token: Redacted<String>) async throws -> String {
        throw SlackAPIError.slack(code: "message_not_found")
    }
    func respond(to responseURL: String, text: String) async throws {}
    func postMessage(channel: String, text: String, blocks: String, metadata: String, token: Redacted<String>)
        async throws -> String? { nil }
    func deleteMessage(channel: String, ts: String, token: Redacted<String>) async throws {}
    func memberChannels(cursor: String?, token: Redacted<String>) async throws -> ChannelPage {
        ChannelPage(channels: [], nextCursor: nil)
    }
    func history(channel: String, oldest: String, latest: String, cursor: String?, token: Redacted<String>)
        async throws -> MessagePage
    { MessagePage(messages: [], nextCursor: nil) }
    func replies(channel: String, ts: String, oldest: String, cursor: String?, token: Redacted<String>) async throws
        -> MessagePage
    { MessagePage(messages: [], nextCursor: nil) }
}

/// A `DeletionAuditor` that records each entry in the store and reports it on `entries` as it lands.
final class SignallingAuditor: DeletionAuditor {
    struct Entry: Sendable, Equatable {
        var kind: String
        var clientID: String?
        var dueAt: Date?
        var finishedAt: Date
        var counts: DeletionCounts
    }

    let store: InMemoryStore
    let entries: AsyncStream<Entry>
    private let continuation: AsyncStream<Entry>.Continuation

    init(store: InMemoryStore) {
        self.store = store
        (entries, continuation) = AsyncStream.makeStream(of: Entry.self)
    }

    func recordDeletion(kind: String, clientID: String?, dueAt: Date?, finishedAt: Date, counts: DeletionCounts)
        async throws
    {
        try await store.recordDeletion(kind: kind, clientID: clientID, dueAt: dueAt, finishedAt: finishedAt, counts: counts)
        continuation.yield(Entry(kind: kind, clientID: clientID, dueAt: dueAt, finishedAt: finishedAt, counts: counts))
    }
}

extension AsyncStream {
    /// The next element; a test waiting for one that never comes ends by its time limit.
    func next() async -> Element? {
        var iterator = makeAsyncIterator()
        return await iterator.next()
    }
}
