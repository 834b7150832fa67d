public import Feedback
public import Foundation

/// How long things live, and how big each deletion step is.
public struct RetentionPolicy: Sendable {
    /// On the free plan, feedback older than this is deleted (30 days).
    public var freeRetention: TimeInterval
    /// Uploaded screenshots never attached to feedback are deleted after this, on every plan (1 day).
    public var orphanUploadRetention: TimeInterval
    /// Rows deleted per write: small enough that a request sharing the commit barely waits.
    public var batchSize: Int
    /// Shortest pause between two batches, so waiting requests get the writer to themselves in between. The sweep
    /// also pauses at least twice as long as its last batch took, so it never holds the writer more than a third of
    /// the time, whatever the machine.
    public var pauseBetweenBatches: Duration

    /// The policy the service promises: 30 days on free, nothing expires on paid, stray uploads go after a day.
    public static let standard = RetentionPolicy(
        freeRetention: 30 * 86_400, orphanUploadRetention: 86_400, batchSize: 250, pauseBetweenBatches: .milliseconds(2)
    )

    /// Creates a policy.
    public init(
        freeRetention: TimeInterval, orphanUploadRetention: TimeInterval, batchSize: Int,
        pauseBetweenBatches: Duration
    ) {
        self.freeRetention = freeRetention
        self.orphanUploadRetention = orphanUploadRetention
        self.batchSize = max(1, batchSize)
        self.pauseBetweenBatches = pauseBetweenBatches
    }

    /// How long feedback of a client on `plan` is kept; nil: nothing expires.
    public func feedbackRetention(for plan: Plan) -> TimeInterval? {
        switch plan {
        case .free: freeRetention
        case .paid: nil
        }
    }
}
