public import Foundation

/// A customer's project: owns feedback, screenshots, a Slack installation and end users.
public struct Client: Sendable, Equatable {
    /// `client_…`
    public var id: String
    /// Display name.
    public var name: String
    /// Retention plan.
    public var plan: Plan
    /// Browser origins allowed to submit; empty means any.
    public var allowedOrigins: [String]
    /// When the client was created.
    public var createdAt: Date

    /// Creates a client value.
    public init(id: String, name: String, plan: Plan, allowedOrigins: [String], createdAt: Date) {
        self.id = id
        self.name = name
        self.plan = plan
        self.allowedOrigins = allowedOrigins
        self.createdAt = createdAt
    }

    /// Whether a request with this `Origin` (or none) may submit for this client.
    ///
    /// Requests without an `Origin` come from servers and apps, which the allowlist does not govern: a browser always
    /// sends one on a cross-origin POST, and anything else could forge it anyway.
    public func allows(origin: String?) -> Bool {
        OriginPattern.allowlist(allowedOrigins, allows: origin)
    }
}

/// A client's retention plan.
public enum Plan: String, Sendable, Codable, CaseIterable {
    /// Feedback older than 30 days is deleted.
    case free
    /// Nothing expires while the plan lasts.
    case paid
}

/// Matching of allowlist entries against a request's `Origin`.
///
/// An entry is a full origin (`https://app.example.com`), a bare host (`app.example.com`, any scheme), or a
/// wildcard host (`*.example.com`, any subdomain, any scheme).
public enum OriginPattern {
    /// Whether a client whose allowlist is `allowedOrigins` accepts a submission from `origin` (see
    /// `Client.allows(origin:)`).
    public static func allowlist(_ allowedOrigins: [String], allows origin: String?) -> Bool {
        guard !allowedOrigins.isEmpty, let origin, !origin.isEmpty else { return true }
        let candidate = normalize(origin)
        return allowedOrigins.contains { matches(pattern: $0, origin: candidate) }
    }

    /// Lowercases and drops a trailing slash.
    public static func normalize(_ origin: String) -> String {
        var value = origin.trimmingCharacters(in: .whitespaces).lowercased()
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }

    /// Whether `origin` (normalized) is covered by `pattern`.
    public static func matches(pattern: String, origin: String) -> Bool {
        let pattern = normalize(pattern)
        if pattern.contains("://") { return pattern == origin }
        let host = origin.components(separatedBy: "://").last ?? origin
        if pattern.hasPrefix("*.") { return host.hasSuffix(String(pattern.dropFirst(1))) }
        return host == pattern
    }

    /// Whether an allowlist entry is well formed.
    public static func isValid(_ pattern: String) -> Bool {
        let value = normalize(pattern)
        guard !value.isEmpty, !value.contains(" ") else { return false }
        if value.contains("://") {
            guard let url = URL(string: value), let scheme = url.scheme, ["http", "https"].contains(scheme),
                url.host != nil, url.path.isEmpty, url.query == nil
            else { return false }
            return true
        }
        return !value.contains("/")
    }
}
