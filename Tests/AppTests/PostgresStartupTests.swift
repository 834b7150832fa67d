import Foundation
import StorePostgres
#if canImport(Glibc)
import Glibc
#endif
import Testing
import UseroTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `serve` on PostgreSQL at startup, as an operator meets it: a database that is not up yet, and logs at `trace`.
@Suite(.serialized, .enabled(if: TestBackend.postgresURL != nil, "USERO_TEST_POSTGRES_URL is not set"))
struct PostgresStartupTests {
    let folder = TestServer.makeFolder()

    func environment(database: String) -> [String: String] {
        ["USERO_DATABASE": database, "USERO_DATA_DIR": folder.appendingPathComponent("data").path,
         "USERO_TOKEN_KEY": SlackTestSettings.tokenKey, "USERO_PORT": "0"]
    }

    /// At `LOG_LEVEL=trace` postgres-nio would log every wire message, the rows read among them (an end user's email,
    /// in hex); the logger it gets stops at debug, so the README's "logs never contain emails" holds.
    @Test func traceLoggingOnPostgreSQLNeverShowsAnEmail() async throws {
        let settings = try await TestBackend.database(for: folder)
        let base = try #require(TestBackend.postgresURL)
        let query = base.firstIndex(of: "?") ?? base.endIndex
        let slash = try #require(base[..<query].lastIndex(of: "/"))
        var environment = environment(database: String(base[..<slash]) + "/" + settings.database + String(base[query...]))
        environment.removeValue(forKey: "USERO_PORT")
        environment["LOG_LEVEL"] = "trace"
        let client = try await UseroBinary.createClient(name: "Traced", environment: environment)
        let canary = "canary-\(UInt32.random(in: 0...UInt32.max))@example.com"
        let log = folder.appendingPathComponent("trace.log").path
        let port = UseroBinary.freePort()
        let (process, healthy) = try await UseroBinary.startServe(port: port, environment: environment, log: log)
        defer { process.send(SIGKILL) }
        try #require(healthy)
        let identified = try await HTTPResult.send(
            "POST", "http://127.0.0.1:\(port)/api/identify", headers: ["Content-Type": "application/json"],
            body: Data(#"{"clientId":"\#(client.id)","userId":"traced-user","email":"\#(canary)"}"#.utf8))
        #expect(identified.status == 200)
        let exported = try await HTTPResult.send(
            "GET", "http://127.0.0.1:\(port)/api/privacy/export?userId=traced-user",
            headers: ["Authorization": "Bearer \(client.adminKey)"])
        #expect(exported.status == 200)
        #expect(exported.text.contains(canary))
        process.send(SIGTERM)
        #expect(await waitForExit(process) == 0)
        let lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(lines.contains("usero listening"), "\(lines.prefix(2000))")
        // postgres-nio prints a row's bytes in hex (`.dataRow(… bytes: [00000014636172…](24 bytes))`)
        let hex = canary.utf8.map { String($0, radix: 16) }.joined()
        let leaking = lines.split(separator: "\n").filter { $0.contains(canary) || $0.lowercased().contains(hex) }
        #expect(leaking.isEmpty, "\(leaking.prefix(3))")
    }
}
