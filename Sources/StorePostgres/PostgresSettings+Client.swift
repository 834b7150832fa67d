import NIOSSL
public import PostgresNIO

extension PostgresSettings {
    /// Every session usero opens says who it is and commits durably, whatever the server's default: a 200 is sent
    /// only after the commit reached the server's disk (`synchronous_commit=on`).
    ///
    /// And the server gives a session up within about 25 s once the instance's host stops answering on it (TCP
    /// keepalive probes after 10 s of silence, then every 5 s, three unanswered): an instance whose host dies, hangs
    /// or is cut off by the network in the middle of a transaction would otherwise keep that transaction's locks,
    /// and every other instance waiting on them, for the kernel's default of over two hours. (Probes go only to a
    /// silent peer: a live instance's kernel answers them, however long its session sits idle in the pool. A Unix
    /// socket has no peer host to lose, and the server ignores them there.)
    ///
    /// And the server ends a session that sits idle inside a transaction for a minute (`idle_in_transaction_session_
    /// timeout`), rolling it back: usero never waits for anything outside the database in the middle of one, so only
    /// a process that stopped (`kill -STOP`, a debugger, a frozen container whose host still answers the keepalives
    /// above) leaves one open, and its locks would otherwise stay held for as long as it stays stopped.
    ///
    /// And without JIT compilation: usero's statements are short, but a few (a scrub or retention batch, which the
    /// planner prices by the whole table their `LIMIT` cuts short) are estimated above `jit_above_cost`, and
    /// PostgreSQL then spent more time compiling each batch than running it (the uninstall scrub of 1,000,000 rows
    /// took 3.7 s instead of 0.5 s with its reinstall check in the statement; BENCHMARKS.md).
    static let sessionParameters: [(String, String)] = [
        ("application_name", "usero"),
        // What postgres-nio sends and reads; a database in another encoding is refused at startup.
        ("client_encoding", "UTF8"),
        ("synchronous_commit", "on"),
        ("TimeZone", "UTC"),
        ("tcp_keepalives_idle", "10"),
        ("tcp_keepalives_interval", "5"),
        ("tcp_keepalives_count", "3"),
        ("idle_in_transaction_session_timeout", "60s"),
        ("jit", "off"),
    ]

    /// The pool's configuration: at most `maximumConnections` sessions.
    public func clientConfiguration(maximumConnections: Int = 20, idleTimeout: Duration = .seconds(60))
        -> PostgresClient.Configuration
    {
        var configuration: PostgresClient.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            configuration = .init(
                host: host, port: port, username: user, password: password, database: database, tls: clientTLS)
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: user, password: password, database: database)
        }
        configuration.options.additionalStartupParameters = Self.sessionParameters
        configuration.options.connectTimeout = connectTimeout
        configuration.options.maximumConnections = max(1, maximumConnections)
        configuration.options.minimumConnections = 0
        configuration.options.connectionIdleTimeout = idleTimeout
        return configuration
    }

    /// The configuration of a single connection (the startup check, the migration lock holder), opened within
    /// `connectTimeout` (the URL's `connect_timeout` when nil).
    public func connectionConfiguration(connectTimeout: Duration? = nil) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            configuration = .init(
                host: host, port: port, username: user, password: password, database: database, tls: try connectionTLS())
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: user, password: password, database: database)
        }
        configuration.options.additionalStartupParameters = Self.sessionParameters
        configuration.options.connectTimeout = TimeAmount(connectTimeout ?? self.connectTimeout)
        return configuration
    }

    /// The same server and credentials, another database.
    public func database(_ name: String) -> PostgresSettings {
        var copy = self
        copy.database = name
        return copy
    }

    /// libpq's `prefer` and `require` encrypt without checking the certificate; so do these.
    private var tlsConfiguration: TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        return tls
    }

    private var clientTLS: PostgresClient.Configuration.TLS {
        switch tlsMode {
        case .disable: .disable
        case .prefer: .prefer(tlsConfiguration)
        case .require: .require(tlsConfiguration)
        }
    }

    private func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch tlsMode {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
        case .require: .require(try NIOSSLContext(configuration: tlsConfiguration))
        }
    }
}
