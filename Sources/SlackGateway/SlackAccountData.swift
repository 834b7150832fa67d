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
        // The tokens first: the deletions of the account's posts go with them, before the records of the posts go.
        let handedOver = try await store.handOverTokens(clientID: clientID, at: epochMillis(now))
        var counts = try await store.eraseClientRecords(clientID: clientID)
        counts["slackInstallations"] += handedOver
        if handedOver > 0 { wakeup?.signal() }
        return counts
    }

    /// Removed captures and erased members are kept while a recovery sweep could reach their messages.
    public func forgetExpiredRecords(asOf: Date) async throws {
        let now = epochMillis(asOf)
        try await store.forgetRemovedCaptures(before: RemovedCaptures.horizon(at: now))
        try await store.forgetErasedMembers(before: ErasedMembers.horizon(at: now))
    }

    /// The member's reactions not fetched yet, the notices and shortcut answers to them and their Home tab: a capture
    /// job still running when its job is deleted stores nothing (`SlackStore.completeCapture`). Others' reactions to
    /// the member's messages and recovery sweeps, which name no author until they fetch, are kept from storing what
    /// the member wrote by the erasure's record (`ErasedMembers`).
    public func cancelQueuedWork(clientID: String, slackMember: String, at now: Int64) async throws -> Int {
        try await store.recordErasedMember(
            clientID: clientID, memberKey: ErasedMembers.key(clientID: clientID, member: slackMember), at: now)
        let jobs = try await memberJobs(clientID: clientID, slackMember: slackMember)
        // Whoever holds them: a worker running one now finds its job gone when it ends (it stores nothing, sends no
        // notice), and one rescheduled by that worker must not survive to run later.
        for job in jobs { try await store.finishJob(job.id, claim: nil, then: nil) }
        return jobs.count
    }

    public func queuedWork(clientID: String, slackMember: String) async throws -> [QueuedWork] {
        try await memberJobs(clientID: clientID, slackMember: slackMember).map { job in
            let kind =
                switch job.kind {
                case .captureReaction: "Slack: their reaction's forward, message not fetched yet"
                case .notify: "Slack: a notice to them about a forward"
                case .respond: "Slack: the answer to their shortcut"
                case .publishHome: "Slack: their Home tab, to update"
                default: "Slack: \(job.kind.rawValue)"
                }
            return QueuedWork(kind: kind, queuedAt: iso8601(dateFromEpochMillis(job.createdAt ?? job.runAt)))
        }
    }

    /// The client's queued jobs in the member's name, oldest first.
    private func memberJobs(clientID: String, slackMember: String) async throws -> [SlackJob] {
        var jobs: [SlackJob] = []
        for kind in [SlackJob.Kind.captureReaction, .notify, .respond, .publishHome] {
            jobs += try await store.pendingJobs(kind: kind, team: nil).filter {
                $0.clientId == clientID && $0.work.member == slackMember
            }
        }
        return jobs.sorted { $0.id < $1.id }
    }
}
