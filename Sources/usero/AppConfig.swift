import Foundation
import UseroCrypto

/// Everything `serve` needs, read once from flags and the environment and checked before the server binds.
struct AppConfig: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    var databasePath = "data/usero.sqlite"
    var dataDirectory = "data"
    var publicURL = "http://127.0.0.1:8080"
    /// Base64 of the AES-256 key for Slack tokens; nil: generated in `DATA_DIR/token.key`.
    var tokenKeyBase64: String?
    /// Previous token keys (base64, comma-separated), still able to open old tokens until they are re-sealed.
    var previousTokenKeysBase64: [String] = []
    var slackSigningSecret: String?
    var slackClientID: String?
    var slackClientSecret: String?
    var slackAPIURL = "https://slack.com/api/"
    var slackAuthorizeURL = "https://slack.com/oauth/v2/authorize"
    /// What a `response_url` must start with before it is called (`SLACK_RESPONSE_URL_PREFIXES`, comma-separated).
    var slackResponseURLPrefixes = ["https://hooks.slack.com/"]
    /// Longest the Slack job worker sleeps when nothing wakes it (enqueues wake it at once).
    var slackJobPollInterval: Duration = .seconds(5)
    /// How often the retention sweep runs.
    var retentionInterval: Duration = .seconds(3600)

    /// A configuration mistake: one line naming the variable and what is wrong, never its value.
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// Builds the configuration: flags win over the environment.
    static func load(host: String?, port: Int?, environment: [String: String]) throws -> AppConfig {
        var config = AppConfig()
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        config.host = host ?? value("USERO_HOST") ?? config.host
        if let port {
            config.port = port
        } else if let text = value("USERO_PORT") {
            guard let parsed = Int(text), (0...65535).contains(parsed) else {
                throw Invalid(description: "USERO_PORT must be a port number from 0 to 65535")
            }
            config.port = parsed
        }
        guard (0...65535).contains(config.port) else {
            throw Invalid(description: "--port must be a port number from 0 to 65535")
        }
        config.databasePath = value("USERO_DATABASE") ?? config.databasePath
        if config.databasePath.hasPrefix("postgres://") || config.databasePath.hasPrefix("postgresql://") {
            throw Invalid(description: "USERO_DATABASE: the PostgreSQL backend is not available yet; use a SQLite file path")
        }
        config.dataDirectory = value("USERO_DATA_DIR") ?? config.dataDirectory
        config.publicURL = value("USERO_PUBLIC_URL") ?? "http://\(config.host):\(config.port)"
        guard let url = URL(string: config.publicURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil
        else { throw Invalid(description: "USERO_PUBLIC_URL must be an http or https URL") }
        while config.publicURL.hasSuffix("/") { config.publicURL.removeLast() }
        if let key = value("USERO_TOKEN_KEY") {
            _ = try decodeKey(key, variable: "USERO_TOKEN_KEY")
            config.tokenKeyBase64 = key
        }
        if let previous = value("USERO_PREVIOUS_TOKEN_KEYS") {
            config.previousTokenKeysBase64 = previous.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for key in config.previousTokenKeysBase64 { _ = try decodeKey(key, variable: "USERO_PREVIOUS_TOKEN_KEYS") }
        }
        config.slackSigningSecret = value("SLACK_SIGNING_SECRET")
        config.slackClientID = value("SLACK_CLIENT_ID")
        config.slackClientSecret = value("SLACK_CLIENT_SECRET")
        config.slackAPIURL = value("SLACK_API_URL") ?? config.slackAPIURL
        if !config.slackAPIURL.hasSuffix("/") { config.slackAPIURL += "/" }
        guard let api = URL(string: config.slackAPIURL), ["http", "https"].contains(api.scheme ?? "") else {
            throw Invalid(description: "SLACK_API_URL must be an http or https URL")
        }
        config.slackAuthorizeURL = value("SLACK_AUTHORIZE_URL") ?? config.slackAuthorizeURL
        guard let authorize = URL(string: config.slackAuthorizeURL), ["http", "https"].contains(authorize.scheme ?? "")
        else { throw Invalid(description: "SLACK_AUTHORIZE_URL must be an http or https URL") }
        if let text = value("SLACK_RESPONSE_URL_PREFIXES") {
            let prefixes = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for prefix in prefixes {
                guard let url = URL(string: prefix), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                    throw Invalid(description: "SLACK_RESPONSE_URL_PREFIXES must be comma-separated http or https URLs")
                }
            }
            config.slackResponseURLPrefixes = prefixes
        }
        if let text = value("USERO_RETENTION_INTERVAL_SECONDS") {
            guard let seconds = Int(text), seconds > 0 else {
                throw Invalid(description: "USERO_RETENTION_INTERVAL_SECONDS must be a positive whole number")
            }
            config.retentionInterval = .seconds(seconds)
        }
        return config
    }

    /// Decodes a base64 key of exactly 32 bytes; the error names the variable, never the value.
    static func decodeKey(_ text: String, variable: String) throws -> SecretBytes {
        guard var data = Data(base64Encoded: text) else {
            throw Invalid(description: "\(variable) must be base64 of exactly 32 random bytes (it is not valid base64)")
        }
        defer { data.resetBytes(in: 0..<data.count) }
        guard data.count == 32 else {
            throw Invalid(description: "\(variable) must be base64 of exactly 32 random bytes (it decodes to \(data.count))")
        }
        return SecretBytes(copying: data)
    }
}
