import Feedback
import Inbox
import Retention
import SlackGateway
import StoreSQLite

/// The stores every module talks to, opened from `USERO_DATABASE`: the one place that knows which backends exist.
///
/// Each module receives only its own protocol; one backend object implements them all, so work that must commit
/// together (a Slack capture and its follow-up job) is one transaction inside the adapter.
struct Backend: Sendable {
    let feedback: any FeedbackStore
    let slack: any SlackStore
    let retention: any RetentionStore
    let health: any StoreHealth
    let inboxSessions: any InboxSessionStore
    /// The embedded store, when that is the backend (tests inspect its file).
    let sqlite: SQLiteStore?

    /// Opens (and migrates) the configured store.
    static func open(_ config: AppConfig) async throws -> Backend {
        // With Slack configured, an accepted api/widget item commits together with its Slack post job.
        let store = try await SQLiteStore(
            path: config.databasePath, dataDirectory: config.dataDirectory,
            postsNewFeedbackToSlack: config.slackSigningSecret != nil)
        return Backend(
            feedback: store, slack: store, retention: store, health: store, inboxSessions: store, sqlite: store)
    }
}
