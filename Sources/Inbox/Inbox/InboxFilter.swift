import Feedback
import Foundation

/// The list's filters as they travel in the query string: `source`, `env`, `q` (text to search for) and `cursor`.
///
/// `env` is `default` (the default environment, stored as absent; the docs make it the inbox's default view),
/// `all`, or `env:NAME` for a named one, so no environment name can be mistaken for either choice.
struct InboxFilter: Sendable, Equatable {
    enum Environment: Sendable, Equatable {
        case defaultEnvironment
        case all
        case named(String)
    }

    var source: FeedbackSource?
    var environment: Environment = .defaultEnvironment
    /// Only items whose comment or email contains this (trimmed, at most `FeedbackFilter.maxTextLength` characters;
    /// nil: all).
    var text: String?
    var cursor: FeedbackCursor?

    /// Reads the filters; unknown values fall back to the defaults rather than failing the page.
    init(source: String?, env: String?, text: String? = nil, cursor: String? = nil) {
        self.source = source.flatMap { FeedbackSource(rawValue: $0) }
        self.environment = Self.environment(from: env)
        self.text = Self.text(from: text)
        self.cursor = cursor.flatMap { $0.isEmpty ? nil : FeedbackCursor(token: $0) }
    }

    /// The filters a query string (or a list page's address) names.
    init(_ query: FormBody) {
        self.init(source: query["source"], env: query["env"], text: query["q"], cursor: query["cursor"])
    }

    /// The text to search for: cut to `FeedbackFilter`'s `maxTextLength` characters and `maxTextBytes` bytes, then
    /// trimmed (so that the text a link carries reads the same again); nil when that leaves nothing, or when it holds
    /// NUL (which no stored text holds, and PostgreSQL refuses in a value): no search then.
    static func text(from value: String?) -> String? {
        guard let value, !value.containsNUL else { return nil }
        var cut = Substring(value.trimmingCharacters(in: .whitespacesAndNewlines)).prefix(FeedbackFilter.maxTextLength)
        while cut.utf8.count > FeedbackFilter.maxTextBytes { cut = cut.dropLast() }
        let text = cut.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    static func environment(from value: String?) -> Environment {
        switch value {
        case "all": .all
        // A name with NUL is no stored environment (`containsNUL`): the default view, as for any unusable filter.
        case let value? where value.hasPrefix("env:") && value.count > 4 && !value.containsNUL:
            .named(String(value.dropFirst(4)))
        default: .defaultEnvironment
        }
    }

    /// The store's filter.
    var storeFilter: FeedbackFilter {
        switch environment {
        case .defaultEnvironment: FeedbackFilter(source: source, environment: .some(nil), text: text)
        case .all: FeedbackFilter(source: source, environment: nil, text: text)
        case .named(let name): FeedbackFilter(source: source, environment: .some(name), text: text)
        }
    }

    var sourceValue: String { source?.rawValue ?? "" }

    var environmentValue: String {
        switch environment {
        case .defaultEnvironment: "default"
        case .all: "all"
        case .named(let name): "env:" + name
        }
    }

    var isFiltered: Bool { source != nil || environment != .defaultEnvironment || text != nil }

    /// `/inbox?…` (or `path?…`) for these filters and an optional cursor; defaults are left out.
    func href(path: String = "/inbox", cursor: FeedbackCursor? = nil, notice: String? = nil) -> String {
        var pairs: [(String, String)] = []
        if let source { pairs.append(("source", source.rawValue)) }
        if environment != .defaultEnvironment { pairs.append(("env", environmentValue)) }
        if let text { pairs.append(("q", text)) }
        if let cursor { pairs.append(("cursor", cursor.token)) }
        if let notice { pairs.append(("notice", notice)) }
        guard !pairs.isEmpty else { return path }
        return path + "?" + pairs.map { "\($0.0)=\(Self.encode($0.1))" }.joined(separator: "&")
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }
}
