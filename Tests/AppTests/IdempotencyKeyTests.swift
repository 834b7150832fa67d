import Foundation
import Testing
import UseroTestSupport

/// `Idempotency-Key` on `POST /api/feedback`: a client that sends a submission again because it never got the
/// answer (a timeout, a dropped connection, a 500) gets the first answer, and the inbox one item.
@Suite struct IdempotencyKeyTests {
    static let body = #"{"clientId":"%@","rating":2,"comment":"Export to CSV times out"}"#

    @Test func aSubmissionSentAgainWithItsKeyIsStoredOnceAndAnsweredWithTheSameId() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let body = String(format: Self.body, client.id)
            let key = ["Idempotency-Key": "6f1c2a4e-93b0-4c55-b2f4-0d1e2f3a4b5c"]
            let first = try await server.postJSON("/api/feedback", body, headers: key)
            let again = try await server.postJSON("/api/feedback", body, headers: key)
            #expect(first.status == 200)
            #expect(again.status == 200)
            let id = try #require(first.json["feedbackId"] as? String)
            #expect(again.json["feedbackId"] as? String == id)
            #expect(again.json["success"] as? Bool == true)

            // Without a key, or with another one, the same body is another item.
            let unkeyed = try await server.postJSON("/api/feedback", body)
            let otherKey = try await server.postJSON("/api/feedback", body, headers: ["Idempotency-Key": "second"])
            let ids = [unkeyed, otherKey].compactMap { $0.json["feedbackId"] as? String }
            #expect(Set(ids + [id]).count == 3)

            let listed = try await server.request(
                "GET", "/api/feedback", headers: ["Authorization": "Bearer \(client.key)"])
            let items = try #require(listed.json["items"] as? [[String: Any]])
            #expect(items.count == 3)
            #expect(items.filter { $0["id"] as? String == id }.count == 1)
        }
    }

    @Test func aKeyReusedForOtherContentIsA422AndStoresNothing() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let key = ["Idempotency-Key": "k-1"]
            let first = try await server.postJSON("/api/feedback", String(format: Self.body, client.id), headers: key)
            #expect(first.status == 200)

            let other = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":4}"#, headers: key)
            #expect(other.status == 422)
            #expect(
                other.json["error"] as? String
                    == "Idempotency-Key already used for a different submission: send each new submission with a new key")
            #expect(other.header("Access-Control-Allow-Origin") == "*")
            #expect(try await server.count("feedback") == 1)
        }
    }

    /// The content is the body's: sent again from another page (the `Referer` standing in for a missing `pageUrl`),
    /// or with the widget's header this time, it is still the same submission; the first try's page is kept.
    @Test func theSameBodyFromAnotherPageOrWithTheWidgetHeaderIsTheSameSubmission() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let body = String(format: Self.body, client.id)
            let first = try await server.postJSON(
                "/api/feedback", body, headers: ["Idempotency-Key": "k-1", "Referer": "https://app.example.com/a"])
            let id = try #require(first.json["feedbackId"] as? String)
            for headers in [
                ["Idempotency-Key": "k-1", "Referer": "https://app.example.com/b"], ["Idempotency-Key": "k-1"],
                ["Idempotency-Key": "k-1", "X-Usero-Widget": "1"],
            ] {
                let again = try await server.postJSON("/api/feedback", body, headers: headers)
                #expect(again.status == 200)
                #expect(again.json["feedbackId"] as? String == id)
            }
            let item = try await server.request(
                "GET", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"]).json
            #expect(item["pageUrl"] as? String == "https://app.example.com/a")
            #expect(try await server.count("feedback") == 1)
        }
    }

    @Test(arguments: ["", "has space", String(repeating: "k", count: 256), "caf\u{E9}"])
    func aMalformedKeyIsA400AndStoresNothing(_ value: String) async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let posted = try await server.postJSON(
                "/api/feedback", String(format: Self.body, client.id), headers: ["Idempotency-Key": value])
            #expect(posted.status == 400)
            #expect(
                posted.json["error"] as? String == "Invalid Idempotency-Key header: use 1 to 255 visible ASCII characters")
            #expect(try await server.count("feedback") == 0)
        }
    }

    /// A browser may send the header only when the preflight allows it.
    @Test func browsersMaySendTheHeader() async throws {
        try await TestServer.run { server in
            let preflight = try await server.request(
                "OPTIONS", "/api/feedback",
                headers: [
                    "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type,idempotency-key",
                ])
            let allowed = (preflight.header("Access-Control-Allow-Headers") ?? "").lowercased()
                .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(allowed.contains("idempotency-key"))
        }
    }
}
