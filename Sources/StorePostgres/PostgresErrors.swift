import PostgresNIO

/// `serve` could not start on PostgreSQL: one line naming the variable, what is wrong and where (user, host, port,
/// database), never the password. `serve` prints it and exits 78.
public struct PostgresStartupError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Short, safe descriptions of postgres-nio errors: SQLSTATE, the server's message and constraint, no query text and
/// no bound values (PSQLError's own description hides everything; its debug description shows everything).
public enum PostgresErrorText {
    /// The SQLSTATE of a server error (`23505` for a unique violation, ...).
    public static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Whether `error` is the server refusing a write because it is read-only (SQLSTATE 25006): a standby after a
    /// failover, or `default_transaction_read_only` set. Nothing was written; the writer may come back.
    public static func meansReadOnly(_ error: any Error) -> Bool {
        sqlState(of: error) == "25006"
    }

    /// Whether `error` is a statement that waited for a lock longer than its transaction's `lock_timeout` (SQLSTATE
    /// 55P03; `PostgresBackend.transaction`): another transaction held it (an instance that stalled in it, most
    /// likely). The transaction wrote nothing; trying again once the other ends succeeds.
    public static func meansLockTimeout(_ error: any Error) -> Bool {
        sqlState(of: error) == "55P03"
    }

    /// Whether `error` is postgres-nio's, whose own description says nothing (see `describe`).
    public static func isPostgresError(_ error: any Error) -> Bool { error is PSQLError }

    /// The SQLSTATE and the server's message, for an operator: at startup, or a command's last line. Not the message
    /// of a data exception (SQLSTATE class 22), which may quote the value it refused (`invalid input syntax for type
    /// bigint: "…"`), a person's data among them: its class says enough.
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return String(describing: error) }
        if error.code == .server, let info = error.serverInfo {
            let state = info[.sqlState] ?? "?????"
            let message = state.hasPrefix("22") ? "data exception" : info[.message] ?? "server error"
            var text = "\(state) \(message)"
            if let constraint = info[.constraintName] { text += " (constraint \(constraint))" }
            return text
        }
        return networkReason(error)
    }

    /// Why a connection could not be made or was lost, in a few words.
    static func networkReason(_ error: PSQLError) -> String {
        let underlying = error.underlying.map { String(describing: $0).lowercased() } ?? ""
        switch error.code {
        case .sslUnsupported: return "the server does not offer TLS (sslmode=require)"
        case .serverClosedConnection, .uncleanShutdown: return "the server closed the connection"
        case .clientClosedConnection, .poolClosed: return "the connection was closed"
        case .unsupportedAuthMechanism: return "the server asks for an authentication method usero does not support"
        case .authMechanismRequiresPassword: return "the server asks for a password and the URL gives none"
        case .saslError: return "SCRAM authentication failed"
        case .queryCancelled: return "the query was cancelled"
        default: break
        }
        if underlying.contains("refused") { return "connection refused" }
        // A proxy whose server is down closes without reading what was sent: the kernel resets the connection.
        if ["reset by peer", "econnreset", "broken pipe"].contains(where: underlying.contains) {
            return "the connection was reset"
        }
        if underlying.contains("timeout") || underlying.contains("timed out") { return "connection timed out" }
        if underlying.contains("no such file") || underlying.contains("enoent") { return "no socket at that path" }
        if underlying.contains("unreachable") { return "network unreachable" }
        if underlying.contains("resolve") || underlying.contains("dns") || underlying.contains("getaddrinfo")
            || underlying.contains("unknown host") || underlying.contains("name or service")
        {
            return "host name not found"
        }
        if underlying.contains("tls") || underlying.contains("ssl") || underlying.contains("handshake") {
            return "TLS handshake failed"
        }
        return "network error (\(error.code))"
    }

    /// Whether `error`, met connecting at startup, says the server is not there yet (the connection refused or timed
    /// out, the host not found, no socket, the server starting up, or the connection closed before the server said
    /// anything or reset it, as a proxy in front of a server that is down does) rather than that the settings are
    /// wrong (the credentials, the database, TLS): after a reboot or a restart of the database, the first may pass.
    static func isUnreachable(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError else { return false }
        if psql.code == .server { return psql.serverInfo?[.sqlState] == "57P03" }
        return ["connection refused", "connection timed out", "no socket at that path", "network unreachable",
                "host name not found", "the server closed the connection", "the connection was reset",
        ].contains(networkReason(psql))
    }

    /// The startup failure for `error`, naming `variable` and where it tried.
    static func startupFailure(_ error: any Error, settings: PostgresSettings, variable: String)
        -> PostgresStartupError
    {
        let place = "\(settings.user)@\(settings.location)/\(settings.database)"
        guard let psql = error as? PSQLError else {
            return PostgresStartupError(description: "\(variable): cannot connect to PostgreSQL at \(place): \(error)")
        }
        if psql.code == .server, let state = psql.serverInfo?[.sqlState] {
            let problem: String
            switch state {
            case "28P01": problem = "PostgreSQL rejected the password for user \(settings.user)"
            case "28000": problem = "PostgreSQL does not let user \(settings.user) connect (role or pg_hba.conf)"
            case "3D000": problem = "database \(settings.database) does not exist"
            case "57P03": problem = "PostgreSQL is starting up or shutting down"
            // The role's CONNECTION LIMIT and the server's max_connections answer with the same code; the server's
            // message tells which ("too many connections for role …"; PostgreSQL 16's reserved slots say "…reserved
            // for roles with…", a full server).
            case "53300":
                problem =
                    (psql.serverInfo?[.message] ?? "").hasPrefix("too many connections for role")
                    ? "PostgreSQL refused the connection: user \(settings.user) is at its role's CONNECTION LIMIT "
                        + "(every instance opens up to USERO_DATABASE_MAX_CONNECTIONS; raise the limit or lower that)"
                    : "PostgreSQL has no connection slots left (max_connections; every instance opens up to "
                        + "USERO_DATABASE_MAX_CONNECTIONS)"
            // A session setting usero sends at connection (`jit`, from PostgreSQL 11) that the server does not know:
            // a server too old for usero, which the version check after connecting would otherwise have named.
            case "42704": problem = "PostgreSQL refused the connection: \(describe(psql)): usero needs PostgreSQL 12 or later"
            default: problem = "PostgreSQL refused the connection: \(describe(psql))"
            }
            return PostgresStartupError(description: "\(variable): \(problem) (\(place))")
        }
        return PostgresStartupError(
            description: "\(variable): cannot connect to PostgreSQL at \(place): \(networkReason(psql))")
    }
}

extension PSQLError {
    /// An error a statement got from the server, the session still open: the statement failed and nothing of it
    /// was written. Not so for a FATAL or PANIC error (the server ends the session, as at an immediate shutdown,
    /// possibly after the statement committed), nor for a connection that failed: what was written is unknown.
    var isStatementError: Bool {
        code == .server && serverInfo?[.severity] == "ERROR"
    }
}
