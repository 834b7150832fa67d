public import PostgresNIO
import Logging

/// The databases test runs leave on a PostgreSQL cluster kept between runs. scripts/test.sh throws its cluster away
/// at the end, but a developer rerunning `swift test` on one cluster (`eval "$(scripts/pg-cluster.sh start)"`) would
/// otherwise keep every run's databases: about 3 GB for one pass of the conformance suites. The first database a
/// test process creates first drops those of its kind that are over an hour old (no run takes that long, so none of
/// a run beside it), as told by the creation time of their folder on the server.
public enum StaleTestDatabases {
    /// How old a test database must be to be taken for a leftover.
    public static let age = "1 hour"

    /// The names of the databases named `prefix…` created over `age` ago (needs a superuser, as the test
    /// cluster's is).
    static func query(prefix: String) -> String {
        """
        SELECT datname FROM pg_database
        WHERE datname LIKE '\(prefix)%' AND NOT datistemplate
          AND (pg_stat_file('base/' || oid || '/PG_VERSION', true)).modification < now() - interval '\(age)'
        """
    }

    /// Drops the leftovers named `prefix…` (letters, digits and `_`, as the tests name them) on the server of
    /// `configuration`, whose user may. Best effort: a failure only keeps them.
    public static func drop(prefix: String, server configuration: PostgresConnection.Configuration) async {
        let logger = Logger(label: "usero.test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        guard let connection = try? await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        else { return }
        let found = try? await connection.query(PostgresQuery(unsafeSQL: query(prefix: prefix)), logger: logger)
            .collect().map { try $0.decode(String.self) }
        for name in found ?? [] where name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
            _ = try? await connection.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
        }
        try? await connection.close()
    }
}
