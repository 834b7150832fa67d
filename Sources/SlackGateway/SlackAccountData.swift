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

    /// The member's reactions not fetched yet, the notices to them and their Home tab: a capture job still running
    /// when its job is deleted stores nothing (`SlackStore.completeCapture`). Others' reactions to the member's
    /// messages and recovery sweeps, which name no author until they fetch, are kept from storing what the member
    /// wrote by the erasure's record (`ErasedMembers`).
    /// Removed captures and erased members are kept while a recovery sweep could reach their messages.
    public func forgetExpiredRecords(asOf: Date) async throws {
        let now = epochMillis(asOf)
        try await store.forgetRemovedCaptures(before: RemovedCaptures.horizon(at: now))
        try await store.forgetErasedMembers(before: ErasedMembers.horizon(at: now))
    }

    public func cancelQueuedWork(clientID: String, slackMember: String, at now: Int64) async throws -> Int {
        try await store.recordErasedMember(
            clientID: clientID, memberKey: ErasedMembers.key(clientID: clientID, member: slackMember), at: now)
        var cancelled = 0
        for kind in [SlackJob.Kind.captureReaction, .notify, .publishHome] {
            for job in try await store.pendingJobs(kind: kind, team: nil)
            where job.clientId == clientID && job.work.member == slackMember {
                try await store.finishJob(job.id, then: nil)
                cancelled += 1
            }
        }
        return cancelled
    }
}
