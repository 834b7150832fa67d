extension StringProtocol {
    /// Whether the text is longer than `limit` characters, counted as Unicode scalars (code points), as a length
    /// limit on client input must be. Grapheme clusters (`count`) would let one base letter carry any number of
    /// combining marks as "one character": a 128-character field could hold megabytes, past what PostgreSQL can
    /// index. Text with no more UTF-8 bytes than `limit` is within it without counting.
    public func exceedsLength(_ limit: Int) -> Bool {
        utf8.count > limit && unicodeScalars.count > limit
    }
}
