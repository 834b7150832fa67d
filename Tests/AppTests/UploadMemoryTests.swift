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

    /// One upload in progress: its head and the start of its file are sent, the rest never is. It holds its slot once
    /// its file is being written: the spool file shows it (and that the file is written as it arrives); waiting for
    /// that keeps the held upload from racing the next one. Returns the connection and the spool folder.
    static func holdAnUpload(_ server: TestServer, from source: String? = nil) async throws -> (RawConnection, String) {
        let held = try RawConnection(port: server.port, from: source)
        #expect(held.send(
            "POST /api/screenshots HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"
                + "Content-Disposition: form-data; name=\"screenshot\"; filename=\"a.png\"\r\n\r\n\u{89}PNG"))
        let spool = server.parts.config.dataDirectory + "/incoming"
        try await poll("the held upload's file is being spooled") {
            !((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).isEmpty
        }
        return (held, spool)
    }

    @Test func anUploadBeyondTheConcurrencyLimitIs503WithRetryAfterBeforeItsBodyIsRead() async throws {
        try await TestServer.run(configure: { $0.maxConcurrentUploads = 1 }) { server in
            let client = try await server.createClient()
            let (held, spool) = try await Self.holdAnUpload(server)
            let refused = try await upload(server, clientId: client.id, file: Images.png())
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") == "1")
            #expect(refused.json["error"] as? String == "Too many uploads in progress")
            #expect(refused.header("Access-Control-Allow-Origin") == "*")
            // Once it ends, the slot is free again, and the cut-off upload left nothing behind.
            held.close()
            try await Self.poll("an upload after the held one ended is accepted") {
                try await upload(server, clientId: client.id, file: Images.png()).status == 200
            }
            #expect(try await server.count("screenshot") == 1)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).isEmpty)
        }
    }

    /// Facing clients directly (a per-address connection cap set), one host holds at most half of the upload slots:
    /// two slow uploads from it cannot take all four, and another host's upload goes through. Without the cap (behind a
    /// proxy, every upload is the proxy's) there is no share.
    @Test func oneHostHoldsAtMostHalfTheUploadSlotsWhenFacingClientsDirectly() async throws {
        try await TestServer.run(configure: { $0.maxConcurrentUploads = 2; $0.maxConnectionsPerAddress = 100 }) { server in
            let client = try await server.createClient()
            let (held, _) = try await Self.holdAnUpload(server, from: "127.0.0.2")
            func upload(from source: String) async throws -> Int? {
                var form = MultipartBody()
                form.field("clientId", client.id)
                form.file("screenshot", fileName: "a.png", type: "image/png", Images.png())
                let body = form.finished()
                let connection = try RawConnection(port: server.port, from: source)
                _ = connection.send(Array(
                    ("POST /api/screenshots HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(form.contentType)\r\n"
                        + "Content-Length: \(body.count)\r\n\r\n").utf8) + Array(body))
                return await connection.response(timeout: .seconds(30))?.status
            }
            #expect(try await upload(from: "127.0.0.2") == 503)  // its host's share is taken
            #expect(try await upload(from: "127.0.0.3") == 200)  // another host's is not
            held.close()
            try await Self.poll("the host's share is free again") { try await upload(from: "127.0.0.2") == 200 }
        }
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
            let big = Images.png(width: 100, height: 100, holding: Data(repeating: 0xA5, count: 1024 * 1024))
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
