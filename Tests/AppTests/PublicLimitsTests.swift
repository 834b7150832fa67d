import Feedback
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import StorePostgres
import Testing

@testable import usero
import UseroTestSupport

/// What protects the public routes from a caller who knows a `clientId` (issue 11, item 3): the comment cap,
/// `USERO_PUBLIC_RATE_LIMIT`, and the free-disk watermark.
@Suite struct PublicLimitsTests {
    /// How long a test waits for an answer that must come: not a speed bound (the PostgreSQL pass once took over 10 s
    /// for a first write to a fresh database under the whole suite).
    static let answerBound: Duration = .seconds(60)

    // MARK: comment

    @Test func aCommentOver50000CharactersIsA400NamingCommentAndStoresNothing() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let long = String(repeating: "a", count: 50_001)
            let refused = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"comment":"\#(long)"}"#)
            #expect(refused.status == 400)
            #expect(refused.json["error"] as? String == "Invalid data provided")
            let issues = try #require(refused.json["issues"] as? [String: [String]])
            #expect(Array(issues.keys) == ["comment"])
            #expect(try await server.count("feedback") == 0)

            let fits = String(repeating: "a", count: 50_000)
            let accepted = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","comment":"\#(fits)"}"#)
            #expect(accepted.status == 200)
        }
    }

    // MARK: rate limit

    static func feedbackRequest(_ clientID: String) -> String {
        let body = #"{"clientId":"\#(clientID)","rating":3}"#
        return "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// Length limits count Unicode scalars: one letter with 1,500 combining marks is 1,501 characters, not one. As
    /// one "character" such an `environment` was taken, and on PostgreSQL its index refused the row: a 500.
    @Test func combiningMarksCountTowardsEveryLengthLimitOnEveryBackend() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let marks = String(repeating: "\u{301}", count: 1_500)
            for (field, value) in [("environment", "e" + marks), ("userId", "u" + marks), ("userEmail", "a\(marks)@b.example")] {
                let refused = try await server.postJSON(
                    "/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"\#(field)":"\#(value)"}"#)
                #expect(refused.status == 400, "\(field)")
                #expect((refused.json["issues"] as? [String: [String]])?.keys.sorted() == [field])
            }
            for (field, value) in [("userId", "u" + marks), ("email", "a\(marks)@b.example")] {
                let user = field == "userId" ? value : "u1"
                let extra = field == "email" ? #","email":"\#(value)""# : ""
                let refused = try await server.postJSON(
                    "/api/identify", #"{"clientId":"\#(client.id)","userId":"\#(user)"\#(extra)}"#)
                #expect(refused.status == 400, "identify \(field)")
            }
            #expect(try await server.count("feedback") == 0)
            // A long Referer standing in for pageUrl is left out; the feedback is taken.
            let taken = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":2}"#,
                headers: ["Referer": "https://a.example/" + String(repeating: "a", count: 9_000)])
            #expect(taken.status == 200)
            #expect(try await server.count("feedback", where: "page_url IS NULL") == 1)
        }
    }

    @Test func overTheLimitAClientGets429WithRetryAfterAndCORS() async throws {
        try await TestServer.run(configure: { $0.publicRateLimit = 3 }) { server in
            let client = try await server.createClient()
            for _ in 0..<3 {
                #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#).status == 200)
            }
            let limited = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#)
            #expect(limited.status == 429)
            #expect(limited.text == #"{"error":"Too many requests"}"#)
            let retryAfter = try #require(limited.header("Retry-After").flatMap(Int.init))
            #expect((1...60).contains(retryAfter))
            #expect(limited.header("Access-Control-Allow-Origin") == "*")
            // A browser script may read Retry-After only when the response exposes it.
            #expect(limited.header("Access-Control-Expose-Headers") == "Retry-After")
            #expect(try await server.count("feedback") == 3)
            // Reads and the admin API are not limited.
            #expect(try await server.healthStatus() == 200)
            #expect(try await server.request("GET", "/api/feedback", headers: ["Authorization": "Bearer \(client.key)"]).status == 200)
        }
    }

    /// One client id, many addresses: the client's limit holds across them.
    @Test func theClientLimitHoldsAcrossSourceAddresses() async throws {
        try await TestServer.run(configure: { $0.publicRateLimit = 2 }) { server in
            let client = try await server.createClient()
            var statuses: [Int] = []
            for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
                let connection = try RawConnection(port: server.port, from: source)
                connection.send(Self.feedbackRequest(client.id))
                statuses.append(try #require(await connection.response(timeout: Self.answerBound)).status)
            }
            #expect(statuses == [200, 200, 429, 429])
            #expect(try await server.count("feedback") == 2)
        }
    }

    /// Client ids are public. Requests the client refuses (a body without a rating or comment, an `Origin` off its
    /// allowlist, an upload that is no image) give back what they spent of its allowance, so one address cannot
    /// shut the client's real users out with them; the address's own allowance still counts them. Accepted ones
    /// spend it, whatever white space surrounds the id.
    @Test func refusedRequestsDoNotSpendTheClientsAllowance() async throws {
        try await TestServer.run(configure: { $0.publicRateLimit = 3 }) { server in
            let client = try await server.createClient(allowedOrigins: ["https://good.example"])
            func send(_ request: String, from source: String) async throws -> Int {
                let connection = try RawConnection(port: server.port, from: source)
                connection.send(request)
                return try #require(await connection.response(timeout: .seconds(30))).status
            }
            func post(_ body: String, origin: String = "https://good.example") -> String {
                "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nOrigin: \(origin)\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            func upload(_ file: Data) -> [UInt8] {
                var form = MultipartBody()
                form.field("clientId", client.id)
                form.file("screenshot", fileName: "a.png", type: "image/png", file)
                let body = form.finished()
                return Array(
                    ("POST /api/screenshots HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://good.example\r\n"
                        + "Content-Type: \(form.contentType)\r\nContent-Length: \(body.count)\r\n\r\n").utf8) + Array(body)
            }
            // From one address, three refusals: its own allowance is spent ...
            #expect(try await send(post(#"{"clientId":"\#(client.id)"}"#), from: "127.0.0.2") == 400)
            #expect(try await send(post(#"{"clientId":"\#(client.id)","rating":1}"#, origin: "https://evil.example"), from: "127.0.0.2") == 403)
            let connection = try RawConnection(port: server.port, from: "127.0.0.2")
            _ = connection.send(upload(Data("not an image".utf8)))
            #expect(try #require(await connection.response(timeout: .seconds(30))).status == 400)
            #expect(try await send(post(#"{"clientId":"\#(client.id)","rating":1}"#), from: "127.0.0.2") == 429)
            // ... the client's is not: three accepted from other addresses (one id padded), then the fourth waits.
            #expect(try await send(post(#"{"clientId":"\#(client.id)","rating":2}"#), from: "127.0.0.3") == 200)
            #expect(try await send(post(#"{"clientId":" \#(client.id) ","rating":2}"#), from: "127.0.0.4") == 200)
            let uploading = try RawConnection(port: server.port, from: "127.0.0.5")
            _ = uploading.send(upload(Images.png(width: 2, height: 2)))
            #expect(try #require(await uploading.response(timeout: .seconds(30))).status == 200)
            #expect(try await send(post(#"{"clientId":"\#(client.id)","rating":2}"#), from: "127.0.0.6") == 429)
            #expect(try await server.count("feedback") == 2)
        }
    }

    /// One address, many client ids: the address's limit holds across them; another address is unaffected.
    @Test func theAddressLimitHoldsAcrossClientsAndOnlyForThatAddress() async throws {
        try await TestServer.run(configure: { $0.publicRateLimit = 2 }) { server in
            var clients: [String] = []
            for _ in 0..<4 { clients.append(try await server.createClient().id) }
            var statuses: [Int] = []
            for id in clients.prefix(3) {
                let connection = try RawConnection(port: server.port, from: "127.0.0.7")
                connection.send(Self.feedbackRequest(id))
                statuses.append(try #require(await connection.response(timeout: Self.answerBound)).status)
            }
            #expect(statuses == [200, 200, 429])
            let other = try RawConnection(port: server.port, from: "127.0.0.8")
            other.send(Self.feedbackRequest(clients[3]))
            #expect(await other.response(timeout: Self.answerBound)?.status == 200)
        }
    }

    @Test func screenshotsAndIdentifyCountToo() async throws {
        try await TestServer.run(configure: { $0.publicRateLimit = 1 }) { server in
            let client = try await server.createClient()
            let identify = #"{"clientId":"\#(client.id)","userId":"u1"}"#
            #expect(try await server.postJSON("/api/identify", identify).status == 200)
            let limited = try await server.postJSON("/api/identify", identify)
            #expect(limited.status == 429)
            #expect(limited.header("Access-Control-Allow-Origin") == "*")
            // The address's minute is spent: an upload from it waits too.
            var form = MultipartBody()
            form.field("clientId", client.id)
            form.file("screenshot", fileName: "a.png", type: "image/png", Images.png(width: 2, height: 2))
            let upload = try await server.request(
                "POST", "/api/screenshots", headers: ["Content-Type": form.contentType], body: form.finished())
            #expect(upload.status == 429)
            #expect(try await server.count("screenshot") == 0)
        }
    }

    /// `serve` itself: the variable is read, refusals are counted in /metrics by which limit refused them.
    @Test func serveReadsTheLimitAndCountsRefusalsInMetrics() async throws {
        var environment = UseroBinary.storeEnvironment(in: TestServer.makeFolder())
        let clientID = try await UseroBinary.createClient(name: "Limited", environment: environment).id
        environment["USERO_PUBLIC_RATE_LIMIT"] = "2"
        try await UseroBinary.withServe(environment: environment) { port in
            var statuses: [Int] = []
            for _ in 0..<3 {
                let reply = try await HTTPResult.send(
                    "POST", "http://127.0.0.1:\(port)/api/feedback", headers: ["Content-Type": "application/json"],
                    body: Data(#"{"clientId":"\#(clientID)","rating":3}"#.utf8))
                statuses.append(reply.status)
            }
            #expect(statuses == [200, 200, 429])
            // A handler's error (a key that opens nothing, thrown and mapped to 401) is counted; statuses no error
            // produced (the 200s, the 429 the limit answered itself) have no error series at all, not even at 0.
            _ = try await HTTPResult.send(
                "GET", "http://127.0.0.1:\(port)/api/feedback", headers: ["Authorization": "Bearer not-a-key"])
            let metrics = try await HTTPResult.send("GET", "http://127.0.0.1:\(port)/metrics").text
            #expect(metrics.contains(#"usero_public_rate_limited_total{by="address"} 1"#), "\(metrics)")
            let errorSeries = metrics.split(separator: "\n").filter { $0.hasPrefix("hb_request_errors{") }
            #expect(errorSeries.count == 1, "\(errorSeries)")
            #expect(errorSeries.first?.contains(#"error_type="401""#) == true, "\(errorSeries)")
            #expect(errorSeries.first?.hasSuffix(" 1") == true, "\(errorSeries)")
        }
    }

    /// A public route's error answers with CORS (as every public answer) and is still counted as an error: one caught
    /// inside the observation layer to add CORS was once invisible in `hb_request_errors`, 500s included.
    @Test func publicRoutesErrorsAreCountedAndCarryCORS() async throws {
        // `serve` itself: the process's metrics system is the one /metrics shows.
        let environment = UseroBinary.storeEnvironment(in: TestServer.makeFolder())
        let clientID = try await UseroBinary.createClient(name: "Counted", environment: environment).id
        try await UseroBinary.withServe(environment: environment) { port in
            let base = "http://127.0.0.1:\(port)"
            let json = ["Content-Type": "application/json"]
            let refused = try await HTTPResult.send(
                "POST", base + "/api/feedback", headers: json, body: Data(#"{"clientId":"\#(clientID)","rating":9}"#.utf8))
            #expect(refused.status == 400)
            #expect(refused.header("Access-Control-Allow-Origin") == "*")
            let unknown = try await HTTPResult.send(
                "POST", base + "/api/identify", headers: json, body: Data(#"{"clientId":"client_nobody","userId":"u1"}"#.utf8))
            #expect(unknown.status == 404)
            #expect(unknown.header("Access-Control-Allow-Origin") == "*")
            let metrics = try await HTTPResult.send("GET", base + "/metrics").text
            let errors = metrics.split(separator: "\n").filter { $0.hasPrefix("hb_request_errors{") }
            #expect(errors.contains { $0.contains(#"http_route="/api/feedback""#) && $0.contains(#"error_type="400""#) && $0.hasSuffix(" 1") }, "\(errors)")
            #expect(errors.contains { $0.contains(#"http_route="/api/identify""#) && $0.contains(#"error_type="404""#) && $0.hasSuffix(" 1") }, "\(errors)")
        }
    }

    /// An upload's client is counted when its form's `clientId` arrives, wherever it is in the form (the body is not
    /// held whole to look for it): across addresses, the client's limit holds, and a refused upload leaves nothing.
    @Test func anUploadsClientIsCountedFromItsFormWhereverTheFieldIs() async throws {
        try await TestServer.run(configure: { $0.publicRateLimit = 1 }) { server in
            let client = try await server.createClient()
            func upload(from source: String, clientIdFirst: Bool) async throws -> (status: Int, head: String, body: String)? {
                var form = MultipartBody()
                if clientIdFirst { form.field("clientId", client.id) }
                form.file("screenshot", fileName: "a.png", type: "image/png", Images.png(width: 3, height: 2))
                if !clientIdFirst { form.field("clientId", client.id) }
                let body = form.finished()
                let connection = try RawConnection(port: server.port, from: source)
                _ = connection.send(Array(
                    ("POST /api/screenshots HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(form.contentType)\r\n"
                        + "Content-Length: \(body.count)\r\n\r\n").utf8) + Array(body))
                // A liveness bound only: on a loaded machine a first upload to a fresh PostgreSQL database has taken
                // over 10 s.
                return await connection.response(timeout: .seconds(60))
            }
            let first = try await upload(from: "127.0.0.2", clientIdFirst: false)
            #expect(first?.status == 200, "\(first.map { "\($0.status) \($0.body)" } ?? "no answer within 60 s")")
            for (source, first) in [("127.0.0.3", false), ("127.0.0.4", true)] {
                let refused = try #require(try await upload(from: source, clientIdFirst: first))
                #expect(refused.status == 429)
                #expect(refused.body == #"{"error":"Too many requests"}"#)
                #expect(refused.head.lowercased().contains("retry-after: "))
                #expect(refused.head.lowercased().contains("access-control-allow-origin: *"))
            }
            #expect(try await server.count("screenshot") == 1)
            let spool = server.parts.config.dataDirectory + "/incoming"
            #expect((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? [] == [])
        }
    }

    @Test func theLimitIsOffAtZero() async throws {
        try await TestServer.run(configure: { $0.publicRateLimit = 0 }) { server in
            let client = try await server.createClient()
            for _ in 0..<30 {
                #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#).status == 200)
            }
        }
    }

    // MARK: the limiter itself (no server, no sleeps: time is handed in)

    @Test func aBucketRefillsAtTheRatePerMinute() {
        let limiter = RateLimiter(perMinute: 60)
        let start = ContinuousClock.now
        for _ in 0..<60 { #expect(limiter.admit("k", now: start) == nil) }
        #expect(limiter.admit("k", now: start) == 1)
        #expect(limiter.admit("k", now: start + .milliseconds(500)) == 1)
        #expect(limiter.admit("k", now: start + .seconds(1)) == nil)
        #expect(limiter.admit("k", now: start + .seconds(1)) != nil)
        // A minute later the whole allowance is back.
        for _ in 0..<60 { #expect(limiter.admit("k", now: start + .seconds(62)) == nil) }
        #expect(limiter.admit("other", now: start) == nil)
    }

    @Test func retryAfterSaysWhenTheNextRequestWouldPass() {
        let limiter = RateLimiter(perMinute: 2)
        let start = ContinuousClock.now
        #expect(limiter.admit("k", now: start) == nil)
        #expect(limiter.admit("k", now: start) == nil)
        #expect(limiter.admit("k", now: start) == 30)
        #expect(limiter.admit("k", now: start + .seconds(29)) == 1)
        #expect(limiter.admit("k", now: start + .seconds(30)) == nil)
    }

    @Test func theTableStaysWithinItsCapacityAndKeepsBusyKeys() {
        let limiter = RateLimiter(perMinute: 5, capacity: 100)
        let start = ContinuousClock.now
        for _ in 0..<5 { #expect(limiter.admit("busy", now: start) == nil) }
        #expect(limiter.admit("busy", now: start) != nil)
        for index in 0..<10_000 {
            _ = limiter.admit("key-\(index)", now: start + .milliseconds(index))
            #expect(limiter.count <= 100)
            if index % 50 == 0 { _ = limiter.admit("busy", now: start + .milliseconds(index)) }
        }
        // Kept while it stayed in use, so still spent.
        #expect(limiter.admit("busy", now: start + .milliseconds(10_000)) != nil)
        let long = String(repeating: "x", count: 10_000)
        #expect(limiter.admit(long, now: start) == nil)
    }

    /// When the table is full, buckets that have filled up again go first: a key that spent its allowance is not
    /// forgotten (and handed a fresh allowance) just because it is the oldest, while idle keys are what make room.
    @Test func aFullTableDropsRefilledBucketsBeforeASpentOne() {
        let limiter = RateLimiter(perMinute: 60, capacity: 10)
        let start = ContinuousClock.now
        for _ in 0..<60 { #expect(limiter.admit("spent", now: start) == nil) }
        #expect(limiter.admit("spent", now: start) != nil)
        for index in 0..<9 { #expect(limiter.admit("idle-\(index)", now: start + .milliseconds(1 + index)) == nil) }
        // Two seconds on, the idle keys are full again and the spent one has earned back two requests.
        let later = start + .seconds(2)
        #expect(limiter.admit("newcomer", now: later) == nil)
        #expect(limiter.count <= 10)
        for _ in 0..<2 { #expect(limiter.admit("spent", now: later) == nil) }
        #expect(limiter.admit("spent", now: later) != nil)
    }

    @Test func addressesCountByIPv4AndByIPv6Slash64() throws {
        let a = try SocketAddress(ipAddress: "203.0.113.9", port: 1000)
        let b = try SocketAddress(ipAddress: "203.0.113.9", port: 2000)
        let mapped = try SocketAddress(ipAddress: "::ffff:203.0.113.9", port: 3000)
        let v6a = try SocketAddress(ipAddress: "2001:db8:1:2::1", port: 1)
        let v6b = try SocketAddress(ipAddress: "2001:db8:1:2:ffff::9", port: 2)
        let v6c = try SocketAddress(ipAddress: "2001:db8:1:3::1", port: 3)
        #expect(PublicRateLimitMiddleware.addressKey(a) == PublicRateLimitMiddleware.addressKey(b))
        #expect(PublicRateLimitMiddleware.addressKey(a) == PublicRateLimitMiddleware.addressKey(mapped))
        #expect(PublicRateLimitMiddleware.addressKey(v6a) == PublicRateLimitMiddleware.addressKey(v6b))
        #expect(PublicRateLimitMiddleware.addressKey(v6a) != PublicRateLimitMiddleware.addressKey(v6c))
        #expect(PublicRateLimitMiddleware.addressKey(nil) == nil)
    }

    /// Source addresses are held in memory only: never in the store, never in a log line.
    @Test func sourceAddressesAreNeverLoggedOrStored() async throws {
        try await TestServer.run(configure: { $0.publicRateLimit = 1 }) { server in
            let client = try await server.createClient()
            for _ in 0..<3 {
                let connection = try RawConnection(port: server.port, from: "127.0.0.9")
                connection.send(Self.feedbackRequest(client.id))
                _ = await connection.response(timeout: Self.answerBound)
            }
            #expect(!server.logs.text.contains("127.0.0.9"))
            #expect(try await server.databaseBytes().range(of: Data("127.0.0.9".utf8)) == nil)
        }
    }

    // MARK: free-disk watermark

    @Test func belowTheWatermarkPublicWritesAnswer503WithRetryAfterAndStoreNothing() async throws {
        // No real disk has a petabyte free: the watermark is always crossed.
        try await TestServer.run(configure: { $0.minFreeDiskBytes = 1 << 50 }) { server in
            let client = try await server.createClient()
            let refused = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#)
            #expect(refused.status == 503)
            #expect(refused.text == #"{"error":"Storage is nearly full"}"#)
            #expect(refused.header("Retry-After") == "60")
            #expect(refused.header("Access-Control-Allow-Origin") == "*")
            let identify = try await server.postJSON("/api/identify", #"{"clientId":"\#(client.id)","userId":"u1"}"#)
            #expect(identify.status == 503)
            #expect(try await server.count("feedback") == 0)
            #expect(try await server.count("end_user") == 0)
            // Reading, deleting and health still work: an operator can make room.
            #expect(try await server.healthStatus() == 200)
            #expect(try await server.request("GET", "/api/feedback", headers: ["Authorization": "Bearer \(client.key)"]).status == 200)
            #expect(server.logs.text.contains("Storage nearly full: public writes answer 503 until more than USERO_MIN_FREE_DISK_MB is free"))
        }
    }

    /// A body declared larger than the route ever takes is a 413 before the disk is asked, not a 503 about storage
    /// (which would have the client retry a request that can never pass).
    @Test func aDeclaredBodyOverTheRoutesLimitIs413WhateverTheDiskHolds() async throws {
        try await TestServer.run(configure: { $0.minFreeDiskBytes = 1 }) { server in
            for (path, length) in [("/api/feedback", 99_999_999_999), ("/api/identify", 2 * 1024 * 1024),
                                   ("/api/screenshots", 11 * 1024 * 1024)] {
                let connection = try RawConnection(port: server.port)
                connection.send(
                    "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: \(length)\r\n\r\n{}")
                let answer = try #require(await connection.response(timeout: Self.answerBound))
                #expect(answer.status == 413, "\(path)")
                let said = path == "/api/screenshots" ? "File too large (max 10MB)" : "Request body too large"
                #expect(answer.body == #"{"error":"\#(said)"}"#, "\(path)")
                #expect(answer.head.lowercased().contains("access-control-allow-origin: *"), "\(path)")
            }
            #expect(!server.logs.text.contains("Storage nearly full"))
        }
    }

    /// `Expect: 100-continue` (curl sends it with every upload over 1 KB, then waits a second for it) is answered
    /// with `100 Continue` as soon as the head arrives; the body then goes through as usual.
    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let body = #"{"clientId":"\#(client.id)","rating":3}"#
            let connection = try RawConnection(port: server.port)
            connection.send(
                "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Expect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            let interim = try #require(await connection.response(timeout: Self.answerBound))
            #expect(interim.status == 100)
            connection.send(body)
            let final = try #require(await connection.response(timeout: Self.answerBound))
            #expect(final.status == 200)
            #expect(try await server.count("feedback") == 1)
        }
    }

    /// A pipelined request's `100 Continue` comes after the answers to the requests before it: it went out at once,
    /// ahead of them, and a client pairs a 1xx with its oldest request (found by a review). An HTTP/1.0 client gets
    /// none at all, which it would take for the final answer (RFC 9110, 15.2).
    @Test func anInterimAnswerKeepsItsPlaceAndAnHTTP10ClientGetsNone() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let body = #"{"clientId":"\#(client.id)","rating":3}"#
            let pipelined = try RawConnection(port: server.port)
            pipelined.send(
                "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "POST /api/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Expect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            let first = try #require(await pipelined.response(timeout: Self.answerBound))
            #expect(first.status == 200 && first.head.contains("text/plain"), "\(first.head)")
            let interim = try #require(await pipelined.response(timeout: Self.answerBound))
            #expect(interim.status == 100)
            pipelined.send(body)
            #expect(try #require(await pipelined.response(timeout: Self.answerBound)).status == 200)

            let old = try RawConnection(port: server.port)
            old.send(
                "POST /api/feedback HTTP/1.0\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n")
            // Nothing comes before the body: the request waits for it.
            #expect(await old.response(timeout: .milliseconds(500)) == nil)
            old.send(body)
            let answer = try #require(await old.response(timeout: Self.answerBound))
            #expect(answer.status == 200, "\(answer.head)")
            #expect(try await server.count("feedback") == 2)

            // An HTTP/1.0 request sent in chunks has faulty framing: answered, then the connection closes, even if
            // it asked to be kept alive (RFC 9112, 6.1).
            let chunked = try RawConnection(port: server.port)
            chunked.send(
                "POST /api/feedback HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n")
            _ = await chunked.response(timeout: Self.answerBound)
            #expect(await chunked.waitForClose(timeout: Self.answerBound))
        }
    }

    /// A body declared larger than its route takes gets its 413 without a `100 Continue` first: a client that waits
    /// for the interim answer (what the header is for) never sends the body.
    /// The JSON routes answered only once the first body bytes came, so a client waiting for the interim answer got
    /// nothing for 30 s and then a closed connection (found by a review) when the free-disk watermark, which refuses
    /// such a head by itself, was off; with the public rate limit on or off.
    @Test(arguments: [0, 60])
    func expectContinueIsNotAnsweredForABodyTheRouteWillRefuse(rateLimit: Int) async throws {
        try await TestServer.run(configure: {
            $0.publicRateLimit = rateLimit
            $0.minFreeDiskBytes = 0
        }) { server in
            // Every spelling the router takes for those routes too (a trailing slash, a doubled one, a query).
            for (path, length, type) in [
                ("/api/feedback", 2 * 1024 * 1024, "multipart/form-data; boundary=b"),
                ("/api/feedback", 2 * 1024 * 1024, "application/json"),
                ("/api/identify", 2 * 1024 * 1024, "application/json"),
                ("/api/screenshots", 20 * 1024 * 1024, "multipart/form-data; boundary=b"),
                ("/api/feedback/", 2 * 1024 * 1024, "application/json"),
                ("//api/feedback", 2 * 1024 * 1024, "application/json"),
                ("/api/screenshots/?x=1", 20 * 1024 * 1024, "multipart/form-data; boundary=b"),
            ] {
                let connection = try RawConnection(port: server.port)
                connection.send(
                    "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(type)\r\n"
                        + "Expect: 100-continue\r\nContent-Length: \(length)\r\n\r\n")
                let answer = try #require(await connection.response(timeout: Self.answerBound), "\(path) \(type)")
                #expect(answer.status == 413, "\(path) \(type)")
            }
        }
    }

    @Test func aboveTheWatermarkWritesPassAndFreeSpaceIsMeasured() async throws {
        let space = FreeDiskSpace(folders: [NSTemporaryDirectory() + "/not/yet/created"])
        let free = try #require(space.available())
        #expect(free > 0)
        try await TestServer.run(configure: { $0.minFreeDiskBytes = 1 }) { server in
            let client = try await server.createClient()
            #expect(try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#).status == 200)
        }
    }

    @Test func bodiesAdmittedSinceTheLastMeasurementCountAgainstTheWatermark() throws {
        // One measurement for the whole test: without `spend`, every request in it saw the same free space.
        let space = FreeDiskSpace(folders: [NSTemporaryDirectory()], maxAge: .seconds(3600))
        let now = ContinuousClock.now
        let free = try #require(space.available(now: now))
        space.spend(10 * 1024 * 1024)
        #expect(space.available(now: now) == max(0, free - 10 * 1024 * 1024))
        space.spend(free)
        #expect(space.available(now: now) == 0)
        // A fresh measurement starts again from the disk.
        #expect(try #require(space.available(now: now + .seconds(3601))) > 0)
    }

    /// A body's declared size counts against the watermark: with 100 MB free and 95 MB to keep, a 1 MB body passes
    /// and a 10 MB upload does not (written, it would take the disk under the watermark); what passed is counted.
    @Test func aDeclaredBodyMustLeaveTheWatermarkFreeOnceWritten() {
        let megabyte: Int64 = 1 << 20
        let space = FreeDiskSpace(folders: ["/data"], maxAge: .seconds(3600), measure: { _ in 100 * megabyte })
        #expect(space.admits(declared: megabyte, keepingFree: 95 * megabyte))
        #expect(!space.admits(declared: 10 * megabyte, keepingFree: 95 * megabyte))
        #expect(space.available() == 99 * megabyte)
        #expect(space.admits(declared: 4 * megabyte, keepingFree: 95 * megabyte))
        #expect(!space.admits(declared: 1, keepingFree: 95 * megabyte))
        // Nothing to measure: the check cannot refuse
        #expect(FreeDiskSpace(folders: ["/data"], measure: { _ in nil }).admits(declared: megabyte, keepingFree: megabyte))
    }

    /// A body sent in chunks declares no length, and counts as the most its route takes: a burst of chunked uploads
    /// passed the watermark together, each counted as 0 bytes (found by a review). With 10 MB above the watermark, a
    /// small upload declaring its length passes; the same sent in chunks could be 10.25 MB, and is refused.
    @Test func aChunkedUploadCountsAsTheMostItsRouteTakes() async throws {
        let megabyte: Int64 = 1 << 20
        try await TestServer.run(configure: {
            $0.minFreeDiskBytes = 100 * megabyte
            $0.freeDiskMeasure = { _ in 110 * megabyte }
        }) { server in
            let client = try await server.createClient()
            var form = MultipartBody()
            form.field("clientId", client.id)
            form.file("screenshot", fileName: "a.png", type: "image/png", AccountClosureTests.png)
            let body = form.finished()
            let head = "POST /api/screenshots HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(form.contentType)\r\n"
            let chunked = try RawConnection(port: server.port)
            _ = chunked.send(
                Array((head + "Transfer-Encoding: chunked\r\n\r\n\(String(body.count, radix: 16))\r\n").utf8)
                    + Array(body) + Array("\r\n0\r\n\r\n".utf8))
            let refused = try #require(await chunked.response(timeout: Self.answerBound))
            #expect(refused.status == 503)
            #expect(refused.body == #"{"error":"Storage is nearly full"}"#)
            let declared = try RawConnection(port: server.port)
            _ = declared.send(Array((head + "Content-Length: \(body.count)\r\n\r\n").utf8) + Array(body))
            #expect(try #require(await declared.response(timeout: Self.answerBound)).status == 200)
            // A chunked feedback counts as the 1 MB its route takes: nearly 10 MB are left above the watermark.
            let json = #"{"clientId":"\#(client.id)","rating":3}"#
            let feedback = try RawConnection(port: server.port)
            feedback.send(
                "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n\(String(json.utf8.count, radix: 16))\r\n\(json)\r\n0\r\n\r\n")
            #expect(try #require(await feedback.response(timeout: Self.answerBound)).status == 200)
        }
    }

    @Test func aFullDiskMetBySQLiteIsA503NotA500() {
        let (status, body) = ErrorMiddleware<AppRequestContext>.reply(for: CocoaError(.fileWriteOutOfSpace))
        #expect(status.code == 503)
        #expect(body.error == "Storage is nearly full")
        #expect(ErrorMapping.isStorageFull(DatabaseError(resultCode: .SQLITE_FULL)))
    }

    /// An upload into a data folder that turned read-only is a 500 (not the client's mistake), and its log line says
    /// what failed: the file system's code and errno, never a path.
    @Test func aFileSystemErrorIsLoggedWithItsCodeAndErrno() {
        let readOnly = CocoaError(
            .fileWriteVolumeReadOnly,
            userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EROFS)),
                       NSFilePathErrorKey: "/data/screenshots/client_x/secret-name.png"])
        let code = ErrorMiddleware<AppRequestContext>.systemErrorCode(readOnly)
        #expect(code == "\(CocoaError.Code.fileWriteVolumeReadOnly.rawValue), errno \(EROFS): Read-only file system")
        #expect(ErrorMiddleware<AppRequestContext>.systemErrorCode(POSIXError(.EACCES)) == "errno 13: Permission denied")
        #expect(ErrorMiddleware<AppRequestContext>.systemErrorCode(FeedbackError.unknownClient) == nil)
        #expect(ErrorMiddleware<AppRequestContext>.reply(for: readOnly).0.code == 500)
    }

    /// PostgreSQL's connection lost after a commit went out: a 500 (the write may be stored; the docs call a 500 safe
    /// to retry with the same `Idempotency-Key`), and its log line names that case instead of "Unhandled error".
    @Test func aCommitInDoubtIsA500WhoseLogNamesIt() throws {
        let logs = CapturedLogs()
        let request = Request(head: HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/api/feedback"), body: .init(buffer: ByteBuffer()))
        let response = ErrorMiddleware<AppRequestContext>.response(
            for: PostgresWriterError.commitInDoubt, request: request, logger: logs.logger())
        #expect(response.status.code == 500)
        #expect(response.headers[HTTPField.Name.retryAfter] == nil)
        let line = try #require(logs.all.first)
        #expect(line.hasPrefix("error"))
        #expect(line.contains("Request failed"))
        #expect(line.contains("may have committed"))
        #expect(!logs.text.contains("Unhandled error"))
        // Anything the service cannot name is still logged by its type alone.
        let other = CapturedLogs()
        _ = ErrorMiddleware<AppRequestContext>.response(
            for: CocoaError(.fileReadUnknown), request: request, logger: other.logger())
        #expect(other.text.contains("Unhandled error"))
        #expect(!other.text.contains("error.reason"))
    }

    /// A store that cannot be written now, with nothing written: PostgreSQL down past the lease timeout, or the
    /// SQLite file locked past the busy timeout by another process (SQLite rolled back). A 503 to retry, not a 500.
    @Test(arguments: [
        StoreUnavailable() as any Error, DatabaseError(resultCode: .SQLITE_BUSY), DatabaseError(resultCode: .SQLITE_LOCKED),
        DatabaseError(resultCode: ResultCode(rawValue: 5 | (2 << 8))),  // SQLITE_BUSY_SNAPSHOT, an extended code
    ])
    func aStoreThatCannotBeWrittenNowIsA503WithRetryAfter(error: any Error) {
        let request = Request(head: HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/api/feedback"), body: .init(buffer: ByteBuffer()))
        let response = ErrorMiddleware<AppRequestContext>.response(
            for: error, request: request, logger: Logger(label: "test"))
        #expect(response.status.code == 503)
        #expect(response.headers[HTTPField.Name.retryAfter] == "5")
    }
}
