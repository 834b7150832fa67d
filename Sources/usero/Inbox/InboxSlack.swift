import Feedback
import Foundation
import GRDB
import SlackGateway

/// What the inbox needs from the Slack gateway, injected so the inbox does not depend on how Slack is wired.
struct InboxSlack: Sendable {
    /// The installation a client has: the workspace's name and when it was installed.
    typealias Installation = (teamName: String?, installedAt: Date)

    /// A one-time install link for the client, or nil when Slack is not configured on this server.
    var makeInstallLink: @Sendable (_ clientID: String) async throws -> String?
    /// The client's current installation, or nil when it has none.
    var installationStatus: @Sendable (_ clientID: String) async throws -> Installation?

    /// Creates the dependency from two closures.
    init(
        makeInstallLink: @escaping @Sendable (_ clientID: String) async throws -> String?,
        installationStatus: @escaping @Sendable (_ clientID: String) async throws -> Installation?
    ) {
        self.makeInstallLink = makeInstallLink
        self.installationStatus = installationStatus
    }

    /// Reads the installation straight from `slack_installation` (name and instant only, never the token).
    init(
        database: AppDatabase,
        makeInstallLink: @escaping @Sendable (_ clientID: String) async throws -> String?
    ) {
        self.init(makeInstallLink: makeInstallLink) { clientID in
            // The gateway's own record reader; only the name and the instant leave it, never the token.
            try await database.read { db in
                try InstallationRecords.installation(client: clientID, in: db).map { ($0.teamName, $0.installedAt) }
            }.map { (teamName: $0.0, installedAt: dateFromEpochMillis($0.1)) }
        }
    }
}
