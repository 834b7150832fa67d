public import Feedback
import Foundation
public import Hummingbird

/// The admin side of Slack: install links, the installation summary (never the token), the workspace's settings
/// and recovery requests.
public struct SlackAdminRoutes<Context: RequestContext>: Sendable {
    let auth: AdminAuth
    let oauth: SlackOAuth
    let workspace: SlackWorkspace

    /// Creates the routes.
    public init(auth: AdminAuth, oauth: SlackOAuth, workspace: SlackWorkspace) {
        self.auth = auth
        self.oauth = oauth
        self.workspace = workspace
    }

    /// Largest settings body.
    public static var bodyLimit: Int { 1 << 20 }

    /// Adds `slack/install-link`, `slack/installation`, `slack/settings` and `slack/recover` under `group` (the
    /// `api` group).
    public func register(on group: RouterGroup<Context>) {
        group.post("slack/install-link", use: installLink)
        group.get("slack/installation", use: installation)
        group.get("slack/settings", use: settings)
        group.put("slack/settings", use: updateSettings)
        group.post("slack/recover", use: recover)
    }

    @Sendable func settings(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        try request.refuseQuery()
        return JSONResponse.make(SettingsBody(try await workspace.installation(clientID: client.id)))
    }

    @Sendable func updateSettings(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        try request.refuseQuery()
        let change = try SlackSettingsChange.parse(try await request.collectBody(limit: Self.bodyLimit))
        return JSONResponse.make(SettingsBody(try await workspace.update(clientID: client.id, change)))
    }

    @Sendable func recover(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        let since = try SlackWorkspace.parseSince(request.formQuery(allowing: ["since"])["since"])
        try await workspace.recover(clientID: client.id, since: since)
        return JSONResponse.raw(#"{"queued":true}"#, status: .accepted)
    }

    @Sendable func installLink(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        try request.refuseQuery()
        try await request.refuseBody()
        return JSONResponse.make(["url": try await oauth.makeInstallLink(clientID: client.id)])
    }

    @Sendable func installation(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        try request.refuseQuery()
        guard let summary = try await oauth.installation(clientID: client.id) else {
            throw SlackGatewayError.notInstalled
        }
        return JSONResponse.make(summary)
    }
}
