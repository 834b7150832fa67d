public import Feedback
public import Foundation

/// Closes accounts: the client and everything it owns go, durably.
///
/// `begin` is one write: the client is marked as being deleted (from that commit on, every lookup treats it as
/// unknown). The other modules' data then goes through their `AccountDataOwner`s (the Slack gateway hands its tokens
/// to revoke jobs and deletes its installations first), and `finish` deletes the rest in batches: feedback and
/// screenshots, uploads, end users, and last the client row with its mark and the audit entry, in one write. A
/// process that dies in between leaves the mark; `finishPending` (run at startup and before every sweep) completes
/// it, asking the owners again (what is gone stays gone).
public struct AccountCloser: Sendable {
    /// Closure progress, end users, the audit entry.
    public let store: any RetentionStore
    /// Screenshot bytes of deleted rows.
    public let feedback: any FeedbackStore
    /// The other modules' parts of an account.
    public let owners: [any AccountDataOwner]
    /// The time source.
    public let clock: any WallClock
    /// Batch sizes.
    public let policy: RetentionPolicy

    /// Creates the closer.
    public init(
        store: any RetentionStore, feedback: any FeedbackStore, owners: [any AccountDataOwner], clock: any WallClock,
        policy: RetentionPolicy = .standard
    ) {
        self.store = store
        self.feedback = feedback
        self.owners = owners
        self.clock = clock
        self.policy = policy
    }

    /// Closes the account now: `begin`, then `finish`. Returns what went. `FeedbackError.unauthorized` when the
    /// client is gone or another request is closing it already: its admin key opens nothing any more (as the next
    /// request with it learns), and "Invalid client ID" is the public routes' answer, not an admin's.
    @discardableResult
    public func close(clientID: String) async throws -> DeletionCounts {
        guard try await begin(clientID: clientID) else { throw FeedbackError.unauthorized }
        return try await finish(clientID: clientID) ?? DeletionCounts()
    }

    /// The first, atomic step (the client becomes unknown everywhere), then the owners' parts (tokens are handed
    /// over for revocation at once); false when the client is unknown or already being closed.
    public func begin(clientID: String) async throws -> Bool {
        guard try await store.beginAccountClosure(clientID: clientID, at: epochMillis(clock.now())) else { return false }
        try await eraseOwnedData(clientID: clientID)
        return true
    }

    /// Completes every closure that a previous process (or a failed request) left half-way; returns how many.
    @discardableResult
    public func finishPending() async throws -> Int {
        var finished = 0
        for clientID in try await store.pendingAccountClosures() where try await finish(clientID: clientID) != nil {
            finished += 1
        }
        return finished
    }

    /// Deletes what a begun closure still has to delete. `maxBatches` stops it early (tests use it to stand in for
    /// a crash half-way); nil is returned then, or when no closure of this client is pending.
    @discardableResult
    public func finish(clientID: String, maxBatches: Int = .max) async throws -> DeletionCounts? {
        var batches = 0
        let limit = policy.batchSize
        let steps: [@Sendable () async throws -> Int?] = [
            {
                try await store.deleteFeedbackBatch(
                    .client(clientID), limit: limit, at: epochMillis(clock.now()),
                    record: .closure(clientID: clientID) { DeletionCounts(["feedback": $0.rows, "screenshots": $0.screenshots]) }
                )?.batch.rows
            },
            {
                try await store.deleteUnattachedUploadBatch(
                    clientID: clientID, uploadedBefore: nil, limit: limit, at: epochMillis(clock.now()),
                    record: .closure(clientID: clientID) { DeletionCounts(["screenshots": $0.rows]) }
                )?.batch.rows
            },
            { try await store.deleteEndUserBatch(clientID: clientID, limit: limit) },
        ]
        for step in steps {
            while true {
                guard batches < maxBatches else { return nil }
                batches += 1
                guard let deleted = try await step() else { return nil }
                if deleted == 0 { break }
            }
        }
        guard batches < maxBatches else { return nil }
        // Again: an install or a job that raced the first step.
        try await eraseOwnedData(clientID: clientID)
        let counts = try await store.completeAccountClosure(clientID: clientID, at: epochMillis(clock.now()))
        try await feedback.purgeDeletedScreenshots()
        if counts != nil { try await feedback.removeFilesOfClosedAccount(clientID: clientID) }
        return counts
    }

    /// What the owners keep only for a while after deletions, forgotten as of `asOf` (run with each retention sweep).
    public func forgetExpiredRecords(asOf: Date) async throws {
        for owner in owners { try await owner.forgetExpiredRecords(asOf: asOf) }
    }

    /// Each owner erases its part; what it reports joins the closure's counts.
    private func eraseOwnedData(clientID: String) async throws {
        for owner in owners {
            let counts = try await owner.eraseAccountData(clientID: clientID, at: clock.now())
            if !counts.isEmpty { _ = try await store.addClosureProgress(clientID: clientID, counts: counts) }
        }
    }
}
