import Feedback
import Foundation
import SlackGateway
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import Retention
import UseroTestSupport

/// Every `/slack/*` request is verified first; failures are 401 with nothing parsed or stored.
@Suite struct SlackSignatureTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var secret: String
        var timestamp: String
        var body: Data
        var signature: String
        var now: Int
        var isValid: Bool
        var testDescription: String { name }
    }

    static let vectors: [Vector] = {
        let data = Fixtures.data("signature_vectors.json")
        let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return (root["vectors"] as? [[String: Any]] ?? []).map { v in
            Vector(
                name: v["name"] as? String ?? "", secret: v["signing_secret"] as? String ?? "",
                timestamp: v["x_slack_request_timestamp"] as? String ?? "",
                body: Data(base64Encoded: v["body_base64"] as? String ?? "") ?? Data(),
                signature: v["x_slack_signature"] as? String ?? "",
                now: Int(v["now"] as? String ?? "") ?? Int(v["now"] as? Int ?? 0),
                isValid: (v["expected_valid"] as? String).map { $0 == "True" } ?? (v["expected_valid"] as? Bool ?? false))
        }
    }()

    @Test func thereAreTwentyVectors() {
        #expect(Self.vectors.count == 20)
        #expect(Self.vectors.filter(\.isValid).count == 7)
    }

    @Test(arguments: vectors)
    func verifierAgreesWithEveryPublishedVector(_ vector: Vector) {
        let verifier = SignatureVerifier(signingSecret: Redacted(vector.secret))
        let now = Date(timeIntervalSince1970: TimeInterval(vector.now))
        let accepted = (try? verifier.verify(
            body: Array(vector.body), timestamp: vector.timestamp, signature: vector.signature, now: now)) != nil
        #expect(accepted == vector.isValid)
    }

    @Test func aRequestSignedByOpenSSLIsAccepted() async throws {
        try await withFakeSlack { _, api in
            try await TestServer.run(configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) { server in
                let body = Fixtures.data("url_verification.json")
                let timestamp = "\(Int(Date().timeIntervalSince1970))"
                let signature = try Self.opensslSign(Data("v0:\(timestamp):".utf8) + body, secret: SlackTestSettings.signingSecret)
                let reply = try await server.request(
                    "POST", "/slack/events",
                    headers: ["X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + signature,
                              "Content-Type": "application/json"],
                    body: body)
                #expect(reply.status == 200)
                #expect(reply.json["challenge"] as? String == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
            }
        }
    }

    @Test func badSignaturesStaleTimestampsAndTamperedBodiesAre401WithNothingStored() async throws {
        try await SlackCaptureTests.withInstalledServer { server, fake, _ in
            let now = Int(Date().timeIntervalSince1970)
            let requests: [(String, String, String)] = [
                ("/slack/events", Fixtures.text("event_reaction_added_wrench.json"), "application/json"),
                ("/slack/commands", Fixtures.text("slash_command_usero.txt"), "application/x-www-form-urlencoded"),
                ("/slack/interactivity", Fixtures.text("shortcut_message_action.body.txt"), "application/x-www-form-urlencoded"),
            ]
            for (path, body, type) in requests {
                let data = Data(body.utf8)
                var cases: [[String: String]] = []
                cases.append(SlackTestSettings.headers(for: data, secret: "usero-test-signing-secret-9999", contentType: type))
                cases.append(SlackTestSettings.headers(for: data, timestamp: now - 400, contentType: type))
                cases.append(SlackTestSettings.headers(for: data, timestamp: now + 400, contentType: type))
                cases.append(["Content-Type": type])
                var uppercase = SlackTestSettings.headers(for: data, contentType: type)
                uppercase["X-Slack-Signature"] = uppercase["X-Slack-Signature"]?.uppercased()
                cases.append(uppercase)
                for headers in cases {
                    let reply = try await server.request("POST", path, headers: headers, body: data)
                    #expect(reply.status == 401, "\(path)")
                    #expect(reply.json["error"] as? String == "Invalid Slack signature")
                    // RFC 9110 §15.5.2: a 401 names the scheme that would do.
                    #expect(reply.header("WWW-Authenticate") == #"Slack-Signature realm="usero""#)
                }
                // Tampered: signed one body, sent another
                let tampered = Data(body.replacingOccurrences(of: "U0001", with: "U0666").utf8)
                let reply = try await server.request(
                    "POST", path, headers: SlackTestSettings.headers(for: data, contentType: type), body: tampered)
                #expect(reply.status == 401, "\(path)")
            }
            #expect(try await server.count("feedback") == 0)
            #expect(try await server.count("job") == 0)
            #expect(try await server.count("slack_event_seen") == 0)
            #expect(await fake.calls("conversations.replies").isEmpty)
        }
    }

    /// HMAC-SHA256 by the `openssl` command: an implementation that isn't ours.
    static func opensslSign(_ message: Data, secret: String) throws -> String {
        let data = try ChildProcess.run(
            "/usr/bin/env", ["openssl", "dgst", "-sha256", "-hmac", secret, "-r"], input: message).stdout
        let text = String(decoding: data, as: UTF8.self)
        return String(text.prefix { $0.isHexDigit })
    }
}
