import Foundation
import Logging
import SlackGateway
import StorePostgres
import StoreSQLite
import UseroCrypto

/// Everything `serve` and the administration commands need, read once from flags and the environment and checked
/// before anything opens. Secrets are `Redacted`: they print as `<redacted>`, never their value.
struct AppConfig: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    var databasePath = "data/usero.sqlite"
    /// Set when `USERO_DATABASE` is a `postgres://` URL: the PostgreSQL backend (`databasePath` is then unused).
    var postgres: PostgresSettings?
    /// How long `serve` keeps trying a PostgreSQL server that is not reachable yet (refused, timed out, unknown
    /// host) before it gives up as it would at once without it; zero: no wait.
    var databaseWait: Duration = .zero
    /// `USERO_DATABASE_MAX_CONNECTIONS`: sessions one process may open on PostgreSQL (its pool, writer lanes
    /// included), plus one at a time to check the server after failed leases. Size it so that every instance's
    /// share stays under the server's `max_connections` (or the role's connection limit).
    var databaseMaxConnections = 16
    /// The longest `USERO_DATABASE_WAIT_SECONDS`: ten minutes.
    static let maxDatabaseWaitSeconds = 600
    var dataDirectory = "data"
    var publicURL = "http://127.0.0.1:8080"
    /// `publicURL` was made from the host and port, `USERO_PUBLIC_URL` being unset.
    var publicURLIsDerived = true

    /// Said at start when the derived public URL names an address no browser can use (listening on every
    /// interface, or on port 0, which the system replaces with a free port): the screenshot URLs stored with each
    /// upload and the Slack redirect would keep it for good.
    var publicURLWarning: String? {
        guard publicURLIsDerived else { return nil }
        let why: String
        if ["0.0.0.0", "::", "[::]"].contains(host) {
            why = "usero listens on every interface"
        } else if port == 0 {
            why = "USERO_PORT is 0 (a free port, chosen at start)"
        } else {
            return nil
        }
        return "USERO_PUBLIC_URL is unset and \(why): screenshot URLs and the Slack redirect will name \(publicURL), "
            + "which no browser can reach; set USERO_PUBLIC_URL to the address people use"
    }
    /// Base64 of the AES-256 key for Slack tokens; nil: generated in `DATA_DIR/token.key`.
    var tokenKeyBase64: Redacted<String>?
    /// Previous token keys (base64, comma-separated), still able to open old tokens until they are re-sealed.
    var previousTokenKeysBase64: [Redacted<String>] = []
    var slackSigningSecret: Redacted<String>?
    var slackClientID: String?
    var slackClientSecret: Redacted<String>?
    var slackAPIURL = "https://slack.com/api/"
    var slackAuthorizeURL = "https://slack.com/oauth/v2/authorize"
    /// What a `response_url` must start with before it is called (`SLACK_RESPONSE_URL_PREFIXES`, comma-separated).
    var slackResponseURLPrefixes = ["https://hooks.slack.com/"]
    /// What the public rate limits refill by (no variable: tests stop it, so that a slow run never refills a bucket
    /// a test has emptied).
    var rateLimitClock: @Sendable () -> ContinuousClock.Instant = { .now }
    /// How long a write waits for a lock another process holds on the SQLite file, ms (no variable: tests that hold
    /// one lengthen it).
    var sqliteBusyTimeoutMilliseconds = SQLiteStore.defaultBusyTimeoutMilliseconds
    /// The waits between tries to empty the SQLite WAL after an erasure while a reader is in the way, the last one
    /// repeated (no variable; empty: the store's own, ending at 30 s; tests shorten them).
    var sqliteCheckpointRetryDelays: [Duration] = []
    /// Free bytes of the filesystem holding a folder, for the free-disk watermark: `statvfs` (tests give figures of
    /// their own).
    var freeDiskMeasure: @Sendable (String) -> Int64? = FreeDiskSpace.available(at:)
    /// Longest one Slack Web API call may take, seconds (no variable: tests that hold a call open lengthen it).
    var slackCallTimeout = HTTPSlackWebAPI.defaultTimeout
    /// Longest the Slack job worker sleeps when nothing wakes it (enqueues wake it at once).
    var slackJobPollInterval: Duration = .seconds(5)
    /// Least time between two posts to a workspace's notify channel, ms (Slack: about one a second per channel).
    var slackPostInterval: Int64 = 1_000
    /// Time between two steps (Slack calls) of a recovery sweep, ms.
    var slackRecoveryStepInterval: Int64 = 1_200
    /// How often the Slack job worker beats (records that the service is alive, queues due token checks; no
    /// variable: tests shorten it).
    var slackHeartbeatInterval: Duration = SlackRecoveryRules.heartbeatInterval
    /// How long a workspace's token goes without a `slack.check`, ms (no variable: tests shorten it).
    var slackTokenCheckAge: Int64 = SlackJobWorker.tokenCheckInterval
    /// How often the retention sweep runs.
    /// The longest `USERO_RETENTION_INTERVAL_SECONDS`: a day.
    static let maxRetentionIntervalSeconds = 86_400
    var retentionInterval: Duration = .seconds(3600)
    /// Requests per minute per client id and per source address on the public write routes; 0: no limit.
    var publicRateLimit = AppConfig.defaultPublicRateLimit
    /// Below this many free bytes on the store's filesystems, public writes answer 503; 0: no check.
    var minFreeDiskBytes: Int64 = AppConfig.defaultMinFreeDiskMB * 1024 * 1024
    /// A connection with nothing to do, or whose request stops arriving, is closed after this long.
    var idleTimeout: Duration = .seconds(AppConfig.defaultIdleTimeoutSeconds)
    /// A request's head and body must arrive whole within this long of its first byte being parsed.
    var requestTimeout: Duration = .seconds(AppConfig.defaultRequestTimeoutSeconds)
    /// Connections served at once; further ones wait in the listen backlog until one closes.
    var maxConnections = AppConfig.defaultMaxConnections
    /// Connections one source address may hold; 0: no limit (the default: behind a proxy or load balancer, every
    /// connection comes from it).
    var maxConnectionsPerAddress = 0
    /// Screenshot uploads in progress at once; more answer 503; 0: no limit.
    var maxConcurrentUploads = AppConfig.defaultMaxConcurrentUploads
    /// Most bytes of screenshots a client may hold that are not attached to feedback yet; 0: no quota.
    var uploadQuotaBytes: Int64 = AppConfig.defaultUploadQuotaMB * 1024 * 1024
    /// `LOG_LEVEL`: how much the service logs.
    var logLevel: Logger.Level = .info

    static let defaultPublicRateLimit = 600
    static let defaultMinFreeDiskMB: Int64 = 100
    static let defaultIdleTimeoutSeconds = 30
    static let defaultRequestTimeoutSeconds = 120
    static let defaultMaxConnections = 512
    static let defaultMaxConcurrentUploads = 4
    static let defaultUploadQuotaMB: Int64 = 100

    /// Which store, for people: `PostgreSQL postgres://USER:<redacted>@HOST:PORT/DB?…` or `SQLite PATH`.
    var storeName: String { postgres.map { "PostgreSQL \($0.description)" } ?? "SQLite \(databasePath)" }

    /// A configuration mistake: one line naming the variable and what is wrong, never its value.
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// A `USERO_DATABASE` that is not a `postgres://` URL is a SQLite file path: refuse what is neither (another
    /// scheme, a misspelt PostgreSQL URL), which would otherwise quietly become a new SQLite file named like a URL,
    /// and a folder.
    private static func checkSQLitePath(_ path: String) throws {
        let lowered = path.lowercased()
        // Quotes an env file kept (`docker --env-file` and systemd's `EnvironmentFile` differ on them).
        if let first = path.first, first == path.last, path.count >= 2, first == "\"" || first == "'" {
            throw Invalid(description: "USERO_DATABASE is in quotes, which are part of its value here: remove them")
        }
        if lowered.contains("://") || lowered.hasPrefix("postgres:") || lowered.hasPrefix("postgresql:") {
            throw Invalid(
                description:
                    "USERO_DATABASE must be a SQLite file path or a postgres://USER@HOST/DBNAME URL (postgresql:// too)")
        }
        // A PostgreSQL URL that lost its scheme (`user:password@db.internal:5432/usero`, `postgres//…`) is not a file
        // to create: a folder named after the password, and each instance a store of its own. A file that exists is
        // opened as ever (`/home/ada@corp.example/usero.sqlite`, `postgres-old.sqlite`).
        if !FileManager.default.fileExists(atPath: path) {
            if SQLitePaths.looksLikeDatabaseURL(path) {
                throw Invalid(
                    description:
                        "USERO_DATABASE looks like a PostgreSQL URL without its postgres:// (USER@HOST/DBNAME): write the whole URL, or a SQLite file path")
            }
        }
        if isFolder(path) == true {
            throw Invalid(description: "USERO_DATABASE names a folder; it must be a SQLite file path")
        }
    }

    /// Whether `path` is a folder; nil when nothing is there.
    private static func isFolder(_ path: String) -> Bool? {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) ? isFolder.boolValue : nil
    }

    /// Whether `host` is an address or a name the resolver knows, as binding to it needs (`getaddrinfo`, the
    /// lookup NIO makes when `serve` binds; an IP literal never leaves the process).
    static func resolves(_ host: String) -> Bool {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &found)
        if let found { freeaddrinfo(found) }
        return status == 0
    }

    /// The variables that hold secrets. Each may instead name a file that holds it (`NAME_FILE`), as mounted secrets
    /// are (Kubernetes and Docker secrets, systemd credentials): the secret then stays out of the environment, which
    /// `/proc/PID/environ`, `docker inspect` and a process listing's readers see.
    static let secretVariables = [
        "USERO_DATABASE", "USERO_TOKEN_KEY", "USERO_PREVIOUS_TOKEN_KEYS", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_SECRET",
    ]

    /// The largest secret file read (a key is 44 characters, a database URL a few hundred).
    static let maxSecretFileBytes = 64 * 1024

    /// `environment` with every secret set through `NAME_FILE` read into `NAME`: the file's text, surrounding
    /// whitespace (the trailing newline an editor or `echo` adds) left out. Both set, or a file missing, unreadable,
    /// empty, too large or not text, is a configuration mistake naming the variable, never the file's contents.
    static func readingSecretFiles(_ environment: [String: String]) throws -> [String: String] {
        var resolved = environment
        for name in secretVariables {
            let fileVariable = name + "_FILE"
            guard let path = environment[fileVariable]?.trimmingCharacters(in: .whitespacesAndNewlines) else { continue }
            guard !path.isEmpty else {
                // Set but empty, with no NAME either: a template that lost its value (`NAME_FILE=${SECRET_PATH}`), as
                // `USERO_DATABASE=` is; ignored, it quietly meant the default (found by a review).
                if environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ?? true {
                    throw Invalid(description: "\(fileVariable) is set but empty: name the file, or unset it")
                }
                continue
            }
            if let direct = environment[name], !direct.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw Invalid(description: "\(name) and \(fileVariable) are both set: set only one of them")
            }
            resolved[name] = try readSecretFile(path, variable: fileVariable)
        }
        return resolved
    }

    private static func readSecretFile(_ path: String, variable: String) throws -> String {
        if isFolder(path) == true { throw Invalid(description: "\(variable) names a folder; it must name a file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Invalid(description: "\(variable) names a file that does not exist or cannot be read: \(path)")
        }
        defer { try? handle.close() }
        // Foundation answers nil at the end of the file: an empty file is empty, not unreadable.
        let data: Data
        do {
            data = try handle.read(upToCount: maxSecretFileBytes + 1) ?? Data()
        } catch {
            throw Invalid(description: "\(variable) names a file that cannot be read: \(path)")
        }
        guard data.count <= maxSecretFileBytes else {
            throw Invalid(description: "\(variable) names a file over \(maxSecretFileBytes / 1024) KB; it must hold only the secret")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Invalid(description: "\(variable) names a file that is not UTF-8 text")
        }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { throw Invalid(description: "\(variable) names an empty file") }
        return secret
    }

    /// Builds the configuration: flags win over the environment.
    static func load(host: String?, port: Int?, environment given: [String: String]) throws -> AppConfig {
        let environment = try readingSecretFiles(given)
        var config = AppConfig()
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
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
        // Set but blank is a mistake, not a choice: most often a shell variable that did not expand (`$DB_URL` unset,
        // an env file that failed to load), and the default would quietly put this command on another store than
        // the service's. Unset means the default.
        if let raw = environment["USERO_DATABASE"], raw.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw Invalid(
                description: "USERO_DATABASE is set but empty: give a SQLite file path or a postgres:// URL, or unset it "
                    + "for the default SQLite file (data/usero.sqlite)")
        }
        config.databasePath = value("USERO_DATABASE") ?? config.databasePath
        if PostgresSettings.isPostgresURL(config.databasePath) {
            do {
                config.postgres = try PostgresSettings(url: config.databasePath, variable: "USERO_DATABASE")
            } catch {
                throw Invalid(description: error.description)
            }
            // The URL may hold a password: it is kept only inside the settings, which never print it.
            config.databasePath = "postgres"
        } else {
            try checkSQLitePath(config.databasePath)
        }
        config.dataDirectory = value("USERO_DATA_DIR") ?? config.dataDirectory
        if Self.isFolder(config.dataDirectory) == false {
            throw Invalid(description: "USERO_DATA_DIR names a file; it must be a folder (created when missing)")
        }
        guard Self.resolves(config.host) else {
            let name = host == nil ? "USERO_HOST" : "--host"
            throw Invalid(description: "\(name) must be an IP address or a host name of this machine (it does not resolve)")
        }
        config.publicURLIsDerived = value("USERO_PUBLIC_URL") == nil
        config.publicURL = value("USERO_PUBLIC_URL") ?? Self.defaultPublicURL(host: config.host, port: config.port)
        guard Self.isServiceURL(config.publicURL) else {
            throw Invalid(description: "USERO_PUBLIC_URL must be an http or https URL with a host, and no query, fragment or user")
        }
        while config.publicURL.hasSuffix("/") { config.publicURL.removeLast() }
        if let key = value("USERO_TOKEN_KEY") {
            _ = try decodeKey(key, variable: "USERO_TOKEN_KEY")
            config.tokenKeyBase64 = Redacted(key)
        }
        if let previous = value("USERO_PREVIOUS_TOKEN_KEYS") {
            let keys = previous.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            for key in keys { _ = try decodeKey(key, variable: "USERO_PREVIOUS_TOKEN_KEYS") }
            config.previousTokenKeysBase64 = keys.map(Redacted.init)
        }
        config.slackSigningSecret = value("SLACK_SIGNING_SECRET").map(Redacted.init)
        config.slackClientID = value("SLACK_CLIENT_ID")
        config.slackClientSecret = value("SLACK_CLIENT_SECRET").map(Redacted.init)
        // (On PostgreSQL `serve` requires USERO_TOKEN_KEY; the administration commands, which seal nothing, do not.)
        config.slackAPIURL = value("SLACK_API_URL") ?? config.slackAPIURL
        if !config.slackAPIURL.hasSuffix("/") { config.slackAPIURL += "/" }
        guard Self.isServiceURL(config.slackAPIURL) else {
            throw Invalid(description: "SLACK_API_URL must be an http or https URL with a host, and no query, fragment or user")
        }
        config.slackAuthorizeURL = value("SLACK_AUTHORIZE_URL") ?? config.slackAuthorizeURL
        guard Self.isServiceURL(config.slackAuthorizeURL) else {
            throw Invalid(description: "SLACK_AUTHORIZE_URL must be an http or https URL with a host, and no query, fragment or user")
        }
        if let text = value("SLACK_RESPONSE_URL_PREFIXES") {
            let prefixes = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            // The same rule the Slack client applies (a prefix it would drop must not pass here), and at least one.
            guard !prefixes.isEmpty, prefixes.allSatisfy(Self.isServiceURL) else {
                throw Invalid(
                    description: "SLACK_RESPONSE_URL_PREFIXES must be comma-separated http or https URLs with a host, and no user")
            }
            config.slackResponseURLPrefixes = prefixes
        }
        // At most a day: the free plan's promise is deletion after 30 days, not 30 days and a sweep's wait.
        if let interval = try Self.seconds(
            value("USERO_RETENTION_INTERVAL_SECONDS"), of: "USERO_RETENTION_INTERVAL_SECONDS",
            in: 1...Self.maxRetentionIntervalSeconds, "a day")
        {
            config.retentionInterval = interval
        }
        if let wait = try Self.seconds(
            value("USERO_DATABASE_WAIT_SECONDS"), of: "USERO_DATABASE_WAIT_SECONDS", in: 0...Self.maxDatabaseWaitSeconds,
            "0: no wait")
        {
            config.databaseWait = wait
        }
        config.logLevel = try Self.logLevel(value("LOG_LEVEL"))
        try config.loadLimits(value)
        return config
    }

    /// `http://HOST:PORT`, an IPv6 address in brackets (`http://[::1]:8080`; a zone's `%` encoded, as URLs need).
    static func defaultPublicURL(host: String, port: Int) -> String {
        guard host.contains(":") else { return "http://\(host):\(port)" }
        return "http://[\(host.replacingOccurrences(of: "%", with: "%25"))]:\(port)"
    }

    /// A variable holding whole seconds within `range` (nil when unset); anything else is the one-line error that
    /// names it, the range and what its bound means (`note`).
    static func seconds(_ text: String?, of name: String, in range: ClosedRange<Int>, _ note: String) throws -> Duration? {
        guard let text else { return nil }
        guard let seconds = Int(text), range.contains(seconds) else {
            throw Invalid(
                description: "\(name) must be a whole number of seconds from \(range.lowerBound) to \(range.upperBound) (\(note))")
        }
        return .seconds(seconds)
    }

    /// The level `LOG_LEVEL` names (any case), info when unset; anything else is a mistake, not a quiet info.
    static func logLevel(_ text: String?) throws -> Logger.Level {
        guard let text else { return .info }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw Invalid(
                description: "LOG_LEVEL must be one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return level
    }

    /// Whether `text` can be a base the service appends paths and queries to: http(s), a host, and no query,
    /// fragment or user-info (`https:` or `http://` alone, or `…?x=1`, would start and then fail on first use).
    static func isServiceURL(_ text: String) -> Bool {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty
        else { return false }
        return url.query == nil && url.fragment == nil && url.user == nil && url.password == nil
    }

    /// The limits that protect the service from its callers (README "Configuration", contract "Limits").
    private mutating func loadLimits(_ value: (String) -> String?) throws {
        func whole(_ name: String, in range: ClosedRange<Int>, what: String) throws -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text), range.contains(number) else {
                throw Invalid(description: "\(name) must be \(what) from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        if let limit = try whole("USERO_PUBLIC_RATE_LIMIT", in: 0...1_000_000, what: "requests per minute (0: off)") {
            publicRateLimit = limit
        }
        if let megabytes = try whole("USERO_MIN_FREE_DISK_MB", in: 0...1_000_000_000, what: "megabytes (0: off)") {
            minFreeDiskBytes = Int64(megabytes) * 1024 * 1024
        }
        if let seconds = try whole("USERO_IDLE_TIMEOUT_SECONDS", in: 1...3600, what: "a whole number of seconds") {
            idleTimeout = .seconds(seconds)
        }
        if let seconds = try whole("USERO_REQUEST_TIMEOUT_SECONDS", in: 1...3600, what: "a whole number of seconds") {
            requestTimeout = .seconds(seconds)
        }
        if let count = try whole("USERO_MAX_CONNECTIONS", in: 1...1_000_000, what: "a number of connections") {
            maxConnections = count
        }
        if let count = try whole(
            "USERO_MAX_CONNECTIONS_PER_ADDRESS", in: 0...1_000_000, what: "a number of connections (0: no limit)")
        {
            maxConnectionsPerAddress = count
        }
        if let count = try whole("USERO_DATABASE_MAX_CONNECTIONS", in: 4...1_000, what: "a number of PostgreSQL sessions") {
            databaseMaxConnections = count
        }
        if let count = try whole("USERO_MAX_CONCURRENT_UPLOADS", in: 0...100_000, what: "a number of uploads (0: no limit)") {
            maxConcurrentUploads = count
        }
        if let megabytes = try whole("USERO_UPLOAD_QUOTA_MB", in: 0...1_000_000, what: "megabytes (0: no quota)") {
            uploadQuotaBytes = Int64(megabytes) * 1024 * 1024
        }
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

extension AppConfig {
    /// On PostgreSQL, `USERO_TOKEN_KEY` must be set (the contract): instances on one database seal and open each
    /// other's Slack tokens and install links, and a key generated into one machine's `DATA_DIR` would differ on the
    /// next. `serve` and `tokens reseal`, which seal, check it; the other commands seal nothing.
    func requireSharedTokenKey() throws(AppConfig.Invalid) {
        guard postgres != nil, tokenKeyBase64 == nil else { return }
        // A deployment moved from SQLite keeps the key its tokens were sealed with in its data folder: a new key would
        // open none of them, so that file is named first when it is there.
        let file = SlackKeys.keyFilePath(in: dataDirectory)
        let hint =
            FileManager.default.fileExists(atPath: file)
            ? "the tokens of a deployment moved from SQLite open with its key: USERO_TOKEN_KEY_FILE=\(file)"
            : "a new deployment makes one with: head -c 32 /dev/urandom | base64; one moved from SQLite needs that "
                + "deployment's key, USERO_TOKEN_KEY_FILE=its USERO_DATA_DIR/token.key"
        throw AppConfig.Invalid(
            description: "USERO_TOKEN_KEY must be set when USERO_DATABASE is PostgreSQL (every instance uses the same "
                + "key; \(hint))")
    }
}
