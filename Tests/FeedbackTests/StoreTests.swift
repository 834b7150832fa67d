import Feedback
import Foundation
import GRDB
@testable import StoreSQLite
import Testing
import UseroTestSupport

/// The store on a fresh SQLite file per test.
@Suite struct StoreTests {
    let folder = TestFolders.make("usero-store")

    /// One Slack message, captured by a reaction.
    static let capture = SlackCapture(
        teamId: "T0001", channelId: "C0001", messageTs: "1700000000.000100", threadTs: nil, authorId: "U0002",
        forwardedBy: "U0001", capturedVia: .reactionWrench, permalink: nil)

    func makeStore() async throws -> SQLiteStore {
        try await SQLiteStore(path: folder.appendingPathComponent("usero.sqlite").path, dataDirectory: folder.path)
    }

    /// A `usero` command opens the file beside a running `serve`: the jobs serve has leased stay leased (once, every
    /// command released them, and serve's running jobs became claimable again and ran twice). Only a start of serve,
    /// when no process on this file holds a lease, hands them back.
    @Test func openingTheStoreLeavesJobLeasesToTheProcessHoldingThem() async throws {
        let serving = try await makeStore()
        try await serving.database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO job (kind, team_id, payload, run_at, created_at, lease_until)
                    VALUES ('slack.post_feedback', 'T0001', '{}', 0, 0, 9999999999999)
                    """)
        }
        func lease() async throws -> Int64? {
            try await serving.database.read { db in try Int64.fetchOne(db, sql: "SELECT lease_until FROM job") }
        }
        _ = try await makeStore()  // `usero clients create` beside serve
        #expect(try await lease() == 9_999_999_999_999)
        try await makeStore().releaseJobLeases()  // serve starting again
        #expect(try await lease() == nil)
    }

    /// When SQLite rolls a shared transaction back on its own (a full disk during a cache spill, an I/O error), the
    /// piece that met it and every other piece get that error, which the service answers 503 ("Storage is nearly
    /// full", retry), not the writer's own "rolled back" or SQLite's "no transaction is active" (500s). Simulated
    /// by a piece that rolls the transaction back and reports a full disk.
    @Test func aTransactionSQLiteRolledBackFailsEveryPieceWithItsCause() async throws {
        let store = try await makeStore()
        await #expect {
            try await store.database.write(savepoint: false) { db in
                try db.execute(sql: "ROLLBACK")
                throw DatabaseError(resultCode: .SQLITE_FULL)
            }
        } throws: { error in
            (error as? DatabaseError)?.resultCode == .SQLITE_FULL
        }
        // The writer goes on
        try await store.database.write { db in try db.execute(sql: "CREATE TABLE after_rollback (id INTEGER)") }
    }

    @Test func theWriterIsInWALModeWithFullSync() async throws {
        let store = try await makeStore()
        // The writer is the connection that commits, so its setting is the one that makes a 200 durable.
        let (mode, sync) = try await store.database.write { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(mode == "wal")
        #expect(sync == 2)  // FULL
    }

    @Test func adminKeysAreStoredOnlyAsHashes() async throws {
        let store = try await makeStore()
        let (client, key) = try await store.createClient(name: "A", plan: .free, allowedOrigins: [], at: Date())
        #expect(try await store.client(adminKey: key)?.id == client.id)
        #expect(try await store.client(adminKey: key + "x") == nil)
        let raw = try await store.database.read { db in try Data.fetchOne(db, sql: "SELECT admin_key_hash FROM client") }
        #expect(raw?.count == 32)
        let fileBytes = try Data(contentsOf: folder.appendingPathComponent("usero.sqlite-wal"))
        #expect(fileBytes.range(of: Data(key.utf8)) == nil)
    }

    @Test func aFailingWriteDoesNotTakeItsNeighboursDown() async throws {
        let store = try await makeStore()
        let (client, _) = try await store.createClient(name: "A", plan: .free, allowedOrigins: [], at: Date())
        let outcomes = await withTaskGroup(of: Bool.self) { group -> [Bool] in
            for index in 0..<100 {
                group.addTask {
                    do {
                        try await store.database.write { db in
                            if index % 10 == 0 {
                                try db.execute(sql: "INSERT INTO no_such_table VALUES (1)")
                            }
                            try db.execute(
                                sql: "INSERT INTO feedback (id, client_id, source, created_at, rating) VALUES (?, ?, 'api', 0, 1)",
                                arguments: ["fb_\(index)", client.id])
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 90)
        let stored = try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM feedback") }
        #expect(stored == 90)
    }

    /// A submission whose write is the insert alone runs without a savepoint: its failing statement must still leave
    /// its neighbours in the same commit whole, and a refusal before the insert must write nothing.
    @Test func aRefusedInsertWithoutASavepointLeavesItsNeighboursWhole() async throws {
        let store = try await makeStore()
        let (client, _) = try await store.createClient(name: "A", plan: .free, allowedOrigins: [], at: Date())
        let capture = Self.capture
        let outcomes = await withTaskGroup(of: (String, Bool).self) { group -> [(String, Bool)] in
            for index in 0..<120 {
                group.addTask {
                    let draft: FeedbackDraft
                    let kind: String
                    switch index % 4 {
                    case 0:  // the same Slack message again and again: only one may become a row
                        (kind, draft) = ("slack", FeedbackDraft(clientId: client.id, source: .slack, comment: "same", slack: capture))
                    case 1:  // refused before anything is written
                        (kind, draft) = ("unknown", FeedbackDraft(clientId: "cl_none", source: .api, rating: 1))
                    default:
                        (kind, draft) = ("plain", FeedbackDraft(clientId: client.id, source: .api, comment: "n\(index)"))
                    }
                    do {
                        _ = try await store.insert(draft, at: Date(), origin: nil)
                        return (kind, true)
                    } catch {
                        return (kind, false)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let plainStored = outcomes.filter { $0.0 == "plain" }.allSatisfy { $0.1 }
        let unknownRefused = outcomes.filter { $0.0 == "unknown" }.allSatisfy { !$0.1 }
        let slackAccepted = outcomes.filter { $0.0 == "slack" && $0.1 }.count
        #expect(plainStored)
        #expect(unknownRefused)
        #expect(slackAccepted == 1)
        let stored = try await store.database.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM feedback WHERE source = 'api'"),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM feedback WHERE source = 'slack'"))
        }
        #expect(stored.0 == 60)
        #expect(stored.1 == 1)
        #expect(store.database.commitStatistics.commits < 120)
    }

    /// Some failures (a full disk, an I/O error) make SQLite roll a whole transaction back. Whatever pieces of that
    /// group commit then report, it must be true: what reports failure left nothing, what reports success is
    /// stored. (The rollback is made here by a piece itself, the way SQLite would make it.)
    @Test func aTransactionSQLiteRolledBackFailsEveryPieceOfIt() async throws {
        let store = try await makeStore()
        let (client, _) = try await store.createClient(name: "A", plan: .free, allowedOrigins: [], at: Date())
        let outcomes = await withTaskGroup(of: (String, Bool).self) { group -> [(String, Bool)] in
            for index in 0..<100 {
                group.addTask {
                    let id = "fb_\(index)"
                    do {
                        try await store.database.write(savepoint: false) { db in
                            if index % 25 == 10 {
                                try db.execute(sql: "ROLLBACK")
                                return
                            }
                            try db.execute(
                                sql: "INSERT INTO feedback (id, client_id, source, created_at, rating) VALUES (?, ?, 'api', 0, 1)",
                                arguments: [id, client.id])
                        }
                        return (id, true)
                    } catch {
                        return (id, false)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let stored = Set(try await store.database.read { db in try String.fetchAll(db, sql: "SELECT id FROM feedback") })
        let reportedStored = Set(outcomes.filter { $0.1 }.map { $0.0 })
        let someFailed = outcomes.contains { !$0.1 }
        #expect(stored == reportedStored)
        #expect(someFailed)
    }

    @Test func oneSlackMessageCanOnlyBeOneRow() async throws {
        let store = try await makeStore()
        let (client, _) = try await store.createClient(name: "A", plan: .free, allowedOrigins: [], at: Date())
        let capture = Self.capture
        let draft = FeedbackDraft(clientId: client.id, source: .slack, comment: "text", slack: capture)
        _ = try await store.insert(draft, at: Date(), origin: nil)
        await #expect(throws: DatabaseError.self) { _ = try await store.insert(draft, at: Date(), origin: nil) }
    }

    @Test func concurrentWritesShareCommits() async throws {
        let store = try await makeStore()
        let (client, _) = try await store.createClient(name: "A", plan: .free, allowedOrigins: [], at: Date())
        let before = store.database.commitStatistics
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<400 {
                group.addTask {
                    _ = try await store.insert(
                        FeedbackDraft(clientId: client.id, source: .api, rating: 2), at: Date(), origin: nil)
                }
            }
            try await group.waitForAll()
        }
        let after = store.database.commitStatistics
        #expect(after.writes - before.writes == 400)
        // Group commit: waiting writes ride along in one transaction, so there are fewer commits than writes.
        #expect(after.commits - before.commits < 400)
        let stored = try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM feedback") }
        #expect(stored == 400)
    }
}
