/// The PostgreSQL schema, step for step the SQLite one (Sources/Feedback/Store/Migrations.swift), with these
/// translations:
/// - instants stay epoch milliseconds, `BIGINT` (SQLite's INTEGER is 64-bit; PostgreSQL's is not);
/// - blobs are `BYTEA` (admin key hashes, sealed Slack tokens: AES-GCM ciphertext, never plaintext);
/// - `INTEGER PRIMARY KEY AUTOINCREMENT` is an identity column;
/// - keys and the text columns that are sorted or compared are `COLLATE "C"`: byte order, as SQLite's BINARY, so
///   cursors and orderings are the same on both backends whatever the database's default collation;
/// - screenshot bytes live in `screenshot_chunk` (rows of up to 1 MB per file, deleted with its screenshot row), so
///   that every instance can serve every screenshot.
///
/// To extend: append a `PostgresMigration` with a new id (and the matching SQLite migration). Never edit one that
/// has shipped.
public enum PostgresSchema {
    /// A text column in byte order.
    static let key = #"TEXT COLLATE "C""#

    public static let migrations: [PostgresMigration] = [
        PostgresMigration(
            "v1-feedback",
            [
                """
                CREATE TABLE client (
                    id \(key) PRIMARY KEY,
                    name TEXT NOT NULL,
                    plan \(key) NOT NULL CHECK (plan IN ('free', 'paid')),
                    admin_key_hash BYTEA NOT NULL UNIQUE,
                    allowed_origins TEXT NOT NULL DEFAULT '[]',
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE feedback (
                    id \(key) PRIMARY KEY,
                    client_id \(key) NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                    source \(key) NOT NULL CHECK (source IN ('api', 'widget', 'slack')),
                    created_at BIGINT NOT NULL,
                    rating INTEGER CHECK (rating BETWEEN 1 AND 4),
                    comment TEXT,
                    user_email \(key),
                    page_url TEXT,
                    page_title TEXT,
                    referrer TEXT,
                    environment \(key),
                    metadata TEXT,
                    screenshots TEXT NOT NULL DEFAULT '[]',
                    session_replay_id TEXT,
                    replay_offset_ms BIGINT CHECK (replay_offset_ms >= 0),
                    user_id \(key),
                    slack_team_id \(key),
                    slack_channel_id \(key),
                    slack_message_ts \(key),
                    slack_thread_ts \(key),
                    slack_author_id \(key),
                    slack_forwarded_by \(key),
                    slack_captured_via \(key),
                    slack_permalink TEXT
                )
                """,
                "CREATE INDEX feedback_by_client_time ON feedback(client_id, created_at DESC, id DESC)",
                "CREATE INDEX feedback_by_time ON feedback(created_at)",
                "CREATE INDEX feedback_by_user ON feedback(client_id, user_id) WHERE user_id IS NOT NULL",
                "CREATE INDEX feedback_by_email ON feedback(client_id, user_email) WHERE user_email IS NOT NULL",
                "CREATE INDEX feedback_by_slack_team ON feedback(slack_team_id) WHERE slack_team_id IS NOT NULL",
                // One Slack message is one row, however often and however it is forwarded.
                """
                CREATE UNIQUE INDEX feedback_slack_message
                    ON feedback(client_id, slack_team_id, slack_channel_id, slack_message_ts)
                    WHERE slack_message_ts IS NOT NULL
                """,
                """
                CREATE TABLE screenshot (
                    file_name \(key) PRIMARY KEY,
                    client_id \(key) NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                    feedback_id \(key) REFERENCES feedback(id) ON DELETE SET NULL,
                    mime_type TEXT NOT NULL,
                    file_size BIGINT NOT NULL,
                    width INTEGER,
                    height INTEGER,
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX screenshot_by_feedback ON screenshot(feedback_id)",
                "CREATE INDEX screenshot_by_client_time ON screenshot(client_id, created_at)",
                // The bytes, apart from the metadata so that listing screenshots never reads them. Stored as is
                // (images are already compressed).
                """
                CREATE TABLE screenshot_data (
                    file_name \(key) PRIMARY KEY REFERENCES screenshot(file_name) ON DELETE CASCADE,
                    bytes BYTEA NOT NULL
                )
                """,
                "ALTER TABLE screenshot_data ALTER COLUMN bytes SET STORAGE EXTERNAL",
                // Kept for parity with SQLite, where files outlive their rows until removed after commit; here it
                // serves deployments that keep the bytes outside the database.
                """
                CREATE TABLE file_deletion (
                    file_name \(key) PRIMARY KEY,
                    queued_at BIGINT NOT NULL
                )
                """,
            ]),
        PostgresMigration(
            "v1-slack",
            [
                """
                CREATE TABLE slack_installation (
                    team_id \(key) PRIMARY KEY,
                    client_id \(key) NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                    enterprise_id \(key),
                    team_name TEXT,
                    bot_user_id \(key),
                    bot_id \(key),
                    app_id \(key),
                    scopes TEXT NOT NULL DEFAULT '',
                    installer_user_id \(key),
                    token_envelope BYTEA,
                    token_key_id \(key),
                    installed_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX slack_installation_by_client ON slack_installation(client_id)",
                // A workspace that uninstalled: nothing from it is captured until it installs again.
                """
                CREATE TABLE slack_tombstone (
                    team_id \(key) PRIMARY KEY,
                    client_id \(key),
                    uninstalled_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE slack_event_seen (
                    event_id \(key) PRIMARY KEY,
                    seen_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX slack_event_seen_by_time ON slack_event_seen(seen_at)",
                """
                CREATE TABLE oauth_state (
                    nonce \(key) PRIMARY KEY,
                    client_id \(key) NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                    expires_at BIGINT NOT NULL
                )
                """,
                // Durable queue: slow work after Slack has been answered. Payloads hold ids, never message text.
                """
                CREATE TABLE job (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    kind \(key) NOT NULL,
                    client_id \(key) REFERENCES client(id) ON DELETE CASCADE,
                    team_id \(key),
                    payload TEXT NOT NULL DEFAULT '{}',
                    run_at BIGINT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    deadline_at BIGINT,
                    created_at BIGINT NOT NULL,
                    last_error TEXT
                )
                """,
                "CREATE INDEX job_by_run_at ON job(run_at)",
            ]),
        PostgresMigration(
            "v1-retention",
            [
                """
                CREATE TABLE end_user (
                    client_id \(key) NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                    user_id \(key) NOT NULL,
                    email \(key),
                    name TEXT,
                    traits TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (client_id, user_id)
                )
                """,
                "CREATE INDEX end_user_by_email ON end_user(client_id, email) WHERE email IS NOT NULL",
                // Deletion audit: kinds, instants and counts, never content. No foreign key: entries outlive the
                // client they describe.
                """
                CREATE TABLE audit_entry (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    client_id \(key),
                    kind \(key) NOT NULL,
                    due_at BIGINT,
                    finished_at BIGINT NOT NULL,
                    counts TEXT NOT NULL DEFAULT '{}'
                )
                """,
                "CREATE INDEX audit_entry_by_client ON audit_entry(client_id, finished_at)",
                // Account closures in progress: survives a crash half-way, finished at the next start.
                """
                CREATE TABLE account_deletion (
                    client_id \(key) PRIMARY KEY,
                    requested_at BIGINT NOT NULL
                )
                """,
            ]),
        PostgresMigration(
            "v2-retention-closure-progress",
            [
                // What an account closure has deleted so far, so its audit entry counts everything even when the
                // closure is finished by a later process.
                "ALTER TABLE account_deletion ADD COLUMN counts TEXT NOT NULL DEFAULT '{}'"
            ]),
        PostgresMigration(
            "v2-inbox-indexes",
            [
                "CREATE INDEX feedback_by_client_environment ON feedback(client_id, environment, created_at DESC, id DESC)",
                "CREATE INDEX feedback_by_client_source ON feedback(client_id, source, created_at DESC, id DESC)",
            ]),
        PostgresMigration(
            "v3-job-lease",
            [
                // A claimed job is leased: no other claim takes it until the lease ends or the job is rescheduled.
                "ALTER TABLE job ADD COLUMN lease_until BIGINT",
                "CREATE INDEX job_by_team ON job(team_id, kind)",
            ]),
        PostgresMigration(
            "v4-slack-request-seen",
            [
                // Signatures of signed shortcut and command requests, so a replay within Slack's 5-minute window is
                // recognised (events have their own ids in slack_event_seen).
                """
                CREATE TABLE slack_request_seen (
                    signature \(key) PRIMARY KEY,
                    seen_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX slack_request_seen_by_time ON slack_request_seen(seen_at)",
            ]),
        PostgresMigration(
            "v5-inbox-session",
            [
                // Inbox sign-ins, keyed by the SHA-256 of the cookie value: shared by every instance.
                """
                CREATE TABLE inbox_session (
                    key \(key) PRIMARY KEY,
                    client_id \(key) NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                    csrf_token TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    last_seen_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX inbox_session_by_client ON inbox_session(client_id, last_seen_at)",
            ]),
        PostgresMigration(
            "v6-slack-both-ways",
            [
                // Settings on the installation row (an uninstall deletes them with it), recovered-row flag, and the
                // heartbeat row (see the SQLite migration of the same id).
                "ALTER TABLE slack_installation ADD COLUMN trigger_emoji TEXT",
                "ALTER TABLE slack_installation ADD COLUMN notify_channel \(key)",
                "ALTER TABLE slack_installation ADD COLUMN notify_error TEXT",
                "ALTER TABLE slack_installation ADD COLUMN notify_error_at BIGINT",
                "ALTER TABLE slack_installation ADD COLUMN last_event_at BIGINT",
                "ALTER TABLE slack_installation ADD COLUMN post_not_before BIGINT",
                "ALTER TABLE feedback ADD COLUMN slack_recovered INTEGER NOT NULL DEFAULT 0",
                """
                CREATE TABLE slack_heartbeat (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    alive_at BIGINT NOT NULL
                )
                """,
            ]),
        PostgresMigration(
            "v7-pg-scrub-index",
            [
                // PostgreSQL only: the rows of a workspace that still carry a Slack id, so that each batch of an
                // uninstall scrub finds its rows without walking past the ones earlier batches scrubbed (SQLite
                // walks its rowid instead). A scrubbed row leaves this index.
                """
                CREATE INDEX feedback_slack_unscrubbed ON feedback(slack_team_id)
                    WHERE slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL
                """,
            ]),
        PostgresMigration(
            "v7-scheduled-run",
            [
                // When each scheduled task last started, so that one instance runs it per period.
                """
                CREATE TABLE scheduled_run (
                    task \(key) PRIMARY KEY,
                    started_at BIGINT NOT NULL
                )
                """,
            ]),
        PostgresMigration(
            "v8-pg-slack-person",
            [
                // PostgreSQL only: the Slack member ids of a captured row (its author, its forwarder) move to a
                // narrow table of their own, so that the uninstall scrub is a DELETE of small rows. Nulling them in
                // `feedback` rewrote each whole row and inserted it again into every index of the table (an UPDATE
                // in PostgreSQL writes a new row version): 81 s for a million rows, where the deletes take about a
                // second. A scrubbed row simply has no `feedback_slack_person` row; the text stays in `feedback`.
                """
                CREATE TABLE feedback_slack_person (
                    feedback_id \(key) PRIMARY KEY REFERENCES feedback(id) ON DELETE CASCADE,
                    slack_team \(key) NOT NULL,
                    slack_author_id \(key),
                    slack_forwarded_by \(key),
                    CHECK (slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL)
                )
                """,
                """
                INSERT INTO feedback_slack_person (feedback_id, slack_team, slack_author_id, slack_forwarded_by)
                SELECT id, slack_team_id, slack_author_id, slack_forwarded_by FROM feedback
                WHERE slack_team_id IS NOT NULL AND (slack_author_id IS NOT NULL OR slack_forwarded_by IS NOT NULL)
                """,
                "CREATE INDEX feedback_slack_person_by_team ON feedback_slack_person(slack_team)",
                // Drops feedback_slack_unscrubbed with them.
                "ALTER TABLE feedback DROP COLUMN slack_author_id, DROP COLUMN slack_forwarded_by",
            ]),
        PostgresMigration(
            "v9-pg-screenshot-chunks",
            [
                // PostgreSQL only: a screenshot's bytes in rows of at most 1 MB, in order, so that an upload is
                // written and a download served a chunk at a time. One 10 MB value had to be whole in memory on
                // both sides (several copies of it while a statement was encoded: 190 MB peak for twenty uploads).
                // Existing files move as one chunk each; readers take chunks of any size.
                """
                CREATE TABLE screenshot_chunk (
                    file_name \(key) NOT NULL REFERENCES screenshot(file_name) ON DELETE CASCADE,
                    seq INTEGER NOT NULL CHECK (seq >= 0),
                    bytes BYTEA NOT NULL,
                    PRIMARY KEY (file_name, seq)
                )
                """,
                "ALTER TABLE screenshot_chunk ALTER COLUMN bytes SET STORAGE EXTERNAL",
                "INSERT INTO screenshot_chunk (file_name, seq, bytes) SELECT file_name, 0, bytes FROM screenshot_data",
                "DROP TABLE screenshot_data",
            ]),
        PostgresMigration(
            "v10-drop-feedback-by-time",
            [
                // Every query on `feedback.created_at` names its client, which `feedback_by_client_time` serves; the
                // index on the time alone served none, and each insert paid for one more index entry.
                "DROP INDEX IF EXISTS feedback_by_time",
            ]),
        PostgresMigration(
            "v11-pg-insert-plain-feedback",
            [
                // PostgreSQL only: the batch of plain submissions as one procedure call that commits before it
                // answers (with `p_commits`), so a batch is one round trip where BEGIN, the insert and COMMIT were
                // three. A statement in autocommit would not do: its answer may leave before its commit (RELIABILITY.md,
                // "PostgreSQL stopping mid-commit"); a CALL's answer comes after the procedure returns, and so after
                // its COMMIT. Without `p_commits`, it runs inside the caller's transaction (the batches whose Slack
                // post jobs commit with them). With `p_unless_notifying`, it does nothing and answers NULL when one of
                // the batch's clients has an installation that posts new feedback to a channel: the caller then
                // writes the batch with its post jobs in a transaction. One array per column, zipped back into rows; a
                // row is taken only while its client exists, is not being closed and (with an allowlist) still has the
                // `allowed_origins` its `Origin` was checked against; a row whose id exists is left out. `written`:
                // the ids it inserted.
                """
                CREATE PROCEDURE usero_insert_plain_feedback(
                    p_id TEXT[], p_client_id TEXT[], p_source TEXT[], p_created_at BIGINT[], p_rating INTEGER[],
                    p_comment TEXT[], p_user_email TEXT[], p_page_url TEXT[], p_page_title TEXT[], p_referrer TEXT[],
                    p_environment TEXT[], p_metadata TEXT[], p_session_replay_id TEXT[], p_replay_offset_ms BIGINT[],
                    p_user_id TEXT[], p_allowlist TEXT[], p_commits BOOLEAN, p_unless_notifying BOOLEAN,
                    INOUT written TEXT[] DEFAULT NULL)
                LANGUAGE plpgsql AS $$
                BEGIN
                    IF p_unless_notifying AND EXISTS (
                        SELECT 1 FROM slack_installation i
                        WHERE i.client_id = ANY(p_client_id) AND i.notify_channel IS NOT NULL
                        AND i.token_envelope IS NOT NULL
                        AND i.team_id NOT IN (SELECT team_id FROM slack_tombstone))
                    THEN
                        written := NULL;
                        RETURN;
                    END IF;
                    WITH inserted AS (
                        INSERT INTO feedback (id, client_id, source, created_at, rating, comment, user_email, page_url,
                            page_title, referrer, environment, metadata, session_replay_id, replay_offset_ms, user_id)
                        SELECT v.id, v.client_id, v.source, v.created_at, v.rating, v.comment, v.user_email,
                            v.page_url, v.page_title, v.referrer, v.environment, v.metadata, v.session_replay_id,
                            v.replay_offset_ms, v.user_id
                        FROM unnest(p_id, p_client_id, p_source, p_created_at, p_rating, p_comment, p_user_email,
                            p_page_url, p_page_title, p_referrer, p_environment, p_metadata, p_session_replay_id,
                            p_replay_offset_ms, p_user_id, p_allowlist)
                            AS v(id, client_id, source, created_at, rating, comment, user_email, page_url, page_title,
                            referrer, environment, metadata, session_replay_id, replay_offset_ms, user_id, allowlist)
                        WHERE EXISTS (SELECT 1 FROM client c WHERE c.id = v.client_id COLLATE "C"
                            AND (v.allowlist IS NULL OR c.allowed_origins = v.allowlist COLLATE "C"))
                        AND NOT EXISTS (SELECT 1 FROM account_deletion d WHERE d.client_id = v.client_id COLLATE "C")
                        ON CONFLICT DO NOTHING
                        RETURNING feedback.id)
                    SELECT coalesce(array_agg(inserted.id), '{}') INTO written FROM inserted;
                    IF p_commits THEN
                        COMMIT;
                    END IF;
                END
                $$
                """,
            ]),
        PostgresMigration(
            "v12-removed-capture",
            [
                // The Slack messages whose captured rows were deleted on purpose in the last days (see the SQLite
                // migration `v10-removed-capture`): a recovery sweep skips them.
                """
                CREATE TABLE removed_capture (
                    client_id \(key) NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                    team_id \(key) NOT NULL,
                    channel_id \(key) NOT NULL,
                    message_ts \(key) NOT NULL,
                    removed_at BIGINT NOT NULL,
                    PRIMARY KEY (client_id, team_id, channel_id, message_ts)
                )
                """,
                "CREATE INDEX removed_capture_by_time ON removed_capture(removed_at)",
            ]),
        PostgresMigration(
            "v13-trigger-emoji-added-at",
            [
                // When each trigger emoji chosen after the install became one (see the SQLite migration
                // `v11-trigger-emoji-added-at`).
                "ALTER TABLE slack_installation ADD COLUMN trigger_emoji_added_at TEXT",
            ]),
        PostgresMigration(
            "v14-forget-installer",
            [
                // See the SQLite migration `v12-forget-installer`: the installer's member id is no longer kept.
                "UPDATE slack_installation SET installer_user_id = NULL WHERE installer_user_id IS NOT NULL"
            ]),
        PostgresMigration(
            "v15-feedback-screenshot",
            [
                // Every item that names a stored screenshot of its client, not only the first to claim it (see the
                // SQLite migration `v13-feedback-screenshot`): a screenshot goes with the last item that names it.
                """
                CREATE TABLE feedback_screenshot (
                    feedback_id \(key) NOT NULL REFERENCES feedback(id) ON DELETE CASCADE,
                    file_name \(key) NOT NULL REFERENCES screenshot(file_name) ON DELETE CASCADE,
                    PRIMARY KEY (feedback_id, file_name)
                )
                """,
                "CREATE INDEX feedback_screenshot_by_file ON feedback_screenshot(file_name)",
                """
                INSERT INTO feedback_screenshot (feedback_id, file_name)
                SELECT feedback_id, file_name FROM screenshot WHERE feedback_id IS NOT NULL
                """,
                """
                INSERT INTO feedback_screenshot (feedback_id, file_name)
                SELECT f.id, s.file_name
                FROM feedback f CROSS JOIN LATERAL json_array_elements(f.screenshots::json) AS j(shot)
                JOIN screenshot s ON s.file_name = j.shot ->> 'fileName' AND s.client_id = f.client_id
                WHERE f.screenshots <> '[]'
                ON CONFLICT DO NOTHING
                """,
            ]),
        PostgresMigration(
            "v16-slack-erased-member",
            [
                // Slack members erased lately (see the SQLite migration `v14-slack-erased-member`).
                """
                CREATE TABLE slack_erased_member (
                    client_id \(key) NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                    member_key \(key) NOT NULL,
                    erased_at BIGINT NOT NULL,
                    PRIMARY KEY (client_id, member_key)
                )
                """,
                "CREATE INDEX slack_erased_member_by_time ON slack_erased_member(erased_at)",
            ]),
        PostgresMigration(
            "v17-job-progress",
            [
                // What a job has done so far (see the SQLite migration `v15-job-progress`).
                "ALTER TABLE job ADD COLUMN progress BIGINT NOT NULL DEFAULT 0",
            ]),
        PostgresMigration(
            "v18-pg-no-personal-statistics",
            [
                // PostgreSQL only. ANALYZE (autovacuum runs it by itself) copies sample values of every column into
                // `pg_statistic` (`pg_stats`: its most common values and histogram bounds), and nothing removes them
                // when the rows go: an erased email, a scrubbed Slack member id or a closed account's comments stayed
                // there until enough new rows called for the next ANALYZE, and for good when the table stayed empty
                // (ANALYZE keeps a table's old statistics when it finds no row). Columns that hold what people wrote,
                // who they are, or a secret get no statistics (a target of 0: ANALYZE skips them; the planner uses
                // its default estimates, and their indexes still serve). What earlier ANALYZEs left of them goes
                // too: changing a column to its own type is the one way a table's owner (not only a superuser) can
                // remove its statistics; it rebuilds the indexes on the column, so it is done only where statistics
                // are there. Every text and binary column is in this list or in the one of columns that hold
                // neither (`PostgresStatisticsTests` checks both).
                """
                DO $$
                DECLARE
                    c record;
                BEGIN
                    FOR c IN
                        SELECT t.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type_name,
                            CASE WHEN a.attcollation = 0 OR a.attcollation = t2.typcollation THEN ''
                                ELSE ' COLLATE ' || quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
                                AS collate_clause
                        FROM pg_attribute a
                        JOIN pg_class t ON t.oid = a.attrelid
                        JOIN pg_type t2 ON t2.oid = a.atttypid
                        LEFT JOIN pg_collation co ON co.oid = a.attcollation
                        LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
                        WHERE t.relnamespace = current_schema()::regnamespace AND NOT a.attisdropped
                        AND (t.relname, a.attname) IN (VALUES
                            ('feedback', 'comment'), ('feedback', 'user_email'), ('feedback', 'user_id'),
                            ('feedback', 'page_url'), ('feedback', 'page_title'), ('feedback', 'referrer'),
                            ('feedback', 'metadata'), ('feedback', 'session_replay_id'),
                            ('end_user', 'user_id'), ('end_user', 'email'), ('end_user', 'name'),
                            ('end_user', 'traits'),
                            ('feedback_slack_person', 'slack_author_id'),
                            ('feedback_slack_person', 'slack_forwarded_by'),
                            ('slack_erased_member', 'member_key'),
                            ('job', 'payload'), ('job', 'last_error'),
                            ('inbox_session', 'key'), ('inbox_session', 'csrf_token'),
                            ('oauth_state', 'nonce'), ('slack_request_seen', 'signature'),
                            ('screenshot_chunk', 'bytes'),
                            ('client', 'admin_key_hash'), ('slack_installation', 'token_envelope'),
                            ('slack_installation', 'installer_user_id'))
                    LOOP
                        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS 0', c.relname, c.attname);
                        IF EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = current_schema()
                            AND s.tablename = c.relname AND s.attname = c.attname)
                        THEN
                            EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE %s%s',
                                c.relname, c.attname, c.type_name, c.collate_clause);
                        END IF;
                    END LOOP;
                END
                $$
                """,
            ]),
        PostgresMigration(
            "v19-slack-post",
            [
                // Where each item's post to the notify channel went (see the SQLite migration `v16-slack-post`).
                """
                CREATE TABLE slack_post (
                    feedback_id \(key) NOT NULL,
                    client_id \(key) NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                    team_id \(key) NOT NULL,
                    channel_id \(key) NOT NULL,
                    message_ts \(key) NOT NULL,
                    posted_at BIGINT NOT NULL,
                    PRIMARY KEY (feedback_id, message_ts)
                )
                """,
                "CREATE INDEX slack_post_by_client ON slack_post(client_id)",
            ]),
        PostgresMigration(
            "v20-submission-key",
            [
                // A client's `Idempotency-Key` for an item, as two digests (see the SQLite migration
                // `v17-submission-key`). Digests, not what people wrote; no statistics all the same (nothing to plan
                // by in them).
                "ALTER TABLE feedback ADD COLUMN submission_key BYTEA, ADD COLUMN submission_content BYTEA",
                """
                ALTER TABLE feedback ALTER COLUMN submission_key SET STATISTICS 0,
                    ALTER COLUMN submission_content SET STATISTICS 0
                """,
                """
                CREATE UNIQUE INDEX feedback_by_submission_key ON feedback(client_id, submission_key)
                    WHERE submission_key IS NOT NULL
                """,
                // The batch of plain submissions (see `v11-pg-insert-plain-feedback`) with each row's key digests: a
                // row whose key its client's items hold already is left out by `ON CONFLICT DO NOTHING`, like one
                // whose id exists, and the caller's one-by-one path answers it. The procedure of v11 stays for an
                // older instance still running during a rollout (its rows have no key).
                """
                CREATE PROCEDURE usero_insert_feedback_batch(
                    p_id TEXT[], p_client_id TEXT[], p_source TEXT[], p_created_at BIGINT[], p_rating INTEGER[],
                    p_comment TEXT[], p_user_email TEXT[], p_page_url TEXT[], p_page_title TEXT[], p_referrer TEXT[],
                    p_environment TEXT[], p_metadata TEXT[], p_session_replay_id TEXT[], p_replay_offset_ms BIGINT[],
                    p_user_id TEXT[], p_allowlist TEXT[], p_submission_key BYTEA[], p_submission_content BYTEA[],
                    p_commits BOOLEAN, p_unless_notifying BOOLEAN, INOUT written TEXT[] DEFAULT NULL)
                LANGUAGE plpgsql AS $$
                BEGIN
                    IF p_unless_notifying AND EXISTS (
                        SELECT 1 FROM slack_installation i
                        WHERE i.client_id = ANY(p_client_id) AND i.notify_channel IS NOT NULL
                        AND i.token_envelope IS NOT NULL
                        AND i.team_id NOT IN (SELECT team_id FROM slack_tombstone))
                    THEN
                        written := NULL;
                        RETURN;
                    END IF;
                    WITH inserted AS (
                        INSERT INTO feedback (id, client_id, source, created_at, rating, comment, user_email, page_url,
                            page_title, referrer, environment, metadata, session_replay_id, replay_offset_ms, user_id,
                            submission_key, submission_content)
                        SELECT v.id, v.client_id, v.source, v.created_at, v.rating, v.comment, v.user_email,
                            v.page_url, v.page_title, v.referrer, v.environment, v.metadata, v.session_replay_id,
                            v.replay_offset_ms, v.user_id, v.submission_key, v.submission_content
                        FROM unnest(p_id, p_client_id, p_source, p_created_at, p_rating, p_comment, p_user_email,
                            p_page_url, p_page_title, p_referrer, p_environment, p_metadata, p_session_replay_id,
                            p_replay_offset_ms, p_user_id, p_allowlist, p_submission_key, p_submission_content)
                            AS v(id, client_id, source, created_at, rating, comment, user_email, page_url, page_title,
                            referrer, environment, metadata, session_replay_id, replay_offset_ms, user_id, allowlist,
                            submission_key, submission_content)
                        WHERE EXISTS (SELECT 1 FROM client c WHERE c.id = v.client_id COLLATE "C"
                            AND (v.allowlist IS NULL OR c.allowed_origins = v.allowlist COLLATE "C"))
                        AND NOT EXISTS (SELECT 1 FROM account_deletion d WHERE d.client_id = v.client_id COLLATE "C")
                        ON CONFLICT DO NOTHING
                        RETURNING feedback.id)
                    SELECT coalesce(array_agg(inserted.id), '{}') INTO written FROM inserted;
                    IF p_commits THEN
                        COMMIT;
                    END IF;
                END
                $$
                """,
            ]),
        PostgresMigration(
            "v21-job-claim",
            [
                // Which claim of a job is the live one (see the SQLite migration `v18-job-claim`).
                "ALTER TABLE job ADD COLUMN claim BIGINT NOT NULL DEFAULT 0",
            ]),
        PostgresMigration(
            "v22-pg-claim-jobs",
            [
                // The job claim as one statement (`PostgresStore.claimDueJobs`): the server takes the claim lock,
                // picks and leases the jobs, and commits without waiting on the client between the steps, so an
                // instance that stalls (a paused VM, a stopped process) while claiming holds no other instance's
                // claims; as several statements in a transaction it held the lock for as long as it stalled. The
                // same lock key as before (`p_lock`), so instances of the earlier version still take turns with it.
                // Per lane (`p_kind_lanes` numbers each kind of `p_kinds` with its lane, from 1): due jobs of its
                // kinds whose workspace has no job of those kinds under a live lease, one a workspace, oldest
                // first; returned in that order, lane after lane, each with its lease and its claim numbered.
                """
                CREATE FUNCTION usero_claim_jobs(
                    p_lock bigint, p_now bigint, p_limits bigint[], p_leases bigint[], p_kinds text[],
                    p_kind_lanes integer[])
                RETURNS SETOF job
                LANGUAGE plpgsql
                AS $$
                DECLARE
                    v_lane integer;
                    v_kinds text[];
                    v_teams text[];
                    v_taken bigint[];
                    v_until bigint;
                    v_job record;
                BEGIN
                    PERFORM pg_advisory_xact_lock(p_lock);
                    FOR v_lane IN 1 .. coalesce(array_length(p_limits, 1), 0) LOOP
                        v_kinds := ARRAY(SELECT p_kinds[i] FROM generate_subscripts(p_kinds, 1) AS i
                            WHERE p_kind_lanes[i] = v_lane);
                        v_teams := '{}';
                        v_taken := '{}';
                        FOR v_job IN
                            SELECT j.id, j.team_id FROM job j
                            WHERE j.run_at <= p_now AND j.kind = ANY(v_kinds)
                            AND (j.lease_until IS NULL OR j.lease_until <= p_now)
                            AND (j.team_id IS NULL OR NOT EXISTS (
                                SELECT 1 FROM job k WHERE k.team_id = j.team_id AND k.kind = ANY(v_kinds)
                                AND k.lease_until > p_now))
                            -- Nor while a job of its workspace and kind waits out Slack's Retry-After.
                            AND (j.team_id IS NULL OR NOT EXISTS (
                                SELECT 1 FROM job r WHERE r.team_id = j.team_id AND r.kind = j.kind
                                AND r.last_error = 'ratelimited' AND r.run_at > p_now))
                            -- A workspace's posts leave in order: only its oldest (a parked one aside), at its pace.
                            AND (j.kind <> 'slack.post' OR (NOT EXISTS (
                                    SELECT 1 FROM job o WHERE o.team_id = j.team_id AND o.kind = 'slack.post'
                                    AND o.id < j.id AND o.run_at < 9223372036854775807)
                                AND coalesce((SELECT i.post_not_before FROM slack_installation i
                                    WHERE i.team_id = j.team_id), 0) <= p_now))
                            ORDER BY j.run_at, j.id LIMIT greatest(p_limits[v_lane], 0)
                            FOR UPDATE SKIP LOCKED
                        LOOP
                            -- One job a workspace a claim: its next one waits for this one's lease to end.
                            CONTINUE WHEN v_job.team_id IS NOT NULL AND v_job.team_id = ANY(v_teams);
                            IF v_job.team_id IS NOT NULL THEN
                                v_teams := v_teams || v_job.team_id::text;
                            END IF;
                            v_taken := v_taken || v_job.id;
                        END LOOP;
                        v_until := least(p_now::numeric + greatest(p_leases[v_lane], 0), 9223372036854775807);
                        RETURN QUERY
                            WITH claimed AS (
                                UPDATE job SET lease_until = v_until, claim = job.claim + 1
                                WHERE id = ANY(v_taken) RETURNING job.*)
                            SELECT * FROM claimed ORDER BY run_at, id;
                    END LOOP;
                END
                $$
                """,
            ]),
        PostgresMigration(
            "v23-email-lookups",
            [
                // Privacy requests find a person's items and end user by email, in any case (`lower(...)`; see the
                // SQLite migration `v19-email-lookups`): an index on the column as written served only its client
                // prefix, and each batch of an erasure or export read every row of the client (237 ms at a million
                // rows, 0.13 ms by the lowered address). No statistics on the lowered addresses, as on the columns
                // (`v18-pg-no-personal-statistics`): ANALYZE samples an expression index's values too.
                "DROP INDEX feedback_by_email",
                "CREATE INDEX feedback_by_email ON feedback(client_id, lower(user_email)) WHERE user_email IS NOT NULL",
                "ALTER INDEX feedback_by_email ALTER COLUMN 2 SET STATISTICS 0",
                "DROP INDEX end_user_by_email",
                "CREATE INDEX end_user_by_email ON end_user(client_id, lower(email)) WHERE email IS NOT NULL",
                "ALTER INDEX end_user_by_email ALTER COLUMN 2 SET STATISTICS 0",
            ]),
        PostgresMigration(
            "v24-claim-passes-over-unknown-keys",
            [
                // The job claim with the jobs an instance leaves to others (`SlackJobKeyFilter`): those that open a
                // workspace's bot token sealed under a key this instance lacks (one started with another
                // `USERO_TOKEN_KEY`), queued less than a day before (`p_key_since`). A new overload beside
                // `v22-pg-claim-jobs`' function, which instances of the earlier version go on calling during an
                // upgrade; `p_keys` NULL passes over nothing.
                """
                CREATE FUNCTION usero_claim_jobs(
                    p_lock bigint, p_now bigint, p_limits bigint[], p_leases bigint[], p_kinds text[],
                    p_kind_lanes integer[], p_keys text[], p_key_kinds text[], p_key_since bigint)
                RETURNS SETOF job
                LANGUAGE plpgsql
                AS $$
                DECLARE
                    v_lane integer;
                    v_kinds text[];
                    v_teams text[];
                    v_taken bigint[];
                    v_until bigint;
                    v_job record;
                BEGIN
                    PERFORM pg_advisory_xact_lock(p_lock);
                    -- Due jobs this instance passes over and no claim has announced yet: marked, and announced to
                    -- every instance listening (delivered at the commit), once, so that one with the key takes them
                    -- now rather than at its next poll. Once only: instances that all lack the key would otherwise
                    -- wake each other for ever. (A mark of its own, not the runner's `token_key_unknown`: a job an
                    -- instance of the earlier version handed back is announced too.)
                    IF p_keys IS NOT NULL THEN
                        UPDATE job SET last_error = 'passed_over_unknown_key' WHERE id IN (
                            SELECT j.id FROM job j
                            WHERE j.run_at <= p_now AND (j.lease_until IS NULL OR j.lease_until <= p_now)
                            AND j.last_error IS DISTINCT FROM 'passed_over_unknown_key'
                            AND j.kind = ANY(p_key_kinds) AND j.created_at > p_key_since AND EXISTS (
                                SELECT 1 FROM slack_installation i WHERE i.team_id = j.team_id
                                AND i.token_key_id IS NOT NULL AND i.token_key_id <> ALL(p_keys))
                            FOR UPDATE SKIP LOCKED);
                        IF FOUND THEN
                            PERFORM pg_notify('usero_jobs_left', '');
                        END IF;
                    END IF;
                    FOR v_lane IN 1 .. coalesce(array_length(p_limits, 1), 0) LOOP
                        v_kinds := ARRAY(SELECT p_kinds[i] FROM generate_subscripts(p_kinds, 1) AS i
                            WHERE p_kind_lanes[i] = v_lane);
                        v_teams := '{}';
                        v_taken := '{}';
                        FOR v_job IN
                            SELECT j.id, j.team_id FROM job j
                            WHERE j.run_at <= p_now AND j.kind = ANY(v_kinds)
                            AND (j.lease_until IS NULL OR j.lease_until <= p_now)
                            AND (j.team_id IS NULL OR NOT EXISTS (
                                SELECT 1 FROM job k WHERE k.team_id = j.team_id AND k.kind = ANY(v_kinds)
                                AND k.lease_until > p_now))
                            -- Nor while a job of its workspace and kind waits out Slack's Retry-After.
                            AND (j.team_id IS NULL OR NOT EXISTS (
                                SELECT 1 FROM job r WHERE r.team_id = j.team_id AND r.kind = j.kind
                                AND r.last_error = 'ratelimited' AND r.run_at > p_now))
                            -- A workspace's posts leave in order: only its oldest (a parked one aside), at its pace.
                            AND (j.kind <> 'slack.post' OR (NOT EXISTS (
                                    SELECT 1 FROM job o WHERE o.team_id = j.team_id AND o.kind = 'slack.post'
                                    AND o.id < j.id AND o.run_at < 9223372036854775807)
                                AND coalesce((SELECT i.post_not_before FROM slack_installation i
                                    WHERE i.team_id = j.team_id), 0) <= p_now))
                            -- Nor a job this instance leaves to one with the key of its workspace's token.
                            AND NOT (p_keys IS NOT NULL AND j.kind = ANY(p_key_kinds) AND j.created_at > p_key_since
                                AND EXISTS (SELECT 1 FROM slack_installation i WHERE i.team_id = j.team_id
                                    AND i.token_key_id IS NOT NULL AND i.token_key_id <> ALL(p_keys)))
                            ORDER BY j.run_at, j.id LIMIT greatest(p_limits[v_lane], 0)
                            FOR UPDATE SKIP LOCKED
                        LOOP
                            -- One job a workspace a claim: its next one waits for this one's lease to end.
                            CONTINUE WHEN v_job.team_id IS NOT NULL AND v_job.team_id = ANY(v_teams);
                            IF v_job.team_id IS NOT NULL THEN
                                v_teams := v_teams || v_job.team_id::text;
                            END IF;
                            v_taken := v_taken || v_job.id;
                        END LOOP;
                        v_until := least(p_now::numeric + greatest(p_leases[v_lane], 0), 9223372036854775807);
                        RETURN QUERY
                            WITH claimed AS (
                                UPDATE job SET lease_until = v_until, claim = job.claim + 1
                                WHERE id = ANY(v_taken) RETURNING job.*)
                            SELECT * FROM claimed ORDER BY run_at, id;
                    END LOOP;
                END
                $$
                """,
            ]),
        PostgresMigration(
            "v25-end-user-age",
            [
                // For a sweep of a free client's end users not identified within its window, taken back: issue 4
                // has end users live as long as the account (dropped by `v27-end-user-age-dropped`).
                "CREATE INDEX end_user_by_update ON end_user(client_id, updated_at)",
            ]),
        PostgresMigration(
            "v26-token-refused",
            [
                // When Slack began answering `invalid_auth` for the installation's token, and when it last did
                // (`noteTokenRefusal`; the SQLite migration `v21-token-refused`).
                "ALTER TABLE slack_installation ADD COLUMN token_refused_at BIGINT",
                "ALTER TABLE slack_installation ADD COLUMN token_refused_last BIGINT",
            ]),
        PostgresMigration(
            "v27-end-user-age-dropped",
            [
                // Nothing reads end users by their age any more (see `v25-end-user-age`; the SQLite migration
                // `v22-end-user-age-dropped`): each identify paid for it.
                "DROP INDEX IF EXISTS end_user_by_update",
            ]),
        PostgresMigration(
            "v28-token-checked",
            [
                // When a daily `slack.check` of the installation's token was last queued (`queueTokenChecks`; the
                // SQLite migration `v23-token-checked`).
                "ALTER TABLE slack_installation ADD COLUMN token_checked_at BIGINT",
            ]),
        PostgresMigration(
            "v29-first-installed-at",
            [
                // When the client first installed the app in the workspace, kept through its reinstalls: the floor
                // of a recovery sweep (the SQLite migration `v24-first-installed-at`).
                "ALTER TABLE slack_installation ADD COLUMN first_installed_at BIGINT",
                "UPDATE slack_installation SET first_installed_at = installed_at",
            ]),
    ]

    /// Every table the migrations leave: what `serve` checks its role may read and write at startup
    /// (`PostgresPrivileges`), and what tests compare with the schema (a test keeps the two equal).
    public static let tables = [
        "client", "feedback", "screenshot", "screenshot_chunk", "file_deletion", "slack_installation",
        "slack_tombstone", "slack_event_seen", "oauth_state", "job", "end_user", "audit_entry", "account_deletion",
        "slack_request_seen", "inbox_session", "slack_heartbeat", "scheduled_run", "feedback_slack_person",
        "removed_capture", "feedback_screenshot", "slack_erased_member", "slack_post",
    ]
}
