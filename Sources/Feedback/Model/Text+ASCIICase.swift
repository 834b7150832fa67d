extension StringProtocol {
    /// The text with A-Z lowered and every other character as it is: how an email address is matched when an export
    /// or an erasure asks for it (`ada@EXAMPLE.com` finds `Ada@example.com`). It is what SQLite's `lower()` does, and
    /// PostgreSQL's on a `COLLATE "C"` column, so every store matches the same addresses; the exact address, whatever
    /// letters it holds, always matches itself.
    public var asciiLowercased: String {
        String(decoding: utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
