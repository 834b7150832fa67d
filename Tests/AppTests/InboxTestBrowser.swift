import Foundation
import Testing

@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A tiny browser for inbox tests: its own cookie jar (so no cookie leaks between tests or servers on 127.0.0.1),
/// form posts, and no redirects followed.
final class InboxTestBrowser: @unchecked Sendable {
    let baseURL: String
    /// Cookie name to value; only touched from the one test task that owns this browser.
    var cookies: [String: String] = [:]
    /// Every `Set-Cookie` header received, verbatim, for checking flags.
    var setCookieHeaders: [String] = []

    init(baseURL: String) {
        self.baseURL = baseURL
    }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        configuration.timeoutIntervalForRequest = 30
        // A session-level delegate: FoundationNetworking ignores per-task delegates for redirects.
        return URLSession(configuration: configuration, delegate: RedirectRefuser(), delegateQueue: nil)
    }()

    func get(_ path: String) async throws -> HTTPResult {
        try await send("GET", path)
    }

    /// Posts `fields` as `application/x-www-form-urlencoded`.
    func post(_ path: String, _ fields: [(String, String)]) async throws -> HTTPResult {
        let body = fields.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return try await send(
            "POST", path, body: Data(body.utf8), headers: ["Content-Type": "application/x-www-form-urlencoded"])
    }

    /// Signs in with an admin key the way the form does; returns the final response of the POST.
    @discardableResult
    func signIn(adminKey: String) async throws -> HTTPResult {
        let form = try await get("/inbox/login")
        let token = try #require(Self.hiddenField("loginToken", in: form.text))
        return try await post("/inbox/login", [("loginToken", token), ("adminKey", adminKey)])
    }

    /// The CSRF token of the signed-in inbox page.
    func csrfToken() async throws -> String {
        let page = try await get("/inbox")
        return try #require(Self.hiddenField("csrf", in: page.text))
    }

    func send(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) async throws
        -> HTTPResult
    {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = method
        request.httpBody = body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if !cookies.isEmpty {
            request.setValue(cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "), forHTTPHeaderField: "Cookie")
        }
        let (data, response) = try await uncancellable { [request] in try await Self.session.data(for: request) }
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields { fields["\(key)"] = "\(value)" }
        for header in Self.setCookies(from: http) {
            setCookieHeaders.append(header)
            let pair = header.split(separator: ";", maxSplits: 1)[0].split(separator: "=", maxSplits: 1)
            let name = String(pair[0]).trimmingCharacters(in: .whitespaces)
            let value = pair.count > 1 ? String(pair[1]) : ""
            if value.isEmpty || header.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = value }
        }
        return HTTPResult(status: http.statusCode, headers: fields, body: data)
    }

    /// `Set-Cookie` headers, which Foundation may fold into one comma-joined field.
    static func setCookies(from response: HTTPURLResponse) -> [String] {
        guard let folded = response.value(forHTTPHeaderField: "Set-Cookie") else { return [] }
        // Our cookies carry no `Expires` (whose dates contain commas), so a comma separates cookies.
        return folded.components(separatedBy: ", ").filter { !$0.isEmpty }
    }

    /// The value of `<input type="hidden" name="NAME" value="…">`.
    static func hiddenField(_ name: String, in html: String) -> String? {
        guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
        let rest = html[range.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    static func encode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

private final class RedirectRefuser: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
