public import Feedback
import Foundation
public import Hummingbird

/// The admin side of Slack: install links and the installation summary (never the token).
public struct SlackAdminRoutes<Context: RequestContext>: Sendable {
    let auth: AdminAuth
    let oauth: SlackOAuth

    /// Creates the routes.
    public init(auth: AdminAuth, oauth: SlackOAuth) {
        self.auth = auth
        self.oauth = oauth
    }

    /// Adds `slack/install-link` and `slack/installation` under `group` (the `api` group).
    public func register(on group: RouterGroup<Context>) {
        group.post("slack/install-link", use: installLink)
        group.get("slack/installation", use: installation)
    }

    @Sendable func installLink(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        return JSONResponse.make(["url": try await oauth.makeInstallLink(clientID: client.id)])
    }

    @Sendable func installation(_ request: Request, context: Context) async throws -> Response {
        let client = try await auth.client(for: request)
        guard let summary = try await oauth.installation(clientID: client.id) else {
            throw SlackGatewayError.notInstalled
        }
        return JSONResponse.make(summary)
    }
}
