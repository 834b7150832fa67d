extension String {
    /// The text without the white space (Unicode's White_Space, as Foundation's `whitespacesAndNewlines`) at either
    /// end. Text that neither starts nor ends with it (almost every value) is returned as it is, without a copy.
    public var trimmingSurroundingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.first, let last = scalars.last,
            first.properties.isWhitespace || last.properties.isWhitespace
        else { return self }
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[start...end])
    }

    /// Whether the text is empty or white space alone (Unicode's White_Space, as in `trimmingSurroundingWhitespace`).
    public var isBlank: Bool { unicodeScalars.allSatisfy(\.properties.isWhitespace) }
}
