import Foundation
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

@Suite struct IdentifyAPITests {
    @Test func identifyCreatesThenUpdatesTheEndUser() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            let created = try await server.postJSON(
                "/api/identify",
                #"{"clientId":"\#(client.id)","userId":"user-42","email":"ada@example.com","name":"Ada","traits":{"plan":"pro","seats":3}}"#
            )
            #expect(created.status == 200)
            #expect(created.text == #"{"success":true}"#)
            #expect(created.header("Access-Control-Allow-Origin") == "*")

            let first = try await server.request("GET", "/api/end-users/user-42", headers: auth)
            #expect(first.status == 200)
            #expect(first.json["email"] as? String == "ada@example.com")
            #expect(first.json["name"] as? String == "Ada")
            #expect((first.json["traits"] as? [String: Any])?["seats"] as? Int == 3)
            let createdAt = try #require(first.json["createdAt"] as? String)

            // An update replaces what it names, keeps what it omits, clears what it nulls.
            let updated = try await server.postJSON(
                "/api/identify",
                #"{"clientId":"\#(client.id)","userId":"user-42","name":null,"traits":{"plan":"team"}}"#)
            #expect(updated.status == 200)
            let second = try await server.request("GET", "/api/end-users/user-42", headers: auth)
            #expect(second.json["email"] as? String == "ada@example.com")
            #expect(second.json["name"] is NSNull)
            #expect((second.json["traits"] as? [String: Any])?["plan"] as? String == "team")
            #expect((second.json["traits"] as? [String: Any])?["seats"] == nil)
            #expect(second.json["createdAt"] as? String == createdAt)
            #expect(try await server.count("end_user") == 1)

            #expect(try await server.request("GET", "/api/end-users/nobody", headers: auth).status == 404)
            #expect(try await server.request("GET", "/api/end-users/user-42").status == 401)
        }
    }

    /// `userId` is any 1 to 128 characters, so the admin asks for it percent-encoded in the path, as any HTTP client
    /// sends it: `a b`, an email, a slash, a percent sign and a non-ASCII letter each come back as identified.
    @Test func anEndUserWhoseIdNeedsEscapingIsFoundByItsEncodedPath() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            let ids = ["a b", "jamie@example.com", "team/42", "50%", "Zoë"]
            for id in ids {
                let body = try JSONSerialization.data(withJSONObject: ["clientId": client.id, "userId": id, "name": id])
                #expect(try await server.postJSON("/api/identify", String(decoding: body, as: UTF8.self)).status == 200)
            }
            for id in ids {
                let path = try #require(id.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
                let found = try await server.request("GET", "/api/end-users/\(path)", headers: auth)
                #expect(found.status == 200, "\(id) as \(path)")
                #expect(found.json["userId"] as? String == id)
                #expect(found.json["name"] as? String == id)
            }
            // An escape that spells no text is no stored id.
            #expect(try await server.request("GET", "/api/end-users/%FF", headers: auth).status == 404)
        }
    }

    @Test func identifyAnswersClear400sForTraitsLimitsAndBadFields() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let tooMany = (1...21).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
            let cases: [(String, String, String)] = [
                (#"{"clientId":"\#(client.id)","userId":"u","traits":{\#(tooMany)}}"#, "traits", "At most 20 keys"),
                (
                    #"{"clientId":"\#(client.id)","userId":"u","traits":{"bio":"\#(String(repeating: "x", count: 2100))"}}"#,
                    "traits", "Must be at most 2048 bytes (2 KB) as JSON"
                ),
                (
                    #"{"clientId":"\#(client.id)","userId":"u","traits":{"org":{"id":1}}}"#, "traits.org",
                    "Expected a string, number, boolean or null (traits are a flat object)"
                ),
                (#"{"clientId":"\#(client.id)","userId":""}"#, "userId", "Must be 1 to 128 characters"),
                (
                    #"{"clientId":"\#(client.id)","userId":"\#(String(repeating: "u", count: 129))"}"#, "userId",
                    "Must be 1 to 128 characters"
                ),
                (#"{"clientId":"\#(client.id)"}"#, "userId", "Required"),
                (
                    #"{"clientId":"\#(client.id)","userId":"u","email":"not-an-email"}"#, "email",
                    "Invalid email address"
                ),
            ]
            for (body, field, message) in cases {
                let result = try await server.postJSON("/api/identify", body)
                #expect(result.status == 400, "\(field)")
                #expect(result.json["error"] as? String == "Invalid data provided")
                #expect((result.json["issues"] as? [String: [String]])?[field] == [message])
                #expect(result.header("Access-Control-Allow-Origin") == "*")
            }
            let malformed = try await server.postJSON("/api/identify", "{nope")
            #expect(malformed.status == 400)
            #expect(malformed.json["error"] as? String == "Invalid JSON body")
            // A number past a double's range, as `1e400` is (it was stored, and its person's record became a 500).
            let huge = "1" + String(repeating: "0", count: 309)
            let refused = try await server.postJSON(
                "/api/identify", #"{"clientId":"\#(client.id)","userId":"u","traits":{"n":\#(huge)}}"#)
            #expect(refused.status == 400)
            #expect(refused.json["error"] as? String == "Invalid JSON body")
            #expect(try await server.count("end_user") == 0)
        }
    }

    /// The longest integer a trait may hold reads back from the person's record and their export.
    @Test func aTraitOfThreeHundredDigitsReadsBack() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            let digits = "9" + String(repeating: "0", count: 307)
            let identified = try await server.postJSON(
                "/api/identify",
                #"{"clientId":"\#(client.id)","userId":"u","email":"u@example.com","traits":{"n":\#(digits)}}"#)
            #expect(identified.status == 200)
            let record = try await server.request("GET", "/api/end-users/u", headers: auth)
            #expect(record.status == 200, "\(record.text)")
            #expect((record.json["traits"] as? [String: Any])?["n"] != nil)
            let export = try await server.request("GET", "/api/privacy/export?userId=u", headers: auth)
            #expect(export.status == 200, "\(export.text)")
        }
    }

    @Test func identifyFollowsTheClientIdAndAllowlistRulesOfFeedback() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient(allowedOrigins: ["https://app.example.com"])
            let body = #"{"clientId":"\#(client.id)","userId":"u"}"#
            let unknown = try await server.postJSON("/api/identify", #"{"clientId":"client_nope","userId":"u"}"#)
            #expect(unknown.status == 404)
            #expect(unknown.json["error"] as? String == "Invalid client ID")
            let forbidden = try await server.postJSON(
                "/api/identify", body, headers: ["Origin": "https://evil.example"])
            #expect(forbidden.status == 403)
            #expect(forbidden.json["error"] as? String == "Domain not allowed")
            #expect(forbidden.header("Access-Control-Allow-Origin") == "*")
            let allowed = try await server.postJSON(
                "/api/identify", body, headers: ["Origin": "https://app.example.com"])
            #expect(allowed.status == 200)
            let preflight = try await server.request(
                "OPTIONS", "/api/identify",
                headers: ["Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"])
            #expect(preflight.status == 204)
            #expect(preflight.header("Access-Control-Allow-Origin") == "*")
        }
    }

    @Test func feedbackUserIdLinksTheItemToTheEndUser() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            #expect(
                try await server.postJSON("/api/identify", #"{"clientId":"\#(client.id)","userId":"u7"}"#).status == 200
            )
            let posted = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"userId":"u7"}"#)
            let id = try #require(posted.json["feedbackId"] as? String)
            let item = try await server.request(
                "GET", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(item.json["userId"] as? String == "u7")
            let export = try await server.request(
                "GET", "/api/privacy/export?userId=u7", headers: ["Authorization": "Bearer \(client.key)"])
            #expect((export.json["feedback"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
        }
    }
}
