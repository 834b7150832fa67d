import Feedback
import Foundation
import Testing
import UseroTestSupport

@testable import usero

/// Slow and half-sent requests, the connection limit, and clients that go away mid-request (issue 11, item 4 and
/// part of 10). Timeouts are set to a second or two here; the defaults are in the README. The plain requests are
/// `GET /metrics`, which reads no store: `/healthz` waits at most 5 s for a SQLite read, which the full suite on two
/// cores once outlasted, failing these tests with a 503 that says nothing about connections.
@Suite struct ConnectionLimitsTests {
    /// How long a plain request may take to be answered: a bound on the test, not the property under test (when
    /// connections are closed). Generous, because in the full suite the 2-core machine runs hundreds of tests beside
    /// the server.
    static let answerBound: Duration = .seconds(30)

    /// A 10 MB screenshot of the client, put in the store directly: uploaded to a server that closes connections
    /// idle for a second or two, the upload itself could be cut off on a loaded machine (a client that pauses
    /// sending for that long is what the limit is for). Returns its name and bytes.
    static func storeLargeScreenshot(_ server: TestServer, clientID: String) async throws
        -> (fileName: String, image: [UInt8])
    {
        var image = [UInt8](Images.png(width: 4000, height: 3000))
        image += (0..<(10 * 1024 * 1024 - image.count)).map { _ in UInt8.random(in: 0...255) }
        let fileName = "\(clientID)/\(epochMillis(Date()))-\(Identifiers.random(8)).png"
        try await server.parts.store.saveScreenshot(
            StoredScreenshot(
                fileName: fileName, clientId: clientID, mimeType: "image/png", fileSize: Int64(image.count),
                width: 4000, height: 3000, createdAt: Date()),
            bytes: image)
        return (fileName, image)
    }

    static func shortTimeouts(_ config: inout AppConfig) {
        config.idleTimeout = .seconds(1)
        config.requestTimeout = .seconds(3)
    }

    /// A client that sends its whole body before it reads, and asks to close (Python's urllib, most simple SDKs,
    /// every HTTP/1.0 client), gets the answer given before its body was read: the server went on reading and
    /// dropping the body. It stopped reading once it had answered, so such a client stalled with full buffers, never
    /// saw its 413 or 401, and met a broken pipe at the idle timeout (found by a review).
    @Test(arguments: [
        ("POST /api/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n", 413),
        ("POST /api/privacy/erase HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n", 401),
        ("POST /api/feedback HTTP/1.0\r\nContent-Type: application/json\r\n", 413),
    ])
    func aClientStillSendingTheBodyOfARefusedRequestGetsItsAnswer(head: String, status: Int) async throws {
        try await TestServer.run { server in
            let connection = try RawConnection(port: server.port)
            let length = 20_000_000
            let sent = try await offPool {
                connection.send(head + "Content-Length: \(length)\r\n\r\n")
                    && connection.send([UInt8](repeating: 32, count: length))
            }
            #expect(sent, "the server stopped reading before the body was sent")
            let answer = try #require(await connection.response(timeout: Self.answerBound))
            #expect(answer.status == status)
            #expect(answer.body.hasPrefix(#"{"error":"#))
            #expect(await connection.waitForClose(timeout: Self.answerBound))
        }
    }

    @Test func halfSentHeadersAreClosedAfterTheIdleTimeout() async throws {
        try await TestServer.run(configure: Self.shortTimeouts) { server in
            let start = ContinuousClock.now
            let connection = try RawConnection(port: server.port)
            #expect(connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n"))
            #expect(await connection.waitForClose(timeout: .seconds(5)))
            // Closed by the timer (which starts when the server accepts, after `start`), not refused at once.
            #expect(ContinuousClock.now - start >= .milliseconds(900))
        }
    }

    @Test func halfSentBodyIsClosedAfterTheIdleTimeout() async throws {
        try await TestServer.run(configure: Self.shortTimeouts) { server in
            let client = try await server.createClient()
            let connection = try RawConnection(port: server.port)
            #expect(connection.send(
                "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 200\r\n\r\n{\"clientId\":\"\(client.id)\",\"rat"))
            #expect(await connection.waitForClose(timeout: .seconds(5)))
            #expect(try await server.count("feedback") == 0)
        }
    }

    @Test func aConnectionThatSendsNothingIsClosedAfterTheIdleTimeout() async throws {
        try await TestServer.run(configure: Self.shortTimeouts) { server in
            let connection = try RawConnection(port: server.port)
            #expect(await connection.waitForClose(timeout: .seconds(5)))
        }
    }

    @Test func anIdleKeepAliveConnectionIsClosedAfterItsLastResponse() async throws {
        try await TestServer.run(configure: Self.shortTimeouts) { server in
            let connection = try RawConnection(port: server.port)
            #expect(connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            let response = try #require(await connection.response(timeout: Self.answerBound))
            #expect(response.status == 200)
            #expect(await connection.waitForClose(timeout: .seconds(5)))
        }
    }

    /// A client that asks for a large answer (a public screenshot, 10 MB) and never reads it held its connection, and
    /// a slot of the connection limit, for as long as it liked: a few of them stopped the server. Once the answer
    /// fills the buffers and stays there for the idle timeout, the connection is closed, short of the whole answer.
    @Test func aClientThatStopsReadingItsAnswerIsClosedAfterTheIdleTimeout() async throws {
        try await TestServer.run(configure: { $0.idleTimeout = .seconds(1); $0.requestTimeout = .seconds(30) }) { server in
            let client = try await server.createClient()
            let (fileName, image) = try await Self.storeLargeScreenshot(server, clientID: client.id)

            let connection = try RawConnection(port: server.port, receiveBuffer: 2048)
            #expect(connection.send("GET /api/screenshots/\(fileName) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            // Reads nothing for well past the idle timeout, then takes what is there: the server has given up.
            try await Task.sleep(for: .seconds(4))
            #expect(await connection.waitForClose(timeout: Self.answerBound))
            #expect(connection.bytesRead < image.count, "\(connection.bytesRead) of \(image.count) bytes")
        }
    }

    /// A keep-alive connection between requests has no request in progress: the request timeout, which bounds a
    /// request still arriving, does not close it (the idle timeout does, later).
    @Test func aKeepAliveConnectionWaitingBetweenRequestsOutlastsTheRequestTimeout() async throws {
        try await TestServer.run(configure: { $0.idleTimeout = .seconds(60); $0.requestTimeout = .seconds(1) }) { server in
            let connection = try RawConnection(port: server.port)
            #expect(connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(await connection.response(timeout: Self.answerBound)?.status == 200)
            // Three times the request timeout after the answer, the connection is still open
            #expect(!(await connection.waitForClose(timeout: .seconds(3))))
            #expect(connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(await connection.response(timeout: Self.answerBound)?.status == 200)
        }
    }

    /// A body that keeps arriving a byte at a time is never idle; the request timeout still ends it.
    @Test func aTricklingBodyIsClosedAfterTheRequestTimeout() async throws {
        try await TestServer.run(configure: Self.shortTimeouts) { server in
            let connection = try RawConnection(port: server.port)
            #expect(connection.send(
                "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 1000\r\n\r\n{"))
            let start = ContinuousClock.now
            var closed = false
            // Without the request timeout it is never closed (the trickle keeps it from idling); the bound on when
            // is loose, since in the full suite this test's own polling wakes up late on two busy cores (a CI run
            // saw a close 8.1 s after a 3 s timeout's start).
            while ContinuousClock.now - start < .seconds(16) {
                if !connection.send(" ") { closed = true; break }
                if await connection.waitForClose(timeout: .milliseconds(300)) { closed = true; break }
            }
            #expect(closed)
            #expect(ContinuousClock.now - start < .seconds(15))
        }
    }

    /// On a keep-alive connection the deadline belongs to each request: a request that starts while an earlier one's
    /// timer is still pending gets its full timeout, and is still closed when it trickles past it.
    @Test func aLaterRequestOnTheConnectionGetsItsOwnFullTimeout() async throws {
        // A short request timeout, and an idle timeout long enough that the pause between the requests never hits it.
        try await TestServer.run(configure: { $0.idleTimeout = .seconds(20); $0.requestTimeout = .seconds(3) }) { server in
            let connection = try RawConnection(port: server.port)
            #expect(connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(await connection.response(timeout: Self.answerBound)?.status == 200)
            // Half-way through the first request's timeout (3 s from its head) a second request starts.
            try await Task.sleep(for: .milliseconds(1500))
            let secondHead = ContinuousClock.now
            #expect(connection.send(
                "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 1000\r\n\r\n{"))
            var closedAt: ContinuousClock.Instant?
            while ContinuousClock.now - secondHead < .seconds(16) {
                if !connection.send(" ") { closedAt = .now; break }
                if await connection.waitForClose(timeout: .milliseconds(300)) { closedAt = .now; break }
            }
            let closed = try #require(closedAt)
            // Never before the second request's own 3 s (the server saw its head after we sent it); without a timer of
            // its own it would never be closed (the trickle keeps it from the 20 s idle timeout). The upper bound is
            // loose: in the full suite this test's polling wakes up late (a CI run saw 8.1 s).
            #expect(closed - secondHead >= .milliseconds(2900))
            #expect(closed - secondHead < .seconds(15))
        }
    }

    @Test func connectionsBeyondTheLimitWaitUntilOneCloses() async throws {
        try await TestServer.run(configure: { $0.maxConnections = 2 }) { server in
            let first = try RawConnection(port: server.port)
            let second = try RawConnection(port: server.port)
            #expect(first.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(await first.response(timeout: Self.answerBound)?.status == 200)
            #expect(second.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(await second.response(timeout: Self.answerBound)?.status == 200)

            // The kernel completes the third handshake, but the server does not take the connection yet.
            let third = try RawConnection(port: server.port)
            #expect(third.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(await third.response(timeout: .milliseconds(700)) == nil)

            first.close()
            #expect(await third.response(timeout: Self.answerBound)?.status == 200)
        }
    }

    /// One host cannot hold every connection: past its address's share, its connections are closed at once (before
    /// anything is read), while other addresses are served; closing one of its own makes room for it again. Off
    /// unless set (behind a proxy every connection is the proxy's).
    @Test func oneAddressHoldsAtMostItsShareOfTheConnections() async throws {
        #expect(AppConfig().maxConnectionsPerAddress == 0)
        try await TestServer.run(configure: { $0.maxConnections = 8; $0.maxConnectionsPerAddress = 2 }) { server in
            // Each answered before the next opens (connections are set up on several event loops, in any order).
            var held: [RawConnection] = []
            for _ in 0..<2 {
                let connection = try RawConnection(port: server.port, from: "127.0.0.2")
                #expect(connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
                #expect(await connection.response(timeout: Self.answerBound)?.status == 200)
                held.append(connection)
            }
            let extra = try RawConnection(port: server.port, from: "127.0.0.2")
            #expect(await extra.waitForClose(timeout: Self.answerBound))
            for connection in held { #expect(!(await connection.waitForClose(timeout: .milliseconds(100)))) }
            // Another address is served meanwhile; so is the first, once it closed one of its own.
            let other = try RawConnection(port: server.port, from: "127.0.0.3")
            #expect(other.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(await other.response(timeout: Self.answerBound)?.status == 200)
            held[0].close()
            try await server.eventually {
                let again = try RawConnection(port: server.port, from: "127.0.0.2")
                guard again.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") else { return false }
                return await again.response(timeout: Self.answerBound)?.status == 200
            }
        }
    }

    /// `Connection: close` in any case or within a list of options closes the connection after the answer, as the
    /// exact spelling does; it used to stay open until the idle timeout.
    @Test(arguments: ["close", "Close", "CLOSE", "keep-alive, close", "close, upgrade"])
    func everySpellingOfConnectionCloseIsHonoured(_ value: String) async throws {
        try await TestServer.run(configure: { $0.idleTimeout = .seconds(120) }) { server in
            let connection = try RawConnection(port: server.port)
            connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: \(value)\r\n\r\n")
            #expect(await connection.response(timeout: Self.answerBound)?.status == 200)
            #expect(await connection.waitForClose(timeout: Self.answerBound), "\(value)")
        }
    }

    /// An HTTP/1.0 request closes after its answer unless it asks to be kept alive (RFC 9112, 9.3); it stayed open
    /// until the idle timeout, since the version is gone once the request is in HTTP types.
    @Test(arguments: [("", true), ("Connection: keep-alive\r\n", false), ("Connection: Keep-Alive\r\n", false)])
    func anHTTP10RequestClosesUnlessItAsksToBeKeptAlive(_ header: String, closes: Bool) async throws {
        try await TestServer.run(configure: { $0.idleTimeout = .seconds(120) }) { server in
            let connection = try RawConnection(port: server.port)
            connection.send("GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\(header)\r\n")
            #expect(await connection.response(timeout: Self.answerBound)?.status == 200)
            #expect(await connection.waitForClose(timeout: .seconds(closes ? 30 : 2)) == closes, "\(header)")
        }
    }

    /// What the HTTP parser refuses (a malformed or doubled length, an unknown method, headers past its limits) is
    /// answered with the contract's error shape, then the connection closes; it was an empty 400.
    @Test(arguments: [
        "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
        "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
        "BREW /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n",
        "POST /api/feedback?" + String(repeating: "a", count: 90_000) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + "Origin: https://shop.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    ])
    func aRequestTheParserRefusesGetsAJSON400(_ request: String) async throws {
        try await TestServer.run { server in
            let connection = try RawConnection(port: server.port)
            connection.send(request)
            let answer = try #require(await connection.response(timeout: Self.answerBound))
            #expect(answer.status == 400)
            #expect(answer.body == #"{"error":"Malformed HTTP request"}"#)
            #expect(answer.head.lowercased().contains("content-type: application/json"))
            #expect(answer.head.lowercased().contains("x-content-type-options: nosniff"))
            // A browser's script can read it (the public routes' CORS, errors included).
            #expect(answer.head.lowercased().contains("access-control-allow-origin: *"))
            #expect(await connection.waitForClose(timeout: Self.answerBound))
            // The server goes on serving.
            let next = try RawConnection(port: server.port)
            #expect(next.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(await next.response(timeout: Self.answerBound)?.status == 200)
        }
    }

    /// A request read whole before the parser fails on the next one is answered first, as stored; the 400 follows.
    @Test func aRequestBeforeAMalformedOneIsAnsweredFirst() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let body = #"{"clientId":"\#(client.id)","rating":3}"#
            let connection = try RawConnection(port: server.port)
            connection.send(
                "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)GARBAGE\r\n\r\n")
            let first = try #require(await connection.response(timeout: Self.answerBound))
            #expect(first.status == 200)
            let second = try #require(await connection.response(timeout: Self.answerBound))
            #expect(second.status == 400)
            #expect(second.body == #"{"error":"Malformed HTTP request"}"#)
            #expect(try await server.count("feedback") == 1)
        }
    }

    /// The parser failing in the body of a request a route already answered (a GET, which reads no body, with a
    /// broken chunk) closes the connection without a second answer: two answers to one request would be paired by a
    /// proxy with the next request. A DELETE reads its body (to refuse one), so its broken chunk is its answer: 400,
    /// and nothing deleted.
    @Test func aBrokenBodyAfterItsRequestWasAnsweredGetsNoSecondAnswer() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let id = try #require(
                try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#)
                    .json["feedbackId"] as? String)
            let connection = try RawConnection(port: server.port)
            connection.send(
                "GET /api/feedback/\(id) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(client.key)\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\nZZZ-not-a-chunk\r\n")
            let first = try #require(await connection.response(timeout: Self.answerBound))
            #expect(first.status == 200)
            #expect(await connection.waitForClose(timeout: Self.answerBound))
            #expect(await connection.response(timeout: .milliseconds(100)) == nil)

            let deleting = try RawConnection(port: server.port)
            deleting.send(
                "DELETE /api/feedback/\(id) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(client.key)\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\nZZZ-not-a-chunk\r\n")
            #expect(try #require(await deleting.response(timeout: Self.answerBound)).status == 400)
            #expect(try await server.count("feedback") == 1)
        }
    }

    /// CONNECT asks for a tunnel: refused with a 400 and the connection closes at once. (NIO frames no body in an
    /// answer to CONNECT, whatever its status, so the 400 carries none: before, the 404 went out without a length
    /// and the connection hung until the idle timeout.)
    @Test func connectIsRefusedAndTheConnectionCloses() async throws {
        try await TestServer.run(configure: { $0.idleTimeout = .seconds(60) }) { server in
            let connection = try RawConnection(port: server.port)
            connection.send(
                "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try #require(await connection.response(timeout: Self.answerBound))
            #expect(answer.status == 400)
            #expect(answer.head.lowercased().contains("connection: close"))
            let started = ContinuousClock.now
            #expect(await connection.waitForClose(timeout: .seconds(10)))
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    /// A client that hangs up half-way through its body is not our failure: no "Unhandled error", no 500 counted.
    @Test func aClientThatDisconnectsMidBodyIsNotLoggedAsAnUnhandledError() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            do {
                let connection = try RawConnection(port: server.port)
                #expect(connection.send(
                    "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: 5000\r\n\r\n{\"clientId\":\"\(client.id)\",\"comment\":\"hal"))
                try await Task.sleep(for: .milliseconds(200))
            }
            // The connection is closed (deinit) mid-body; the server notices and ends the request.
            try await server.eventually(timeout: .seconds(10)) {
                server.logs.text.contains("Request ended by the client")
            }
            #expect(!server.logs.text.contains("Unhandled error"))
            #expect(!server.logs.text.contains("http.status=500"))
            #expect(try await server.count("feedback") == 0)
        }
    }
}
