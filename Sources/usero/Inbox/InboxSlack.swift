import Feedback
import Foundation
import GRDB

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
            try await database.read { db -> InstallationRow? in
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT team_name, installed_at FROM slack_installation
                        WHERE client_id = ? ORDER BY installed_at DESC LIMIT 1
                        """,
                    arguments: [clientID]
                ).map { InstallationRow(teamName: $0[0], installedAtMillis: $0[1]) }
            }.map { (teamName: $0.teamName, installedAt: dateFromEpochMillis($0.installedAtMillis)) }
        }
    }

    private struct InstallationRow: Sendable {
        var teamName: String?
        var installedAtMillis: Int64
    }
}
