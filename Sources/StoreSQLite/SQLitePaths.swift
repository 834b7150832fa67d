/// What a SQLite file path given from outside (`USERO_DATABASE`, `database copy --from`) must not be taken for.
public enum SQLitePaths {
    /// Whether `path` reads as a database URL rather than a file path: a scheme (`postgres://`, `mysql://`), a
    /// PostgreSQL URL that lost its scheme or half of it (`postgres//…`, `user:password@host/db`, a `/` in the
    /// password too), or an `@` in its first component (`user@host/db`). Such a value is never echoed: it may hold a
    /// password. Judged only for a path where no file is (an existing `/home/ada@corp.example/usero.sqlite` is a file).
    public static func looksLikeDatabaseURL(_ path: String) -> Bool {
        let lowered = path.lowercased()
        if lowered.contains("://") || lowered.hasPrefix("postgres:") || lowered.hasPrefix("postgresql:") { return true }
        if lowered.hasPrefix("postgres") && lowered.contains("//") { return true }
        if path.prefix(while: { $0 != "/" }).contains("@") { return true }
        // `user:password@host`: a colon before the first `@`, wherever the slashes fall.
        if let at = path.firstIndex(of: "@"), path[..<at].contains(":") { return true }
        return false
    }
}
