import Feedback
import Foundation
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

/// `POST /api/feedback` as the developer docs describe it.
@Suite struct FeedbackAPITests {
    @Test func quickstartPostIsStoredAndListed() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let posted = try await server.postJSON(
                "/api/feedback",
                #"{"clientId":"\#(client.id)","rating":4,"comment":"First feedback from the quickstart"}"#)
            #expect(posted.status == 200)
            #expect(posted.json["success"] as? Bool == true)
            let id = try #require(posted.json["feedbackId"] as? String)
            #expect(posted.header("Access-Control-Allow-Origin") == "*")

            let listed = try await server.request("GET", "/api/feedback", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(listed.status == 200)
            let items = try #require(listed.json["items"] as? [[String: Any]])
            #expect(items.count == 1)
            #expect(items.first?["id"] as? String == id)
            #expect(items.first?["source"] as? String == "api")
            #expect(items.first?["rating"] as? Int == 4)
        }
    }

    /// A client (an SDK's HTTP library, a proxy) that compresses its request body: the service reads no compressed
    /// body, and says so, where it answered "Invalid JSON body" (or, for an upload, "Expected a multipart/form-data
    /// body") about a body the client built correctly. Nothing is stored; `identity` is no compression.
    @Test func aCompressedBodyIsRefusedSayingSoAndNothingIsStored() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let json = #"{"clientId":"\#(client.id)","rating":4}"#
            for coding in ["gzip", "br", " Deflate "] {
                let posted = try await server.postJSON("/api/feedback", json, headers: ["Content-Encoding": coding])
                #expect(posted.status == 415, "\(coding)")
                #expect(posted.json["error"] as? String == "Content-Encoding is not supported: send the body uncompressed")
                #expect(posted.header("Access-Control-Allow-Origin") == "*")
            }
            var form = MultipartBody()
            form.field("clientId", client.id)
            form.file("screenshot", fileName: "shot.png", type: "image/png", Images.png(width: 2, height: 2))
            let uploaded = try await server.request(
                "POST", "/api/screenshots", headers: ["Content-Type": form.contentType, "Content-Encoding": "gzip"],
                body: form.finished())
            #expect(uploaded.status == 415)
            let identified = try await server.postJSON(
                "/api/identify", #"{"clientId":"\#(client.id)","userId":"u1"}"#, headers: ["Content-Encoding": "gzip"])
            #expect(identified.status == 415)
            #expect(try await server.count("feedback") == 0)
            #expect(try await server.count("screenshot") == 0)

            let plain = try await server.postJSON("/api/feedback", json, headers: ["Content-Encoding": "identity"])
            #expect(plain.status == 200)

            // A transfer coding besides the chunking: the server undoes only the chunking (it answered "Invalid JSON
            // body" about a gzipped one, and stored a body sent as `bogus, chunked`, found by a review).
            for coding in ["gzip, chunked", "bogus, chunked"] {
                let connection = try RawConnection(port: server.port)
                connection.send(
                    "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Transfer-Encoding: \(coding)\r\n\r\n\(String(json.utf8.count, radix: 16))\r\n\(json)\r\n0\r\n\r\n")
                let answer = try #require(await connection.response(timeout: .seconds(30)), "\(coding)")
                #expect(answer.status == 415, "\(coding)")
                #expect(answer.body.contains("Transfer-Encoding other than chunked is not supported"), "\(answer.body)")
            }
            let chunked = try RawConnection(port: server.port)
            chunked.send(
                "POST /api/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n\(String(json.utf8.count, radix: 16))\r\n\(json)\r\n0\r\n\r\n")
            #expect(try #require(await chunked.response(timeout: .seconds(30))).status == 200)
            #expect(try await server.count("feedback") == 2)
        }
    }

    @Test func fullFieldExampleComesBackWithEveryFieldAsSent() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let body = """
                { "clientId": "\(client.id)", "rating": 2, "comment": "Export to CSV times out on large projects",
                  "userEmail": "jamie@example.com", "pageUrl": "https://yourapp.com/projects/42/export",
                  "pageTitle": "Export project", "referrer": "https://yourapp.com/projects/42",
                  "environment": "staging", "metadata": { "appVersion": "2.4.1", "os": "macOS 15.2", "build": 1842 },
                  "sessionReplayId": "replay-123", "replayOffsetMs": 4200, "userId": "user-7",
                  "screenshots": [ { "fileName": "client_abc/1717740000000-x7k2p.png",
                    "url": "https://usero.io/api/screenshots/client_abc/1717740000000-x7k2p.png", "fileSize": 48211,
                    "width": 1280, "height": 800, "mimeType": "image/png" } ] }
                """
            let posted = try await server.postJSON("/api/feedback", body)
            #expect(posted.status == 200)
            let id = try #require(posted.json["feedbackId"] as? String)
            let item = try await server.request("GET", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"]).json
            #expect(item["rating"] as? Int == 2)
            #expect(item["comment"] as? String == "Export to CSV times out on large projects")
            #expect(item["userEmail"] as? String == "jamie@example.com")
            #expect(item["pageUrl"] as? String == "https://yourapp.com/projects/42/export")
            #expect(item["pageTitle"] as? String == "Export project")
            #expect(item["referrer"] as? String == "https://yourapp.com/projects/42")
            #expect(item["environment"] as? String == "staging")
            #expect(item["sessionReplayId"] as? String == "replay-123")
            #expect(item["replayOffsetMs"] as? Int == 4200)
            #expect(item["userId"] as? String == "user-7")
            #expect(item["source"] as? String == "api")
            #expect(item["slack"] is NSNull)
            let metadata = try #require(item["metadata"] as? [String: Any])
            #expect(metadata["appVersion"] as? String == "2.4.1")
            #expect(metadata["os"] as? String == "macOS 15.2")
            #expect(metadata["build"] as? Int == 1842)
            let shots = try #require(item["screenshots"] as? [[String: Any]])
            #expect(shots.count == 1)
            #expect(shots.first?["fileName"] as? String == "client_abc/1717740000000-x7k2p.png")
            #expect(shots.first?["fileSize"] as? Int == 48211)
            #expect(shots.first?["width"] as? Int == 1280)
            #expect(shots.first?["mimeType"] as? String == "image/png")
            let created = try #require(item["createdAt"] as? String)
            #expect(parseISO8601(created) != nil)
        }
    }

    @Test func minimalSubmissionLeavesOptionalFieldsNull() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let posted = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#)
            let id = try #require(posted.json["feedbackId"] as? String)
            let item = try await server.request("GET", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"]).json
            for field in ["comment", "userEmail", "pageUrl", "pageTitle", "referrer", "environment", "metadata",
                          "sessionReplayId", "replayOffsetMs", "userId", "slack"] {
                #expect(item[field] is NSNull, "\(field) should be null")
            }
            #expect((item["screenshots"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func widgetHeaderMarksTheSourceAndRefererFillsPageUrl() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let posted = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","comment":"From the widget","userEmail":""}"#,
                headers: ["X-Usero-Widget": "1", "Referer": "https://app.example.com/settings"])
            let id = try #require(posted.json["feedbackId"] as? String)
            let item = try await server.request("GET", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"]).json
            #expect(item["source"] as? String == "widget")
            #expect(item["pageUrl"] as? String == "https://app.example.com/settings")
            #expect(item["userEmail"] is NSNull)
        }
    }

    /// Each documented validation failure: 400 with the docs' body shape and the failing field named; nothing stored.
    @Test(arguments: [
        (#"{"clientId":"CID"}"#, "rating"),
        (#"{"clientId":"CID","comment":"   "}"#, "rating"),
        (#"{"clientId":"CID","rating":5}"#, "rating"),
        (#"{"clientId":"CID","rating":0,"comment":"x"}"#, "rating"),
        (#"{"clientId":"CID","rating":2.5}"#, "rating"),
        (#"{"clientId":"CID","rating":"3"}"#, "rating"),
        (#"{"clientId":"CID","rating":true}"#, "rating"),
        (#"{"clientId":"CID","rating":3,"userEmail":"not-an-email"}"#, "userEmail"),
        (#"{"clientId":"CID","rating":3,"comment":42}"#, "comment"),
        (#"{"clientId":"CID","rating":3,"metadata":[1,2]}"#, "metadata"),
        (#"{"clientId":"CID","rating":3,"sessionReplayId":""}"#, "sessionReplayId"),
        (#"{"clientId":"CID","rating":3,"replayOffsetMs":-1}"#, "replayOffsetMs"),
        (#"{"clientId":"CID","rating":3,"screenshots":"nope"}"#, "screenshots"),
        (#"{"clientId":"CID","rating":3,"screenshots":[{"url":"x"}]}"#, "screenshots.0.fileName"),
        (#"{"clientId":"CID","rating":3,"colour":"blue"}"#, "colour"),
        (#"{"rating":3}"#, "clientId"),
        (#"{"clientId":7,"rating":3}"#, "clientId"),
    ])
    func invalidSubmissionsNameTheFieldAndStoreNothing(body: String, field: String) async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let result = try await server.postJSON("/api/feedback", body.replacingOccurrences(of: "CID", with: client.id))
            #expect(result.status == 400)
            #expect(result.json["error"] as? String == "Invalid data provided")
            let issues = try #require(result.json["issues"] as? [String: [String]])
            #expect(issues[field]?.isEmpty == false, "issues: \(issues)")
            #expect(result.header("Access-Control-Allow-Origin") == "*")
            #expect(try await server.count("feedback") == 0)
        }
    }

    @Test func sessionReplayIdOf129CharactersIsRefused() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let long = String(repeating: "r", count: 129)
            let refused = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":3,"sessionReplayId":"\#(long)"}"#)
            #expect(refused.status == 400)
            let accepted = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":3,"sessionReplayId":"\#(long.dropLast())"}"#)
            #expect(accepted.status == 200)
        }
    }

    /// Arbitrary JSON means numbers too: an integer past 64 bits (an unsigned device id) reads back with every digit,
    /// not as a double's rounding of it.
    @Test func metadataIntegersPast64BitsReadBackAsSent() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let posted = try await server.postJSON(
                "/api/feedback",
                #"{"clientId":"\#(client.id)","rating":3,"metadata":{"deviceId":18446744073709551615,"n":-99999999999999999999,"build":1842}}"#)
            #expect(posted.status == 200)
            let id = try #require(posted.json["feedbackId"] as? String)
            let item = try await server.request(
                "GET", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(item.text.contains(#""metadata":{"build":1842,"deviceId":18446744073709551615,"n":-99999999999999999999}"#))
        }
    }

    @Test func metadataOver10KBIsRefusedWithTheDocumentedMessage() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let big = String(repeating: "x", count: 10 * 1024)
            let result = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":3,"metadata":{"blob":"\#(big)"}}"#)
            #expect(result.status == 400)
            #expect(result.json["error"] as? String == "Metadata too large (max 10KB)")
            #expect(try await server.count("feedback") == 0)
            let fits = String(repeating: "x", count: 9 * 1024)
            let ok = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":3,"metadata":{"blob":"\#(fits)"}}"#)
            #expect(ok.status == 200)
        }
    }

    @Test(arguments: ["", "{", "[1,2]", "null", "\"text\"", "{\"clientId\":", "\u{FF}\u{FE}garbage", "{'a':1}"])
    func malformedBodiesAre400WithAJSONError(body: String) async throws {
        try await TestServer.run { server in
            let result = try await server.postJSON("/api/feedback", body)
            #expect(result.status == 400)
            #expect(result.json["error"] is String)
            #expect(try await server.count("feedback") == 0)
        }
    }

    /// A trailing comma is not JSON (RFC 8259), though Foundation's parser lets it pass: a body that would be a
    /// valid submission without it is refused as malformed, and nothing is stored.
    @Test func aTrailingCommaIsMalformedJSON() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            for body in [
                #"{"clientId":"\#(client.id)","rating":3,}"#,
                #"{"clientId":"\#(client.id)","rating":3,"metadata":{"flags":[1,2,]}}"#,
            ] {
                let result = try await server.postJSON("/api/feedback", body)
                #expect(result.status == 400, "\(body)")
                #expect(result.json["error"] as? String == "Invalid JSON body")
            }
            #expect(try await server.count("feedback") == 0)
            let fixed = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#)
            #expect(fixed.status == 200)
        }
    }

    @Test func oversizedBodyIs413WithAJSONErrorAndNoRow() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let comment = String(repeating: "a", count: 1_100_000)
            let result = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","comment":"\#(comment)"}"#)
            #expect(result.status == 413)
            #expect(result.json["error"] is String)
            #expect(try await server.count("feedback") == 0)
        }
    }

    @Test func unknownClientIs404InvalidClientID() async throws {
        try await TestServer.run { server in
            let result = try await server.postJSON("/api/feedback", #"{"clientId":"client_doesnotexist","rating":3}"#)
            #expect(result.status == 404)
            #expect(result.text == #"{"error":"Invalid client ID"}"#)
            #expect(result.header("Access-Control-Allow-Origin") == "*")
        }
    }

    /// A client id with white space around it (a value pasted from a terminal, say) is the same client on every public
    /// route: an upload's form field was trimmed while a JSON body's was not, so a screenshot uploaded with the id could
    /// not be submitted with it. An id of white space only is a missing one everywhere, with one message.
    @Test func aClientIdWithSurroundingWhiteSpaceIsTheSameClientOnEveryPublicRoute() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let padded = " \(client.id)\n"
            var form = MultipartBody()
            form.field("clientId", padded)
            form.file("screenshot", fileName: "shot.png", type: "image/png", Images.png(width: 2, height: 2))
            let uploaded = try await server.request(
                "POST", "/api/screenshots", headers: ["Content-Type": form.contentType], body: form.finished())
            #expect(uploaded.status == 200)
            let shot = try #require(uploaded.json["screenshot"] as? [String: Any])
            let shotJSON = String(decoding: try JSONSerialization.data(withJSONObject: shot), as: UTF8.self)

            let posted = try await server.postJSON(
                "/api/feedback", #"{"clientId":" \#(client.id)\n","comment":"padded","screenshots":[\#(shotJSON)]}"#)
            #expect(posted.status == 200)
            let identified = try await server.postJSON(
                "/api/identify", #"{"clientId":"\t\#(client.id) ","userId":"u-1"}"#)
            #expect(identified.status == 200)

            let listed = try await server.request("GET", "/api/feedback", headers: ["Authorization": "Bearer \(client.key)"])
            let items = try #require(listed.json["items"] as? [[String: Any]])
            #expect(items.map { $0["comment"] as? String } == ["padded"])
            #expect((items.first?["screenshots"] as? [[String: Any]])?.first?["fileName"] as? String == shot["fileName"] as? String)
            let user = try await server.request("GET", "/api/end-users/u-1", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(user.status == 200)

            for (path, body) in [("/api/feedback", #"{"clientId":" \t ","rating":3}"#), ("/api/identify", #"{"clientId":"  ","userId":"u"}"#)] {
                let refused = try await server.postJSON(path, body)
                #expect(refused.status == 400)
                #expect((refused.json["issues"] as? [String: [String]])?["clientId"] == ["Required"], "\(path)")
            }
            #expect(try await server.count("feedback") == 1)
        }
    }

    /// Unknown keys are named back, but a refusal stays small: at most 20 fields, each name cut to 128 characters
    /// (5,000 unknown keys were answered one by one, a body larger than the request).
    /// The same mistake gets the same answer, byte for byte, with the message first: Foundation's encoder wrote an
    /// object's keys in a different order from one response to the next (`issues` before `error` one time in two).
    @Test func theSameMistakeGetsTheSameBodyWithTheMessageFirst() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            var bodies: Set<String> = []
            for _ in 0..<12 {
                let refused = try await server.postJSON(
                    "/api/feedback", #"{"clientId":"\#(client.id)","rating":9,"bogus":1,"userEmail":"x"}"#)
                #expect(refused.status == 400)
                bodies.insert(refused.text)
            }
            #expect(bodies.count == 1, "\(bodies)")
            let body = try #require(bodies.first)
            #expect(body.hasPrefix(#"{"error":"Invalid data provided","issues":{"bogus":["#), "\(body)")
        }
    }

    @Test func aRefusalNamesAtMost20FieldsWithShortNames() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let keys = (0..<5_000).map { #""k\#($0)":1"# }.joined(separator: ",")
            let long = String(repeating: "x", count: 1_000)
            for path in ["/api/feedback", "/api/identify"] {
                let refused = try await server.postJSON(
                    path, #"{"clientId":"\#(client.id)","userId":"u","rating":1,"\#(long)":1,\#(keys)}"#)
                #expect(refused.status == 400)
                let issues = try #require(refused.json["issues"] as? [String: [String]])
                #expect(issues.count == 20, "\(path)")
                #expect(issues.keys.allSatisfy { $0.count <= 128 }, "\(path)")
                #expect(issues.values.allSatisfy { $0 == ["Unknown field"] }, "\(path)")
                #expect(refused.body.count < 4_000, "\(path)")
            }
            // The fields with real problems come first, whatever the unknown keys' names; two long names cut alike
            // are one entry with one message.
            let mixed = try await server.postJSON(
                "/api/feedback",
                #"{"clientId":"\#(client.id)","rating":9,"userEmail":"x","\#(long)a":1,"\#(long)b":1,\#(keys)}"#)
            let issues = try #require(mixed.json["issues"] as? [String: [String]])
            #expect(issues.count == 20)
            #expect(issues["rating"] != nil && issues["userEmail"] != nil)
            #expect(issues.values.allSatisfy { $0.count == 1 })
            #expect(try await server.count("feedback") == 0)
        }
    }

    @Test func allowlistRefusesOtherOriginsWith403() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient(allowedOrigins: ["https://app.example.com"])
            let body = #"{"clientId":"\#(client.id)","rating":3}"#
            let refused = try await server.postJSON("/api/feedback", body, headers: ["Origin": "https://evil.example"])
            #expect(refused.status == 403)
            #expect(refused.text == #"{"error":"Domain not allowed"}"#)
            #expect(try await server.count("feedback") == 0)
            let allowed = try await server.postJSON("/api/feedback", body, headers: ["Origin": "https://app.example.com"])
            #expect(allowed.status == 200)
            let server2server = try await server.postJSON("/api/feedback", body)
            #expect(server2server.status == 200)
        }
    }

    @Test func sqlLookingAndOddUnicodeTextIsStoredVerbatim() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let tricky = "Robert'); DROP TABLE feedback;-- \u{7} 👩‍💻 مرحبا \u{202E}abc\u{200D} \"quoted\" \\ back"
            let payload = try JSONSerialization.data(withJSONObject: [
                "clientId": client.id, "comment": tricky, "environment": "'; DELETE FROM client; --",
            ])
            let posted = try await server.request(
                "POST", "/api/feedback", headers: ["Content-Type": "application/json"], body: payload)
            #expect(posted.status == 200)
            let id = try #require(posted.json["feedbackId"] as? String)
            let item = try await server.request("GET", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"]).json
            #expect(item["comment"] as? String == tricky)
            #expect(item["environment"] as? String == "'; DELETE FROM client; --")
            #expect(try await server.count("client") == 1)
        }
    }

    @Test func aNULCharacterIsRefusedRatherThanTruncated() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let result = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","comment":"a\u0000b"}"#)
            #expect(result.status == 400)
            #expect((result.json["issues"] as? [String: [String]])?["comment"] != nil)
            #expect(try await server.count("feedback") == 0)
        }
    }

    @Test func preflightAnswers204WithCORSHeaders() async throws {
        try await TestServer.run { server in
            for path in ["/api/feedback", "/api/screenshots", "/api/identify"] {
                // As a browser asks before the widget's POST, which carries these headers
                let result = try await server.request(
                    "OPTIONS", path,
                    headers: [
                        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "content-type,idempotency-key,x-usero-widget",
                    ])
                #expect(result.status == 204, "\(path)")
                #expect(result.header("Access-Control-Allow-Origin") == "*", "\(path)")
                #expect(result.header("Access-Control-Allow-Methods")?.contains("POST") == true, "\(path)")
                // Every header the widget sends is allowed, or the browser never sends the POST
                let allowed = Set(
                    (result.header("Access-Control-Allow-Headers") ?? "").lowercased().split(separator: ",")
                        .map { $0.trimmingCharacters(in: .whitespaces) })
                #expect(allowed.isSuperset(of: ["content-type", "idempotency-key", "x-usero-widget"]), "\(path): \(allowed)")
                // And the browser may keep the answer for a day instead of asking before every submission
                #expect(result.header("Access-Control-Max-Age") == "86400", "\(path)")
            }
        }
    }

    @Test func concurrentSubmissionsAreAllStored() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        try await server.postJSON(
                            "/api/feedback", #"{"clientId":"\#(client.id)","rating":\#(index % 4 + 1)}"#
                        ).status
                    }
                }
                for try await status in group { #expect(status == 200) }
            }
            #expect(try await server.count("feedback") == 200)
        }
    }
}
