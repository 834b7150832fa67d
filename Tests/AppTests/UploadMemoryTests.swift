import Feedback
import Foundation
import Testing

@testable import usero
@testable import StoreSQLite
import UseroTestSupport

/// Item 9 of issue 11: uploads are bounded in number, and neither an upload nor a download is copied whole again.
@Suite struct UploadMemoryTests {
    func upload(_ server: TestServer, clientId: String, file: Data) async throws -> HTTPResult {
        var form = MultipartBody()
        form.field("clientId", clientId)
        form.file("screenshot", fileName: "shot", type: "image/png", file)
        return try await server.request(
            "POST", "/api/screenshots", headers: ["Content-Type": form.contentType], body: form.finished())
    }

    /// Until `condition` holds (the server has no commit to wake on here), at most 200 tries.
    @discardableResult
    static func poll(_ what: String, _ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<200 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("Never held: \(what)")
        return false
    }

    @Test func anUploadBeyondTheConcurrencyLimitIs503WithRetryAfterBeforeItsBodyIsRead() async throws {
        try await TestServer.run(configure: { $0.maxConcurrentUploads = 1 }) { server in
            let client = try await server.createClient()
            // One upload in progress: its head is sent, its body is not finished.
            let held = try RawConnection(port: server.port)
            #expect(held.send(
                "POST /api/screenshots HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"))
            // Until the held request has taken the slot (on a busy machine its head may arrive after the first
            // tries), an upload may still be accepted: those are counted.
            let accepted = Counter()
            let refusedAtLast = try await Self.poll("an upload beside the held one is refused") {
                let refused = try await upload(server, clientId: client.id, file: Images.png())
                if refused.status == 200 { accepted.add() }
                guard refused.status == 503 else { return false }
                #expect(refused.header("Retry-After") == "1")
                #expect(refused.json["error"] as? String == "Too many uploads in progress")
                #expect(refused.header("Access-Control-Allow-Origin") == "*")
                return true
            }
            if !refusedAtLast {
                let answer = await held.response(timeout: .seconds(1))
                Issue.record("The held upload's connection got: \(answer.map { "\($0.status) \($0.body)" } ?? "nothing")")
            }
            // Once it ends, the slot is free again.
            held.close()
            try await Self.poll("an upload after the held one ended is accepted") {
                try await upload(server, clientId: client.id, file: Images.png()).status == 200
            }
            #expect(try await server.count("screenshot") == 1 + accepted.value)
        }
    }

    /// Counts from the test's own task.
    final class Counter: @unchecked Sendable {
        var value = 0
        func add() { value += 1 }
    }

    @Test func theLimitIsReadFromTheEnvironmentAndZeroTurnsItOff() throws {
        let base = ["USERO_DATA_DIR": "/tmp/x"]
        #expect(try AppConfig.load(host: nil, port: nil, environment: base).maxConcurrentUploads == 4)
        var env = base
        env["USERO_MAX_CONCURRENT_UPLOADS"] = "0"
        #expect(try AppConfig.load(host: nil, port: nil, environment: env).maxConcurrentUploads == 0)
        env["USERO_MAX_CONCURRENT_UPLOADS"] = "-1"
        #expect(throws: AppConfig.Invalid.self) { try AppConfig.load(host: nil, port: nil, environment: env) }
    }

    @Test func aLargeScreenshotIsServedWhole() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            var big = Images.png(width: 100, height: 100)
            big.append(Data(repeating: 0xA5, count: 1024 * 1024))
            let result = try await upload(server, clientId: client.id, file: big)
            #expect(result.status == 200)
            let shot = try #require(result.json["screenshot"] as? [String: Any])
            let fileName = try #require(shot["fileName"] as? String)
            let served = try await server.request("GET", "/api/screenshots/\(fileName)")
            #expect(served.status == 200)
            #expect(served.header("Content-Length") == "\(big.count)")
            #expect(served.body == big)
        }
    }
}
