import ArgumentParser
import Feedback
import Foundation

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Retention sweeps.", subcommands: [Run.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one retention sweep now and print what it deleted as JSON counts.")

        @Option(name: .customLong("as-of"), help: "Sweep as of this ISO 8601 instant (default: now).")
        var asOf: String?

        func run() async throws {
            var instant = Date()
            if let asOf {
                guard let parsed = parseISO8601(asOf) else { throw ValidationError("--as-of must be an ISO 8601 instant") }
                instant = parsed
            }
            _ = instant
            throw ValidationError("retention sweeps are not built yet")
        }
    }
}
