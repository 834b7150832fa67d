import Feedback
import Foundation
import PostgresNIO
import Retention
import StorePostgres
import Testing

/// Deletions racing writes that other instances have in flight (the SQLite store has one writer, so never meets them).
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresConcurrentDeletionTests {
    /// A fresh store with a client, an upload and the first item naming it (at 1,700,000,000 s), handed to `body`
    /// with the database's settings; closed after.
    static func withAnItemNamingAnUpload(
        _ body: (PostgresSettings, PostgresStore, Client, ScreenshotRef, FeedbackItem) async throws -> Void
    ) async throws {
        try await TestPostgres.withFreshDatabase { settings in
            let backend = try await PostgresBackend.open(settings, logger: TestPostgres.logger)
            let store = PostgresStore(backend: backend, logger: TestPostgres.logger)
            do {
                let (client, _) = try await store.createClient(name: "Acme", plan: .free, allowedOrigins: [], at: Date())
                let fileName = "\(client.id)/1700000000000-\(Identifiers.random(8)).png"
                try await store.saveScreenshot(
                    StoredScreenshot(
                        fileName: fileName, clientId: client.id, mimeType: "image/png", fileSize: 4, width: 1, height: 1,
                        createdAt: Date()),
                    bytes: [0x89, 0x50, 0x4E, 0x47])
                let shot = ScreenshotRef(
                    fileName: fileName, url: "https://usero.test/api/screenshots/\(fileName)", fileSize: 4,
                    mimeType: "image/png", width: 1, height: 1)
                let first = try await store.insert(
                    FeedbackDraft(clientId: client.id, source: .api, comment: "First", screenshots: [shot]),
                    at: Date(timeIntervalSince1970: 1_700_000_000), origin: nil)
                try await body(settings, store, client, shot, first)
                await backend.close()
            } catch {
                await backend.close()
                throw error
            }
        }
    }

    /// Deletes `first` as an admin does (`bySweep` false) or as a sweep taking the items older than 1,750,000,000 s
    /// does, in a task; returns once another session sees a statement of it waiting for a lock.
    static func deleting(
        _ first: FeedbackItem, of client: Client, from store: PostgresStore, bySweep: Bool, settings: PostgresSettings,
        waitingFor what: String
    ) async throws -> Task<Void, any Error> {
        let deletion = Task {
            if bySweep {
                let deleted = try await store.deleteFeedbackBatch(
                    .createdBefore(clientID: client.id, cutoff: 1_750_000_000_000, plan: .free), limit: 10,
                    at: 1_800_000_000_000, record: .none)
                #expect(deleted?.batch.rows == 1)
            } else {
                #expect(try await store.deleteFeedback(id: first.id, clientID: client.id))
            }
        }
        try await TestPostgres.withConnection(to: settings) { watcher in
            for _ in 0..<200 {
                let waiting = try await TestPostgres.scalar(
                    """
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'
                    """, as: Int64.self, on: watcher)
                if (waiting ?? 0) > 0 { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            Issue.record("the deletion never waited for \(what)")
        }
        return deletion
    }

    /// A screenshot goes with the last item that names it. An item naming an upload that an item being deleted
    /// claimed, inserted (on another instance) while the deletion runs, keeps the upload: the deletion waits for it
    /// and hands the upload on. In one statement, the deletion's snapshot missed the new item's claim and deleted the
    /// upload (its bytes too) from under an item that was acknowledged before the deletion was.
    @Test(arguments: [false, true])
    func anUploadNamedByAnItemInsertedDuringItsFirstItemsDeletionStays(bySweep: Bool) async throws {
        try await Self.withAnItemNamingAnUpload { settings, store, client, shot, first in
            try await TestPostgres.withConnection(to: settings) { other in
                // Another instance's insert of an item naming the upload, as the store writes it, not committed.
                try await other.query("BEGIN", logger: TestPostgres.logger)
                try await other.query(
                    """
                    INSERT INTO feedback (id, client_id, source, created_at, comment)
                    VALUES ('fb_second', \(client.id), 'api', \(Int64(1_800_000_000_000)), 'Second')
                    """, logger: TestPostgres.logger)
                try await other.query(
                    """
                    WITH named AS (
                        SELECT file_name, feedback_id FROM screenshot WHERE file_name = \(shot.fileName) FOR NO KEY UPDATE
                    )
                    INSERT INTO feedback_screenshot (feedback_id, file_name) SELECT 'fb_second', file_name FROM named
                    """, logger: TestPostgres.logger)

                let deletion = try await Self.deleting(
                    first, of: client, from: store, bySweep: bySweep, settings: settings, waitingFor: "the insert")
                try await other.query("COMMIT", logger: TestPostgres.logger)
                try await deletion.value

                #expect(try await store.feedback(id: first.id, clientID: client.id) == nil)
                let owner = try await TestPostgres.scalar(
                    "SELECT feedback_id FROM screenshot WHERE file_name = \(shot.fileName)", as: String?.self, on: other)
                #expect(owner == "fb_second")
                #expect(try await store.screenshot(fileName: shot.fileName) != nil)
            }
        }
    }

    /// Two items naming one upload, deleted at once (two admins, two instances, or an admin and a sweep): the deletion
    /// of the item that claimed it handed it to the other while that one was being deleted, failed the hand-over's
    /// foreign key once the other committed, and answered 500 with its item kept (found by a review). It now waits
    /// for the other deletion, finds no heir left, and deletes the upload with its item.
    @Test(arguments: [false, true])
    func deletingAnUploadsTwoItemsAtOnceDeletesBothAndTheUpload(bySweep: Bool) async throws {
        try await Self.withAnItemNamingAnUpload { settings, store, client, shot, first in
            let second = try await store.insert(
                FeedbackDraft(clientId: client.id, source: .api, comment: "Second", screenshots: [shot]),
                at: Date(timeIntervalSince1970: 1_800_000_000), origin: nil)
            try await TestPostgres.withConnection(to: settings) { other in
                // Another instance deleting the second item, as the store does, not committed yet.
                try await other.query("BEGIN", logger: TestPostgres.logger)
                try await other.query(
                    "SELECT id FROM feedback WHERE id = \(second.id) FOR UPDATE", logger: TestPostgres.logger)
                try await other.query("DELETE FROM feedback WHERE id = \(second.id)", logger: TestPostgres.logger)

                let deletion = try await Self.deleting(
                    first, of: client, from: store, bySweep: bySweep, settings: settings,
                    waitingFor: "the other deletion")
                try await other.query("COMMIT", logger: TestPostgres.logger)
                try await deletion.value

                #expect(try await store.feedback(id: first.id, clientID: client.id) == nil)
                #expect(try await store.feedback(id: second.id, clientID: client.id) == nil)
                #expect(try await store.screenshot(fileName: shot.fileName) == nil)
            }
        }
    }
}
