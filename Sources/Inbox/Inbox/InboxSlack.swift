public import Foundation

/// What the inbox needs from the Slack gateway, injected by the executable so the inbox depends on neither the
/// gateway nor its store.
public struct InboxSlack: Sendable {
    /// The installation a client has: the workspace's name and when it was installed.
    /// The installation as the inbox shows it; `isRevoked` when Slack revoked its token (`tokens_revoked`): forwards
    /// do nothing until it is reconnected.
    public typealias Installation = (teamName: String?, installedAt: Date, isRevoked: Bool)

    /// A workspace's settings as the inbox shows them, with the last problem posting to its channel.
    public struct Settings: Sendable, Equatable {
        public var triggerEmoji: [String]
        public var notifyChannel: String?
        /// What went wrong posting to `notifyChannel` (the admin must fix it), and when.
        public var notifyProblem: String?
        public var notifyProblemAt: Date?
        /// Scopes usero asks for that this installation was not granted (it was installed before they were asked
        /// for): reconnecting grants them.
        public var missingScopes: [String]

        /// Creates settings.
        public init(
            triggerEmoji: [String], notifyChannel: String?, notifyProblem: String?, notifyProblemAt: Date?,
            missingScopes: [String] = []
        ) {
            self.triggerEmoji = triggerEmoji
            self.notifyChannel = notifyChannel
            self.notifyProblem = notifyProblem
            self.notifyProblemAt = notifyProblemAt
            self.missingScopes = missingScopes
        }
    }

    /// How saving settings from the inbox ended.
    public enum SettingsSave: Sendable, Equatable {
        case saved
        /// Field name to messages.
        case invalid([String: [String]])
        case notInstalled
    }

    /// Whether this server has what installing Slack needs (signing secret, client id and secret).
    var isConfigured: Bool
    /// A one-time install link for the client, or nil when Slack is not configured on this server.
    var makeInstallLink: @Sendable (_ clientID: String) async throws -> String?
    /// The client's current installation, or nil when it has none.
    var installationStatus: @Sendable (_ clientID: String) async throws -> Installation?
    /// The workspace's settings, or nil without an installation (or without Slack on this server).
    var settings: @Sendable (_ clientID: String) async throws -> Settings?
    /// Saves trigger emoji and the notify channel (nil: none), validated by the gateway's rules.
    var saveSettings:
        @Sendable (_ clientID: String, _ triggerEmoji: [String], _ notifyChannel: String?) async throws -> SettingsSave

    /// Creates the dependency from its closures; without the settings closures the inbox shows no settings form.
    public init(
        isConfigured: Bool = true,
        makeInstallLink: @escaping @Sendable (_ clientID: String) async throws -> String?,
        settings: @escaping @Sendable (_ clientID: String) async throws -> Settings? = { _ in nil },
        saveSettings:
            @escaping @Sendable (_ clientID: String, _ triggerEmoji: [String], _ notifyChannel: String?) async throws
            -> SettingsSave = { _, _, _ in .notInstalled },
        installationStatus: @escaping @Sendable (_ clientID: String) async throws -> Installation?
    ) {
        self.isConfigured = isConfigured
        self.makeInstallLink = makeInstallLink
        self.installationStatus = installationStatus
        self.settings = settings
        self.saveSettings = saveSettings
    }
}
