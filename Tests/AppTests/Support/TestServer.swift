import GRDB
import Feedback
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
@testable import usero

@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `usero` server on an ephemeral loopback port with a temporary SQLite file and data folder.
///
/// `TestServer.run { server in … }` starts it, hands it to the test, and shuts it down gracefully. The folder (and
/// so the database) can be handed to a second run to test a restart.
struct TestServer: Sendable {
    let baseURL: String
    let port: Int
    let parts: AppParts
    let logs: CapturedLogs
    let folder: URL

    /// A fresh temporary folder for one test.
    static func makeFolder() -> URL {
        TestFolders.make("usero-test")
    }

    /// The configuration a test server starts with, before `configure` adjusts it.
    static func config(folder: URL) -> AppConfig {
        var config = AppConfig()
        config.host = "127.0.0.1"
        config.port = 0
        config.databasePath = folder.appendingPathComponent("usero.sqlite").path
        config.dataDirectory = folder.appendingPathComponent("data").path
        config.publicURL = "http://127.0.0.1:0"
        // Suites send bursts from one address and client; the rate-limit tests turn it back on, on a stopped clock:
        // at 3 a minute a bucket refills one request every 20 s, which a test under the whole suite can take.
        config.publicRateLimit = 0
        let stopped = ContinuousClock.now
        config.rateLimitClock = { stopped }
        return config
    }

    /// The PostgreSQL pass (USERO_TEST_BACKEND=postgres): the folder's own database instead of its SQLite file;
    /// the same folder is the same database, so a restart finds its data.
    static func onTestBackend(_ config: inout AppConfig, folder: URL) async throws {
        if TestBackend.usesPostgres, config.postgres == nil, config.databasePath.hasSuffix("usero.sqlite") {
            config.postgres = try await TestBackend.database(for: folder)
            config.databasePath = "postgres"
        }
    }

    /// Runs `body` against a started server; shuts it down afterwards, whatever `body` does.
    static func run<T: Sendable>(
        folder: URL = makeFolder(), logs: CapturedLogs = CapturedLogs(), clock: any WallClock = SystemClock(),
        configure: @Sendable (inout AppConfig) -> Void = { _ in },
        _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        var config = config(folder: folder)
        configure(&config)
        try await onTestBackend(&config, folder: folder)
        let finalConfig = config
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let (app, parts) = try await buildApplication(
            config: finalConfig, logger: logs.logger(), clock: clock,
            onServerRunning: { port in continuation.yield(port) })
        return try await withRunningService(app, ports: ports, logger: logs.logger(label: "service-group")) { port in
            try await body(
                TestServer(baseURL: "http://127.0.0.1:\(port)", port: port, parts: parts, logs: logs, folder: folder))
        }
    }

    /// Creates a client in the store; returns its id and admin key.
    func createClient(plan: Plan = .free, allowedOrigins: [String] = []) async throws -> (id: String, key: String) {
        let (client, key) = try await parts.store.createClient(
            name: "Test", plan: plan, allowedOrigins: allowedOrigins, at: Date())
        return (client.id, key)
    }

    /// Sends one HTTP request and returns the status, headers and body.
    func request(
        _ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil
    ) async throws -> HTTPResult {
        try await HTTPResult.send(method, baseURL + path, headers: headers, body: body)
    }

    /// `GET /healthz`'s status once it is not a 503 "store did not answer in time" (asked up to five times): the
    /// probe gives a store read 5 s, which the full suite on two cores has outlasted. A route that refuses health on
    /// purpose (a limit, a watermark) answers the same every time, so the retries do not hide it.
    func healthStatus() async throws -> Int {
        var status = 0
        for _ in 0..<5 {
            status = try await request("GET", "/healthz").status
            if status != 503 { break }
        }
        return status
    }

    /// Sends JSON.
    func postJSON(_ path: String, _ json: String, headers: [String: String] = [:]) async throws -> HTTPResult {
        var all = headers
        all["Content-Type"] = all["Content-Type"] ?? "application/json"
        return try await request("POST", path, headers: all, body: Data(json.utf8))
    }

    /// Counts rows of a table (or matching a condition) straight from the database.
    func count(_ table: String, where condition: String = "1") async throws -> Int {
        if let postgres = parts.backend.postgres {
            // PostgreSQL keeps a captured row's Slack member ids in a table of their own: joined back, the same
            // conditions hold on both backends.
            let source = table == "feedback" ? TestBackend.feedbackWithSlackPeople : table
            let sql = "SELECT COUNT(*) FROM \(source) WHERE \(condition == "1" ? "true" : condition)"
            return try await TestBackend.count(sql, in: postgres)
        }
        return try await parts.database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE \(condition)") ?? 0
        }
    }

    /// Runs one statement with literal values (tests arranging rows below the API), on either backend.
    func execute(_ sql: String) async throws {
        if let postgres = parts.backend.postgres {
            try await TestBackend.execute(sql, in: postgres)
        } else {
            try await parts.database.write { db in try db.execute(sql: sql) }
        }
    }

    /// A blob literal in the backend's dialect.
    func bytesLiteral(hex: String) -> String {
        parts.backend.postgres != nil ? "'\\x\(hex)'::bytea" : "x'\(hex)'"
    }

    /// Every byte of the database file and its WAL, for searching secrets and canaries; on PostgreSQL, the text of
    /// every row of every table.
    func databaseBytes() async throws -> Data {
        if let postgres = parts.backend.postgres { return try await TestBackend.everyRow(in: postgres) }
        var data = Data()
        for suffix in ["", "-wal", "-shm"] {
            if let bytes = FileManager.default.contents(atPath: parts.config.databasePath + suffix) { data.append(bytes) }
        }
        return data
    }
}

/// What came back from a request.
struct HTTPResult: Sendable {
    let status: Int
    let headers: [String: String]
    let body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as a JSON object (empty when it is not one).
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }

    /// A response header, by case-insensitive name.
    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    /// The redirect delegate is the session's: swift-corelibs-foundation ignores per-task delegates for redirects.
    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    /// The same without cookie storage: only the `Cookie` headers a test sets go out.
    private static let cookieless: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    /// Sends a request with URLSession (libcurl underneath), following no redirects.
    static func send(_ method: String, _ url: String, headers: [String: String] = [:], body: Data? = nil) async throws
        -> HTTPResult
    {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        // A `Cookie` the test sets is the one sent: through a session without a cookie jar, not the shared one, which
        // replaces it with what it stored from other tests' answers on the same host (cookies do not tell ports apart).
        let session = headers.keys.contains { $0.lowercased() == "cookie" } ? cookieless : session
        let (data, response) = try await uncancellable { [request] in try await session.data(for: request) }
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields { fields["\(key)"] = "\(value)" }
        return HTTPResult(status: http.statusCode, headers: fields, body: data)
    }
}

/// Leaves redirects to the test to inspect.
private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}

/// Runs `body` where the caller's cancellation cannot reach it (it still ends at the session's 30 s timeout).
/// swift-corelibs-foundation's URLSessionTask.cancel() can race with the task's own completion and crash the whole
/// test process ("Trying to access a behaviour for a task that in not in the registry"); a test whose task group
/// cancels a request still in flight (a poll that gave up, a fake Slack call no longer awaited) triggered it.
func uncancellable<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task { try await body() }.value
}

