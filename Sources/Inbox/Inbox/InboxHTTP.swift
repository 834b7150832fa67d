import Feedback
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache

/// Renders inbox pages and shapes their responses: HTML, security headers, cookies and redirects.
struct InboxRenderer: Sendable {
    let library: MustacheLibrary
    /// The `Content-Security-Policy` of every inbox page.
    let contentSecurityPolicy: String

    /// The policy: nothing inline, everything from this server, and forms may also go to Slack's authorize page
    /// (the Connect Slack form is answered with a redirect there, which `form-action` governs too).
    init(slackAuthorizeURL: String) throws {
        library = try InboxTemplates.library()
        var formAction = "'self'"
        if let url = URL(string: slackAuthorizeURL), let scheme = url.scheme, let host = url.host {
            formAction += " \(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
        }
        contentSecurityPolicy =
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action \(formAction); "
            + "frame-ancestors 'none'; base-uri 'none'"
    }

    /// A rendered page; a template that renders nothing is a programming error, answered as a 500.
    func page(_ template: String, _ view: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        guard let html = library.render(view, withTemplate: template) else { throw InboxError.templateMissing }
        var response = Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// A short page that says what happened and where to go next.
    func message(
        _ heading: String, _ text: String, status: HTTPResponse.Status, signedIn: Chrome? = nil,
        backHref: String = "/inbox", backLabel: String = "Back to the inbox"
    ) -> Response {
        var chrome = signedIn
            ?? Chrome(documentTitle: heading, signedIn: false, clientID: "", clientName: "", csrfToken: "")
        chrome.documentTitle = heading
        let view = MessageView(chrome: chrome, heading: heading, text: text, backHref: backHref, backLabel: backLabel)
        return (try? page("message", view, status: status))
            ?? Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"])
    }

    /// `303 See Other` to a path of this server.
    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// Headers every inbox response carries.
    func addSecurityHeaders(to response: inout Response) {
        response.headers[.contentSecurityPolicy] = contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
    }
}

/// The inbox's cookies: `HttpOnly`, `SameSite=Lax`, scoped to `/inbox`, and `Secure` behind HTTPS.
///
/// `Lax`, not `Strict`: the links Slack posts (`/inbox/items/{id}`) are cross-site navigations, which carry no
/// `Strict` cookie, so a signed-in admin clicking one in a browser was sent to sign in again (and signing in ended the
/// session every other tab used). `Lax` sends the cookie on top-level GET navigations only; no GET changes anything,
/// and every change is a POST carrying the session's CSRF token, which a cross-site POST (sent without the cookie)
/// cannot have.
struct InboxCookies: Sendable {
    static let session = "usero_session"
    static let login = "usero_login"

    let isSecure: Bool

    func set(_ name: String, _ value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/inbox; Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (isSecure ? "; Secure" : "")
    }

    func clear(_ name: String) -> String { set(name, "", maxAge: 0) }

    static func value(_ name: String, in request: Request) -> String? {
        request.cookies[name]?.value
    }
}

extension Response {
    /// Adds one `Set-Cookie` header (a response may carry several).
    mutating func addCookie(_ header: String) {
        headers.append(HTTPField(name: .setCookie, value: header))
    }
}

/// The inbox's own failures; none of them carries a value worth hiding, and none reaches a log but its name.
enum InboxError: Error {
    /// A page's template is not in the library.
    case templateMissing
    /// The Slack gateway produced an install link that is not an http(s) URL.
    case badInstallLink
}

/// Turns anything a route throws into an HTML page and puts the security headers on every inbox response.
struct InboxPageMiddleware<Context: RequestContext>: RouterMiddleware {
    let renderer: InboxRenderer
    let errorStatus: @Sendable (any Error) -> HTTPResponse.Status
    /// When to come back after an error, in seconds, where the API's answer says (`Retry-After`).
    let retryAfter: @Sendable (any Error) -> Int?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let status = errorStatus(error)
            if status == .internalServerError {
                context.logger.error("Inbox error", metadata: errorMetadata(error))
            }
            let text =
                switch status {
                case .notFound: "There is no page at this address."
                case .contentTooLarge: "That form was too large."
                case .internalServerError: "Something went wrong on our side. Please try again."
                case .serviceUnavailable: "The inbox is unavailable for a moment. Please try again shortly."
                default: status.reasonPhrase
                }
            let heading = status == .notFound ? "Not found" : "Something went wrong"
            response = renderer.message(heading, text, status: status)
            if let seconds = retryAfter(error) { response.headers[.retryAfter] = "\(seconds)" }
        }
        renderer.addSecurityHeaders(to: &response)
        return response
    }
}

extension Request {
    /// A URL-encoded form body (at most 16 KB) decoded into `T`; 400 when it is not one.
    func inboxForm<T: Decodable>(_ type: T.Type) async throws -> T {
        let bytes = try await collectBody(limit: 16 * 1024)
        do {
            return try URLEncodedFormDecoder().decode(T.self, from: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw HTTPError(.badRequest)
        }
    }
}
