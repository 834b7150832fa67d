public import Foundation

/// What the inbox needs from the Slack gateway, injected by the executable so the inbox depends on neither the
/// gateway nor its store.
public struct InboxSlack: Sendable {
    /// The installation a client has: the workspace's name and when it was installed.
    public typealias Installation = (teamName: String?, installedAt: Date)

    /// A one-time install link for the client, or nil when Slack is not configured on this server.
    var makeInstallLink: @Sendable (_ clientID: String) async throws -> String?
    /// The client's current installation, or nil when it has none.
    var installationStatus: @Sendable (_ clientID: String) async throws -> Installation?

    /// Creates the dependency from two closures.
    public init(
        makeInstallLink: @escaping @Sendable (_ clientID: String) async throws -> String?,
        installationStatus: @escaping @Sendable (_ clientID: String) async throws -> Installation?
    ) {
        self.makeInstallLink = makeInstallLink
        self.installationStatus = installationStatus
    }
}
