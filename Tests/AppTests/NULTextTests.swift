import Foundation
import Testing

@testable import usero
import UseroTestSupport

/// Text with NUL (U+0000, `\u0000` in JSON, `%00` in a URL) from a client is refused or names nothing, on both
/// backends: SQLite's C API ends bound text at the NUL (so `victim\u0000x` would be stored, looked up or erased as
/// `victim`) and PostgreSQL refuses it outright (which surfaced as a 500).
@Suite struct NULTextTests {
    @Test func identifyWithNULCannotOverwriteAnotherEndUser() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            #expect(
                try await server.postJSON(
                    "/api/identify", #"{"clientId":"\#(client.id)","userId":"victim","name":"Victor"}"#
                ).status == 200)
            for (field, body) in [
                ("userId", #"{"clientId":"\#(client.id)","userId":"victim\u0000evil","name":"Pwned"}"#),
                ("name", #"{"clientId":"\#(client.id)","userId":"victim","name":"Pw\u0000ned"}"#),
                ("email", #"{"clientId":"\#(client.id)","userId":"victim","email":"a\u0000@b.co"}"#),
                ("clientId", #"{"clientId":"\#(client.id)\u0000x","userId":"victim","name":"Pwned"}"#),
            ] {
                let refused = try await server.postJSON("/api/identify", body)
                #expect(refused.status == 400, "\(field)")
                #expect((refused.json["issues"] as? [String: [String]])?[field] == ["Must not contain NUL characters"])
                #expect(refused.header("Access-Control-Allow-Origin") == "*")
            }
            let victim = try await server.request("GET", "/api/end-users/victim", headers: auth)
            #expect(victim.json["name"] as? String == "Victor")
            #expect(victim.json["email"] is NSNull)
            #expect(try await server.count("end_user") == 1)
        }
    }

    @Test func privacyRequestsWithNULActOnNobody() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            #expect(try await server.postJSON("/api/identify", #"{"clientId":"\#(client.id)","userId":"u"}"#).status == 200)
            #expect(
                try await server.postJSON(
                    "/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"userEmail":"a@b.co","userId":"u"}"#
                ).status == 200)
            for (key, value) in [("userId", "u%00n"), ("email", "a%00@b.co"), ("slackUserId", "U1%00")] {
                let export = try await server.request("GET", "/api/privacy/export?\(key)=\(value)", headers: auth)
                #expect(export.status == 400, "\(key)")
                #expect((export.json["issues"] as? [String: [String]])?[key] == ["Must not contain NUL characters"])
            }
            for body in [#"{"userId":"u\u0000n"}"#, #"{"email":"a\u0000@b.co"}"#] {
                let erase = try await server.request("POST", "/api/privacy/erase", headers: auth, body: Data(body.utf8))
                #expect(erase.status == 400, "\(body)")
            }
            // Nothing was erased, and no erasure was recorded.
            #expect(try await server.count("end_user") == 1)
            #expect(try await server.count("feedback") == 1)
            let audit = try await server.request("GET", "/api/audit", headers: auth)
            #expect(!audit.text.contains("privacy_erasure"))
        }
    }

    @Test func lookupsByPathOrFilterWithNULFindNothing() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            #expect(try await server.postJSON("/api/identify", #"{"clientId":"\#(client.id)","userId":"u"}"#).status == 200)
            let posted = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"environment":"n"}"#)
            let id = try #require(posted.json["feedbackId"] as? String)

            #expect(try await server.request("GET", "/api/end-users/u%00x", headers: auth).status == 404)
            #expect(try await server.request("GET", "/api/feedback/\(id)%00x", headers: auth).status == 404)
            #expect(try await server.request("DELETE", "/api/feedback/\(id)%00x", headers: auth).status == 404)
            #expect(try await server.count("feedback") == 1)

            let filtered = try await server.request("GET", "/api/feedback?environment=n%00ul", headers: auth)
            #expect(filtered.status == 400)
            #expect(
                (filtered.json["issues"] as? [String: [String]])?["environment"]
                    == ["environment must not contain NUL characters"])
        }
    }
}
