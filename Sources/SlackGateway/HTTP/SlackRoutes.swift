public import Feedback
import Foundation
import HTTPTypes
public import Hummingbird

/// `/slack/*`: every body is verified against its signature before anything reads it.
public struct SlackRoutes<Context: RequestContext>: Sendable {
    /// Contract limit for JSON and form bodies.
    public static var bodyLimit: Int { 1 << 20 }

    let verifier: SignatureVerifier
    let ingest: SlackIngest
    let oauth: SlackOAuth
    let clock: any WallClock

    /// Creates the routes.
    public init(verifier: SignatureVerifier, ingest: SlackIngest, oauth: SlackOAuth, clock: any WallClock) {
        self.verifier = verifier
        self.ingest = ingest
        self.oauth = oauth
        self.clock = clock
    }

    /// Adds the Slack routes to `router`.
    public func register(on router: Router<Context>) {
        router.post("slack/events", use: events)
        router.post("slack/interactivity", use: interactivity)
        router.post("slack/commands", use: commands)
        router.get("slack/oauth/callback", use: callback)
    }

    /// The raw body, once its signature checked out.
    func verifiedBody(_ request: Request) async throws -> [UInt8] {
        let body = try await request.collectBody(limit: Self.bodyLimit)
        try verifier.verify(
            body: body, timestamp: request.header(SlackHeaders.timestamp),
            signature: request.header(SlackHeaders.signature), now: clock.now())
        return body
    }

    @Sendable func events(_ request: Request, context: Context) async throws -> Response {
        let body = try await verifiedBody(request)
        switch try await ingest.receiveEvent(body, retried: request.headers[SlackHeaders.retryNumber] != nil) {
        case .challenge(let challenge): return JSONResponse.make(["challenge": challenge])
        case .acknowledged: return Response(status: .ok)
        }
    }

    @Sendable func interactivity(_ request: Request, context: Context) async throws -> Response {
        let body = try await verifiedBody(request)
        // A replay (same timestamp and signature) is acknowledged and does nothing.
        guard try await ingest.isFirstDelivery(signature: request.header(SlackHeaders.signature)) else {
            return Response(status: .ok)
        }
        try await ingest.receiveInteraction(body)
        return Response(status: .ok)
    }

    @Sendable func commands(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.collectBody(limit: Self.bodyLimit)
        // Slack's TLS probe: an empty 200 with no side effect, answered like both Bolts do, before verification
        // (whether Slack signs it is not documented). Nothing else in such a body is read. See docs/slack.md.
        if let form = FormBody(body), form["ssl_check"] == "1" { return Response(status: .ok) }
        try verifier.verify(
            body: body, timestamp: request.header(SlackHeaders.timestamp),
            signature: request.header(SlackHeaders.signature), now: clock.now())
        guard try await ingest.isFirstDelivery(signature: request.header(SlackHeaders.signature)) else {
            return JSONResponse.make(["response_type": "ephemeral", "text": SlackIngest.replayed])
        }
        let text = try await ingest.receiveCommand(body)
        return JSONResponse.make(["response_type": "ephemeral", "text": text])
    }

    @Sendable func callback(_ request: Request, context: Context) async throws -> Response {
        let query = request.lenientFormQuery
        let result = await oauth.complete(
            code: query["code"], state: query["state"],
            error: query["error"])
        switch result {
        case .installed(let team, let emoji, let missing):
            let reactions = SlackSettings.spoken(emoji)
            var message = "usero is now installed in \(team). React with \(reactions), use the message "
                + "menu's “Send to usero”, or type /usero to send feedback. You can close this tab."
            if !missing.isEmpty {
                let uses = SlackOAuth.scopeUses.filter { missing.contains($0.scope) }.map(\.use)
                message += " But Slack did not grant usero the permissions \(missing.joined(separator: ", ")), so "
                    + "these will not work: \(uses.joined(separator: "; ")). Add them to the Slack app's bot scopes "
                    + "(as in usero's manifests/slack-app.yaml) and install it again."
            }
            return HTMLPage.make(status: .ok, title: "usero is installed", message: message)
        case .failed(let status, let reason):
            return HTMLPage.make(
                status: HTTPResponse.Status(code: status), title: "usero could not be installed", message: reason)
        }
    }
}

/// Slack's two signing headers, named once (making a name from a string validates and lowercases it each time).
enum SlackHeaders {
    static let timestamp = HTTPField.Name("X-Slack-Request-Timestamp")!
    static let signature = HTTPField.Name("X-Slack-Signature")!
    /// Present on a delivery Slack makes again after the first failed or timed out.
    static let retryNumber = HTTPField.Name("X-Slack-Retry-Num")!
}

/// The small pages the OAuth callback shows, each with the way back to the inbox the install began from (its
/// Connect Slack is where a new link comes from; a review found the pages a dead end).
enum HTMLPage {
    static func make(status: HTTPResponse.Status, title: String, message: String) -> Response {
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <meta name="viewport" content="width=device-width, initial-scale=1"></head>
            <body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem">
            <h1>\(escape(title))</h1><p>\(escape(message))</p><p><a href="/inbox">Go to the usero inbox</a></p>
            </body></html>
            """
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // Nothing but the inline style may load or run, the page may not be framed, and its type is not guessed.
        headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
