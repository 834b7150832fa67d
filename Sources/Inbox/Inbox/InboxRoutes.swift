import Feedback
import Foundation
import Hummingbird
import Logging
import UseroCrypto

/// The inbox for the customer's team: sign in with the admin key, read, filter and delete feedback, connect Slack.
///
/// Pages are rendered on the server; every change is a POST carrying the session's CSRF token.
/// The inbox's fixed sizes (outside the generic routes type, which cannot hold stored statics).
enum InboxLimits {
    /// Most environments offered in the filter (the list page names the figure when it cuts the list).
    static let environmentLimit = 100

    /// Items per page.
    static let pageSize = 50

    /// Items read at a time by the CSV export.
    static let exportPageSize = 200

    /// What a return path keeps as it is in the sign-in page's `next` parameter: a path's slashes, and what needs no
    /// escape.
    static let nextCharacters = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")
}

/// A signed-in request: who, and the session's CSRF token.
struct InboxVisitor: Sendable {
    let client: Client
    let sessionID: String
    let csrfToken: String

    /// The signed-in frame of a page titled `title`.
    func chrome(title: String = "") -> Chrome {
        Chrome(
            documentTitle: title, signedIn: true, clientID: client.id, clientName: InboxFormat.isolated(client.name),
            csrfToken: csrfToken)
    }
}

struct InboxRoutes<Context: RequestContext>: Sendable {
    let store: any FeedbackStore
    let sessions: InboxSessions
    let slack: InboxSlack
    let renderer: InboxRenderer
    let cookies: InboxCookies
    /// Where this server is reached from outside, without a trailing slash: the export's screenshot links.
    let publicURL: String

    /// Turns an error a route threw into its HTTP status (the service's one error mapping).
    let errorStatus: @Sendable (any Error) -> HTTPResponse.Status
    /// When to come back after an error, in seconds, where the service's answer says (`Retry-After`).
    let retryAfter: @Sendable (any Error) -> Int?

    func register(on router: Router<Context>) {
        let group = router.group("inbox").add(
            middleware: InboxPageMiddleware(renderer: renderer, errorStatus: errorStatus, retryAfter: retryAfter))
        group.get(use: list)
        group.get("export.csv", use: export)
        group.get("login", use: loginForm)
        group.post("login", use: login)
        group.post("logout", use: logout)
        group.get("items/:id", use: showItem)
        group.get("items/:id/delete", use: confirmDelete)
        group.post("items/:id/delete", use: delete)
        group.post("slack/connect", use: connectSlack)
        group.post("slack/settings", use: saveSlackSettings)
        // Any other address under /inbox (a mistyped or outdated link) is a page too: the inbox's 404 with the
        // inbox's headers, not the API's JSON.
        group.get("**") { [renderer] _, _ in
            renderer.message("Not found", "There is no such page in the inbox.", status: .notFound)
        }
        group.get("assets/inbox.css") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=3600"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: InboxStylesheet.css)))
        }
    }

    // MARK: Session

    /// The signed-in visitor, or nil (no cookie, unknown or expired session, or a client that is gone).
    func visitor(_ request: Request) async throws -> InboxVisitor? {
        guard let id = InboxCookies.value(InboxCookies.session, in: request),
            let session = try await sessions.session(id: id)
        else { return nil }
        guard let client = try await store.client(id: session.clientID) else {
            try await sessions.end(id: id)
            return nil
        }
        AccessRecord.note(clientID: client.id)
        return InboxVisitor(client: client, sessionID: id, csrfToken: session.csrfToken)
    }

    /// A POST's visitor, or the 403 page that refuses it.
    enum Checked {
        case allowed(InboxVisitor)
        case refused(Response)
    }

    /// The visitor of a POST, refused with 403 unless signed in and carrying the session's CSRF token.
    /// Signed out, the page's Sign in returns to `page` (the list, or the item a delete was for) as a GET's
    /// redirect does; what the form carried is not kept.
    func checkedVisitor(_ request: Request, csrf: String?, returningTo page: String = "/inbox") async throws -> Checked {
        guard let visitor = try await visitor(request) else {
            return .refused(
                renderer.message(
                    "Signed out", "Your session has ended. Sign in again to continue.", status: .forbidden,
                    backHref: Self.signInPath(returningTo: page, for: request), backLabel: "Sign in"))
        }
        if let refusal = refusal(of: visitor, csrf: csrf) { return .refused(refusal) }
        return .allowed(visitor)
    }

    /// The 403 page for a form of `visitor`'s that lacks their session's CSRF token, or nil when it has it.
    func refusal(of visitor: InboxVisitor, csrf: String?) -> Response? {
        guard let csrf, constantTimeEquals(Array(csrf.utf8), Array(visitor.csrfToken.utf8)) else {
            return renderer.message(
                "Request refused", "This form has expired. Go back, reload the page and try again.",
                status: .forbidden, signedIn: visitor.chrome())
        }
        return nil
    }

    // MARK: Sign in and out

    struct LoginForm: Decodable {
        var adminKey: String?
        var loginToken: String?
        var next: String?
    }

    /// Where sign-in returns to: one item's page (the link a Slack notification carries), or a page of the list with
    /// its filters (a session that ended while reading it), else the list. Only those shapes of local path are taken,
    /// and a list page is written anew from the filters it names, so the parameter cannot send anyone elsewhere.
    static func returnPath(_ next: String?) -> String? {
        if let next, next.hasPrefix("/inbox?"), let query = FormBody(next.utf8.dropFirst("/inbox?".count)) {
            let filter = InboxFilter(query)
            let path = filter.href(cursor: filter.cursor)
            return path == "/inbox" ? nil : path
        }
        guard let next, next.hasPrefix("/inbox/items/") else { return nil }
        let id = next.dropFirst("/inbox/items/".count)
        guard (1...128).contains(id.count),
            id.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "_" || $0 == "-" })
        else { return nil }
        return next
    }

    /// The sign-in page that returns to `path` afterwards, when `returnPath` takes it; saying the session ended when
    /// the request still carried one (idle too long, or ended by a sign-in in this browser).
    static func signInPath(returningTo path: String, for request: Request) -> String {
        var query = Self.returnPath(path).map {
            ["next=" + ($0.addingPercentEncoding(withAllowedCharacters: InboxLimits.nextCharacters) ?? "")]
        } ?? []
        if InboxCookies.value(InboxCookies.session, in: request) != nil { query.append("notice=ended") }
        return "/inbox/login" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// What the sign-in form says above it, by its `notice`.
    static func loginNotice(_ notice: String) -> String? {
        switch notice {
        case "signed-out": "You signed out."
        case "ended": "Your session has ended. Sign in again to go on."
        default: nil
        }
    }

    @Sendable func loginForm(_ request: Request, context: Context) async throws -> Response {
        let query = request.lenientFormQuery
        let next = Self.returnPath(query["next"])
        if try await visitor(request) != nil { return InboxRenderer.redirect(to: next ?? "/inbox") }
        return try loginPage(
            error: nil, status: .ok, next: next, notice: query["notice"].flatMap(Self.loginNotice),
            request: request)
    }

    /// The sign-in form with a login token, also set as a cookie: a cross-site page cannot read it, so it cannot sign
    /// a visitor into someone else's inbox. The browser's token is kept when it has one, so that a sign-in form
    /// opened in another tab meanwhile does not make this one's expire.
    func loginPage(
        error: String?, status: HTTPResponse.Status, next: String? = nil, notice: String? = nil, request: Request
    ) throws -> Response {
        let token = InboxCookies.value(InboxCookies.login, in: request).flatMap {
            InboxSessions.isWellFormed($0) ? $0 : nil
        } ?? InboxSessions.randomToken()
        var response = try renderer.page(
            "login", LoginView(loginToken: token, errorText: error, next: next, loginNotice: notice), status: status)
        response.addCookie(cookies.set(InboxCookies.login, token, maxAge: 3600))
        return response
    }

    @Sendable func login(_ request: Request, context: Context) async throws -> Response {
        let form = try await request.inboxForm(LoginForm.self)
        guard let expected = InboxCookies.value(InboxCookies.login, in: request), let given = form.loginToken,
            constantTimeEquals(Array(given.utf8), Array(expected.utf8))
        else {
            return try loginPage(
                error: "The sign-in form expired. Please enter your admin key again.", status: .forbidden,
                next: Self.returnPath(form.next), request: request)
        }
        let key = (form.adminKey ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty, key.count <= 256,
            let session = try await sessions.signIn(clientOpening: { _ in try await store.client(adminKey: key)?.id })
        else {
            context.logger.info("Inbox sign-in refused")
            return try loginPage(
                error: "That admin key is not valid.", status: .unauthorized, next: Self.returnPath(form.next),
                request: request)
        }
        if let old = InboxCookies.value(InboxCookies.session, in: request) { try await sessions.end(id: old) }
        context.logger.info("Inbox sign-in", metadata: ["client.id": "\(session.clientID)"])
        var response = InboxRenderer.redirect(to: Self.returnPath(form.next) ?? "/inbox")
        // The login token stays (its cookie ends by itself within the hour): a sign-in form still open in another tab
        // signs in too, as the docs promise, rather than saying it expired.
        response.addCookie(cookies.set(InboxCookies.session, session.id, maxAge: Int(InboxSessions.absoluteTimeout)))
        return response
    }

    struct CSRFForm: Decodable {
        var csrf: String?
    }

    @Sendable func logout(_ request: Request, context: Context) async throws -> Response {
        let form = try await request.inboxForm(CSRFForm.self)
        guard let visitor = try await visitor(request) else {
            // Signed out already (the session had ended): what Sign out asked for is done.
            var response = InboxRenderer.redirect(to: Self.signInPath(returningTo: "/inbox", for: request))
            response.addCookie(cookies.clear(InboxCookies.session))
            return response
        }
        if let refusal = refusal(of: visitor, csrf: form.csrf) { return refusal }
        try await sessions.end(id: visitor.sessionID)
        var response = InboxRenderer.redirect(to: "/inbox/login?notice=signed-out")
        response.addCookie(cookies.clear(InboxCookies.session))
        return response
    }

    // MARK: The list

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let query = request.lenientFormQuery
        guard let visitor = try await visitor(request) else {
            // Signed out while on a filtered page: back to it once signed in.
            let here = InboxFilter(query)
            return InboxRenderer.redirect(to: Self.signInPath(returningTo: here.href(cursor: here.cursor), for: request))
        }
        // A name typed in the field the page offers when its list of environments is cut wins over the list's choice.
        let typed = query["envName"]?.trimmingCharacters(in: .whitespaces)
        let filter = InboxFilter(
            source: query["source"], env: typed.flatMap { $0.isEmpty ? nil : "env:" + $0 } ?? query["env"],
            text: query["q"], cursor: query["cursor"])
        let clientID = visitor.client.id
        async let page = store.listFeedback(
            clientID: clientID, filter: filter.storeFilter, limit: InboxLimits.pageSize, after: filter.cursor)
        async let environments = store.environments(clientID: clientID, limit: InboxLimits.environmentLimit + 1)
        async let installation = slack.installationStatus(clientID)
        async let settings = slack.settings(clientID)
        // Where the page before this one starts, when that is not the first ("Newest" links there).
        async let previousPage = previousPage(of: filter, clientID: clientID)
        let shown = try await page
        if filter.cursor != nil, shown.items.isEmpty {
            // An older page with nothing left on it (its last items deleted, or a bookmark past the list's end) would
            // say the inbox is empty: the page before it instead (the newest when that is the first), with what just
            // happened.
            let notice = query["notice"].flatMap { ListView.notices[$0] == nil ? nil : $0 }
            return InboxRenderer.redirect(to: filter.href(cursor: try await previousPage, notice: notice))
        }
        let view = try await ListView(
            visitor: visitor, filter: filter, page: shown, environments: environments, installation: installation,
            notice: query["notice"], noticeAt: query["at"], previousPage: previousPage, settings: settings,
            slackConfigured: slack.isConfigured)
        return try renderer.page("list", view)
    }

    /// Where the page before the filter's page starts: nil on the first page and on the second (whose page before
    /// is the first).
    func previousPage(of filter: InboxFilter, clientID: String) async throws -> FeedbackCursor? {
        guard let cursor = filter.cursor else { return nil }
        return try await store.newerPageCursor(
            clientID: clientID, filter: filter.storeFilter, limit: InboxLimits.pageSize, before: cursor)
    }

    // MARK: Export

    /// Every item the list's filters select (all its pages, newest first) as one CSV file (`FeedbackCSV`), read a
    /// page at a time and written as it is read, so that a large inbox is never held whole.
    @Sendable func export(_ request: Request, context: Context) async throws -> Response {
        let filter = InboxFilter(request.lenientFormQuery)
        guard let visitor = try await visitor(request) else {
            // Signed out: back to the list these filters show once signed in, where the link is.
            return InboxRenderer.redirect(to: Self.signInPath(returningTo: filter.href(), for: request))
        }
        let store = self.store
        let clientID = visitor.client.id
        let storeFilter = filter.storeFilter
        // The first page is read before the answer starts: a store that cannot be read is the error page's status,
        // not a 200 cut short.
        let first = try await store.listFeedback(
            clientID: clientID, filter: storeFilter, limit: InboxLimits.exportPageSize, after: nil)
        let day = String(iso8601(Date()).prefix(10))
        let logger = context.logger
        let publicURL = self.publicURL
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"usero-feedback-\(day).csv\"",
                .cacheControl: "no-store",
            ],
            body: ResponseBody { writer in
                var page = first
                var text = FeedbackCSV.header
                var rows = 0
                do {
                    while true {
                        for item in page.items { FeedbackCSV.appendRow(item, publicURL: publicURL, to: &text) }
                        try await writer.write(ByteBuffer(string: text))
                        rows += page.items.count
                        text = ""
                        guard let next = page.next else { break }
                        page = try await store.listFeedback(
                            clientID: clientID, filter: storeFilter, limit: InboxLimits.exportPageSize, after: next)
                    }
                } catch {
                    // The answer has begun: the download ends cut short (the connection closes mid-body, which a
                    // browser reports as a failed download), and the operator hears why here.
                    logger.warning(
                        "Inbox export ended early", metadata: ["client_id": "\(clientID)", "export.rows": "\(rows)"]
                            .merging(errorMetadata(error)) { _, new in new })
                    throw error
                }
                try await writer.finish(nil)
            })
    }

    // MARK: One item (the link a Slack notification carries)

    @Sendable func showItem(_ request: Request, context: Context) async throws -> Response {
        guard let visitor = try await visitor(request) else {
            // Signed out (a Slack notification's link, say): back to this item once signed in.
            return InboxRenderer.redirect(to: Self.signInPath(returningTo: request.uri.path, for: request))
        }
        guard let id = context.parameters.decoded("id"),
            let item = try await store.feedback(id: id, clientID: visitor.client.id)
        else { return notFound(visitor) }
        // Opened from the list, its address names the list's filters and page (the default view's as `env=default`):
        // the way back and a delete return there. Opened from elsewhere (a Slack post's link), to all feedback, which
        // holds the item whatever its environment.
        let fromList = !(request.uri.query ?? "").isEmpty
        let filter = fromList ? InboxFilter(request.lenientFormQuery) : InboxFilter(source: nil, env: "all")
        let view = SingleItemView(
            chrome: visitor.chrome(title: "Feedback"), item: ItemView(item, filter: filter),
            listHref: fromList ? filter.href(cursor: filter.cursor) + "#item-" + item.id : filter.href(),
            listLabel: fromList ? "Back to the list" : "All feedback")
        return try renderer.page("single", view)
    }

    // MARK: Delete

    @Sendable func confirmDelete(_ request: Request, context: Context) async throws -> Response {
        guard let visitor = try await visitor(request) else {
            // Signed out (the session ended with the list open): to the item once signed in, Delete one step away.
            let item = context.parameters.decoded("id").map { "/inbox/items/" + $0 } ?? "/inbox"
            return InboxRenderer.redirect(to: Self.signInPath(returningTo: item, for: request))
        }
        let filter = InboxFilter(request.lenientFormQuery)
        guard let id = context.parameters.decoded("id"),
            let item = try await store.feedback(id: id, clientID: visitor.client.id)
        else { return notFound(visitor) }
        let view = ConfirmView(
            chrome: visitor.chrome(title: "Delete feedback"),
            item: ItemView(item, filter: filter, showActions: false), deleteID: item.id,
            returnSource: filter.sourceValue, returnEnvironment: filter.environmentValue, returnText: filter.text ?? "",
            returnCursor: filter.cursor?.token ?? "",
            cancelHref: filter.href(cursor: filter.cursor) + "#item-" + item.id)
        return try renderer.page("confirm", view)
    }

    struct DeleteForm: Decodable {
        var csrf: String?
        var source: String?
        var env: String?
        var q: String?
        var cursor: String?
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        let form = try await request.inboxForm(DeleteForm.self)
        let visitor: InboxVisitor
        let item = context.parameters.decoded("id").map { "/inbox/items/" + $0 } ?? "/inbox"
        switch try await checkedVisitor(request, csrf: form.csrf, returningTo: item) {
        case .allowed(let value): visitor = value
        case .refused(let refusal): return refusal
        }
        let clientID = visitor.client.id
        guard let id = context.parameters.decoded("id"), let item = try await store.feedback(id: id, clientID: clientID),
            try await store.deleteFeedback(id: id, clientID: clientID)
        else { return notFound(visitor) }
        context.logger.info(
            "Inbox deleted feedback", metadata: ["client.id": "\(clientID)", "feedback.id": "\(id)"])
        // Back to the page the item was on (the cursor names a place in the list, which stays valid without the
        // item), at the item that followed it: someone triaging with the keyboard or a screen reader goes on from
        // there, not from the top of the page.
        let filter = InboxFilter(source: form.source, env: form.env, text: form.q, cursor: form.cursor)
        let following = try await store.listFeedback(
            clientID: clientID, filter: filter.storeFilter, limit: 1,
            after: FeedbackCursor(createdAtMillis: epochMillis(item.createdAt), id: item.id)
        ).items.first
        // The notice stands at that item (`at`), where the page opens, rather than at the top, out of sight.
        return InboxRenderer.redirect(
            to: filter.href(cursor: filter.cursor, notice: "deleted")
                + (following.map { "&at=\(InboxFilter.encode($0.id))#item-\($0.id)" } ?? ""))
    }

    func notFound(_ visitor: InboxVisitor) -> Response {
        renderer.message(
            "Not found", "That feedback does not exist, or it was already deleted.", status: .notFound,
            signedIn: visitor.chrome())
    }

    // MARK: Slack

    @Sendable func connectSlack(_ request: Request, context: Context) async throws -> Response {
        let form = try await request.inboxForm(CSRFForm.self)
        let visitor: InboxVisitor
        switch try await checkedVisitor(request, csrf: form.csrf) {
        case .allowed(let value): visitor = value
        case .refused(let refusal): return refusal
        }
        let link: String?
        do {
            link = try await slack.makeInstallLink(visitor.client.id)
        } catch {
            context.logger.error("Slack install link failed", metadata: errorMetadata(error))
            return renderer.message(
                "Slack is unavailable", "The Slack install link could not be created. Please try again.",
                status: .badGateway, signedIn: visitor.chrome())
        }
        guard let link else { return InboxRenderer.redirect(to: "/inbox?notice=slack-unconfigured") }
        guard WebAddress.isHTTP(link) else { throw InboxError.badInstallLink }
        return InboxRenderer.redirect(to: link)
    }

    struct SlackSettingsForm: Decodable {
        var csrf: String?
        var triggerEmoji: String?
        var notifyChannel: String?
    }

    @Sendable func saveSlackSettings(_ request: Request, context: Context) async throws -> Response {
        let form = try await request.inboxForm(SlackSettingsForm.self)
        let visitor: InboxVisitor
        switch try await checkedVisitor(request, csrf: form.csrf) {
        case .allowed(let value): visitor = value
        case .refused(let refusal): return refusal
        }
        let emoji = Self.emojiNames(form.triggerEmoji ?? "")
        let channel = (form.notifyChannel ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        switch try await slack.saveSettings(visitor.client.id, emoji, channel.isEmpty ? nil : channel) {
        case .saved:
            context.logger.info("Inbox saved Slack settings", metadata: ["client.id": "\(visitor.client.id)"])
            return InboxRenderer.redirect(to: "/inbox?notice=slack-settings-saved")
        case .invalid(let issues):
            let labels = ["triggerEmoji": "Trigger emoji", "notifyChannel": "Channel"]
            let text = issues.sorted { $0.key < $1.key }.map { field, messages in
                "\(labels[field] ?? field): " + messages.joined(separator: "; ")
            }.joined(separator: " ")
            return renderer.message(
                "Slack settings not saved", text, status: .badRequest, signedIn: visitor.chrome(),
                backHref: "/inbox", backLabel: "Back to the inbox")
        case .notInstalled:
            return renderer.message(
                "Slack is not connected", "Connect Slack first; the settings belong to the installation.",
                status: .notFound, signedIn: visitor.chrome(), backHref: "/inbox", backLabel: "Back to the inbox")
        }
    }

    /// The names typed into the form: separated by commas or spaces, with the colons people type around emoji
    /// (`:bug:`) taken off; the gateway's rules judge the rest.
    static func emojiNames(_ text: String) -> [String] {
        text.split { $0 == "," || $0.isWhitespace }.map { part in
            var name = Substring(part)
            if name.hasPrefix(":") && name.hasSuffix(":") && name.count > 2 { name = name.dropFirst().dropLast() }
            return String(name)
        }.filter { !$0.isEmpty }
    }
}
