import Feedback
import Foundation
import GRDB
import SlackGateway
@testable import StoreSQLite
@_exported import UseroTestSupport

/// A fresh SQLite file and data folder for one test; `reopened()` stands in for a process restart.
struct TestStore: Sendable {
    let folder: URL
    /// The embedded backend, as every protocol the modules declare.
    let store: SQLiteStore

    /// Its database, for counting rows in the tests.
    var database: AppDatabase { store.database }
    /// Its screenshot files.
    var files: ScreenshotFiles { store.files }
    /// The other modules' parts of an account, as the executable wires them.
    var owners: [any AccountDataOwner] { [SlackAccountData(store: store, wakeup: nil)] }

    static let day: TimeInterval = 86_400

    init(folder: URL = TestFolders.path("usero-retention"))
        async throws
    {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        self.folder = folder
        store = try await SQLiteStore(
            path: folder.appendingPathComponent("usero.sqlite").path,
            dataDirectory: folder.appendingPathComponent("data").path)
    }

    /// A new database connection on the same files, as a restarted process would open them.
    func reopened() async throws -> TestStore { try await TestStore(folder: folder) }

    func createClient(plan: Plan = .free) async throws -> String {
        try await store.createClient(name: "Test", plan: plan, allowedOrigins: [], at: Date()).0.id
    }

    /// Stores one item created at `date`, with optional fields.
    @discardableResult
    func insertFeedback(
        clientID: String, at date: Date, comment: String = "Feedback", userEmail: String? = nil,
        userId: String? = nil, slack: SlackCapture? = nil, screenshots: [ScreenshotRef] = []
    ) async throws -> String {
        let draft = FeedbackDraft(
            clientId: clientID, source: slack == nil ? .api : .slack, comment: comment, userEmail: userEmail,
            screenshots: screenshots, userId: userId, slack: slack)
        return try await store.insert(draft, at: date, origin: nil).id
    }

    /// Writes a screenshot file and its row (unattached), as `POST /api/screenshots` does.
    func uploadScreenshot(clientID: String, at date: Date) async throws -> ScreenshotRef {
        let fileName = "\(clientID)/\(epochMillis(date))-\(Identifiers.random(8)).png"
        try await store.saveScreenshot(
            StoredScreenshot(
                fileName: fileName, clientId: clientID, mimeType: "image/png", fileSize: 16, width: 1, height: 1,
                createdAt: date),
            bytes: Array("not really a png".utf8))
        return ScreenshotRef(
            fileName: fileName, url: "http://127.0.0.1/api/screenshots/\(fileName)", fileSize: 16,
            mimeType: "image/png", width: 1, height: 1)
    }

    func fileExists(_ ref: ScreenshotRef) -> Bool {
        files.url(for: ref.fileName).map { FileManager.default.fileExists(atPath: $0.path) } ?? false
    }

    func count(_ table: String, where condition: String = "1", _ arguments: StatementArguments = []) async throws
        -> Int
    {
        try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE \(condition)", arguments: arguments) ?? 0
        }
    }

    /// Returns once `condition` holds: it is read now and again after every commit that touches the tables it
    /// reads (GRDB's observation of the file), so a test awaits the write instead of polling with sleeps.
    func waitUntil(_ condition: @escaping @Sendable (Database) throws -> Bool) async throws {
        for try await holds in ValueObservation.tracking(condition).values(in: database.pool) where holds { return }
    }

    func exists(feedback id: String) async throws -> Bool {
        try await count("feedback", where: "id = ?", [id]) == 1
    }
}
