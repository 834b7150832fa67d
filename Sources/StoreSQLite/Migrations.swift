import GRDB

extension AppDatabase {
    /// `feedback.source`'s check as migration v1 wrote it, and as v9 rewrote it (the same test, without an IN list).
    static let feedbackSourceCheckV1 = "CHECK (source IN ('api', 'widget', 'slack'))"
    static let feedbackSourceCheck = "CHECK (source = 'api' OR source = 'widget' OR source = 'slack')"

    /// Every schema change, in order. Shipped migrations are never edited; a change is a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-feedback") { db in
            try db.execute(
                sql: """
                    CREATE TABLE client (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        plan TEXT NOT NULL CHECK (plan IN ('free', 'paid')),
                        admin_key_hash BLOB NOT NULL UNIQUE,
                        allowed_origins TEXT NOT NULL DEFAULT '[]',
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE feedback (
                        id TEXT PRIMARY KEY NOT NULL,
                        client_id TEXT NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        source TEXT NOT NULL CHECK (source IN ('api', 'widget', 'slack')),
                        created_at INTEGER NOT NULL,
                        rating INTEGER CHECK (rating BETWEEN 1 AND 4),
                        comment TEXT,
                        user_email TEXT,
                        page_url TEXT,
                        page_title TEXT,
                        referrer TEXT,
                        environment TEXT,
                        metadata TEXT,
                        screenshots TEXT NOT NULL DEFAULT '[]',
                        session_replay_id TEXT,
                        replay_offset_ms INTEGER CHECK (replay_offset_ms >= 0),
                        user_id TEXT,
                        slack_team_id TEXT,
                        slack_channel_id TEXT,
                        slack_message_ts TEXT,
                        slack_thread_ts TEXT,
                        slack_author_id TEXT,
                        slack_forwarded_by TEXT,
                        slack_captured_via TEXT,
                        slack_permalink TEXT
                    );
                    CREATE INDEX feedback_by_client_time ON feedback(client_id, created_at DESC, id DESC);
                    CREATE INDEX feedback_by_time ON feedback(created_at);
                    CREATE INDEX feedback_by_user ON feedback(client_id, user_id) WHERE user_id IS NOT NULL;
                    CREATE INDEX feedback_by_email ON feedback(client_id, user_email) WHERE user_email IS NOT NULL;
                    CREATE INDEX feedback_by_slack_team ON feedback(slack_team_id) WHERE slack_team_id IS NOT NULL;
                    -- One Slack message is one row, however often and however it is forwarded.
                    CREATE UNIQUE INDEX feedback_slack_message
                        ON feedback(client_id, slack_team_id, slack_channel_id, slack_message_ts)
                        WHERE slack_message_ts IS NOT NULL;
                    CREATE TABLE screenshot (
                        file_name TEXT PRIMARY KEY NOT NULL,
                        client_id TEXT NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        feedback_id TEXT REFERENCES feedback(id) ON DELETE SET NULL,
                        mime_type TEXT NOT NULL,
                        file_size INTEGER NOT NULL,
                        width INTEGER,
                        height INTEGER,
                        created_at INTEGER NOT NULL
                    );
                    CREATE INDEX screenshot_by_feedback ON screenshot(feedback_id);
                    CREATE INDEX screenshot_by_client_time ON screenshot(client_id, created_at);
                    -- Files whose rows are gone but whose bytes may still be on disk: removed after commit, and
                    -- again at startup or the next sweep if the process died in between.
                    CREATE TABLE file_deletion (
                        file_name TEXT PRIMARY KEY NOT NULL,
                        queued_at INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v1-slack") { db in
            try db.execute(
                sql: """
                    CREATE TABLE slack_installation (
                        team_id TEXT PRIMARY KEY NOT NULL,
                        client_id TEXT NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        enterprise_id TEXT,
                        team_name TEXT,
                        bot_user_id TEXT,
                        bot_id TEXT,
                        app_id TEXT,
                        scopes TEXT NOT NULL DEFAULT '',
                        installer_user_id TEXT,
                        token_envelope BLOB,
                        token_key_id TEXT,
                        installed_at INTEGER NOT NULL
                    );
                    CREATE INDEX slack_installation_by_client ON slack_installation(client_id);
                    -- A workspace that uninstalled: nothing from it is captured until it installs again.
                    CREATE TABLE slack_tombstone (
                        team_id TEXT PRIMARY KEY NOT NULL,
                        client_id TEXT,
                        uninstalled_at INTEGER NOT NULL
                    );
                    CREATE TABLE slack_event_seen (
                        event_id TEXT PRIMARY KEY NOT NULL,
                        seen_at INTEGER NOT NULL
                    );
                    CREATE INDEX slack_event_seen_by_time ON slack_event_seen(seen_at);
                    CREATE TABLE oauth_state (
                        nonce TEXT PRIMARY KEY NOT NULL,
                        client_id TEXT NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        expires_at INTEGER NOT NULL
                    );
                    -- Durable queue: slow work after Slack has been answered. Payloads hold ids, never message text.
                    CREATE TABLE job (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        kind TEXT NOT NULL,
                        client_id TEXT REFERENCES client(id) ON DELETE CASCADE,
                        team_id TEXT,
                        payload TEXT NOT NULL DEFAULT '{}',
                        run_at INTEGER NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        deadline_at INTEGER,
                        created_at INTEGER NOT NULL,
                        last_error TEXT
                    );
                    CREATE INDEX job_by_run_at ON job(run_at);
                    """)
        }
        migrator.registerMigration("v1-retention") { db in
            try db.execute(
                sql: """
                    CREATE TABLE end_user (
                        client_id TEXT NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        user_id TEXT NOT NULL,
                        email TEXT,
                        name TEXT,
                        traits TEXT,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,
                        PRIMARY KEY (client_id, user_id)
                    );
                    CREATE INDEX end_user_by_email ON end_user(client_id, email) WHERE email IS NOT NULL;
                    -- Deletion audit: kinds, instants and counts, never content. No foreign key: entries outlive
                    -- the client they describe.
                    CREATE TABLE audit_entry (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        client_id TEXT,
                        kind TEXT NOT NULL,
                        due_at INTEGER,
                        finished_at INTEGER NOT NULL,
                        counts TEXT NOT NULL DEFAULT '{}'
                    );
                    CREATE INDEX audit_entry_by_client ON audit_entry(client_id, finished_at);
                    -- Account closures in progress: survives a crash half-way, finished at the next start.
                    CREATE TABLE account_deletion (
                        client_id TEXT PRIMARY KEY NOT NULL,
                        requested_at INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v2-retention-closure-progress") { db in
            // What an account closure has deleted so far, so its audit entry counts everything even when the
            // closure is finished by a later process.
            try db.execute(sql: "ALTER TABLE account_deletion ADD COLUMN counts TEXT NOT NULL DEFAULT '{}'")
        }
        migrator.registerMigration("v2-inbox-indexes") { db in
            // The inbox filters by environment (the default one, stored as NULL, unless asked otherwise) and by
            // source, newest first; these keep each filtered page one index range, and let the environment
            // list be read by a skip-scan instead of a pass over every item.
            try db.execute(
                sql: """
                    CREATE INDEX feedback_by_client_environment
                        ON feedback(client_id, environment, created_at DESC, id DESC);
                    CREATE INDEX feedback_by_client_source ON feedback(client_id, source, created_at DESC, id DESC);
                    """)
        }
        migrator.registerMigration("v3-job-lease") { db in
            // A claimed job is leased: no other claim takes it until the lease ends or the job is rescheduled.
            try db.execute(sql: "ALTER TABLE job ADD COLUMN lease_until INTEGER")
            try db.execute(sql: "CREATE INDEX job_by_team ON job(team_id, kind)")
        }
        migrator.registerMigration("v4-slack-request-seen") { db in
            // Signatures of signed shortcut and command requests, so a replay within Slack's 5-minute window is
            // recognised (events have their own ids in slack_event_seen).
            try db.execute(
                sql: """
                    CREATE TABLE slack_request_seen (
                        signature TEXT PRIMARY KEY NOT NULL,
                        seen_at INTEGER NOT NULL
                    );
                    CREATE INDEX slack_request_seen_by_time ON slack_request_seen(seen_at);
                    """)
        }
        migrator.registerMigration("v5-inbox-session") { db in
            // Inbox sign-ins, keyed by the SHA-256 of the cookie value: they survive restarts and work on every
            // instance that shares the store.
            try db.execute(
                sql: """
                    CREATE TABLE inbox_session (
                        key TEXT PRIMARY KEY NOT NULL,
                        client_id TEXT NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        csrf_token TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        last_seen_at INTEGER NOT NULL
                    );
                    CREATE INDEX inbox_session_by_client ON inbox_session(client_id, last_seen_at);
                    """)
        }
        migrator.registerMigration("v6-slack-both-ways") { db in
            // Issue 12. Settings live on the installation row, so an uninstall (which deletes the row) clears them:
            // trigger emoji (comma-separated names; NULL = the defaults), the channel new feedback is posted to, the
            // last error posting there (a code, e.g. not_in_channel, never a message), and the last instant an
            // event from the workspace arrived (the default start of a recovery), and the instant its next post to the
            // channel may leave (the pace, kept for posts enqueued later). Recovered rows are flagged; the
            // heartbeat row says until when the service was last alive, so a start knows how long it was down.
            try db.execute(
                sql: """
                    ALTER TABLE slack_installation ADD COLUMN trigger_emoji TEXT;
                    ALTER TABLE slack_installation ADD COLUMN notify_channel TEXT;
                    ALTER TABLE slack_installation ADD COLUMN notify_error TEXT;
                    ALTER TABLE slack_installation ADD COLUMN notify_error_at INTEGER;
                    ALTER TABLE slack_installation ADD COLUMN last_event_at INTEGER;
                    ALTER TABLE slack_installation ADD COLUMN post_not_before INTEGER;
                    ALTER TABLE feedback ADD COLUMN slack_recovered INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE slack_heartbeat (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        alive_at INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v7-scheduled-run") { db in
            // Issue 10: when each scheduled task (the retention sweep) last started, so that of several processes
            // sharing a store one runs it per period.
            try db.execute(
                sql: """
                    CREATE TABLE scheduled_run (
                        task TEXT PRIMARY KEY,
                        started_at INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v8-drop-feedback-by-time") { db in
            // Issue 13: every query on `feedback.created_at` names its client (retention, lists, exports), which
            // `feedback_by_client_time` serves; the index on the time alone served none of them, and each insert
            // paid for one more B-tree and its WAL page in every commit.
            try db.execute(sql: "DROP INDEX IF EXISTS feedback_by_time")
        }
        migrator.registerMigration("v9-feedback-source-check") { db in
            // Issue 13: SQLite checks an IN list of more than two values by building a temporary B-tree of them, so
            // `CHECK (source IN ('api', 'widget', 'slack'))` opened a pager, allocated its pages, filled and freed
            // it on every insert into `feedback` (about 4 us of the writer's time a row, a third of a bare insert).
            // Three comparisons check the same and build nothing. Only the constraint's text changes: every stored
            // row satisfies both and nothing on disk moves, so the text is edited in place, as SQLite documents for
            // changing a CHECK constraint (lang_altertable.html, "Making Other Kinds Of Table Schema Changes"),
            // instead of copying the whole table.
            let version = try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? 0
            try db.execute(sql: "PRAGMA writable_schema = ON")
            try db.execute(
                sql: """
                    UPDATE sqlite_master SET sql = replace(sql, ?, ?)
                    WHERE type = 'table' AND name = 'feedback' AND instr(sql, ?) > 0
                    """,
                arguments: [Self.feedbackSourceCheckV1, Self.feedbackSourceCheck, Self.feedbackSourceCheckV1])
            let edited = db.changesCount
            try db.execute(sql: "PRAGMA schema_version = \(version + 1)")
            try db.execute(sql: "PRAGMA writable_schema = OFF")
            guard edited == 1 else {
                throw DatabaseError(message: "v9-feedback-source-check: feedback's source check is not as v1 made it")
            }
        }
        migrator.registerMigration("v10-removed-capture") { db in
            // The Slack messages whose captured rows were deleted on purpose in the last days (`RemovedCaptures`):
            // a recovery sweep skips them, so it cannot bring back what an admin deleted or an erasure removed.
            // The address only, never text or member ids; deleted with the client.
            try db.execute(
                sql: """
                    CREATE TABLE removed_capture (
                        client_id TEXT NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        team_id TEXT NOT NULL,
                        channel_id TEXT NOT NULL,
                        message_ts TEXT NOT NULL,
                        removed_at INTEGER NOT NULL,
                        PRIMARY KEY (client_id, team_id, channel_id, message_ts)
                    ) WITHOUT ROWID;
                    CREATE INDEX removed_capture_by_time ON removed_capture(removed_at);
                    """)
        }
        migrator.registerMigration("v11-trigger-emoji-added-at") { db in
            // When each trigger emoji chosen after the install became one (`name=millis,...`; NULL: all since the
            // install), so that a recovery sweep counts a reaction only on a message posted while its emoji
            // captured. Kept and cleared with `trigger_emoji`.
            try db.execute(sql: "ALTER TABLE slack_installation ADD COLUMN trigger_emoji_added_at TEXT")
        }
        migrator.registerMigration("v12-forget-installer") { db in
            // The member id of whoever installed the app was kept and never used: personal data with no purpose,
            // which no export or erasure reached. No longer stored; the column stays for older binaries.
            try db.execute(sql: "UPDATE slack_installation SET installer_user_id = NULL WHERE installer_user_id IS NOT NULL")
        }
        migrator.registerMigration("v13-feedback-screenshot") { db in
            // Every item that names a stored screenshot of its client, not only the first to claim it: a widget
            // that sends a submission again after a lost answer makes two items naming one upload, and deleting
            // the first deleted the screenshot the second still showed. `screenshot.feedback_id` stays the one
            // claimer that keeps the upload attached (the unattached quota and sweep read it; older binaries write
            // it); a deletion hands it to another item that names the screenshot, and deletes the screenshot only
            // with the last. Filled from the claims so far and from what each item names.
            try db.execute(
                sql: """
                    CREATE TABLE feedback_screenshot (
                        feedback_id TEXT NOT NULL REFERENCES feedback(id) ON DELETE CASCADE,
                        file_name TEXT NOT NULL REFERENCES screenshot(file_name) ON DELETE CASCADE,
                        PRIMARY KEY (feedback_id, file_name)
                    );
                    CREATE INDEX feedback_screenshot_by_file ON feedback_screenshot(file_name);
                    INSERT INTO feedback_screenshot (feedback_id, file_name)
                        SELECT feedback_id, file_name FROM screenshot WHERE feedback_id IS NOT NULL;
                    INSERT OR IGNORE INTO feedback_screenshot (feedback_id, file_name)
                        SELECT f.id, s.file_name FROM feedback f, json_each(f.screenshots) j
                        JOIN screenshot s ON s.file_name = json_extract(j.value, '$.fileName')
                            AND s.client_id = f.client_id
                        WHERE f.screenshots <> '[]';
                    """)
        }
        migrator.registerMigration("v14-slack-erased-member") { db in
            // Slack members erased lately, so that work queued before an erasure does not store what they wrote
            // after it (`ErasedMembers`): a digest of the client's and the member's ids, never the id; forgotten
            // after eight days and with the client.
            try db.execute(
                sql: """
                    CREATE TABLE slack_erased_member (
                        client_id TEXT NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        member_key TEXT NOT NULL,
                        erased_at INTEGER NOT NULL,
                        PRIMARY KEY (client_id, member_key)
                    );
                    CREATE INDEX slack_erased_member_by_time ON slack_erased_member(erased_at);
                    """)
        }
        migrator.registerMigration("v15-job-progress") { db in
            // What a job has done so far, kept in the transactions that do it: the uninstall scrub's count of rows
            // that lost their member ids, which a scrub taken over after a crash carries on from (its audit entry
            // counted only the second run's rows).
            try db.execute(sql: "ALTER TABLE job ADD COLUMN progress INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v16-slack-post") { db in
            // Where each item's post to the notify channel went (the channel and Slack's `ts`), so that deleting the
            // item (by the admin, an erasure, a retention sweep) deletes its post too: the deletion turns the row
            // into a `slack.unpost` job in its own transaction. No text; deleted with the client. An item may have two
            // posts (a repeat where the retry could not tell that the first went out): both are kept.
            try db.execute(
                sql: """
                    CREATE TABLE slack_post (
                        feedback_id TEXT NOT NULL,
                        client_id TEXT NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        team_id TEXT NOT NULL,
                        channel_id TEXT NOT NULL,
                        message_ts TEXT NOT NULL,
                        posted_at INTEGER NOT NULL,
                        PRIMARY KEY (feedback_id, message_ts)
                    ) WITHOUT ROWID;
                    CREATE INDEX slack_post_by_client ON slack_post(client_id);
                    """)
        }
        migrator.registerMigration("v17-submission-key") { db in
            // A client's `Idempotency-Key` for an item, as two digests (`SubmissionKey`): the key's, unique per
            // client, and the content's. Rows without a key (every row before this version, Slack captures) are
            // not in the index.
            try db.execute(
                sql: """
                    ALTER TABLE feedback ADD COLUMN submission_key BLOB;
                    ALTER TABLE feedback ADD COLUMN submission_content BLOB;
                    CREATE UNIQUE INDEX feedback_by_submission_key ON feedback(client_id, submission_key)
                        WHERE submission_key IS NOT NULL;
                    """)
        }
        migrator.registerMigration("v18-job-claim") { db in
            // Which claim of a job is the live one (`SlackJob.claim`): a worker that stalled past its lease and
            // resumes after another took the job over must not finish, reschedule, renew or post it.
            try db.execute(sql: "ALTER TABLE job ADD COLUMN claim INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v19-email-lookups") { db in
            // Privacy requests find a person's items and end user by email, in any case (`lower(...)`): an index on
            // the column as written served only its client prefix, and SQLite scanned the whole table for each batch
            // of an erasure or export. Indexed by the lowered address, they are a search. (Queries name
            // `user_email IS NOT NULL` for SQLite to see that the partial index applies.)
            try db.execute(
                sql: """
                    DROP INDEX feedback_by_email;
                    CREATE INDEX feedback_by_email ON feedback(client_id, lower(user_email)) WHERE user_email IS NOT NULL;
                    DROP INDEX end_user_by_email;
                    CREATE INDEX end_user_by_email ON end_user(client_id, lower(email)) WHERE email IS NOT NULL;
                    """)
        }
        migrator.registerMigration("v20-end-user-age") { db in
            // For a sweep of a free client's end users not identified within its window, taken back: issue 4 has
            // end users live as long as the account (dropped by `v22-end-user-age-dropped`).
            try db.execute(sql: "CREATE INDEX end_user_by_update ON end_user(client_id, updated_at)")
        }
        migrator.registerMigration("v21-token-refused") { db in
            // When Slack began answering `invalid_auth` for the installation's token, and when it last did
            // (`noteTokenRefusal`): an installation is treated as uninstalled only once that has lasted without a
            // break (see `SlackJobRunner`).
            try db.execute(sql: "ALTER TABLE slack_installation ADD COLUMN token_refused_at INTEGER")
            try db.execute(sql: "ALTER TABLE slack_installation ADD COLUMN token_refused_last INTEGER")
        }
        migrator.registerMigration("v22-end-user-age-dropped") { db in
            // Nothing reads end users by their age any more (see `v20-end-user-age`): each identify paid for it.
            try db.execute(sql: "DROP INDEX IF EXISTS end_user_by_update")
        }
        migrator.registerMigration("v23-token-checked") { db in
            // When a daily `slack.check` of the installation's token was last queued (`queueTokenChecks`): an
            // uninstall whose `app_uninstalled` never arrived is found within a day, not at the next call.
            try db.execute(sql: "ALTER TABLE slack_installation ADD COLUMN token_checked_at INTEGER")
        }
        migrator.registerMigration("v24-first-installed-at") { db in
            // When the client first installed the app in the workspace, kept through its reinstalls: the floor of a
            // recovery sweep (`Installation.firstInstalledAt`). Existing rows start from their install.
            try db.execute(sql: "ALTER TABLE slack_installation ADD COLUMN first_installed_at INTEGER")
            try db.execute(sql: "UPDATE slack_installation SET first_installed_at = installed_at")
        }
        return migrator
    }
}
