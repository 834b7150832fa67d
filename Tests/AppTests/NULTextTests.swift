import Foundation
import Testing

@testable import usero
import UseroTestSupport

/// Text with NUL (U+0000, `\u0000` in JSON, `%00` in a URL) from a client is refused or names nothing, on both
/// backends: SQLite's C API ends bound text at the NUL (so `victim\u0000x` would be stored, looked up or erased as
/// `victim`) and PostgreSQL refuses it outright (which surfaced as a 500).
@Suite struct NULTextTests {
    /// A signed Slack request whose team id holds NUL is not Slack's (its ids are printable ASCII): a 400, nothing
    /// stored or changed. On PostgreSQL each of these was a 500 (found by a review).
    @Test func slackRequestsWithNULInTheirTeamIdAreRefused() async throws {
        try await SlackCaptureTests.withInstalledServer { server, _, _ in
            for fixture in [
                "event_reaction_added_wrench.json", "event_app_uninstalled.json", "event_tokens_revoked.json",
                "event_message_channels.json",
            ] {
                let reply = try await server.sendEvent(fixture, replacing: [("T0001", #"T\u0000"#)])
                #expect(reply.status == 400, "\(fixture)")
            }
            let command = Fixtures.text("slash_command_usero.txt").replacingOccurrences(of: "team_id=T0001", with: "team_id=T%00")
            #expect(try await server.sendCommand(command).status == 400)
            // Asking for help names no workspace it could look up: the general usage.
            let help = try await server.sendCommand(command.replacingOccurrences(of: "text=Export", with: "text=help&x="))
            #expect(help.status == 200 && help.text.contains("/usero"))
            let shortcut = Fixtures.text("shortcut_message_action.body.txt")
                .replacingOccurrences(of: "%22T0001%22", with: "%22T%5Cu0000%22")
            #expect(
                try await server.postSlack(
                    "/slack/interactivity", shortcut, contentType: "application/x-www-form-urlencoded"
                ).status == 400)
            #expect(try await server.count("feedback") == 0)
            #expect(try await server.count("slack_installation") == 1)
        }
    }

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
