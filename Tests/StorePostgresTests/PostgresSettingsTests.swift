import PostgresNIO
import StorePostgres
import Testing

/// `USERO_DATABASE` parsing: no server needed.
@Suite struct PostgresSettingsTests {
    @Test func aPlainURLGivesHostPortUserDatabaseAndSSLMode() throws {
        let settings = try PostgresSettings(url: "postgres://usero:s3cret@db.internal:6543/feedback?sslmode=require")
        #expect(settings.endpoint == .tcp(host: "db.internal", port: 6543))
        #expect(settings.user == "usero")
        #expect(settings.database == "feedback")
        #expect(settings.tlsMode == .require)
        #expect(settings.hasPassword)
        #expect(settings.clientConfiguration().password == "s3cret")
    }

    /// `connect_timeout`, as libpq names it, bounds opening each connection (the pool's and the startup check's);
    /// 10 s without it. A URL given back (the description, without the password) keeps it.
    @Test func connectTimeoutBoundsEveryConnectionsOpening() throws {
        let plain = try PostgresSettings(url: "postgres://u:p@h/d")
        #expect(plain.connectTimeout == .seconds(10))
        #expect(plain.clientConfiguration().options.connectTimeout == .seconds(10))
        let slow = try PostgresSettings(url: "postgres://u:p@h/d?connect_timeout=45&sslmode=disable")
        #expect(slow.connectTimeout == .seconds(45))
        #expect(slow.clientConfiguration().options.connectTimeout == .seconds(45))
        #expect(try slow.connectionConfiguration().options.connectTimeout == .seconds(45))
        #expect(try slow.connectionConfiguration(connectTimeout: .seconds(3)).options.connectTimeout == .seconds(3))
        #expect(slow.description == "postgres://u:<redacted>@h:5432/d?sslmode=disable&connect_timeout=45")
        #expect(try PostgresSettings(url: slow.description).connectTimeout == .seconds(45))
        #expect(slow != plain)
        let socket = try PostgresSettings(url: "postgres://u@/d?host=/run/pg&connect_timeout=2")
        #expect(socket.connectTimeout == .seconds(2))
        #expect(try PostgresSettings(url: socket.description) == socket)
        #expect(!plain.description.contains("connect_timeout"))
    }

    @Test func postgresqlSchemeDefaultPortAndPreferAsLibpqDoes() throws {
        let settings = try PostgresSettings(url: "postgresql://app@localhost/app")
        #expect(settings.endpoint == .tcp(host: "localhost", port: 5432))
        #expect(settings.tlsMode == .prefer)
        #expect(!settings.hasPassword)
        #expect(settings.clientConfiguration().password == nil)
        #expect(PostgresSettings.isPostgresURL("PostgreSQL://app@localhost/app"))
        #expect(!PostgresSettings.isPostgresURL("data/usero.sqlite"))
        #expect(!PostgresSettings.isPostgresURL("/var/lib/postgres/usero.sqlite"))
    }

    @Test func percentEncodedUserPasswordAndDatabaseAreDecoded() throws {
        let settings = try PostgresSettings(url: "postgres://us%40er:p%40ss%3Aw%2Ford%25@h:1/my%20db?sslmode=disable")
        #expect(settings.user == "us@er")
        #expect(settings.database == "my db")
        #expect(settings.clientConfiguration().password == "p@ss:w/ord%")
        // The last @ ends the user information, so an unencoded @ in the password still works.
        let lenient = try PostgresSettings(url: "postgres://u:a@b@h/d")
        #expect(lenient.clientConfiguration().password == "a@b")
        #expect(lenient.endpoint == .tcp(host: "h", port: 5432))
        // An empty password is a password, as libpq treats it.
        #expect(try PostgresSettings(url: "postgres://u:@h/d").clientConfiguration().password == "")
    }

    @Test func ipv6HostsInBrackets() throws {
        let settings = try PostgresSettings(url: "postgres://u:p@[::1]:5433/d?sslmode=disable")
        #expect(settings.endpoint == .tcp(host: "::1", port: 5433))
        #expect(settings.location == "[::1]:5433")
        let noPort = try PostgresSettings(url: "postgres://u@[2001:db8::5]/d")
        #expect(noPort.endpoint == .tcp(host: "2001:db8::5", port: 5432))
        #expect(throws: PostgresSettingsError.self) { try PostgresSettings(url: "postgres://u@[::1/d") }
        #expect(throws: PostgresSettingsError.self) { try PostgresSettings(url: "postgres://u@[db.host]/d") }
        #expect(throws: PostgresSettingsError.self) { try PostgresSettings(url: "postgres://u@[::1]x/d") }
    }

    @Test func unixSocketByHostParameterOrEncodedPath() throws {
        let byParameter = try PostgresSettings(url: "postgres://u@/d?host=/var/run/postgresql")
        #expect(byParameter.endpoint == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5432"))
        #expect(byParameter.tlsMode == .disable)
        let withPort = try PostgresSettings(url: "postgres://u@:6000/d?host=/tmp/pg/")
        #expect(withPort.endpoint == .unixSocket(path: "/tmp/pg/.s.PGSQL.6000"))
        // Shown (in serve's listening line) as a URL that names the same socket when given back.
        #expect(withPort.description == "postgres://u@:6000/d?host=/tmp/pg")
        #expect(try PostgresSettings(url: withPort.description).endpoint == withPort.endpoint)
        let encoded = try PostgresSettings(url: "postgres://u:p@%2Ftmp%2Fpg/d")
        #expect(encoded.endpoint == .unixSocket(path: "/tmp/pg/.s.PGSQL.5432"))
        #expect(encoded.clientConfiguration().unixSocketPath == "/tmp/pg/.s.PGSQL.5432")
        #expect(throws: PostgresSettingsError.self) { try PostgresSettings(url: "postgres://u@/d?host=relative") }
        #expect(throws: PostgresSettingsError.self) { try PostgresSettings(url: "postgres://u@h/d?host=/tmp") }
        #expect(throws: PostgresSettingsError.self) {
            try PostgresSettings(url: "postgres://u@/d?host=/tmp&sslmode=require")
        }
    }

    @Test(arguments: [
        ("postgres://u@h", "names no database"),
        ("postgres://u@h/", "names no database"),
        ("postgres://u@h/a/b", "must not contain /"),
        ("postgres://h/d", "names no user"),
        ("postgres://:p@h/d", "names no user"),
        ("postgres://u@/d", "names no host"),
        ("postgres://u@h:0/d", "port must be a number"),
        ("postgres://u@h:65536/d", "port must be a number"),
        ("postgres://u@h:54x/d", "port must be a number"),
        ("postgres://u@h1:5432,h2:5432/d", "names several hosts"),
        ("postgres://u@h:/d", "port must be a number"),
        ("postgres://u@h/d?sslmode=verify-full", "sslmode must be disable, prefer or require"),
        ("postgres://u@h/d?sslmode=", "sslmode must be disable, prefer or require"),
        ("postgres://u@h/d?sslmode", "needs a value"),
        ("postgres://u@h/d?sslmode=disable&sslmode=require", "given twice"),
        ("postgres://u@h/d?target_session_attrs=read-write", "unknown URL parameter target_session_attrs"),
        ("postgres://u@h/d?connect_timeout=0", "connect_timeout must be a whole number of seconds from 1 to 600"),
        ("postgres://u@h/d?connect_timeout=601", "connect_timeout must be a whole number of seconds from 1 to 600"),
        ("postgres://u@h/d?connect_timeout=1.5", "connect_timeout must be a whole number of seconds from 1 to 600"),
        ("postgres://u@h/d?connect_timeout=99999999999999999999", "connect_timeout must be a whole number"),
        ("postgres://u@h/d?connect_timeout=-5", "connect_timeout must be a whole number"),
        ("postgres://u%zz@h/d", "user name has a bad percent-encoding"),
        ("postgres://u@h/d#frag", "no #fragment"),
        // What people type into a password: the URL's @ then comes after its user part ended.
        ("postgres://u:pa/ss@h/d", "must be percent-encoded as %2F, %3F or %23"),
        ("postgres://u:pa?ss@h/d", "must be percent-encoded as %2F, %3F or %23"),
        ("postgres://u:pa#ss@h/d", "must be percent-encoded as %2F, %3F or %23"),
        ("postgres://u:p@ss:w/rd@h:5432/d", "holding @, : or / must percent-encode them as %40, %3A, %2F"),
        // The password's tail never shows in the message (it read as the query: "unknown URL parameter hunter2").
        ("postgres://user:p@ss/w?hunter2=x@db.example/usero", "holding @, : or / must percent-encode"),
        ("postgres://user:p@ss/w?secretTail@db.example/usero", "holding @, : or / must percent-encode"),
        ("postgres://user:p@ss?hunter2@db.example/usero", "holding @, : or / must percent-encode"),
        ("postgres://u@h/my db", "white space"),
        ("mysql://u@h/d", "starts with postgres://"),
    ])
    func badURLsAreOneLineNamingTheVariable(url: String, problem: String) {
        #expect {
            try PostgresSettings(url: url)
        } throws: { error in
            let text = String(describing: error)
            return text.hasPrefix("USERO_DATABASE: ") && text.contains(problem) && !text.contains("\n")
                && !text.contains("hunter2") && !text.contains("secretTail")
        }
    }

    @Test func thePasswordNeverShows() throws {
        let secret = "Sup3r-S3cret-Passw0rd"
        let settings = try PostgresSettings(url: "postgres://usero:\(secret)@db:5432/usero?sslmode=disable")
        #expect(settings.description == "postgres://usero:<redacted>@db:5432/usero?sslmode=disable")
        #expect(!String(describing: settings).contains(secret))
        #expect(!String(reflecting: settings).contains(secret))
        var dumped = ""
        dump(settings, to: &dumped)
        #expect(!dumped.contains(secret))
        // Errors about a URL with a password in it do not repeat it either.
        for url in [
            "postgres://usero:\(secret)@db:99999/usero", "postgres://usero:\(secret)@db/usero?sslmode=\(secret)",
            "postgres://usero:\(secret)@db/usero?host=\(secret)", "postgres://usero:\(secret)@db",
            "postgres://usero:\(secret)/x@db/usero",
        ] {
            #expect {
                try PostgresSettings(url: url)
            } throws: { error in
                !String(describing: error).contains(secret)
            }
        }
    }

    @Test func aDifferentVariableNameIsUsedInErrors() {
        #expect {
            try PostgresSettings(url: "postgres://u@h", variable: "USERO_TEST_POSTGRES_URL")
        } throws: { error in
            String(describing: error).hasPrefix("USERO_TEST_POSTGRES_URL: ")
        }
    }

    @Test func overlongURLsAreRefusedBeforeParsing() {
        let url = "postgres://u@h/" + String(repeating: "d", count: 5000)
        #expect {
            try PostgresSettings(url: url)
        } throws: { error in
            String(describing: error).contains("longer than 4096 bytes")
        }
    }
}
