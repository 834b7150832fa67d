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
/// An entry is a full origin (`https://app.example.com`, `http://localhost:3000`), a bare host (`app.example.com`,
/// any scheme), or a wildcard host (`*.example.com`, any subdomain, with or without a scheme: `https://*.example.com`).
/// A port may follow the host. A browser leaves a scheme's default port out of `Origin`, so `https://x:443` is the
/// origin `https://x` and is stored and matched as such (`http://x:80` likewise); a bare host with a port matches
/// that port whichever scheme's default it is. Anything else (`*`, `http://`, `javascript:…`, a path) is not an
/// origin a browser could send, and is refused.
public enum OriginPattern {
    /// Whether a client whose allowlist is `allowedOrigins` accepts a submission from `origin` (see
    /// `Client.allows(origin:)`).
    public static func allowlist(_ allowedOrigins: [String], allows origin: String?) -> Bool {
        guard !allowedOrigins.isEmpty, let origin, !origin.isEmpty else { return true }
        // The usual case, without taking anything apart (that costs microseconds of string work per entry): a
        // browser's `Origin` spelled exactly as an entry is stored, which is normalised (lowercase, no trailing
        // slash, no default port), so such an entry matches it. Not for a wildcard entry, which is no origin.
        if origin.hasPrefix("https://") || origin.hasPrefix("http://"), !origin.utf8.contains(UInt8(ascii: "*")),
            allowedOrigins.contains(origin)
        {
            return true
        }
        guard let candidate = Parts(origin, wildcard: false), candidate.scheme != nil else { return false }
        return allowedOrigins.contains { matches(pattern: $0, origin: candidate) }
    }

    /// An entry or an origin taken apart: lowercased, a trailing slash and a scheme's default port dropped.
    struct Parts: Equatable {
        /// `http` or `https`; nil for a bare host.
        var scheme: String?
        /// The host (an IPv6 address in its brackets), `*.` first for a wildcard.
        var host: String
        /// Digits without leading zeros; nil when none was given or it is the scheme's default.
        var port: String?

        init?(_ text: String, wildcard: Bool) {
            // Foundation's trimming, lowercasing and searching cost microseconds here: only when there is something
            // to trim or lowercase, and the scheme by its two spellings.
            var value = text
            if value.utf8.contains(where: { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || $0 == 0x20 || $0 == 0x09 }) {
                value = value.trimmingCharacters(in: .whitespaces).lowercased()
            }
            while value.hasSuffix("/") { value.removeLast() }
            var authority = Substring(value)
            if value.hasPrefix("https://") {
                scheme = "https"
                authority = authority.dropFirst(8)
            } else if value.hasPrefix("http://") {
                scheme = "http"
                authority = authority.dropFirst(7)
            } else if value.contains("://") {
                return nil
            } else {
                scheme = nil
            }
            var portText: Substring?
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { return nil }
                let address = authority[authority.index(after: authority.startIndex)..<close]
                guard !address.isEmpty, address.contains(":"),
                    address.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." })
                else { return nil }
                host = String(authority[...close])
                let after = authority[authority.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { return nil }
                    portText = after.dropFirst()
                }
            } else {
                let name = authority.prefix { $0 != ":" }
                if name.count < authority.count { portText = authority.dropFirst(name.count + 1) }
                let labels = (wildcard && name.hasPrefix("*.") ? name.dropFirst(2) : name).split(
                    separator: ".", omittingEmptySubsequences: false)
                guard !labels.isEmpty,
                    labels.allSatisfy({ label in
                        !label.isEmpty && label.count <= 63
                            && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
                    })
                else { return nil }
                host = String(name)
            }
            if let portText {
                guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                    let number = Int(portText), (1...65535).contains(number)
                else { return nil }
                port = (scheme == "https" && number == 443) || (scheme == "http" && number == 80) ? nil : String(number)
            } else {
                port = nil
            }
        }

        /// The entry as stored: `scheme://host[:port]` or `host[:port]`.
        var text: String {
            (scheme.map { $0 + "://" } ?? "") + host + (port.map { ":" + $0 } ?? "")
        }

        /// The port a browser connects to: the one given, else the scheme's default.
        var effectivePort: String? { port ?? scheme.map { $0 == "https" ? "443" : "80" } }
    }

    /// The form an entry is stored in: lowercased, no trailing slash, no default port (`https://x:443` is
    /// `https://x`). An entry that is not valid is returned trimmed and lowercased (and will match nothing).
    public static func normalize(_ pattern: String) -> String {
        Parts(pattern, wildcard: true)?.text ?? pattern.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// Whether `origin` is covered by `pattern`.
    public static func matches(pattern: String, origin: String) -> Bool {
        guard let candidate = Parts(origin, wildcard: false), candidate.scheme != nil else { return false }
        return matches(pattern: pattern, origin: candidate)
    }

    static func matches(pattern text: String, origin: Parts) -> Bool {
        guard let pattern = Parts(text, wildcard: true) else { return false }
        if let scheme = pattern.scheme, scheme != origin.scheme { return false }
        // A bare entry has no scheme to take a default port from: without a port it means the origin's default one,
        // with one, that port whatever the scheme.
        if pattern.scheme == nil, let port = pattern.port {
            guard origin.effectivePort == port else { return false }
        } else if pattern.port != origin.port {
            return false
        }
        if pattern.host.hasPrefix("*.") { return origin.host.hasSuffix(String(pattern.host.dropFirst(1))) }
        return origin.host == pattern.host
    }

    /// Whether an allowlist entry is well formed (see the type's description).
    public static func isValid(_ pattern: String) -> Bool { Parts(pattern, wildcard: true) != nil }
}
