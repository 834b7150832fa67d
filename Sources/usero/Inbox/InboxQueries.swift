import Feedback
import GRDB

/// The one query the inbox needs beyond `FeedbackStore`: which environments a client's feedback uses.
struct InboxQueries: Sendable {
    let database: AppDatabase

    /// Most environments offered in the filter.
    static let environmentLimit = 100

    /// The client's named environments, sorted; the default (absent) environment is not among them.
    ///
    /// A skip-scan over the `(client_id, environment, …)` index: one index seek per distinct name, so the cost
    /// follows the number of environments, not the number of items.
    func environments(clientID: String) async throws -> [String] {
        try await database.read { db in
            try String.fetchAll(
                db,
                sql: """
                    WITH RECURSIVE env(name) AS (
                        SELECT MIN(environment) FROM feedback WHERE client_id = ?1 AND environment IS NOT NULL
                        UNION ALL
                        SELECT (SELECT MIN(environment) FROM feedback WHERE client_id = ?1 AND environment > env.name)
                        FROM env WHERE env.name IS NOT NULL
                    )
                    SELECT name FROM env WHERE name IS NOT NULL LIMIT \(Self.environmentLimit)
                    """,
                arguments: [clientID])
        }
    }
}
