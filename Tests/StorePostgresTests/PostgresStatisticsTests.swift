import Foundation
import PostgresNIO
import StorePostgres
import Testing

/// PostgreSQL's planner statistics (`pg_stats`) hold sample values of the columns ANALYZE reads, and nothing removes
/// them when the rows go: what people wrote, who they are and secrets must never get there, or an erasure, an
/// uninstall scrub or an account closure would leave them behind (migration `v18-pg-no-personal-statistics`).
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresStatisticsTests {
    /// Columns that hold what people wrote or typed, who they are, or a secret: no statistics.
    static let withoutStatistics: Set<String> = [
        "feedback.comment", "feedback.user_email", "feedback.user_id", "feedback.page_url", "feedback.page_title",
        "feedback.referrer", "feedback.metadata", "feedback.session_replay_id",
        "end_user.user_id", "end_user.email", "end_user.name", "end_user.traits",
        "feedback_slack_person.slack_author_id", "feedback_slack_person.slack_forwarded_by",
        "slack_erased_member.member_key", "job.payload", "job.last_error",
        "inbox_session.key", "inbox_session.csrf_token", "oauth_state.nonce", "slack_request_seen.signature",
        "screenshot_chunk.bytes", "client.admin_key_hash", "slack_installation.token_envelope",
        "slack_installation.installer_user_id",
        // Digests of a client's `Idempotency-Key` and of the submission's content: nothing readable, and nothing
        // to plan by.
        "feedback.submission_key", "feedback.submission_content",
    ]

    /// Text and binary columns that hold none of that (ids, kinds, counts, Slack's own ids for channels, messages and
    /// workspaces, names of projects and workspaces): their statistics serve the planner.
    static let withStatistics: Set<String> = [
        "account_deletion.client_id", "account_deletion.counts",
        "audit_entry.client_id", "audit_entry.counts", "audit_entry.kind",
        "client.allowed_origins", "client.id", "client.name", "client.plan",
        "end_user.client_id",
        "feedback.client_id", "feedback.environment", "feedback.id", "feedback.screenshots", "feedback.source",
        "feedback.slack_captured_via", "feedback.slack_channel_id", "feedback.slack_message_ts",
        "feedback.slack_permalink", "feedback.slack_team_id", "feedback.slack_thread_ts",
        "feedback_screenshot.feedback_id", "feedback_screenshot.file_name",
        "feedback_slack_person.feedback_id", "feedback_slack_person.slack_team",
        "file_deletion.file_name", "inbox_session.client_id", "job.client_id", "job.kind", "job.team_id",
        "oauth_state.client_id",
        "removed_capture.channel_id", "removed_capture.client_id", "removed_capture.message_ts",
        "removed_capture.team_id", "scheduled_run.task", "schema_migrations.id",
        "screenshot.client_id", "screenshot.feedback_id", "screenshot.file_name", "screenshot.mime_type",
        "screenshot_chunk.file_name", "slack_erased_member.client_id", "slack_event_seen.event_id",
        "slack_installation.app_id", "slack_installation.bot_id", "slack_installation.bot_user_id",
        "slack_installation.client_id", "slack_installation.enterprise_id", "slack_installation.notify_channel",
        "slack_installation.notify_error", "slack_installation.scopes", "slack_installation.team_id",
        "slack_installation.team_name", "slack_installation.token_key_id", "slack_installation.trigger_emoji",
        "slack_installation.trigger_emoji_added_at", "slack_tombstone.client_id", "slack_tombstone.team_id",
        "slack_post.channel_id", "slack_post.client_id", "slack_post.feedback_id", "slack_post.message_ts",
        "slack_post.team_id",
    ]

    /// A new text or binary column fails here until it is put in one of the two lists (and, if personal, given no
    /// statistics by a migration).
    @Test func everyTextAndBinaryColumnIsClassifiedAndThePersonalOnesHaveNoStatistics() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            // Opening migrates.
            try await PostgresBackend.open(settings, logger: TestPostgres.logger).close()
            try await TestPostgres.withConnection(to: settings) { connection in
                let columns = try await TestPostgres.all(
                    """
                    SELECT c.relname::text || '.' || a.attname::text, a.attstattarget::int
                    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0
                    AND NOT a.attisdropped
                    AND a.atttypid IN ('text'::regtype, 'bytea'::regtype, 'varchar'::regtype, 'json'::regtype,
                        'jsonb'::regtype)
                    """,
                    as: (String, Int).self, on: connection)
                let names = Set(columns.map(\.0))
                #expect(names.subtracting(Self.withoutStatistics).subtracting(Self.withStatistics).isEmpty)
                #expect(Self.withoutStatistics.subtracting(names).isEmpty)
                #expect(Self.withStatistics.subtracting(names).isEmpty)
                #expect(Self.withoutStatistics.isDisjoint(with: Self.withStatistics))
                let withoutStatistics = Set(columns.filter { $0.1 == 0 }.map(\.0))
                #expect(withoutStatistics == Self.withoutStatistics)
            }
        }
    }

    /// Rows with a canary in every personal column of the feedback, its Slack people and end users, analysed: the
    /// canaries are nowhere in `pg_stats`, while the other columns of those tables have statistics.
    @Test func analyzeCopiesNoPersonalValue() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            // Opening migrates.
            try await PostgresBackend.open(settings, logger: TestPostgres.logger).close()
            try await TestPostgres.withConnection(to: settings) { connection in
                for sql in Self.canaryRows {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger)
                }
                _ = try await connection.query("ANALYZE feedback, feedback_slack_person, end_user", logger: TestPostgres.logger)
                #expect(try await Self.canaryStatistics(on: connection) == [])
                let analysed = try await TestPostgres.all(
                    """
                    SELECT tablename::text || '.' || attname::text FROM pg_stats WHERE schemaname = 'public'
                    AND tablename IN ('feedback', 'feedback_slack_person', 'end_user')
                    """,
                    as: String.self, on: connection)
                #expect(Set(analysed).isSuperset(of: ["feedback.client_id", "feedback.source", "end_user.client_id"]))
            }
        }
    }

    /// A database analysed before the migration holds the canaries in its statistics; after it, they are gone,
    /// and the columns keep their collation, their indexes and their rows.
    @Test func theMigrationRemovesWhatEarlierAnalysesCopied() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            try await TestPostgres.withConnection(to: settings) { connection in
                let migration = "v18-pg-no-personal-statistics"
                let before = PostgresSchema.migrations.prefix { $0.id != migration }
                _ = try await PostgresMigrator(Array(before)).migrate(on: connection, logger: TestPostgres.logger)
                for sql in Self.canaryRows {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger)
                }
                _ = try await connection.query("ANALYZE feedback, feedback_slack_person, end_user", logger: TestPostgres.logger)
                #expect(try await Self.canaryStatistics(on: connection).count >= 5)
                let applied = try await PostgresMigrator().migrate(on: connection, logger: TestPostgres.logger)
                #expect(applied.first == migration)
                #expect(try await Self.canaryStatistics(on: connection) == [])
                let collation = try await TestPostgres.scalar(
                    """
                    SELECT collation_name::text FROM information_schema.columns
                    WHERE table_name = 'feedback' AND column_name = 'user_email'
                    """,
                    as: String.self, on: connection)
                #expect(collation == "C")
                let found = try await TestPostgres.scalar(
                    """
                    SELECT count(*)::int FROM feedback
                    WHERE client_id = 'cl_1' AND user_email = 'canary.person@example.com'
                    """,
                    as: Int.self, on: connection)
                #expect(found == 200)
                let invalid = try await TestPostgres.scalar(
                    "SELECT count(*)::int FROM pg_index WHERE NOT indisvalid", as: Int.self, on: connection)
                #expect(invalid == 0)
            }
        }
    }

    /// 200 feedback rows from one person (so that their values are the most common ones), their Slack people and
    /// 50 end users, every personal value containing `CANARY`.
    static let canaryRows = [
        "INSERT INTO client (id, name, plan, admin_key_hash, created_at) VALUES ('cl_1', 'Acme', 'paid', '\\x01', 1)",
        """
        INSERT INTO feedback (id, client_id, source, created_at, rating, comment, user_email, user_id, page_url,
            page_title, referrer, metadata, session_replay_id)
        SELECT 'fb_' || g, 'cl_1', 'api', g, 3, 'CANARY comment', 'canary.person@example.com', 'CANARY-user',
            'https://example.com/CANARY', 'CANARY title', 'https://example.com/CANARY-ref', '{"k":"CANARY"}',
            'CANARY-replay'
        FROM generate_series(1, 200) g
        """,
        """
        INSERT INTO feedback_slack_person (feedback_id, slack_team, slack_author_id, slack_forwarded_by)
        SELECT 'fb_' || g, 'T1', 'UCANARYAUTHOR', 'UCANARYFORWARDER' FROM generate_series(1, 200) g
        """,
        """
        INSERT INTO end_user (client_id, user_id, email, name, traits, created_at, updated_at)
        SELECT 'cl_1', 'CANARY-' || g, 'canary' || g || '@example.com', 'CANARY name', '{"t":"CANARY"}', g, g
        FROM generate_series(1, 50) g
        """,
    ]

    /// `table.column` of every statistic that holds a canary (in its most common values or histogram bounds).
    static func canaryStatistics(on connection: PostgresConnection) async throws -> [String] {
        try await TestPostgres.all(
            """
            SELECT tablename::text || '.' || attname::text FROM pg_stats WHERE schemaname = 'public'
            AND (most_common_vals::text ILIKE '%canary%' OR histogram_bounds::text ILIKE '%canary%')
            ORDER BY 1
            """,
            as: String.self, on: connection)
    }
}
