import Foundation
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

@Suite struct OperationsTests {
    @Test func healthzAnswersOkWhenTheStoreAnswers() async throws {
        try await TestServer.run { server in
            let result = try await server.request("GET", "/healthz")
            #expect(result.status == 200)
            #expect(result.text == #"{"status":"ok"}"#)
        }
    }

    @Test func metricsSpeakPrometheusText() async throws {
        try await TestServer.run { server in
            let result = try await server.request("GET", "/metrics")
            #expect(result.status == 200)
            #expect(result.header("Content-Type")?.hasPrefix("text/plain") == true)
            #expect(result.text.contains("# TYPE usero_up gauge"))
        }
    }

    @Test func unknownRoutesAnswer404WithAJSONError() async throws {
        try await TestServer.run { server in
            let result = try await server.request("GET", "/nope")
            #expect(result.status == 404)
            #expect(result.json["error"] is String)
        }
    }

    @Test func slackRoutesAnswer503WhenSlackIsNotConfigured() async throws {
        try await TestServer.run { server in
            for path in ["/slack/events", "/slack/commands", "/slack/interactivity"] {
                let result = try await server.postJSON(path, "{}")
                #expect(result.status == 503)
                #expect(result.text == #"{"error":"Slack is not configured"}"#)
            }
        }
    }

    @Test func requestLogsNameTheRouteNeverThePathOrQuery() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            _ = try await server.request("GET", "/api/end-users/jamie.private@example.com", headers: auth)
            _ = try await server.request("GET", "/api/privacy/export?email=jamie.private@example.com", headers: auth)
            let logs = server.logs.text
            #expect(logs.contains("http.route="))
            #expect(!logs.contains("jamie.private"))
            #expect(!logs.contains(client.key))
        }
    }

    /// HEAD is answered wherever GET is (RFC 9110; uptime monitors and `curl -I` use it): the GET's status and
    /// headers, its length, no body; a miss is the GET's 404.
    @Test func headIsAnsweredWhereverGetIs() async throws {
        try await TestServer.run { server in
            for path in ["/healthz", "/widget.js", "/openapi.json", "/inbox/login"] {
                let get = try await server.request("GET", path)
                let head = try await server.request("HEAD", path)
                #expect(head.status == get.status, "\(path)")
                #expect(head.body.isEmpty, "\(path)")
                #expect(head.header("Content-Type") == get.header("Content-Type"), "\(path)")
                if path != "/inbox/login" {  // the sign-in page carries a fresh token each time
                    #expect(head.header("Content-Length") == "\(get.body.count)", "\(path)")
                }
            }
            #expect(try await server.request("HEAD", "/nothing-here").status == 404)
            // The connection stays usable: no stray body was sent after the head.
            #expect(try await server.healthStatus() == 200)
        }
    }
}
