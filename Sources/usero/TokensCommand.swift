import ArgumentParser
import Feedback
import Foundation
import SlackGateway
import UseroCrypto

/// `usero tokens reseal`: after introducing a new `USERO_TOKEN_KEY` (old one in `USERO_PREVIOUS_TOKEN_KEYS`),
/// seals every stored bot token again under the new key, so the old key can be retired.
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Slack bot tokens at rest.", subcommands: [Reseal.self])

    struct Reseal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-seal every stored Slack token under the current key; prints counts as JSON.")

        func run() async throws {
            let (keyRing, backend) = try await configured {
                let config = try AppConfig.load(host: nil, port: nil, environment: ProcessInfo.processInfo.environment)
                // Sealing under one machine's generated key would leave the tokens unreadable to every instance.
                try config.requireSharedTokenKey()
                let (keyRing, _) = try SlackKeys.load(config: config, createIfMissing: false, logger: nil)
                return (keyRing, try await Backend.open(config, creating: false))
            }
            let summary = try await TokenResealer(store: backend.slack, keyRing: keyRing).resealAll()
            try printJSON(summary)
            if summary.failed > 0 {
                // Counts alone said nothing of what to do (found by a review).
                printNote(
                    "\(summary.failed) token(s) could be opened with none of the keys given: put the key they were sealed with in USERO_PREVIOUS_TOKEN_KEYS, then run this again")
                throw ExitCode(1)
            }
        }
    }
}
