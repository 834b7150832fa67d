public import Feedback
import Foundation
public import Logging
public import UseroCrypto

/// OAuth v2 install: one-time links with a signed, expiring, single-use `state`, and the callback that exchanges
/// the code and stores the installation with its bot token sealed.
public struct SlackOAuth: Sendable {
    /// The bot scopes usero asks for, and no more (see manifests/slack-app.yaml).
    public static let scopes =
        "commands,reactions:read,channels:history,groups:history,chat:write,channels:read,groups:read"
    /// What stops working without each scope, for the install page when Slack grants fewer than usero asks for.
    static let scopeUses: [(scope: String, use: String)] = [
        ("commands", "/usero and the “Send to usero” shortcut"), ("reactions:read", "forwarding by reaction"),
        ("channels:history", "reading the messages forwarded by reaction in public channels"),
        ("groups:history", "reading the messages forwarded by reaction in private channels"),
        ("chat:write", "confirmations and posting new feedback to a channel"),
        ("channels:read", "recovering missed reactions in public channels"),
        ("groups:read", "recovering missed reactions in private channels"),
    ]

    /// The scopes usero asks for that `granted` (Slack's comma-separated `scope`) lacks, in the order asked.
    public static func missingScopes(granted: String) -> [String] {
        let have = Set(granted.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        return scopes.split(separator: ",").map(String.init).filter { !have.contains($0) }
    }

    /// How long an install link works.
    public static let stateLifetime: Int64 = 600_000

    let store: any SlackStore
    let api: any SlackWebAPI
    let keyRing: KeyRing
    /// At most one warning a minute about links signed with a key this instance lacks.
    let foreignSignatures = WarningThrottle(interval: .seconds(60))
    let stateKey: SecretBytes
    /// Keys that signed states before a token-key rotation (derived from `USERO_PREVIOUS_TOKEN_KEYS`): their links
    /// still work, from any instance, while instances move to the new key one by one.
    let previousStateKeys: [SecretBytes]
    let clientID: String?
    let clientSecret: Redacted<String>?
    let authorizeURL: String
    let publicURL: String
    let clock: any WallClock
    let logger: Logger

    /// Creates the flow. `stateKey` signs states and must survive restarts (derive it from the token key); states
    /// signed with one of `previousStateKeys` are accepted too.
    public init(
        store: any SlackStore, api: any SlackWebAPI, keyRing: KeyRing, stateKey: SecretBytes,
        previousStateKeys: [SecretBytes] = [], clientID: String?, clientSecret: Redacted<String>?, authorizeURL: String,
        publicURL: String, clock: any WallClock, logger: Logger
    ) {
        self.store = store
        self.api = api
        self.keyRing = keyRing
        self.stateKey = stateKey
        self.previousStateKeys = previousStateKeys
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.authorizeURL = authorizeURL
        self.publicURL = publicURL
        self.clock = clock
        self.logger = logger
    }

    /// Where Slack sends the admin back.
    public var redirectURI: String { publicURL + "/slack/oauth/callback" }

    // MARK: Links

    /// A one-time link to Slack's authorize page for `clientID`'s inbox, valid for 10 minutes.
    public func makeInstallLink(clientID client: String) async throws -> String {
        guard let clientID, clientSecret != nil else { throw SlackGatewayError.oauthNotConfigured }
        let nonce = Identifiers.random(24)
        let expires = epochMillis(clock.now()) + Self.stateLifetime
        try await store.saveOAuthState(
            nonce: nonce, clientID: client, expiresAt: expires, pruneBefore: expires - 2 * Self.stateLifetime)
        let state = sign("\(client).\(nonce).\(expires)")
        let query = FormBody.encode([
            ("client_id", clientID), ("scope", Self.scopes), ("redirect_uri", redirectURI), ("state", state),
        ])
        return authorizeURL + (authorizeURL.contains("?") ? "&" : "?") + query
    }

    /// The client's installation as the admin API shows it, or nil.
    public func installation(clientID: String) async throws -> InstallationSummary? {
        try await store.installation(client: clientID)?.summary
    }

    private func sign(_ payload: String) -> String {
        payload + "." + Hex.encode(HMACSHA256.authenticationCode(for: Array(payload.utf8), key: stateKey))
    }

    /// The client and nonce of a state this service signed, if it is intact; expiry is checked separately.
    func verify(state: String) -> (client: String, nonce: String, expires: Int64)? {
        let parts = state.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, let expires = Int64(parts[2]) else { return nil }
        let payload = Array(parts[0...2].joined(separator: ".").utf8)
        guard let given = Hex.decode(parts[3]) else { return nil }
        for key in [stateKey] + previousStateKeys
        where constantTimeEquals(HMACSHA256.authenticationCode(for: payload, key: key), given) {
            return (parts[0], parts[1], expires)
        }
        return nil
    }

    /// A state shaped as this service makes them (a client id, a nonce, an unexpired instant, a whole HMAC-SHA256)
    /// whose signature fails here was most likely signed with a key this instance lacks: the instances behind the
    /// load balancer do not share one `USERO_TOKEN_KEY` (installs then fail whenever the callback reaches another
    /// instance than the link's), or a previous key left `USERO_PREVIOUS_TOKEN_KEYS` within a link's 10 minutes.
    /// The operator is told, at most once a minute (anyone can send such a state); the admin sees the page of any bad
    /// link. Nothing is read or written for it. Never the state or a key in the log.
    private func explainForeignSignature(of state: String?, now: Int64) {
        let parts = state.map { $0.split(separator: ".", omittingEmptySubsequences: false) } ?? []
        guard parts.count == 4, parts[0].hasPrefix("client_"), parts[0].utf8.count <= 64, parts[1].utf8.count <= 64,
            parts[3].utf8.count == 64, Hex.decode(String(parts[3])) != nil,
            let expires = Int64(parts[2]), expires >= now, expires <= now + Self.stateLifetime
        else { return }
        foreignSignatures.warn(
            "A Slack install link failed its signature here though it is shaped as usero's and unexpired: it was altered, or signed with a key this instance lacks (every instance must have the same USERO_TOKEN_KEY; after a rotation, keep the old key in USERO_PREVIOUS_TOKEN_KEYS for 10 minutes)",
            on: logger)
    }

    // MARK: Callback

    /// How the callback ended: what the admin's browser is shown.
    public enum CallbackResult: Sendable, Equatable {
        /// `missingScopes`: what usero asked for and Slack did not grant (what needs them will not work).
        case installed(teamName: String, triggerEmoji: [String], missingScopes: [String])
        case failed(status: Int, reason: String)
    }

    /// Where a new install link comes from: the inbox's Connect Slack, or whoever made this one
    /// (`POST /api/slack/install-link`) and sent it to a workspace admin.
    static let startAgain =
        "start again with Connect Slack in the usero inbox, or ask whoever sent you the link for a new one"

    /// The page for an answer from Slack usero cannot keep (not a bot token for one workspace).
    static let unusableAnswer =
        "Slack answered, but not with an installation usero can use (a bot token for one workspace). Nothing was "
        + "stored. Try again: \(startAgain); if it happens again, check the Slack app's settings."

    /// Refuses an installation Slack has already granted: the token it issued is revoked first (best effort), so the
    /// app is not left installed in a workspace where usero ignores it, as when a project has another workspace.
    private func refusing(_ access: OAuthAccess, status: Int, reason: String) async -> CallbackResult {
        let token = access.accessToken.value
        if !token.isEmpty, token.utf8.count <= 512, token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) {
            try? await api.revoke(token: access.accessToken)
        }
        return .failed(status: status, reason: reason)
    }

    /// Checks the state (signed, unexpired, unused: it is consumed here), exchanges the code, asks `auth.test`
    /// who the bot is, and stores the installation. Nothing is stored on any failure.
    public func complete(code: String?, state: String?, error: String?) async -> CallbackResult {
        let now = epochMillis(clock.now())
        guard let state, let parsed = verify(state: state) else {
            explainForeignSignature(of: state, now: now)
            return .failed(status: 400, reason: "This install link is not valid. To install usero, \(Self.startAgain).")
        }
        let consumed: Bool
        do {
            consumed = try await store.consumeOAuthState(nonce: parsed.nonce, clientID: parsed.client, now: now)
        } catch {
            return .failed(status: 503, reason: "usero could not record the installation. Please try again.")
        }
        guard consumed, parsed.expires >= now else {
            return .failed(status: 400, reason: "This install link has expired or was already used. To install usero, \(Self.startAgain).")
        }
        if let error {
            logger.debug("Slack install declined", metadata: ["slack.oauth_error": "\(SlackIngest.loggable(error))"])
            // The link is used up (it works once): a cancel by mistake needs a new one, which the page says.
            return .failed(
                status: 400,
                reason: "The installation was cancelled in Slack. Nothing was changed. To install usero, \(Self.startAgain).")
        }
        guard let code, !code.isEmpty, let clientID, let clientSecret else {
            return .failed(status: 400, reason: "Slack did not send an authorization code.")
        }
        do {
            let access = try await api.exchangeCode(
                code, redirectURI: redirectURI, clientID: clientID, clientSecret: clientSecret)
            guard let team = access.teamId else {
                return await refusing(
                    access, status: 400, reason: "Org-wide (Enterprise Grid) installs are not supported yet.")
            }
            guard !access.expires else {
                logger.notice("Slack install refused: the app's tokens expire (token rotation is on)")
                return await refusing(
                    access, status: 400,
                    reason: "This Slack app has token rotation turned on, and usero needs it off (Slack app settings, "
                        + "OAuth & Permissions). Nothing was stored.")
            }
            // Slack's word, checked before anything is sealed or stored: a workspace id, a bot token, a bounded
            // name, and auth.test agreeing on the workspace.
            guard Installation.isTeamID(team), access.accessToken.value.hasPrefix("xoxb-"),
                access.accessToken.value.utf8.count <= 512
            else {
                logger.warning("Slack install refused: Slack's answer held no bot token for one workspace")
                return await refusing(access, status: 502, reason: Self.unusableAnswer)
            }
            let identity = try await api.authTest(token: access.accessToken)
            guard identity.teamId == nil || identity.teamId == team else {
                logger.warning("Slack install refused: auth.test named another workspace than the token's")
                return await refusing(access, status: 502, reason: Self.unusableAnswer)
            }
            let teamName = access.teamName.map { String($0.replacingNUL.unicodeScalars.prefix(256)) }
            let envelope = try keyRing.seal(Array(access.accessToken.value.utf8), associatedData: Array(team.utf8))
            // Slack's ids and scopes, bounded as every id from Slack is before it is stored (a NUL in one made
            // PostgreSQL refuse the row and the install answer 502).
            let scopes = SlackIngest.isVisibleASCII(access.scope, atMost: 2048) ? access.scope : ""
            let installation = Installation(
                teamId: team, clientId: parsed.client, enterpriseId: SlackIngest.slackID(access.enterpriseId),
                teamName: teamName,
                botUserId: SlackIngest.slackID(access.botUserId) ?? SlackIngest.slackID(identity.userId),
                botId: SlackIngest.slackID(identity.botId), appId: SlackIngest.slackID(access.appId),
                // Who installed is not kept: nothing needs their member id (and no export or erasure would reach it).
                scopes: scopes, installerUserId: nil, tokenEnvelope: envelope,
                tokenKeyId: keyRing.currentKeyID, installedAt: epochMillis(clock.now()))
            let saved: InstallationSaveResult
            do {
                saved = try await store.saveInstallation(installation)
            } catch {
                // usero's own storage, not Slack: the install may even have been stored (a connection lost after its
                // commit went out), so the page says how to tell, and the token Slack issued is kept.
                logger.warning("Slack install could not be stored", metadata: errorMetadata(error))
                return .failed(
                    status: 503,
                    reason: "usero could not store the installation: its database did not answer. It may be stored "
                        + "all the same: the usero inbox's Slack settings show it when it is; if they do not, "
                        + "\(Self.startAgain).")
            }
            switch saved {
            case .saved:
                break
            case .clientGone:
                return .failed(status: 400, reason: "The usero project for this link no longer exists.")
            case .ownedByAnotherClient:
                logger.notice("Slack install refused: workspace belongs to another client", metadata: ["slack.team_id": "\(team)"])
                return .failed(
                    status: 409,
                    reason: "This Slack workspace is already connected to another usero project. Nothing was changed. "
                        + "To move it, uninstall usero from the workspace first, then install it from this project.")
            case .clientHasAnotherWorkspace(let connected):
                // The token Slack just gave is the app's only one in this workspace: revoking it uninstalls the app
                // there again, so nothing is left installed that usero would ignore.
                try? await api.revoke(token: access.accessToken)
                logger.notice("Slack install refused: the client has another workspace", metadata: ["slack.team_id": "\(team)"])
                return .failed(
                    status: 409,
                    reason: "This usero project is already connected to the Slack workspace \(connected), and a project "
                        + "connects to one workspace. Nothing was stored. To switch, uninstall usero from \(connected) "
                        + "first; to collect feedback from both, create a second project.")
            }
            logger.info("Slack installed", metadata: ["slack.team_id": "\(team)", "usero.client_id": "\(parsed.client)"])
            // Slack's `scope` is what it granted: the install stands (what it allows works), and the page says what
            // will not until the app asks for the rest and is installed again.
            let missing = Self.missingScopes(granted: access.scope)
            if !missing.isEmpty {
                logger.notice(
                    "Slack installed without some scopes",
                    metadata: ["slack.team_id": "\(team)", "slack.missing_scopes": "\(missing.joined(separator: ","))"])
            }
            // A reinstall keeps the workspace's chosen emoji: the page names those.
            let emoji = (try? await store.activeInstallation(team: team))?.settings.triggerEmoji
            return .installed(
                teamName: teamName ?? team, triggerEmoji: emoji ?? SlackSettings.defaultTriggerEmoji,
                missingScopes: missing)
        } catch SlackAPIError.slack(let code) {
            logger.debug("Slack install refused", metadata: ["slack.error": "\(SlackIngest.loggable(code))"])
            return .failed(status: 400, reason: "Slack refused the installation (\(SlackIngest.loggable(code))). To try again, \(Self.startAgain).")
        } catch {
            logger.warning("Slack install failed", metadata: errorMetadata(error))
            // The link is used up by now (it works once): trying the page again says so, so the page says what does.
            return .failed(
                status: 502,
                reason: "usero could not reach Slack, or read its answer, to finish the installation. Nothing was stored. "
                    + "To try again, \(Self.startAgain).")
        }
    }
}
