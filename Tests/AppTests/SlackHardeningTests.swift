import Feedback
import Foundation
import SlackGateway
import Testing

@testable import StoreSQLite
@testable import usero

/// Issue 11's Slack defects, each as a user meets it.
@Suite struct SlackHardeningTests {
    @Test func anInstallLinkOfAnotherClientCannotTakeAnInstalledWorkspace() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, owner in
            // Given workspace T0001 installed for one client, and a second client with its own install link
            let other = try await server.createClient()
            let link = try await server.request(
                "POST", "/api/slack/install-link", headers: ["Authorization": "Bearer \(other.key)"])
            let linkURL = try #require(link.json["url"] as? String)
            let url = try #require(URLComponents(string: linkURL))
            let state = try #require(url.queryItems?.first { $0.name == "state" }?.value)

            // When Slack sends the second client's admin back from the same workspace
            let done = try await server.request("GET", "/slack/oauth/callback?code=good-code&state=\(state)")

            // Then a 409 page says so, and nothing changed: the workspace is still the first client's
            #expect(done.status == 409)
            #expect(done.header("Content-Type")?.hasPrefix("text/html") == true)
            #expect(done.text.contains("already connected to another usero project"))
            let mine = try await server.request(
                "GET", "/api/slack/installation", headers: ["Authorization": "Bearer \(owner.key)"])
            #expect(mine.status == 200)
            #expect(mine.json["teamId"] as? String == "T0001")
            let theirs = try await server.request(
                "GET", "/api/slack/installation", headers: ["Authorization": "Bearer \(other.key)"])
            #expect(theirs.status == 404)
            #expect(try await server.parts.backend.slack.activeInstallation(team: "T0001")?.clientId == owner.id)
            // And the token Slack handed out is not revoked: it is the app's token in the owner's workspace, and
            // revoking it would uninstall usero there
            #expect(await fake.calls("auth.revoke").isEmpty)
        }
    }

    /// A project has one workspace: the admin API shows one installation and its settings. Installing a second
    /// workspace from the same project used to succeed and hide the first, which kept capturing and posting with
    /// settings nobody could see or change.
    @Test func aProjectConnectedToAWorkspaceCannotInstallASecondOne() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, client in
            let auth = ["Authorization": "Bearer \(client.key)"]
            #expect(
                try await server.request(
                    "PUT", "/api/slack/settings", headers: auth.merging(["Content-Type": "application/json"]) { $1 },
                    body: Data(#"{"triggerEmoji":["bug","eyes"]}"#.utf8)
                ).status == 200)

            // When the same project's admin completes an install in another workspace, T0002
            await fake.script(
                "oauth.v2.access",
                FakeSlack.Reply(
                    body: Fixtures.text(
                        "oauth_v2_access_ok.json",
                        replacing: [("T0001", "T0002"), ("Acme Product", "Other Co"), (FakeSlack.botToken, "xoxb-0002-second")])))
            await fake.script(
                "auth.test",
                FakeSlack.Reply(body: #"{"ok":true,"team":"Other Co","user":"usero","team_id":"T0002","user_id":"U0009","bot_id":"B0002"}"#))
            let done = try await server.request(
                "GET", "/slack/oauth/callback?code=good-code&state=\(try await server.installState(for: client))")

            // Then a 409 page names the connected workspace, the new token is revoked, and nothing changed
            #expect(done.status == 409)
            #expect(done.text.contains("already connected to the Slack workspace Acme Product"))
            let revoked = try #require(await fake.calls("auth.revoke").last)
            #expect(revoked.authorization == "Bearer xoxb-0002-second")
            let installation = try await server.request("GET", "/api/slack/installation", headers: auth)
            #expect(installation.json["teamId"] as? String == "T0001")
            #expect(try await server.parts.backend.slack.activeInstallation(team: "T0002") == nil)
            #expect(try await server.count("slack_installation") == 1)

            // Reinstalling its own workspace still works, and the page names that workspace's own emoji
            let again = try await server.request(
                "GET", "/slack/oauth/callback?code=good-code&state=\(try await server.installState(for: client))")
            #expect(again.status == 200)
            #expect(again.text.contains("React with :bug: or :eyes:"))
        }
    }

    @Test func aReplayedSlashCommandMakesNoSecondRow() async throws {
        try await SlackCaptureTests.withInstalledServer { server, _, client in
            // Given one signed /usero request, sent twice with the same timestamp and signature
            let body = Data(Fixtures.text("slash_command_usero.txt").utf8)
            let headers = SlackTestSettings.headers(for: body, contentType: "application/x-www-form-urlencoded")
            let first = try await server.request("POST", "/slack/commands", headers: headers, body: body)
            let replay = try await server.request("POST", "/slack/commands", headers: headers, body: body)

            // Then both are answered, and only one row exists
            #expect(first.status == 200)
            #expect((first.json["text"] as? String)?.contains("Sent to usero") == true)
            #expect(replay.status == 200)
            #expect((replay.json["text"] as? String) == SlackIngest.replayed)
            #expect(try await server.items(client).count == 1)
        }
    }

    @Test func aReplayedShortcutMakesNoSecondRowNorSecondAnswer() async throws {
        try await SlackCaptureTests.withInstalledServer { server, _, client in
            let body = Data(Fixtures.text("shortcut_message_action.body.txt").utf8)
            let headers = SlackTestSettings.headers(for: body, contentType: "application/x-www-form-urlencoded")
            let first = try await server.request("POST", "/slack/interactivity", headers: headers, body: body)
            let replay = try await server.request("POST", "/slack/interactivity", headers: headers, body: body)
            #expect(first.status == 200)
            #expect(replay.status == 200)
            #expect(try await server.items(client).count == 1)
            // The replay was recognised by its signature and added nothing to the store.
            #expect(try await server.count("slack_request_seen") == 1)
        }
    }
}
