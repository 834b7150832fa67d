import Foundation
import Testing

@testable import usero

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
}
