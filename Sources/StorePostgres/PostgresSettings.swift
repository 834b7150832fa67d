import Feedback

/// Where and how to reach PostgreSQL, read from a `postgres://` URL (the value of `USERO_DATABASE`).
///
///     postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?sslmode=disable|prefer|require]
///
/// `postgresql://` is accepted too. USER, PASSWORD, HOST and DBNAME may be percent-encoded (a password holding `@`,
/// `:` or `/` must be). HOST may be an IPv6 address in brackets (`[::1]`). A Unix socket is chosen by a HOST that
/// decodes to an absolute folder (`%2Fvar%2Frun%2Fpostgresql`) or by `?host=/var/run/postgresql` with the HOST left
/// empty; the socket file is `FOLDER/.s.PGSQL.PORT`, as libpq names it. `sslmode` defaults to `prefer` on TCP, as
/// with libpq; like libpq's, `prefer` and `require` encrypt without checking the server's certificate.
/// `connect_timeout` (whole seconds, 1 to 600; 10 by default) bounds each connection's opening: the TCP and TLS
/// handshakes and authentication, as libpq's does.
///
/// The password is kept out of every description: `description` and the errors never contain it.
public struct PostgresSettings: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The full path of the socket file.
        case unixSocket(path: String)
    }

    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        case disable, prefer, require
    }

    public var endpoint: Endpoint
    public var user: String
    public var database: String
    public var tlsMode: TLSMode
    /// How long opening a connection may take (`connect_timeout`).
    public var connectTimeout: Duration
    /// `connect_timeout` when the URL gives none.
    public static let defaultConnectTimeout: Duration = .seconds(10)
    /// The longest `connect_timeout`: ten minutes.
    public static let maxConnectTimeoutSeconds = 600
    /// Held privately so that it is never printed; `clientConfiguration` hands it to postgres-nio.
    let password: String?

    /// Whether the URL carried a password (possibly empty).
    public var hasPassword: Bool { password != nil }

    /// Whether `value` is meant as a PostgreSQL URL rather than a SQLite path.
    public static func isPostgresURL(_ value: String) -> Bool {
        let lowered = value.lowercased()
        return lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://")
    }

    /// Parses `url`; errors name `variable` and what is wrong, never the password.
    public init(url: String, variable: String = "USERO_DATABASE") throws(PostgresSettingsError) {
        func fail(_ problem: String) -> PostgresSettingsError {
            PostgresSettingsError(description: "\(variable): \(problem)")
        }
        // Bounded before anything else looks at it: a URL is a few hundred bytes; megabytes are a mistake.
        guard url.utf8.count <= 4096 else { throw fail("the PostgreSQL URL is longer than 4096 bytes") }
        let lowered = url.lowercased()
        let rest: Substring
        if lowered.hasPrefix("postgres://") {
            rest = url.dropFirst("postgres://".count)
        } else if lowered.hasPrefix("postgresql://") {
            rest = url.dropFirst("postgresql://".count)
        } else {
            throw fail("a PostgreSQL URL starts with postgres:// or postgresql://")
        }
        // A / ? or # typed into the password ends the URL's user part early; say that, not what it looks like then.
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        if !rest[..<authorityEnd].contains("@"), rest[authorityEnd...].contains("@") {
            throw fail("a / ? or # before the URL's @ must be percent-encoded as %2F, %3F or %23 (in the password?)")
        }
        // An @ of the password before one of those: the password's tail would read as the path and the query, and
        // the messages below would echo it (`unknown URL parameter hunter2`, found by a review). Before the last @,
        // which ends the user part, nothing but the user part can be.
        if let lastAt = rest.lastIndex(of: "@"), rest[..<lastAt].contains(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
            throw fail(
                "a password (or a user or database name) holding @, : or / must percent-encode them as %40, %3A, %2F "
                    + "(and ? or # as %3F, %23)")
        }
        if rest.contains("#") { throw fail("a PostgreSQL URL has no #fragment") }
        if rest.contains(where: { $0.isWhitespace }) {
            throw fail("the PostgreSQL URL contains white space (percent-encode it)")
        }
        let beforeQuery = rest.prefix { $0 != "?" }
        let query = rest.dropFirst(beforeQuery.count).dropFirst()
        guard let slash = beforeQuery.firstIndex(of: "/") else {
            throw fail("the PostgreSQL URL names no database (postgres://USER@HOST/DBNAME)")
        }
        let authority = beforeQuery[..<slash]
        let path = beforeQuery[beforeQuery.index(after: slash)...]

        // USER[:PASSWORD]@HOSTPORT; the last @ separates them (an unencoded @ in a password is a common slip).
        guard let at = authority.lastIndex(of: "@") else {
            throw fail("the PostgreSQL URL names no user (postgres://USER[:PASSWORD]@HOST/DBNAME)")
        }
        let userInfo = authority[..<at]
        let hostPort = authority[authority.index(after: at)...]
        let rawUser = userInfo.prefix { $0 != ":" }
        let rawPassword: Substring? =
            rawUser.count < userInfo.count ? userInfo[userInfo.index(after: rawUser.endIndex)...] : nil
        guard let user = FormBody.percentDecoded(rawUser.utf8) else { throw fail("the user name has a bad percent-encoding") }
        guard !user.isEmpty else {
            throw fail("the PostgreSQL URL names no user (postgres://USER[:PASSWORD]@HOST/DBNAME)")
        }
        var password: String?
        if let rawPassword {
            guard let decoded = FormBody.percentDecoded(rawPassword.utf8) else {
                throw fail("the password has a bad percent-encoding")
            }
            password = decoded
        }

        // HOST[:PORT], HOST possibly [IPv6]. One of them: libpq's list of hosts to try in turn is not supported.
        if hostPort.contains(",") {
            throw fail("the URL names several hosts; give one (a primary, or a proxy or DNS name that follows failovers)")
        }
        var host: String
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("an IPv6 host lacks its closing ]") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }), host.contains(":")
            else { throw fail("the host in brackets is not an IPv6 address") }
        } else {
            let rawHost = hostPort.prefix { $0 != ":" }
            if rawHost.count < hostPort.count { portText = hostPort.dropFirst(rawHost.count + 1) }
            guard let decoded = FormBody.percentDecoded(rawHost.utf8) else { throw fail("the host has a bad percent-encoding") }
            host = decoded
        }
        var port = 5432
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
                let number = Int(portText), (1...65535).contains(number)
            else {
                // `postgres://u:p@ss:w/rd@host/db`: the password's own @ and / moved where the host and port are.
                throw fail(
                    "the port must be a number from 1 to 65535"
                        + (rest.count(where: { $0 == "@" }) > 1
                            ? " (a password holding @, : or / must percent-encode them as %40, %3A, %2F)" : ""))
            }
            port = number
        }

        guard let database = FormBody.percentDecoded(path.utf8), !database.isEmpty else {
            throw fail("the PostgreSQL URL names no database (postgres://USER@HOST/DBNAME)")
        }
        guard !database.contains("/") else { throw fail("the database name must not contain /") }

        var tlsMode: TLSMode?
        var connectTimeout = Self.defaultConnectTimeout
        var socketFolder: String?
        var seen: Set<String> = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let key = String(pair.prefix { $0 != "=" })
            guard pair.count > key.count, let value = FormBody.percentDecoded(pair.dropFirst(key.count + 1).utf8) else {
                throw fail("the URL parameter \(key.isEmpty ? "?" : key) needs a value (name=value)")
            }
            guard seen.insert(key).inserted else { throw fail("the URL parameter \(key) is given twice") }
            switch key {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw fail("sslmode must be disable, prefer or require")
                }
                tlsMode = mode
            case "host":
                guard value.hasPrefix("/") else {
                    throw fail("the host parameter must be the absolute path of a Unix socket folder")
                }
                guard host.isEmpty else { throw fail("give the host either before the database name or as ?host=, not both") }
                socketFolder = value
            case "connect_timeout":
                guard value.utf8.count <= 3, value.utf8.allSatisfy({ (48...57).contains($0) }), let seconds = Int(value),
                    (1...Self.maxConnectTimeoutSeconds).contains(seconds)
                else { throw fail("connect_timeout must be a whole number of seconds from 1 to \(Self.maxConnectTimeoutSeconds)") }
                connectTimeout = .seconds(seconds)
            default:
                throw fail(
                    "unknown URL parameter \(key.count <= 40 ? key : String(key.prefix(40)) + "…") (only sslmode, host and connect_timeout)")
            }
        }
        if host.hasPrefix("/") {
            socketFolder = host
            host = ""
        }
        if let socketFolder {
            var folder = socketFolder
            while folder.count > 1 && folder.hasSuffix("/") { folder.removeLast() }
            if tlsMode == .require { throw fail("sslmode=require does not apply to a Unix socket") }
            self.endpoint = .unixSocket(path: "\(folder)/.s.PGSQL.\(port)")
            self.tlsMode = .disable
        } else {
            guard !host.isEmpty else { throw fail("the PostgreSQL URL names no host") }
            guard host.utf8.count <= 253 else { throw fail("the host name is longer than 253 bytes") }
            self.endpoint = .tcp(host: host, port: port)
            self.tlsMode = tlsMode ?? .prefer
        }
        self.user = user
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
    }

    /// Where the server is, for messages: `host:port`, `[v6]:port` or the socket path.
    public var location: String {
        switch endpoint {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unixSocket(let path): path
        }
    }

    /// The URL without its password.
    public var description: String {
        let shownUser = FormBody.percentEncoded(user)
        let credentials = hasPassword ? "\(shownUser):<redacted>" : shownUser
        let timeout =
            connectTimeout == Self.defaultConnectTimeout ? "" : "&connect_timeout=\(connectTimeout.components.seconds)"
        switch endpoint {
        case .tcp:
            return "postgres://\(credentials)@\(location)/\(FormBody.percentEncoded(database))?sslmode=\(tlsMode.rawValue)"
                + timeout
        case .unixSocket(let path):
            // As a URL that works when given back: the socket's folder and port (the file is FOLDER/.s.PGSQL.PORT).
            let prefix = ".s.PGSQL."
            guard let slash = path.lastIndex(of: "/"), path[path.index(after: slash)...].hasPrefix(prefix) else {
                return "postgres://\(credentials)@/\(FormBody.percentEncoded(database))?host=\(path)"
                    + timeout
            }
            let port = path[path.index(after: slash)...].dropFirst(prefix.count)
            let folder = slash == path.startIndex ? "/" : String(path[..<slash])
            return "postgres://\(credentials)@:\(port)/\(FormBody.percentEncoded(database))?host=\(folder)"
                + timeout
        }
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["description": description])
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.endpoint == rhs.endpoint && lhs.user == rhs.user && lhs.database == rhs.database
            && lhs.tlsMode == rhs.tlsMode && lhs.password == rhs.password && lhs.connectTimeout == rhs.connectTimeout
    }
}

/// A `USERO_DATABASE` value that is not a usable PostgreSQL URL. The description is one line naming the variable.
public struct PostgresSettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
}
