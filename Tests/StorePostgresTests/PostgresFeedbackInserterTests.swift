import Feedback
import Foundation
import PostgresNIO
import StorePostgres
import Synchronization
import Testing
import UseroTestSupport

/// Plain submissions share multi-row statements on PostgreSQL; what a batch leaves out fails alone, with its own
/// error, and nothing acknowledged is missing.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresFeedbackInserterTests {
    enum Outcome: Sendable, Equatable {
        case stored(String)
        case unknownClient
        case other(String)
    }

    @Test func concurrentSubmissionsShareCommitsAndAnUnknownOrClosingClientFailsAlone() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            let (live, _) = try await store.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: Date())
            let (closing, _) = try await store.createClient(name: "Gone", plan: .free, allowedOrigins: [], at: Date())
            try await TestPostgres.run(
                "INSERT INTO account_deletion (client_id, requested_at) VALUES ('\(closing.id)', 1)", on: settings)
            let before = backend.commitStatistics

            // Given 300 submissions at once: one in ten names an unknown client, one in ten a closing one
            let clients = (0..<300).map { i in i % 10 == 0 ? "cl_nobody" : i % 10 == 1 ? closing.id : live.id }
            let outcomes = await withTaskGroup(of: (Int, Outcome).self) { group in
                for (i, client) in clients.enumerated() {
                    group.addTask {
                        let draft = FeedbackDraft(
                            clientId: client, source: .api, rating: 1 + i % 4, comment: "Note \(i)",
                            metadata: .object(["n": .int(Int64(i))]))
                        do {
                            return (i, .stored(try await store.insert(draft, at: Date(), origin: nil).id))
                        } catch FeedbackError.unknownClient {
                            return (i, .unknownClient)
                        } catch {
                            return (i, .other("\(error)"))
                        }
                    }
                }
                return await group.reduce(into: [Int: Outcome]()) { $0[$1.0] = $1.1 }
            }

            // Then each fails or is stored as its client says, and every stored one reads back whole
            for (i, client) in clients.enumerated() {
                guard case .stored(let id) = outcomes[i] else {
                    #expect(outcomes[i] == .unknownClient && client != live.id, "submission \(i): \(String(describing: outcomes[i]))")
                    continue
                }
                #expect(client == live.id)
                let item = try await store.feedback(id: id, clientID: live.id)
                #expect(item?.draft.comment == "Note \(i)")
                #expect(item?.draft.rating == 1 + i % 4)
                #expect(item?.draft.metadata == .object(["n": .int(Int64(i))]))
            }
            let stored = outcomes.values.filter { if case .stored = $0 { true } else { false } }.count
            #expect(stored == 240)
            #expect(try await store.listFeedback(clientID: live.id, filter: .init(), limit: 500, after: nil).items.count == 240)
            #expect(try await store.listFeedback(clientID: closing.id, filter: .init(), limit: 500, after: nil).items.isEmpty)
            // And they shared their commits
            let after = backend.commitStatistics
            #expect(after.writes - before.writes == 240)
            #expect(after.commits - before.commits < 240)
            await backend.close()
        }
    }

    /// A browser's submission carries an `Origin`: the batch checks it against each client's allowlist in one read,
    /// refuses what the list does not allow without writing it, and stores the rest in shared statements.
    @Test func originsAreCheckedForTheWholeBatch() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            let (strict, _) = try await store.createClient(
                name: "Strict", plan: .paid, allowedOrigins: ["https://app.example.com", "*.acme.test"], at: Date())
            let (open, _) = try await store.createClient(name: "Open", plan: .paid, allowedOrigins: [], at: Date())
            let before = backend.commitStatistics

            // Given 200 submissions at once, for two clients, from allowed, refused and absent origins
            let cases: [(client: String, origin: String?, outcome: Outcome)] = (0..<200).map { i in
                switch i % 8 {
                case 0: (strict.id, "https://app.example.com", .stored(""))
                case 1: (strict.id, "https://evil.example.com", .other("originNotAllowed"))
                case 2: (strict.id, "http://eu.acme.test", .stored(""))
                case 3: (strict.id, nil, .stored(""))
                case 4: (open.id, "https://anywhere.example", .stored(""))
                case 5: ("cl_nobody", "https://app.example.com", .unknownClient)
                case 6: (strict.id, "https://acme.test.evil.com", .other("originNotAllowed"))
                default: (strict.id, "", .stored(""))
                }
            }
            let outcomes = await withTaskGroup(of: (Int, Outcome).self) { group in
                for (i, c) in cases.enumerated() {
                    group.addTask {
                        let draft = FeedbackDraft(clientId: c.client, source: .widget, comment: "Note \(i)")
                        do {
                            return (i, .stored(try await store.insert(draft, at: Date(), origin: c.origin).id))
                        } catch FeedbackError.unknownClient {
                            return (i, .unknownClient)
                        } catch FeedbackError.originNotAllowed {
                            return (i, .other("originNotAllowed"))
                        } catch {
                            return (i, .other("\(error)"))
                        }
                    }
                }
                return await group.reduce(into: [Int: Outcome]()) { $0[$1.0] = $1.1 }
            }

            // Then each is stored or refused as its client's list says, and only the stored ones are there
            var stored: [String: Set<String>] = [:]
            for (i, c) in cases.enumerated() {
                if case .stored(let id) = outcomes[i] {
                    #expect(c.outcome == .stored(""), "submission \(i) from \(c.origin ?? "nowhere") was stored")
                    stored[c.client, default: []].insert(id)
                } else {
                    #expect(outcomes[i] == c.outcome, "submission \(i) from \(c.origin ?? "nowhere")")
                }
            }
            for client in [strict.id, open.id] {
                let page = try await store.listFeedback(clientID: client, filter: .init(), limit: 500, after: nil)
                #expect(Set(page.items.map(\.id)) == stored[client] ?? [])
            }
            #expect(stored[strict.id]?.count == 100 && stored[open.id]?.count == 25)
            let after = backend.commitStatistics
            #expect(after.writes - before.writes == 125)
            #expect(after.commits - before.commits < 125)
            await backend.close()
        }
    }

    /// Nothing is answered before its commit. A deferred constraint trigger runs at COMMIT, after the statement
    /// itself has answered: a row it refuses must be reported as failed, never acknowledged. (In autocommit,
    /// PostgreSQL commits after the statement's answer, and an immediate shutdown in between lost acknowledged rows.)
    @Test func aRowItsCommitRefusesIsNeverAcknowledged() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            let (client, _) = try await store.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: Date())
            try await TestPostgres.withConnection(to: settings) { connection in
                try await connection.query(
                    """
                    CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        IF NEW.comment = 'Refuse at commit' THEN
                            -- A notice is sent at once, with whatever waits before it (the statement's answer);
                            -- the error follows later.
                            RAISE NOTICE 'checking at commit';
                            PERFORM pg_sleep(0.3);
                            RAISE EXCEPTION 'refused at commit';
                        END IF;
                        RETURN NULL;
                    END $$
                    """, logger: TestPostgres.logger)
                try await connection.query(
                    """
                    CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON feedback
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()
                    """, logger: TestPostgres.logger)
            }

            let refused = FeedbackDraft(clientId: client.id, source: .api, comment: "Refuse at commit")
            await #expect(throws: (any Error).self) { try await store.insert(refused, at: Date(), origin: nil) }
            let kept = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Fine"), at: Date(), origin: nil)

            let page = try await store.listFeedback(clientID: client.id, filter: .init(), limit: 50, after: nil)
            #expect(page.items.map(\.id) == [kept.id])
            await backend.close()
        }
    }

    /// A client whose new items are posted to a Slack channel takes the batch's transaction path (the committing call
    /// stands back). A connection lost there before its COMMIT went out has written nothing: the submission fails
    /// with `StoreUnavailable` (a 503 the client may retry), not with the connection's error (a 500, "maybe
    /// written"), and nothing is stored. Here the insert's trigger ends its own session, as a server restart would.
    @Test func aConnectionLostBeforeTheNotifyingPathsCommitIsA503() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, postsNewFeedbackToSlack: true, logger: TestPostgres.logger)
            let (client, _) = try await store.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: Date())
            try await TestPostgres.withConnection(to: settings) { connection in
                try await connection.query(
                    """
                    INSERT INTO slack_installation (team_id, client_id, installed_at, token_envelope, notify_channel)
                    VALUES ('T1', \(client.id), 1, '\\x01'::bytea, 'C1')
                    """, logger: TestPostgres.logger)
                try await connection.query(
                    """
                    CREATE FUNCTION end_session() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        IF NEW.comment = 'Lose the connection' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
                        RETURN NULL;
                    END $$
                    """, logger: TestPostgres.logger)
                try await connection.query(
                    "CREATE TRIGGER end_session AFTER INSERT ON feedback FOR EACH ROW EXECUTE FUNCTION end_session()",
                    logger: TestPostgres.logger)
            }

            let lost = FeedbackDraft(clientId: client.id, source: .api, comment: "Lose the connection")
            await #expect(throws: StoreUnavailable.self) { try await store.insert(lost, at: Date(), origin: nil) }
            // The next submission gets a fresh connection, and is all there is.
            let kept = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Fine"), at: Date(), origin: nil)
            let page = try await store.listFeedback(clientID: client.id, filter: .init(), limit: 50, after: nil)
            #expect(page.items.map(\.id) == [kept.id])
            await backend.close()
        }
    }

    /// A lane keeps its connection from one batch to the next while submissions keep coming (a lease for every
    /// batch cost as much CPU as the batch's call). When the server ends that connection mid-stream (an
    /// administrator's `pg_terminate_backend`, a failover), the batches after it lease a fresh one: every submission
    /// is still stored, once (those of a batch cut off mid-call through the one-by-one path).
    @Test(.timeLimit(.minutes(2)))
    func aLanesConnectionEndedUnderLoadIsNotUsedAgain() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            let (client, _) = try await store.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: Date())

            // Given sixty-four senders submitting one after another, and the server ending the connection of one
            // lane's call once a hundred items are in
            let (outcomes, ended) = await withTaskGroup(of: [(String, Outcome)].self) { group in
                for sender in 0..<64 {
                    group.addTask {
                        var outcomes: [(String, Outcome)] = []
                        for n in 0..<10 {
                            let draft = FeedbackDraft(clientId: client.id, source: .api, comment: "Note \(sender)-\(n)")
                            do {
                                outcomes.append((draft.comment!, .stored(try await store.insert(draft, at: Date(), origin: nil).id)))
                            } catch {
                                outcomes.append((draft.comment!, .other("\(error)")))
                            }
                        }
                        return outcomes
                    }
                }
                let ended = try? await TestPostgres.withConnection(to: settings) { connection in
                    while try await TestPostgres.all("SELECT count(*) FROM feedback", as: Int.self, on: connection)
                        .first ?? 0 < 100
                    {
                        try await Task.sleep(for: .milliseconds(2))
                    }
                    return try await TestPostgres.all(
                        """
                        SELECT count(*)::int FROM (SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()
                            AND datname = current_database() AND query LIKE 'CALL usero_insert_feedback_batch%'
                            LIMIT 1) lane
                        WHERE pg_terminate_backend(pid)
                        """, as: Int.self, on: connection
                    ).first ?? 0
                }
                let outcomes = await group.reduce(into: [String: Outcome]()) { all, outcomes in
                    for (comment, outcome) in outcomes { all[comment] = outcome }
                }
                return (outcomes, ended ?? 0)
            }

            // Then the server did end a lane's connection, and every submission is stored, once
            #expect(ended >= 1)
            let failed = outcomes.filter { if case .other = $0.value { true } else { false } }
            #expect(failed.isEmpty, "\(failed)")
            let comments: [String] = try await TestPostgres.withConnection(to: settings) { connection in
                try await TestPostgres.all("SELECT comment FROM feedback", as: String.self, on: connection)
            }
            #expect(comments.count == 640)
            #expect(comments.sorted() == outcomes.keys.sorted())
            await backend.close()
        }
    }

    /// The connection fails after the statement that commits went out and before its answer came back (the network,
    /// not the server): the submission was committed, and the client gets it as stored, once, on each of the three
    /// ways a submission commits (the batch's committing call, the batch's transaction when new items are posted to
    /// Slack, and the writer's shared transaction, here for an item with a screenshot). Before, each answered with the
    /// connection's error (a 500 the docs call safe to retry), and the client's retry stored the item twice.
    @Test(.timeLimit(.minutes(2)), arguments: [CommitPath.batchCall, .batchTransaction, .writer])
    func aCommitWhoseAnswerIsLostIsAcknowledgedOnce(_ path: CommitPath) async throws {
        try await withProxiedStore(postsToSlack: path == .batchTransaction) { store, proxy, settings, client in
            let draft = try await path.draft(for: client, in: store)
            let (item, committedID) = try await afterCommitting(on: settings) {
                proxy.dropAnswers(afterClientSends: path.committingStatement)
            } cut: {
                proxy.cutAll()
            } submitting: {
                try await store.insert(draft, at: Date(), origin: nil)
            }
            #expect(item.id == committedID)
            let ids: [String] = try await TestPostgres.withConnection(to: settings) { connection in
                try await TestPostgres.all(
                    "SELECT id FROM feedback WHERE comment = 'Lost answer'", as: String.self, on: connection)
            }
            #expect(ids == [item.id])
        }
    }

    /// The same, but the server cannot be reached afterwards to find out whether the commit happened: the submission
    /// fails with `commitInDoubt` (a 500), not `StoreUnavailable` (a 503 says nothing was written, and it was), and
    /// the item is stored.
    @Test(.timeLimit(.minutes(2)))
    func aCommitWhoseAnswerIsLostWithTheServerOutOfReachIsNotCalledUnwritten() async throws {
        try await withProxiedStore(postsToSlack: false) { store, proxy, settings, client in
            let draft = FeedbackDraft(clientId: client, source: .api, comment: "Lost answer")
            // Not StoreUnavailable: that is a 503, which tells the client nothing was written.
            await #expect(throws: PostgresWriterError.commitInDoubt) {
                _ = try await afterCommitting(on: settings) {
                    proxy.dropAnswers(afterClientSends: CommitPath.batchCall.committingStatement)
                } cut: {
                    proxy.cutAll(refusingNew: true)
                } submitting: {
                    try await store.insert(draft, at: Date(), origin: nil)
                }
            }
            let stored: [String] = try await TestPostgres.withConnection(to: settings) { connection in
                try await TestPostgres.all("SELECT comment FROM feedback", as: String.self, on: connection)
            }
            #expect(stored == ["Lost answer"])
        }
    }

    /// The connection fails while the server is still committing (here a check at commit takes two seconds): the
    /// submission's second try waits for that commit instead of writing the item beside it, and finds it.
    @Test(.timeLimit(.minutes(2)))
    func aCommitStillRunningWhenItsAnswerIsLostIsWaitedForAndWrittenOnce() async throws {
        try await withProxiedStore(postsToSlack: false) { store, proxy, settings, client in
            // Long enough for the test to see it on a loaded machine, well within the second try's lock wait (5 s).
            try await TestPostgres.sleepAtCommit(into: "feedback", seconds: 2, on: settings)
            let draft = FeedbackDraft(clientId: client, source: .api, comment: "Lost answer")
            let (item, _) = try await afterCommitting(on: settings, until: TestPostgres.sleepingAtCommit) {
                proxy.dropAnswers(afterClientSends: CommitPath.batchCall.committingStatement)
            } cut: {
                proxy.cutAll()
            } submitting: {
                try await store.insert(draft, at: Date(), origin: nil)
            }
            let ids: [String] = try await TestPostgres.withConnection(to: settings) { connection in
                try await TestPostgres.all(
                    "SELECT id FROM feedback WHERE comment = 'Lost answer'", as: String.self, on: connection)
            }
            #expect(ids == [item.id])
        }
    }

    /// The lost commit hangs on the server (here a check at commit sleeps 100 s, ended by the test once it has its
    /// answer): the second try does not wait for it (which could take another statement timeout) but gives up on its
    /// lock after a few seconds, and the submission fails with `commitInDoubt` while the lost transaction is still
    /// running. (With a 30 s sleep, the whole suite on two cores once took longer than that to get there.)
    @Test(.timeLimit(.minutes(2)))
    func aCommitTheServerHangsAfterItsAnswerIsLostIsNotWaitedFor() async throws {
        try await withProxiedStore(postsToSlack: false) { store, proxy, settings, client in
            try await TestPostgres.sleepAtCommit(into: "feedback", seconds: 100, on: settings)
            let draft = FeedbackDraft(clientId: client, source: .api, comment: "Lost answer")
            await #expect(throws: PostgresWriterError.commitInDoubt) {
                _ = try await afterCommitting(on: settings, until: TestPostgres.sleepingAtCommit) {
                    proxy.dropAnswers(afterClientSends: CommitPath.batchCall.committingStatement)
                } cut: {
                    proxy.cutAll()
                } submitting: {
                    try await store.insert(draft, at: Date(), origin: nil)
                }
            }
            try await TestPostgres.withConnection(to: settings) { connection in
                // Still running when the submission gave up; ended here, it commits nothing.
                let pids = try await TestPostgres.all(TestPostgres.sleepingAtCommit, as: String.self, on: connection)
                #expect(pids.count == 1)
                for pid in pids {
                    _ = try await TestPostgres.all(
                        "SELECT pg_terminate_backend(\(Int32(pid) ?? 0))", as: Bool.self, on: connection)
                }
            }
        }
    }

    enum CommitPath: String, Sendable, CustomTestStringConvertible {
        case batchCall, batchTransaction, writer
        var testDescription: String { rawValue }

        /// What the statement that commits carries: the call's bound comment, or the transaction's COMMIT.
        var committingStatement: String { self == .batchCall ? "Lost answer" : "COMMIT" }

        func draft(for client: String, in store: PostgresStore) async throws -> FeedbackDraft {
            guard self == .writer else { return FeedbackDraft(clientId: client, source: .api, comment: "Lost answer") }
            let fileName = "\(client)/1700000000000-\(Identifiers.random(8)).png"
            try await store.saveScreenshot(
                StoredScreenshot(
                    fileName: fileName, clientId: client, mimeType: "image/png", fileSize: 4, width: 1, height: 1,
                    createdAt: Date()),
                bytes: [0x89, 0x50, 0x4E, 0x47])
            let shot = ScreenshotRef(
                fileName: fileName, url: "https://usero.test/api/screenshots/\(fileName)", fileSize: 4,
                mimeType: "image/png", width: 1, height: 1)
            return FeedbackDraft(clientId: client, source: .api, comment: "Lost answer", screenshots: [shot])
        }
    }

    /// A store on a fresh database, reached through an `AnswerDroppingProxy`; its client, whose new items are posted
    /// to a Slack channel with `postsToSlack`. Also passes the database's own settings (no proxy).
    private func withProxiedStore(
        postsToSlack: Bool,
        _ body: (PostgresStore, AnswerDroppingProxy, PostgresSettings, String) async throws -> Void
    ) async throws {
        try await TestPostgres.withFreshDatabase { settings in
            _ = try await AnswerDroppingProxy.withProxy(to: settings) { proxied, proxy in
                let backend = try await PostgresBackend.open(proxied, logger: TestPostgres.logger)
                let store = PostgresStore(
                    backend: backend, postsNewFeedbackToSlack: postsToSlack, logger: TestPostgres.logger)
                let (client, _) = try await store.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: Date())
                if postsToSlack {
                    try await TestPostgres.withConnection(to: settings) { connection in
                        try await connection.query(
                            """
                            INSERT INTO slack_installation (team_id, client_id, installed_at, token_envelope, notify_channel)
                            VALUES ('T1', \(client.id), 1, '\\x01'::bytea, 'C1')
                            """, logger: TestPostgres.logger)
                    }
                }
                do {
                    try await body(store, proxy, settings, client.id)
                } catch {
                    await backend.close()
                    throw error
                }
                await backend.close()
            }
        }
    }

    /// Runs `drop`, then `submit`; once `until` returns a row (asked on a connection of the test's own, a few times
    /// a second; by default, once the item committed), runs `cut`, then waits for `submit`. Returns what `submit`
    /// returned and the first row's value (by default the id that committed).
    private struct CutMissed: Error {}

    private func afterCommitting<T: Sendable>(
        on settings: PostgresSettings, until: PostgresQuery = "SELECT id FROM feedback WHERE comment = 'Lost answer'",
        drop: () -> Void, cut: () -> Void, submitting submit: @escaping @Sendable () async throws -> T
    ) async throws -> (T, String) {
        try await TestPostgres.withConnection(to: settings) { connection in
            drop()
            let finished = Mutex(false)
            let submission = Task {
                defer { finished.withLock { $0 = true } }
                return try await submit()
            }
            var seen: [String] = []
            // Bounded, so that a moment missed on a loaded machine (or a submission that ended without waiting for
            // its answer) fails the test with a reason instead of holding it to its time limit.
            let deadline = ContinuousClock.now + .seconds(60)
            while seen.isEmpty {
                try await Task.sleep(for: .milliseconds(20))
                seen = try await TestPostgres.all(until, as: String.self, on: connection)
                guard seen.isEmpty else { break }
                if finished.withLock({ $0 }) || ContinuousClock.now > deadline {
                    cut()
                    let outcome = await submission.result
                    Issue.record("the moment to cut the connection never came; the submission ended with \(outcome)")
                    throw CutMissed()
                }
            }
            cut()
            return (try await submission.value, seen[0])
        }
    }

    /// The batch remembers the allowlists it read; a change made to one since (an operator's edit in the database)
    /// applies to the very next submission both ways: an origin taken off is refused, one added is allowed.
    @Test func anAllowlistChangedSinceABatchReadItAppliesAtOnce() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            let (client, _) = try await store.createClient(
                name: "Acme", plan: .paid, allowedOrigins: ["https://app.example.com"], at: Date())
            func submit(from origin: String) async throws -> String? {
                let draft = FeedbackDraft(clientId: client.id, source: .widget, comment: "From \(origin)")
                do {
                    return try await store.insert(draft, at: Date(), origin: origin).id
                } catch FeedbackError.originNotAllowed {
                    return nil
                }
            }
            func allow(_ origins: String) async throws {
                _ = try await TestPostgres.withConnection(to: settings) { connection in
                    try await connection.query(
                        "UPDATE client SET allowed_origins = \(origins) WHERE id = \(client.id)", logger: TestPostgres.logger)
                }
            }

            let first = try #require(try await submit(from: "https://app.example.com"))
            #expect(try await submit(from: "https://other.example.com") == nil)

            try await allow(#"["https://other.example.com"]"#)
            #expect(try await submit(from: "https://app.example.com") == nil)
            let second = try #require(try await submit(from: "https://other.example.com"))

            try await allow(#"["https://app.example.com","https://other.example.com"]"#)
            let third = try #require(try await submit(from: "https://app.example.com"))

            let page = try await store.listFeedback(clientID: client.id, filter: .init(), limit: 50, after: nil)
            #expect(Set(page.items.map(\.id)) == [first, second, third])
            await backend.close()
        }
    }

    /// Text that JSON must escape goes through the batch's JSON parameter unchanged.
    @Test func everyFieldReadsBackExactlyAsSubmitted() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            let (client, _) = try await store.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: Date())
            let awkward = "Quote \" backslash \\ newline\n tab\t bell \u{7} é 日本 👩🏽‍💻 \u{2028}"
            let drafts = (0..<20).map { i in
                FeedbackDraft(
                    clientId: client.id, source: i % 2 == 0 ? .api : .widget, rating: i % 5 == 0 ? nil : 1 + i % 4,
                    comment: "\(awkward) \(i)", userEmail: "jamie+\(i)@example.com",
                    pageUrl: "https://yourapp.com/p/\(i)?q=\"x\"", pageTitle: i % 4 == 0 ? nil : awkward,
                    // An empty text is not an absent one.
                    referrer: i % 8 == 0 ? "" : "https://ref.example/",
                    environment: i % 3 == 0 ? nil : "staging",
                    metadata: i % 6 == 0 ? nil : .object([awkward: .string(awkward)]),
                    sessionReplayId: "replay_\(i)", replayOffsetMs: i % 7 == 0 ? nil : Int64(i) * 1000,
                    userId: i % 5 == 1 ? nil : "user-\(i)")
            }
            let items = try await withThrowingTaskGroup(of: FeedbackItem.self) { group in
                for draft in drafts { group.addTask { try await store.insert(draft, at: Date(), origin: nil) } }
                return try await group.reduce(into: [FeedbackItem]()) { $0.append($1) }
            }
            for item in items {
                let stored = try #require(try await store.feedback(id: item.id, clientID: client.id))
                #expect(stored.draft == item.draft)
                #expect(epochMillis(stored.createdAt) == epochMillis(item.createdAt))
            }
            await backend.close()
        }
    }

    /// Submissions keep arriving while the server stops in immediate mode (no checkpoint) and starts again: the
    /// ones in flight end (a batch on the wire fails; one waiting for a connection may get a new one once the server
    /// is back) instead of hanging, later batches prepare their statement again on new connections, and every
    /// acknowledged id is stored afterwards.
    @Test(.timeLimit(.minutes(3)))
    func acknowledgedSubmissionsSurviveAnImmediateShutdown() async throws {
        let cluster = try await ScriptedCluster.start()
        defer { cluster.stop() }
        let backend = try await PostgresBackend.open(try cluster.settings, logger: TestPostgres.logger)
        let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
        let (client, _) = try await store.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: Date())
        let (acked, inFlightAtCrash) = try await cluster.writeThroughAnImmediateShutdown(milestone: 1000) {
            writer, _ in
            let draft = FeedbackDraft(clientId: client.id, source: .api, comment: "From \(writer)")
            return try await store.insert(draft, at: Date(), origin: nil).id
        }
        let statistics = backend.commitStatistics
        await backend.close()

        #expect(inFlightAtCrash > 0)
        // They shared statements, and every one that was acknowledged is there.
        #expect(statistics.commits < statistics.writes)
        let stored = try await TestPostgres.withConnection(to: try cluster.settings) { connection in
            let ids: [String] = try await TestPostgres.all("SELECT id FROM feedback", as: String.self, on: connection)
            return Set(ids)
        }
        let lost = acked.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "acknowledged submissions lost after an immediate shutdown: \(lost.prefix(20))")
    }

    /// With the server down, a submission does not wait for it to come back (one waited 43 s): the pool's connections
    /// that the server closed are passed over, after a second without a connection the server is asked directly,
    /// and the submission fails with `StoreUnavailable` (a 503 the client retries), having sent nothing; from then on submissions fail at once while the server refuses
    /// connections. Reads fail the same way. Once the server is back, everything works again within a second or so:
    /// postgres-nio's own pool, retrying with a backoff that had grown to seconds by then (to a minute after longer
    /// outages), is replaced by a fresh one.
    @Test(.timeLimit(.minutes(3)))
    func withTheServerDownWritesAndReadsFailPromptlyWithNothingWrittenAndComeBackWithIt() async throws {
        let cluster = try await ScriptedCluster.start()
        defer { cluster.stop() }
        // A lease timeout far above what a refusal takes even on a loaded machine, so that "less than it" still means
        // "did not wait it out" (at 5 s, one slow attempt among a hundred under the whole suite failed the test).
        var options = PostgresBackend.Options()
        options.leaseTimeout = .seconds(30)
        let backend = try await PostgresBackend.open(try cluster.settings, options: options, logger: TestPostgres.logger)
        let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
        let (client, _) = try await store.createClient(name: "Acme", plan: .paid, allowedOrigins: [], at: Date())
        let submit = { (comment: String) in
            try await store.insert(FeedbackDraft(clientId: client.id, source: .api, comment: comment), at: Date(), origin: nil)
        }

        // Connections the pool holds when the server goes are passed over once closed; one closed before its
        // statement went out fails with `StoreUnavailable` too (it once failed with the connection's own error, a 500
        // where the client should retry). Only a statement sent on a connection whose closing had not been seen yet
        // (a request in flight as the server went) may have committed: tried again, it finds no server to ask, and
        // fails with `commitInDoubt` (a 500).
        _ = try await store.listFeedback(clientID: client.id, filter: FeedbackFilter(), limit: 10, after: nil)
        try await cluster.crash()
        let started = ContinuousClock.now
        var inFlight = 0
        while inFlight < 4 {
            do {
                _ = try await submit("down")
                Issue.record("a submission was stored with the server down")
                break
            } catch is StoreUnavailable {
                break
            } catch {
                #expect(error as? PostgresWriterError == .commitInDoubt, "\(error)")
                inFlight += 1
            }
        }
        #expect(inFlight < 4)
        await #expect(throws: StoreUnavailable.self) {
            _ = try await store.listFeedback(clientID: client.id, filter: FeedbackFilter(), limit: 10, after: nil)
        }
        // A second's wait and the check of the server, then an immediate refusal: within one lease timeout (on a
        // quiet machine about a second; the whole test suite runs beside this).
        #expect(ContinuousClock.now - started < options.leaseTimeout)

        // Down for 25 s, long enough for the pool's backoff to grow past a few seconds: every submission is refused
        // without waiting out the lease timeout (on a quiet machine within milliseconds).
        let outage = ContinuousClock.now
        var slowestRefusal = Duration.zero
        while ContinuousClock.now - outage < .seconds(25) {
            let attempt = ContinuousClock.now
            await #expect(throws: StoreUnavailable.self) { _ = try await submit("still down") }
            slowestRefusal = max(slowestRefusal, ContinuousClock.now - attempt)
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(slowestRefusal < options.leaseTimeout)

        try await cluster.restart()
        var stored: FeedbackItem?
        let restarted = ContinuousClock.now
        while stored == nil, ContinuousClock.now - restarted < .seconds(120) {
            do {
                stored = try await submit("up")
            } catch is StoreUnavailable {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        // Back within seconds, not after the old pool's backoff (which had grown towards a minute).
        #expect(ContinuousClock.now - restarted < .seconds(15))
        let back = try #require(stored)
        let page = try await store.listFeedback(clientID: client.id, filter: FeedbackFilter(), limit: 10, after: nil)
        await backend.close()
        #expect(page.items.map(\.id) == [back.id])
        #expect(page.items.first?.draft.comment == "up")
    }
}
