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

    /// Drops the leftovers named `prefix…` (letters, digits and `_`, as the tests name them), with `names` running
    /// a query for its first column and `run` a statement on a session of the server. Best effort: a failure only
    /// keeps them.
    public static func drop(
        prefix: String, names: (String) async throws -> [String], run: (String) async throws -> Void
    ) async {
        guard let found = try? await names(query(prefix: prefix)) else { return }
        for name in found where name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
            try? await run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
    }
}
