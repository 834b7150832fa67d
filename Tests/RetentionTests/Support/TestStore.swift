import Feedback
import Foundation
import GRDB
import Synchronization

/// A clock tests set by hand.
final class TestClock: WallClock, Sendable {
    private let instant: Mutex<Date>

    init(_ date: Date = Date()) {
        instant = Mutex(date)
    }

    func now() -> Date { instant.withLock { $0 } }

    func set(_ date: Date) { instant.withLock { $0 = date } }
}

/// A fresh SQLite file and data folder for one test; `reopened()` stands in for a process restart.
struct TestStore: Sendable {
    let folder: URL
    let database: AppDatabase
    let files: ScreenshotFiles
    let store: SQLiteFeedbackStore

    static let day: TimeInterval = 86_400

    init(folder: URL = FileManager.default.temporaryDirectory.appendingPathComponent("usero-retention-\(UUID())"))
        throws
    {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        self.folder = folder
        database = try AppDatabase(path: folder.appendingPathComponent("usero.sqlite").path)
        files = ScreenshotFiles(dataDirectory: folder.appendingPathComponent("data").path)
        store = SQLiteFeedbackStore(database: database, files: files)
    }

    /// A new database connection on the same files, as a restarted process would open them.
    func reopened() throws -> TestStore { try TestStore(folder: folder) }

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
        try files.writeDurably(Array("not really a png".utf8), fileName: fileName)
        try await store.insertScreenshot(
            StoredScreenshot(
                fileName: fileName, clientId: clientID, mimeType: "image/png", fileSize: 16, width: 1, height: 1,
                createdAt: date))
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

    func exists(feedback id: String) async throws -> Bool {
        try await count("feedback", where: "id = ?", [id]) == 1
    }
}
