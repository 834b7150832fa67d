public import Feedback
public import Foundation

/// The Slack gateway's part of an account closure: tokens handed to revoke jobs, installations, queued jobs, OAuth
/// states and tombstones of the client.
public struct SlackAccountData: AccountDataOwner {
    let store: any SlackStore
    let wakeup: JobWakeup?

    /// Creates the owner; `wakeup` (when the worker runs in this process) starts the revocations at once.
    public init(store: any SlackStore, wakeup: JobWakeup?) {
        self.store = store
        self.wakeup = wakeup
    }

    public func eraseAccountData(clientID: String, at now: Date) async throws -> DeletionCounts {
        var counts = try await store.eraseClientRecords(clientID: clientID)
        let handedOver = try await store.handOverTokens(clientID: clientID, at: epochMillis(now))
        counts["slackInstallations"] += handedOver
        if handedOver > 0 { wakeup?.signal() }
        return counts
    }
}
