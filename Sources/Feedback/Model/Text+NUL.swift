extension StringProtocol {
    /// Whether the text holds NUL (U+0000). No stored key or text field may: SQLite's C API ends a bound text at its
    /// first NUL, so `victim\u{0}x` would be stored, looked up or erased as `victim`, and PostgreSQL's `text` refuses
    /// it outright. Every parser of client input refuses such text with a 400 (or, for an id, treats it as unknown).
    public var containsNUL: Bool { utf8.contains(0) }

    /// The text with every NUL replaced by U+FFFD, for text the service must keep though it did not choose it (a
    /// forwarded Slack message): nothing after a NUL is lost, and PostgreSQL accepts it.
    public var replacingNUL: String {
        containsNUL ? String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 })) : String(self)
    }
}
