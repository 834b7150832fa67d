import Foundation
import SlackGateway
import Testing

/// The manifest an admin pastes into Slack and the gateway's dispatch tables must agree, both ways.
@Suite struct ManifestTests {
    /// The few keys we need, read line by line (the manifest is plain block YAML).
    struct Manifest {
        var events: Set<String> = []
        var commands: Set<String> = []
        var shortcuts: Set<String> = []
        var scopes: [String] = []

        init(_ text: String) {
            var section = ""
            for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let line = String(raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                if trimmed.hasSuffix(":") && !trimmed.hasPrefix("-") {
                    section = String(trimmed.dropLast())
                    continue
                }
                let item = trimmed.hasPrefix("- ") ? String(trimmed.dropFirst(2)) : trimmed
                if item.hasPrefix("command:") { commands.insert(Self.value(item)) }
                if item.hasPrefix("callback_id:") { shortcuts.insert(Self.value(item)) }
                if trimmed.hasPrefix("- ") && !item.contains(":") || section == "bot" {
                    if section == "bot_events" { events.insert(item) }
                    if section == "bot" && trimmed.hasPrefix("- ") { scopes.append(item) }
                }
            }
        }

        static func value(_ item: String) -> String {
            String(item.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces)
        }
    }

    static var manifestURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("manifests/slack-app.yaml")
    }

    @Test func everyDeclaredEventCommandAndShortcutHasAHandlerAndTheReverse() throws {
        let text = try String(contentsOf: Self.manifestURL, encoding: .utf8)
        let manifest = Manifest(text)
        #expect(manifest.events == SlackIngest.handledEvents)
        #expect(manifest.commands == SlackIngest.handledCommands)
        #expect(manifest.shortcuts == SlackIngest.handledShortcuts)
    }

    @Test func theManifestAsksForExactlyTheScopesTheInstallLinkRequests() throws {
        let manifest = Manifest(try String(contentsOf: Self.manifestURL, encoding: .utf8))
        #expect(manifest.scopes.joined(separator: ",") == SlackOAuth.scopes)
        #expect(!manifest.events.contains { $0.hasPrefix("message") })
    }
}
